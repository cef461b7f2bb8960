"""Questions tests ask the shared Ray session (tests/conftest.py's `ray_start_2_cpus`).

and how tests start Ray nodes of their own (`ray start` in a process group of its own).
Imported as `ray_helpers` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def actors_started(class_name: str) -> int:
    """How many actors of `class_name` this Ray session has started, alive or dead.

    Asks this session's own GCS: without an address Ray's state API looks for *a* local Ray,
    and fails when another one runs on the machine (a benchmark, a second test run)."""
    import ray
    from ray.util.state import list_actors

    address = ray.get_runtime_context().gcs_address
    actors = list_actors(address=address, filters=[("class_name", "=", class_name)], limit=10_000)
    return len(actors)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_env() -> dict[str, str]:
    # Token authentication on every process: a node or client without it is refused (Ray 2.60
    # enables it on a head started by `ray start --head`, but a joining node must ask for it).
    env = dict(
        os.environ,
        PATH=f"{BIN}:{os.environ['PATH']}",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_AUTH_MODE="token",
    )
    env.pop("RAY_ADDRESS", None)
    return env


def _node_ports() -> list[str]:
    """Fresh ports for a node's agents: the defaults (e.g. 52365 for the job agent) may be
    taken by another Ray on this machine (the test session's own), and a node whose agent
    cannot bind answers job submissions with 'No available agent'."""
    return [
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
        f"--ray-client-server-port={free_port()}",
    ]


def start_node(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "ray"), "start", "--block", *args, *_node_ports()],
        env=ray_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop_node(proc: subprocess.Popen) -> None:
    """Stop a `ray start --block` node and every process it started (its process group).

    SIGTERM first; a head node took 33 s to exit on it (measured), so after a few seconds the
    whole group is killed: the node is gone either way, and the suite does not wait."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
    with contextlib.suppress(ProcessLookupError):  # what is left of the group
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


# -- a driver killed with SIGKILL, then resumed ------------------------------------------------
def saved_with_status(tune_dir: Path | str, status: str) -> set[str]:
    """Ids of the trials Tune's newest saved state in `tune_dir` (a folder or a bucket URI)
    records with `status`; none while it is caught mid-write (read again next time)."""
    from raytrain.tune.experiment import saved_trial_states

    try:
        states = saved_trial_states(tune_dir)
    except (OSError, ValueError):
        return set()
    return {t for t, s in states.items() if s == status}


def terminated(tune_dir: Path | str) -> set[str]:
    """`saved_with_status(tune_dir, "TERMINATED")`: the trials Tune's saved state has ended."""
    return saved_with_status(tune_dir, "TERMINATED")


def kill_driver_when(
    cmd: list[str], env: dict[str, str], log: Path, ready, limit_s: float = 420
) -> None:
    """Start the driver `cmd` (output to `log`) and SIGKILL it as soon as `ready()` holds.
    `limit_s` guards against a hang; it is not a timing assertion."""
    import time

    with log.open("w") as out:
        driver = subprocess.Popen(cmd, env=env, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + limit_s
            while not ready():
                assert driver.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, f"not ready after {limit_s:g} s"
                time.sleep(0.3)
            os.kill(driver.pid, signal.SIGKILL)
            driver.wait()
        finally:
            if driver.poll() is None:
                driver.kill()
    assert driver.returncode == -signal.SIGKILL


def run_to_end(
    cmd: list[str], env: dict[str, str], limit_s: float = 600, explain: list[str] | None = None
) -> str:
    """Run `cmd` to its end; its output (stdout and stderr together), asserting exit code 0.
    On a hang past `limit_s` the test fails with the output so far and that of the command
    `explain` (say `ray status -v`: what the cluster was waiting for)."""
    import pytest

    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        out, _ = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        seen = subprocess.run(explain, env=env, capture_output=True, text=True) if explain else None
        pytest.fail(f"{' '.join(cmd[-3:])} hung:\n{out[-4000:]}\n{seen.stdout if seen else ''}")
    assert proc.returncode == 0, out[-6000:]
    return out


def wait_until_cpus_free(address: str, env: dict[str, str], limit_s: float = 180) -> None:
    """Wait until every CPU of the cluster at `address` is free again: what a killed driver's
    job held (its trial actors, their placement groups) is released by Ray asynchronously, and
    a search resumed before that queues behind it. Fails, saying what is held, after `limit_s`."""
    script = (
        "import ray, time\n"
        f"ray.init(address={address!r}, log_to_driver=False)\n"
        f"deadline = time.monotonic() + {limit_s}\n"
        "while True:\n"
        "    total, free = ray.cluster_resources().get('CPU', 0), ray.available_resources()\n"
        "    if free.get('CPU', 0) >= total - 1e-6 or time.monotonic() > deadline:\n"
        "        break\n"
        "    time.sleep(1)\n"
        "print('FREE' if free.get('CPU', 0) >= total - 1e-6 else f'HELD {total} {free}')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=limit_s + 60,
    )
    lines = out.stdout.strip().splitlines()
    held = f"the killed job's CPUs were not released: {lines}{out.stderr[-2000:]}"
    assert lines[-1:] == ["FREE"], held
