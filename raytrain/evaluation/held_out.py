"""The end of a run: its best checkpoint scored on the held-out test split, when there is one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from raytrain.evaluation.scoring import held_out_metrics


def score_test_split(
    checkpoint: str | Path, data_dir: str | Path | None, echo: Callable[[str], None] = print
) -> dict[str, float] | None:
    """`test_` metrics of `checkpoint` on `data_dir`'s test split, printed; None (and a note)
    when there is no test split or scoring fails — the run's result stands either way."""
    if data_dir is None:
        return None
    try:
        metrics = held_out_metrics(checkpoint, data_dir)
    except Exception as e:  # a run that trained well is not lost to its scoring
        echo(f"warning: the test split was not scored: {str(e).splitlines()[0]}")
        return None
    if metrics is None:
        echo("test split: none in the dataset; only validation metrics are reported")
        return None
    shown = {k: v for k, v in metrics.items() if k not in ("test_num_examples",)}
    echo(
        f"test split ({int(metrics['test_num_examples'])} examples, best checkpoint): "
        + " ".join(f"{k}={v:.4g}" for k, v in shown.items())
    )
    return metrics
