#!/usr/bin/env python3
"""Do the shipped search spaces still reach their old scores with today's defaults?

    python bench/shipped_defaults.py                       # classifier.yaml, 3 seeds
    python bench/shipped_defaults.py --seeds 5 --quick     # the spaces' quick: sections

Why: the classification augmentation presets stopped flipping images (a flip changes what an
arrow or a digit shows), so `basic` for a classifier is now shift/scale/appearance. The shipped
`search_spaces/classifier.yaml` trains on the built-in shapes (circle, square, triangle,
cross), which a flip does not change, and it scored with flips before. It keeps `basic`: it is
the file users point at their own data, where a flip may change the label. This runs the same
search, same seeds, side by side:

* **before**: the old `basic` preset written out as a transform list (horizontal flip p 0.5,
  vertical flip p 0.3, brightness/contrast ±20 % p 0.5) — what the space trained with;
* **shipped**: the space exactly as it is in `search_spaces/` today.

Printed per seed: the best trial's validation accuracy and the best checkpoint's test-split
accuracy; then the means and the per-seed difference (shipped - before) with its range. Real
searches through `raytrain.search` on a local Ray: minutes each on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: the classification `basic` preset before it kept orientation (raytrain/data/augment.py)
OLD_BASIC = [
    {"name": "HorizontalFlip", "p": 0.5},
    {"name": "VerticalFlip", "p": 0.3},
    {"name": "RandomBrightnessContrast", "brightness_limit": 0.2, "contrast_limit": 0.2, "p": 0.5},
]

VARIANTS = {"before": {"dataset.augmentation": OLD_BASIC}, "shipped": {}}


def run_one(space: Path, variant: str, seed: int, out: Path, quick: bool) -> dict[str, float]:
    import raytrain

    overrides = {
        **VARIANTS[variant],
        "training.seed": seed,
        "training.name": f"{space.stem}_{variant}_{seed}",
        "training.output_dir": str(out),
        "export.registry_dir": str(out / "models"),
        "export.onnx": False,
        "logging.visualizations": False,
        "logging.analysis": False,
        "logging.tensorboard": False,
    }
    t0 = time.monotonic()
    res = raytrain.search(space, overrides=overrides, quick=quick, address="local")
    metric = res.metric
    test = res.test_metrics or {}
    return {
        "val": float(res.best_trial["value"]) if res.best_trial else float("nan"),
        "test": float(test.get(f"test_{metric.removeprefix('val_')}", float("nan"))),
        "seconds": time.monotonic() - t0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", type=Path, default=REPO / "search_spaces" / "classifier.yaml")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="a subset, comma-separated")
    ap.add_argument("--quick", action="store_true", help="the space's quick: section")
    args = ap.parse_args()

    variants = args.variants.split(",")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    rows: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="raytrain-shipped-") as tmp:
        for seed in seeds:
            for variant in variants:
                r = run_one(args.space, variant, seed, Path(tmp), args.quick)
                rows[variant].append(r)
                print(
                    f"seed {seed} {variant:8s} best val {r['val']:.4f}  test {r['test']:.4f}"
                    f"  ({r['seconds']:.0f} s)",
                    flush=True,
                )
    print(f"\n{args.space.name}{' (quick)' if args.quick else ''}, {args.seeds} seeds")
    print("| variant | mean best val | mean test | per-seed |")
    print("| --- | --- | --- | --- |")
    for v, rs in rows.items():
        per_seed = ", ".join(f"{r['val']:.3f}/{r['test']:.3f}" for r in rs)
        mean_val = statistics.fmean(r["val"] for r in rs)
        mean_test = statistics.fmean(r["test"] for r in rs)
        print(f"| {v} | {mean_val:.4f} | {mean_test:.4f} | {per_seed} |")
    if set(rows) != set(VARIANTS):
        return
    diffs = [s["test"] - b["test"] for s, b in zip(rows["shipped"], rows["before"], strict=True)]
    print(
        f"shipped - before, test accuracy: mean {statistics.fmean(diffs):+.4f} "
        f"(min {min(diffs):+.4f}, max {max(diffs):+.4f}) over {len(diffs)} seeds"
    )


if __name__ == "__main__":
    main()
