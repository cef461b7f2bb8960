"""Regenerate README's "Monitoring" screenshots of the Ray dashboard (docs/monitoring/).

    python scripts/dashboard_screenshots.py [--out docs/monitoring] [--trials 3]

Starts a local Ray with its dashboard (token authentication on, Ray Train's state tracking on,
as `raytrain tune` starts one), runs a small raytrain search whose trials train with 2 DDP
workers each, and photographs the dashboard in Debian's headless Chromium:

* `overview.png`: the Overview page (nodes, the search's job);
* `actors.png`: the Actors page: each trial's Tune actor and its two DDP workers
  (`RayTrainWorker`);

and writes `train_runs.json`, the Train runs as the dashboard's Train API serves them
(`/api/train/v2/runs/v1`: one run per trial, its workers, nodes and status; Ray 2.60's own web UI
has no page for them), and `metrics.txt`, raytrain's own series as the node's Prometheus
endpoint serves them.

The dashboard asks a browser for the Ray token; `chromium --screenshot` cannot type one, so
the browser talks to a small proxy on 127.0.0.1 that adds the `Authorization` header and sets
the dashboard's token cookie (the same as pasting the token into the dashboard's prompt).
"""

from __future__ import annotations

import argparse
import http.server
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _proxy(target: str, token: str) -> tuple[http.server.ThreadingHTTPServer, str]:
    """An HTTP proxy on 127.0.0.1 that forwards GETs to `target` with the token."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 — http.server's name
            req = urllib.request.Request(
                target + self.path, headers={"Authorization": f"Bearer {token}"}
            )
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    body, status, headers = r.read(), r.status, r.headers
            except urllib.error.HTTPError as e:
                body, status, headers = e.read(), e.code, e.headers
            self.send_response(status)
            self.send_header("Set-Cookie", f"ray-authentication-token={token}; Path=/")
            for k in ("Content-Type", "Cache-Control"):
                if headers.get(k):
                    self.send_header(k, headers[k])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    sys.exit("error: no chromium (Debian: apt-get install chromium)")


def screenshot(url: str, out: Path, size: str = "1400,900", wait_ms: int = 8000) -> None:
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run(
            [
                _browser(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={size}",
                f"--virtual-time-budget={wait_ms}",
                f"--screenshot={out}",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    if r.returncode or not out.exists():
        sys.exit(f"error: chromium could not take {out}: {r.stderr[-1000:]}")
    print(f"wrote {out}")


def _get(url: str, token: str) -> bytes:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def raytrain_series(token: str) -> str:
    """raytrain's series from every node's Prometheus endpoint (`MetricsExportPort`)."""
    import ray

    lines = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        url = f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"
        text = _get(url, token).decode()
        lines += [ln for ln in text.splitlines() if "raytrain_" in ln]
    return "\n".join(lines) + "\n"


def _brief(runs: dict) -> list[dict]:
    """The Train runs, with what the README shows: name, status, workers (rank, node, pid)."""
    out = []
    for run in runs.get("train_runs", []):
        attempt = (run.get("attempts") or [{}])[-1]
        out.append(
            {
                "name": run.get("name"),
                "status": run.get("status"),
                "workers": [
                    {k: w.get(k) for k in ("world_rank", "node_ip", "pid", "status")}
                    for w in attempt.get("workers", [])
                ],
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "monitoring")
    ap.add_argument("--trials", type=int, default=3)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    token = secrets.token_hex(16)
    os.environ.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token})
    import ray

    from raytrain.config.load import load_config
    from raytrain.runtime.local import prepare_local_ray
    from raytrain.runtime.session import dashboard_url
    from raytrain.tune.runner import run_search

    prepare_local_ray()
    ray.init(num_cpus=2, include_dashboard=True, log_to_driver=False)
    dashboard = dashboard_url()
    if not dashboard:
        sys.exit("error: the dashboard did not start (it needs ray[default])")
    work = Path(tempfile.mkdtemp(prefix="raytrain-shots-"))
    cfg = load_config(
        REPO / "search_spaces" / "anomaly_detector.yaml",
        quick=True,
        overrides={
            "search.num_trials": args.trials,
            "training_params.num_epochs": 3,
            "resources.num_workers": 2,
            "training.output_dir": str(work / "results"),
            "export.registry_dir": str(work / "models"),
            "logging.visualizations": False,
        },
    )
    metrics_text = {}

    def scrape_while_running() -> None:
        while not done.is_set():
            try:
                text = raytrain_series(token)
                if "raytrain_trial_epoch" in text:
                    metrics_text["last"] = text
            except Exception:  # noqa: BLE001 — the endpoint may not be up yet
                pass
            time.sleep(2)

    done = threading.Event()
    scraper = threading.Thread(target=scrape_while_running, daemon=True)
    scraper.start()
    run_search(cfg, experiment_dir=work / "results" / "shots")
    done.set()
    scraper.join()
    text = raytrain_series(token)
    if "raytrain_trial_epoch" not in text:
        text = metrics_text.get("last", text)
    (args.out / "metrics.txt").write_text(text)
    print(f"wrote {args.out / 'metrics.txt'}")

    server, proxy = _proxy(dashboard, token)
    try:
        import json

        runs = json.loads(_get(f"{dashboard}/api/train/v2/runs/v1", token))
        (args.out / "train_runs.json").write_text(json.dumps(_brief(runs), indent=1) + "\n")
        print(f"wrote {args.out / 'train_runs.json'}")
        screenshot(f"{proxy}/#/overview", args.out / "overview.png")
        screenshot(f"{proxy}/#/actors", args.out / "actors.png", size="1400,1000")
    finally:
        server.shutdown()
        ray.shutdown()
    print(re.sub(r"\s+", " ", f"done: {args.out}"))


if __name__ == "__main__":
    main()
