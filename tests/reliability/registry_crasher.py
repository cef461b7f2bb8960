"""Kill registrations at random points and record what the registry looks like after each kill.

Run as a script by tests/reliability/test_crash_consistency.py: `registry_crasher.py ROOT CKPT
KILLS SEED`. It imports raytrain once, times one registration, then KILLS times forks a child
that registers CKPT as the next version of `coef` and SIGKILLs it after a random delay in
[0, 1.2 x that time]. After each kill it records: the versions the index lists, whether every
listed version's files match their recorded sha256, whether the index parsed, and the exit code
and output of `raytrain registry list`. One JSON object on stdout.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any


def _state(root: Path) -> dict[str, Any]:
    from click.testing import CliRunner

    from raytrain.artifacts.registry import ModelRegistry
    from raytrain.cli.app import main
    from raytrain.data.manifest import sha256_file
    from raytrain.errors import RaytrainError

    out: dict[str, Any] = {}
    try:
        models = ModelRegistry(root).list()
        out["versions"] = [e["version"] for e in models.get("coef", [])]
        out["whole"] = all(
            sha256_file(root / e["path"] / f) == sha
            for e in models.get("coef", [])
            for f, sha in e["files"].items()
        )
    except RaytrainError as e:
        out["error"] = str(e)
    result = CliRunner().invoke(main, ["registry", "list", "--root", str(root)])
    out["list_code"] = result.exit_code
    out["list_output"] = result.output[-500:]
    return out


def _register(root: Path, ckpt: Path) -> None:
    from raytrain.artifacts.registry import ModelRegistry

    ModelRegistry(root).register("coef", ckpt, onnx=True)


def main() -> None:
    root, ckpt, kills, seed = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    import torch

    import raytrain.artifacts.registry  # noqa: F401  (imported once, before the forks)
    import raytrain.cli.app  # noqa: F401

    torch.set_num_threads(1)  # no OpenMP pool in the parent: a forked child would hang in it
    rng = random.Random(seed)
    _register(root, ckpt)  # 1.0.0 (imports what a registration needs, once)
    t0 = time.monotonic()
    pid = os.fork()  # how long one registration takes in a forked child
    if pid == 0:
        try:
            _register(root, ckpt)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    took = time.monotonic() - t0
    rounds = []
    for _ in range(kills):
        before = _state(root)
        delay = rng.uniform(0, 1.2 * took)
        pid = os.fork()
        if pid == 0:
            try:
                _register(root, ckpt)
            finally:
                os._exit(0)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        finished = os.waitstatus_to_exitcode(status) == 0
        rounds.append(
            {"delay": delay, "finished": finished, "before": before, "after": _state(root)}
        )
    json.dump({"took": took, "rounds": rounds}, sys.stdout)


if __name__ == "__main__":
    main()
