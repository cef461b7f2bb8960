"""Run many `raytrain ...` commands, each in a process of its own, for the price of one start-up.

Started as a script by tests/reliability/test_bad_inputs.py: it imports raytrain's CLI and the
heavy libraries once, then forks one child per job (read as a JSON list on stdin). A child is a
fresh process as far as the command can tell: its own folder, environment, stdout and stderr
(files), exit code; it runs `raytrain ARGV` exactly as the console script does, and an exception
that escapes is printed as Python would print it (a traceback), so the test sees what a user
would. The results (exit code and seconds per job id) are one JSON object on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any

#: Imported before forking: what most commands would otherwise import each time.
PRELOAD = (
    "torch",
    "onnxruntime",
    "raytrain.cli.app",
    "raytrain.config",
    "raytrain.models",
    "raytrain.artifacts.registry",
    "raytrain.inference.predictor",
    "raytrain.cli.registry",
    "raytrain.cli.predict",
    "raytrain.cli.data",
    "raytrain.cli.evaluate",
    "raytrain.tune.plan",  # imports Ray (not started: nothing runs before the fork)
    "raytrain.tune.runner",
    "raytrain.runtime.run",
)


def _child(job: dict[str, Any]) -> None:
    code = 1
    try:
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        out = os.open(job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(out, 1)
        os.dup2(err, 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        from raytrain.cli.app import main

        try:
            main.main(args=job["argv"], prog_name="raytrain", standalone_mode=True)
            code = 0
        except SystemExit as e:
            if e.code is None or isinstance(e.code, int):
                code = e.code or 0
            else:
                print(e.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def main() -> None:
    parallel = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    jobs: list[dict[str, Any]] = json.load(sys.stdin)
    for module in PRELOAD:
        __import__(module)
    pending, running, results = list(jobs), {}, {}
    while pending or running:
        while pending and len(running) < parallel:
            job = pending.pop(0)
            t0 = time.monotonic()
            pid = os.fork()
            if pid == 0:
                _child(job)
            running[pid] = (job, t0)
        pid, status = os.wait()
        job, t0 = running.pop(pid)
        results[job["id"]] = {
            "code": os.waitstatus_to_exitcode(status),
            "seconds": time.monotonic() - t0,
        }
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
