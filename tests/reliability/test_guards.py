"""Guards against losing work and trusting the wrong thing, one test each.

- two `raytrain tune` under one name started at once: exactly one claims it;
- `raytrain train` replaces best_model/ and final_model/ whole (a temp copy renamed into place);
- `raytrain predict` keeps earlier outputs unless --overwrite; export options out of range are
  usage errors, not tracebacks;
- `logging.log_frequency` thins the per-step log; `dataset.num_workers` caps Ray Data's tasks;
- a local Ray that raytrain starts listens on 127.0.0.1 only (slow: starts Ray).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from raytrain.cli.app import main


def test_two_searches_under_one_name_exactly_one_wins(tmp_path: Path) -> None:
    """Two processes (forked: each its own lock holder) claim one name at the same instant."""
    import time

    from raytrain.config import load_config_text
    from raytrain.errors import RaytrainError
    from raytrain.tune.experiment import claim

    cfg = load_config_text("training: {name: race}\nmodel: {architecture: coefficient_optimizer}")
    exp = tmp_path / "results" / "race"
    start = time.time() + 0.5
    pids = []
    for i in range(2):
        pid = os.fork()
        if pid == 0:  # the child touches files only, then leaves without cleanup
            code = 3
            try:
                while time.time() < start:
                    pass
                try:
                    claim(exp, cfg, resume=False)
                    (exp / "config.yaml").write_text(f"{i}")  # what the winner writes next
                    code = 0
                    time.sleep(0.5)
                except RaytrainError as e:
                    (tmp_path / f"lost{i}").write_text(str(e))
                    code = 1
            finally:
                os._exit(code)
        pids.append(pid)
    codes = sorted(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids)
    assert codes == [0, 1], codes
    lost = next(tmp_path.glob("lost*")).read_text()
    assert "being run by another raytrain process" in lost or "already exists" in lost


def test_a_failed_start_frees_the_name(tmp_path: Path) -> None:
    from raytrain.config import load_config_text
    from raytrain.tune.experiment import claim, release_claim

    cfg = load_config_text("training: {name: x}\nmodel: {architecture: coefficient_optimizer}")
    exp = tmp_path / "x"
    claim(exp, cfg, resume=False)
    release_claim(exp)
    assert not exp.exists()
    claim(exp, cfg, resume=False)  # free again
    release_claim(exp)


def test_best_model_is_replaced_whole(tmp_path: Path) -> None:
    from raytrain.artifacts.checkpoint import replace_folder

    old, new, dest = tmp_path / "old", tmp_path / "new", tmp_path / "run" / "best_model"
    for folder, text in ((old, "old"), (new, "new")):
        folder.mkdir()
        (folder / "model.pt").write_text(text)
        (folder / "meta.json").write_text(text)
    replace_folder(old, dest)
    replace_folder(new, dest)
    assert {p.name: p.read_text() for p in dest.iterdir()} == {
        "model.pt": "new",
        "meta.json": "new",
    }
    assert [p.name for p in dest.parent.iterdir()] == ["best_model"]  # no temp copies left


def test_predict_keeps_earlier_outputs_unless_overwrite(tmp_path: Path) -> None:
    import numpy as np
    from unit_helpers import make_checkpoint

    from raytrain.artifacts.registry import ModelRegistry

    _, ckpt = make_checkpoint(tmp_path / "ckpt", "coefficient_optimizer")
    ModelRegistry(tmp_path / "models").register("coef", ckpt, onnx=False)
    np.save(tmp_path / "x.npy", np.zeros((2, 5), np.float32))
    argv = ["predict", "coef", str(tmp_path / "x.npy"), "--out", str(tmp_path / "out")]
    argv += ["--root", str(tmp_path / "models")]
    runner = CliRunner()
    assert runner.invoke(main, argv).exit_code == 0
    first = (tmp_path / "out" / "predictions.json").read_text()
    again = runner.invoke(main, argv)
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert (tmp_path / "out" / "predictions.json").read_text() == first
    assert runner.invoke(main, [*argv, "--overwrite"]).exit_code == 0


@pytest.mark.parametrize("option", [["--opset", "3"], ["--opset", "99"], ["--tolerance", "0"]])
def test_export_options_out_of_range(option: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", "coef", "--out", str(tmp_path), *option])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option[0]}'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_log_frequency_thins_the_step_log(tmp_path: Path) -> None:
    from raytrain.config.schema import LoggingSection
    from raytrain.train.tracking import RunLogger

    cfg = LoggingSection(log_frequency=3, tensorboard=False)
    tracker = RunLogger(tmp_path, cfg, "run", "group", {})
    tracker.log_steps([{"step": s, "epoch": 1, "lr": 0.1, "loss": 1.0} for s in range(1, 11)])
    rows = (tmp_path / "steps_log.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [3, 6, 9]


def test_num_workers_caps_ray_data_read_tasks() -> None:
    from raytrain.data.pipeline import _SplitBuilder

    assert _SplitBuilder(1).read_tasks == 1
    from raytrain.config import load_config_text

    cfg = load_config_text(
        "model: {architecture: coefficient_optimizer}\ndataset: {num_workers: 3}\n"
    )
    assert cfg.dataset.num_workers == 3


BIND = textwrap.dedent(
    """
    import json, ray
    from raytrain.runtime.session import ensure_ray
    ensure_ray("local")
    print(json.dumps([n["NodeManagerAddress"] for n in ray.nodes()]))
    ray.shutdown()
    """
)


@pytest.mark.slow
def test_a_local_ray_listens_on_loopback_only() -> None:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    done = subprocess.run(
        [sys.executable, "-c", BIND], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["127.0.0.1"]


def test_plugins_yaml_is_bounded_like_every_yaml(tmp_path: Path) -> None:
    """plugins.yaml goes through the same loader: an alias bomb and a key given twice are
    refused in well under a second."""
    import time

    from raytrain.errors import RaytrainError
    from raytrain.inference.plugins import load_plugins

    bomb = "plugins:\n  a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
    )
    for text, message in ((bomb, "expands to more than"), ("plugins: {}\nplugins: {}\n", "twice")):
        (tmp_path / "plugins.yaml").write_text(text)
        t0 = time.monotonic()
        with pytest.raises(RaytrainError, match=message):
            load_plugins(tmp_path / "plugins.yaml")
        assert time.monotonic() - t0 < 5
