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
