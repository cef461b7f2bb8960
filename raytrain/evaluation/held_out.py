"""The end of a run: its best checkpoint scored on the held-out test split, when there is one,
and the evaluation plots drawn from that same pass (`raytrain.viz.held_out`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from raytrain.evaluation.scoring import Scored, has_split, score_split


def score_test_split(
    checkpoint: str | Path,
    data_dir: str | Path | None,
    echo: Callable[[str], None] = print,
    plots_dir: str | Path | None = None,
) -> dict[str, float] | None:
    """`test_` metrics of `checkpoint` on `data_dir`'s test split, printed; None (and a note)
    when there is no test split or scoring fails — the run's result stands either way.

    With `plots_dir`, the predictions of the same pass (no second one) are drawn there as the
    test split's evaluation plots; a plot that fails prints one warning line and nothing more.
    """
    if data_dir is None:
        return None
    try:
        if not has_split(data_dir, "test"):
            echo("test split: none in the dataset; only validation metrics are reported")
            return None
        scored = score_split(checkpoint, data_dir, "test", keep_predictions=plots_dir is not None)
    except Exception as e:  # a run that trained well is not lost to its scoring
        echo(f"warning: the test split was not scored: {str(e).splitlines()[0]}")
        return None
    metrics = {f"test_{k}": v for k, v in scored.metrics.items()}
    shown = {k: v for k, v in metrics.items() if k not in ("test_num_examples",)}
    echo(
        f"test split ({int(metrics['test_num_examples'])} examples, best checkpoint): "
        + " ".join(f"{k}={v:.4g}" for k, v in shown.items())
    )
    if plots_dir is not None:
        draw_test_plots(scored, checkpoint, Path(plots_dir), echo)
    return metrics


def draw_test_plots(
    scored: Scored, checkpoint: str | Path, plots_dir: Path, echo: Callable[[str], None]
) -> None:
    """The test split's evaluation plots from `scored`'s predictions; one warning line when
    they fail (never an exception)."""
    try:
        from raytrain.viz.held_out import write_held_out_plots

        assert scored.predictions is not None
        extra: dict[str, Any] = scored.meta.get("data_info", {}).get("extra") or {}
        source = {
            "checkpoint": str(checkpoint),
            "checkpoint_epoch": scored.meta.get("epoch"),
            "num_examples": int(scored.metrics["num_examples"]),
        }
        write_held_out_plots(
            scored.predictions,
            plots_dir,
            class_names=extra.get("class_names"),
            threshold=scored.threshold,
            train_class_counts=extra.get("class_counts"),
            source=source,
        )
    except Exception as e:  # a plot must never cost a trained model
        first = str(e).splitlines()[0] if str(e) else ""
        echo(f"warning: the test-split plots were not drawn: {type(e).__name__}: {first}")
        return
    echo(f"test-split plots (best checkpoint): {plots_dir}")
