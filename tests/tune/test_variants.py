"""A random search resumed from a generator file older than its experiment state (a driver
killed between the two writes, as on a bucket) neither hangs nor repeats a trial."""

from __future__ import annotations

import json
from pathlib import Path

from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator

from raytrain.tune.variants import ResumableVariantGenerator, saved_trials


def _objective(config: dict) -> None:  # never run: the generator only names it
    pass


def _generator(cls: type) -> BasicVariantGenerator:
    gen = cls(random_state=0, max_concurrent=1)
    spec = {"run": _objective, "config": {"x": tune.uniform(0, 1)}, "num_samples": 2}
    gen.add_configurations({"killed": spec})
    return gen


def _experiment_state(folder: Path, statuses: dict[str, str]) -> None:
    trials = [[json.dumps({"trial_id": t, "status": s}), "{}"] for t, s in statuses.items()]
    (folder / "experiment_state-2026-12-06_00-00-00.json").write_text(
        json.dumps({"trial_data": trials})
    )


def _killed_search(tmp_path: Path, cls: type) -> tuple[str, str]:
    """Trial 1 handed out and the generator saved; then trial 1 finished, trial 2 was handed
    out, and the experiment state (not the generator's) saved; then SIGKILL."""
    gen = _generator(cls)
    first = gen.next_trial()
    gen.save_to_dir(str(tmp_path), "2026-12-06_00-00-00")
    gen.on_trial_complete(first.trial_id)
    second = gen.next_trial()
    _experiment_state(tmp_path, {first.trial_id: "TERMINATED", second.trial_id: "RUNNING"})
    return first.trial_id, second.trial_id


def test_saved_trials_reads_the_newest_experiment_state(tmp_path: Path) -> None:
    assert saved_trials(tmp_path) == {}
    _experiment_state(tmp_path, {"a_00000": "TERMINATED", "a_00001": "PENDING"})
    assert saved_trials(tmp_path) == {"a_00000": "TERMINATED", "a_00001": "PENDING"}
    (tmp_path / "experiment_state-2026-12-06_00-00-01.json").write_text("{not json")
    assert saved_trials(tmp_path) == {}


def test_stale_generator_neither_blocks_nor_repeats(ray_start_2_cpus: None, tmp_path: Path):
    first, second = _killed_search(tmp_path, ResumableVariantGenerator)
    restored = _generator(ResumableVariantGenerator)
    restored.restore_from_dir(str(tmp_path))
    # Tune restores trial 2 from the experiment state and runs it; the generator has no
    # third trial and must not hand out trial 2 again
    assert restored.next_trial() is None
    assert restored.is_finished()
    restored.on_trial_complete(second)


def test_stock_generator_blocks_on_the_same_files(ray_start_2_cpus: None, tmp_path: Path):
    """What the subclass is for: Ray's own generator, restored from the same files, counts the
    finished trial 1 as live and hands out nothing, without ever finishing."""
    first, _ = _killed_search(tmp_path, BasicVariantGenerator)
    stock = _generator(BasicVariantGenerator)
    stock.restore_from_dir(str(tmp_path))
    assert stock.next_trial() is None and not stock.is_finished()
    assert first in stock._live_trials


def test_a_trial_the_experiment_never_recorded_is_not_live(
    ray_start_2_cpus: None, tmp_path: Path
) -> None:
    """The other order: the generator saved after handing out trial 2, the experiment state
    (trial 1 running) before; Tune never runs trial 2, so it must not hold the one slot."""
    gen = _generator(ResumableVariantGenerator)
    first = gen.next_trial()
    _experiment_state(tmp_path, {first.trial_id: "RUNNING"})
    gen.on_trial_complete(first.trial_id)
    gen.next_trial()
    gen.save_to_dir(str(tmp_path), "2026-12-06_00-00-00")
    restored = _generator(ResumableVariantGenerator)
    restored.restore_from_dir(str(tmp_path))
    assert restored._live_trials == set()
    assert restored.next_trial() is None and restored.is_finished()
