"""`ray up cluster/local.yaml`, for real: two loopback "machines" behind real OpenSSH servers
(tests/ssh_cluster.py), Ray's `local` node provider, the shipped config's file mounts, setup
commands and start lines, a `raytrain tune` submitted as a Ray job through the head's
dashboard (with the token), then `ray down`.

What the test changes in cluster/local.yaml is values only (`render_local_yaml`): the cluster
name, the two addresses, the SSH user and key, the ports of the head's start line (this
machine's network is shared with other Ray sessions) and the example NFS server (its mount is
skipped: /mnt/shared is already a mount on both machines). Before `ray up` each machine gets
`~/raytrain-venv` made by `prepare_venv`, so that the setup commands' `pip install` finds Ray
and torch already there instead of downloading them; it still installs raytrain from the
synced folder.

Checks: `raytrain cluster check` passes on the rendered config; both nodes join; the search's
one trial trains with 2 DDP workers, one per node (STRICT_SPREAD), and finishes; the best model
is registered on the shared storage; the dashboard's Train API lists the trial's Train run with
its two workers on two nodes; raytrain's series are on the nodes' Prometheus endpoints; after
`ray down` and the `ray stop` on the worker that cluster/local.yaml asks for, neither machine
runs anything but its sshd.

Runs `ray up` with `RAY_UP_enable_autoscaler_v2=0` (as cluster/local.yaml's header says): with
Ray 2.60's default autoscaler v2 the `local` provider's worker was never launched (the monitor
logged "Adding 1 node(s)" every 5 s for 5 minutes); v1 launches it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from ssh_cluster import (
    SSHCluster,
    can_unshare,
    free_port,
    missing_tools,
    prepare_venv,
    render_local_yaml,
)

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(missing_tools()), reason=f"needs {missing_tools()} (openssh-server)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="sshd of its own, mount namespaces: needs root"),
]

SEARCH = [
    *("raytrain", "tune", "search_spaces/anomaly_detector.yaml", "--quick", "--address", "auto"),
    *("--set", "tune.storage_path=/mnt/shared/raytrain", "--set", "tune.shared_storage=true"),
    *("--set", "export.registry_dir=/mnt/shared/models"),
    *("--set", "search.num_trials=1", "--set", "training_params.num_epochs=2"),
    *("--set", "resources.num_workers=2", "--set", "resources.placement_strategy=STRICT_SPREAD"),
    *("--set", "logging.visualizations=false"),
]


class Dashboard:
    def __init__(self, port: int, token: str) -> None:
        self.base, self.token = f"http://127.0.0.1:{port}", token

    def get(self, path: str, base: str | None = None) -> bytes:
        req = urllib.request.Request(
            (base or self.base) + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.read()

    def json(self, path: str) -> Any:
        return json.loads(self.get(path))

    def alive_nodes(self) -> list[dict[str, Any]]:
        nodes = self.json("/api/v0/nodes?limit=100")["data"]["result"]["result"]
        return [n for n in nodes if n["state"] == "ALIVE"]

    def raytrain_series(self) -> str:
        """raytrain's lines of every node's Prometheus endpoint."""
        out = []
        for node in self.json("/nodes?view=summary")["data"]["summary"]:
            raylet = node.get("raylet") or {}
            port = raylet.get("metricsExportPort")
            if raylet.get("state") != "ALIVE" or not port:
                continue
            with contextlib.suppress(OSError):
                text = self.get("/metrics", base=f"http://{node['ip']}:{port}").decode()
                out += [ln for ln in text.splitlines() if ln.startswith("ray_raytrain_")]
        return "\n".join(out)


def _run(cmd: list[str], log: Path, env: dict[str, str], timeout: float) -> int:
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        r = subprocess.run(
            cmd, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT, timeout=timeout
        )
    return r.returncode


def _tail(path: Path, n: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else ""


def test_ray_up_two_machines_search_and_ray_down(tmp_path: Path) -> None:
    if not can_unshare():
        pytest.skip("cannot make PID/mount namespaces here (unshare)")
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    cluster = SSHCluster(tmp_path)
    client = tmp_path / "client"  # this "laptop"'s home: the token, nothing of the real ~
    (client / ".ray").mkdir(parents=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAY_")},
        "HOME": str(client),
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "RAY_UP_enable_autoscaler_v2": "0",
        "PYTHONPATH": str(REPO),  # `raytrain cluster check` of this checkout
    }
    log = tmp_path / "commands.log"
    config = tmp_path / "cluster.yaml"
    up, rc, name = False, 0, "raytrain-test"
    try:
        cluster.start()
        threads = [
            threading.Thread(target=prepare_venv, args=(cluster, m)) for m in cluster.machines
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        timings["machines"] = time.monotonic() - t0
        ports = {k: free_port(cluster.head.ip) for k in ("gcs", "dashboard", "agent", "client")}
        name = f"raytrain-test-{cluster.head.ip.replace('.', '-')}"
        config.write_text(
            render_local_yaml((REPO / "cluster" / "local.yaml").read_text(), cluster, ports, name)
        )
        assert _run([str(BIN / "ray"), "get-auth-token", "--generate"], log, env, 60) == 0
        token = (client / ".ray" / "auth_token").read_text().strip()

        # the preflight passes on the filled-in config (placeholders: test_cluster_check.py)
        check = [sys.executable, "-m", "raytrain", "cluster", "check", str(config)]
        assert _run(check, log, env, 120) == 0, _tail(log)

        up = True
        rc = _run([str(BIN / "ray"), "up", "-y", "--no-config-cache", str(config)], log, env, 600)
        assert rc == 0, _tail(log)
        timings["ray up"] = time.monotonic() - t0
        dash = Dashboard(ports["dashboard"], token)
        deadline = time.monotonic() + 300
        while len(nodes := dash.alive_nodes()) < 2:
            assert time.monotonic() < deadline, f"the worker never joined: {nodes}"
            time.sleep(2)
        assert {n["node_ip"] for n in nodes} >= {cluster.worker.ip}, nodes
        timings["worker joined"] = time.monotonic() - t0

        # the documented job submission, through the head's dashboard, with the token
        submit = [str(BIN / "ray"), "job", "submit", "--address", dash.base]
        submit += ["--working-dir", ".", "--no-wait", "--", *SEARCH]
        assert _run(submit, log, {**env, "RAY_AUTH_MODE": "token"}, 120) == 0, _tail(log)
        series = ""
        deadline = time.monotonic() + 420
        while True:
            jobs = dash.json("/api/jobs/")
            status = jobs[-1]["status"] if jobs else "PENDING"
            with contextlib.suppress(OSError):  # raytrain's series, while the search runs
                now = dash.raytrain_series()
                if "ray_raytrain_trial_epoch" in now:
                    series = now
            if status in ("SUCCEEDED", "FAILED", "STOPPED"):
                break
            assert time.monotonic() < deadline, "the search job did not end in 7 minutes"
            time.sleep(3)
        job_logs = dash.json(f"/api/jobs/{jobs[-1]['submission_id']}/logs")["logs"]
        assert status == "SUCCEEDED", job_logs[-4000:]
        timings["search"] = time.monotonic() - t0

        # the trial's Train run: 2 workers on 2 nodes, finished (Ray Train's state tracking on)
        runs = dash.json("/api/train/v2/runs/v1")
        (tmp_path / "train_runs.json").write_text(json.dumps(runs, indent=1))
        (train_run,) = runs["train_runs"]
        # ABORTED: ASHA ends a trial at its last epoch (max_t) and Tune's stop can reach the
        # run (raytrain.train.controller_here) before its loop returns
        assert train_run["status"] in ("FINISHED", "ABORTED"), train_run
        attempt = train_run["attempts"][-1]
        workers = attempt["workers"]
        assert len(workers) == 2, workers
        assert len({w["node_id"] for w in workers}) == 2, workers

        # registered on the shared storage, from the one trial
        assert "registered anomaly_detector v1.0.0" in job_logs, job_logs[-3000:]
        models = cluster.shared / "models" / "anomaly_detector"
        assert (models / "1.0.0" / "model.onnx").exists() or any(models.rglob("*.pt")), list(
            models.rglob("*")
        )

        # raytrain's metrics on the nodes' Prometheus endpoints
        series = series or dash.raytrain_series()
        (tmp_path / "raytrain_series.txt").write_text(series)
        for series_name in (
            "ray_raytrain_trial_epoch",
            "ray_raytrain_trial_samples_per_second",
            "ray_raytrain_trial_objective",
            "ray_raytrain_trial_best_objective",
            "ray_raytrain_search_trials",
        ):
            assert series_name in series, f"{series_name} not scraped:\n{series}"
        finished = [
            ln
            for ln in series.splitlines()
            if ln.startswith("ray_raytrain_search_trials{") and 'state="finished"' in ln
        ]
        assert finished and float(finished[-1].rsplit(" ", 1)[1]) == 1.0, series
    finally:
        leftovers: dict[str, list[str]] = {}
        if up:
            rc = _run([str(BIN / "ray"), "down", "-y", str(config)], log, env, 300)
            timings["ray down"] = time.monotonic() - t0
            # `ray down` stops Ray on the head; the `local` provider only forgets the workers
            # (their raylet would end itself ~60 s after the head's GCS is gone), so each
            # worker gets the `ray stop` that cluster/local.yaml's header asks for
            with contextlib.suppress(Exception):
                cluster.ssh(cluster.worker, "~/raytrain-venv/bin/ray stop", timeout=120)
            leftovers = _wait_until_quiet(cluster, timeout=150)
            timings["quiet"] = time.monotonic() - t0
        cluster.stop()
        with contextlib.suppress(OSError):
            for f in Path("/tmp/ray").glob(f"cluster-{name}.*"):  # `ray up`'s state, here
                f.unlink()
        print("timings (s from start):", {k: round(v, 1) for k, v in timings.items()})
    assert rc == 0, _tail(log)
    assert not leftovers, f"left running after ray down: {leftovers}"


def _wait_until_quiet(cluster: SSHCluster, timeout: float) -> dict[str, list[str]]:
    """What still runs on each machine besides its sshd, once that is nothing or after
    `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        left = {}
        for m in cluster.machines:
            others = [c for c in m.commands() if "sshd" not in c.split(":", 1)[1]]
            if others:
                left[m.name] = others
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(2)
