"""Bad input on the command line: exit code 2, one `error:` line naming file and key, no traceback.

The commands run as real subprocesses (`python -m raytrain`), all started at once by one
module fixture so that their start-up (importing torch) overlaps.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from raytrain.cli.app import main

REPO = Path(__file__).resolve().parents[2]
UNET_YAML = REPO / "search_spaces" / "unet.yaml"
BASE = "model:\n  architecture: unet\n"

#: name -> (file content or None for a missing file, command, what the error line must contain).
#: Errors found while reading the YAML come before any heavy import, so `tune --dry-run` cases
#: cost a fraction of a second each; `validate` (imports torch) is used where the model is wrong.
CASES: dict[str, tuple[str | None, list[str], list[str]]] = {
    "missing_file": (None, ["tune", "--dry-run"], ["{file}: no such file"]),
    "syntax": (
        BASE + "optimizer:\n  learning_rate: [1e-3\n  type: Adam\n",
        ["tune", "--dry-run"],
        ["{file}:5:", "YAML syntax error"],
    ),
    "python_tag": (
        BASE + "training:\n  name: !!python/object/apply:os.getcwd []\n",
        ["tune", "--dry-run"],
        ["{file}:4:", "unsupported YAML tag"],
    ),
    "unknown_key": (
        BASE + "trainng:\n  name: x\n",
        ["tune", "--dry-run"],
        ["{file}:3:", "trainng: unknown key", "did you mean 'training'"],
    ),
    "unknown_nested_key": (
        BASE + "optimizer:\n  learning_rat: 0.1\n",
        ["tune", "--dry-run"],
        ["{file}:4:", "optimizer.learning_rat: unknown key", "did you mean 'learning_rate'"],
    ),
    "wrong_type": (
        BASE + "dataset:\n  batch_size: big\n",
        ["tune", "--dry-run"],
        ["{file}:4:", "dataset.batch_size:", "'big'"],
    ),
    "bad_set_value": (
        BASE,
        ["tune", "--dry-run", "--set", "optimizer.learning_rate=fast"],
        ["{file}:", "optimizer.learning_rate:", "'fast'"],
    ),
    "unknown_model": (
        "model:\n  architecture: resnet9000\n",
        ["validate"],
        ["{file}:2:", "model.architecture:", "unknown model architecture", "registered: ", "unet"],
    ),
    "unknown_model_param": (
        BASE + "  depht: 2\n",
        ["validate"],
        ["{file}:3:", "model.depht: unknown key", "did you mean 'depth'"],
    ),
}


@dataclass
class Run:
    file: Path
    returncode: int
    stdout: str
    stderr: str


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # never reach a cluster
    env["RAYTRAIN_DATA_DIR"] = str(tmp / "datasets")
    env["WANDB_MODE"] = "offline"
    return env


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    tmp = tmp_path_factory.mktemp("cli")
    jobs: dict[str, tuple[Path, subprocess.Popen[str]]] = {}
    for name, (content, cmd, _) in CASES.items():
        path = tmp / f"{name}.yaml"
        if content is not None:
            path.write_text(content)
        # The file goes right after the sub-command: `raytrain validate FILE`.
        argv = [sys.executable, "-m", "raytrain", cmd[0], str(path), *cmd[1:]]
        proc = subprocess.Popen(
            argv, cwd=tmp, env=_env(tmp), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        jobs[name] = (path, proc)
    out = {}
    for name, (path, proc) in jobs.items():
        stdout, stderr = proc.communicate(timeout=120)
        out[name] = Run(path, proc.returncode, stdout, stderr)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_exits_2_with_one_error_line(name: str, runs: dict[str, Run]) -> None:
    run = runs[name]
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    line = lines[0]
    assert line.startswith("error: ")
    for part in CASES[name][2]:
        assert part.format(file=run.file) in line, line


def test_good_file_validates() -> None:
    result = CliRunner().invoke(main, ["validate", str(UNET_YAML)])
    assert result.exit_code == 0, result.output
    first, *places = result.output.strip().splitlines()
    assert first == f"{UNET_YAML}: ok (UNet, 5 searched parameter(s))"
    # every place the run would write is checked and shown
    assert any("writes export.registry_dir:" in p for p in places), places


def test_good_file_dry_runs_without_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["tune", str(UNET_YAML), "--dry-run", "--quick"])
    assert result.exit_code == 0, result.output
    assert "searcher     tpe: Optuna TPE" in result.output
    assert "4 trial(s) expected" in result.output
    assert "optimizer.learning_rate" in result.output
    assert f"-> {tmp_path / 'results' / 'unet_edge'}\n" in result.output
    # A dry run decides the experiment folder but creates nothing.
    assert list(tmp_path.iterdir()) == []


def test_missing_file_in_process(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "x.yaml")])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {tmp_path / 'x.yaml'}: no such file"


def test_gpu_config_validates_on_a_cpu_machine(tmp_path: Path) -> None:
    path = tmp_path / "gpu.yaml"
    path.write_text(BASE + "resources:\n  use_gpu: true\n  num_workers: 1\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_bad_step_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "step.yaml"
    path.write_text(
        BASE + "search_space:\n  dropout: {type: float, low: 0.05, high: 0.25, step: 0.1}\n"
    )
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2 and "search_space.dropout" in result.output
