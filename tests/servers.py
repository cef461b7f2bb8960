"""Throwaway servers the storage tests start on 127.0.0.1: PostgreSQL (Debian's `postgresql`,
initdb + pg_ctl in a temp folder), an S3-compatible server (moto's server mode), a GCS emulator
(gcp-storage-emulator) and optuna-dashboard. Imported as `servers` (pytest puts tests/ on
sys.path).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
#: AWS settings every S3 test process gets: moto accepts any key; the region must be set.
S3_KEYS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server in a temp folder; yields its SQLAlchemy URL (database `optuna`)."""
    initdb = shutil.which("initdb") or next(
        iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None
    )
    if initdb is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    pg_bin = Path(initdb).resolve().parent
    root = Path(tempfile.mkdtemp(prefix="raytrain-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    port = _free_port()
    data = root / "data"
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    run = {"check": True, "capture_output": True}
    try:
        subprocess.run(
            _as_postgres(
                [str(pg_bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
            ),
            **run,
        )
        subprocess.run(
            _as_postgres(
                [str(pg_bin / "pg_ctl"), "-D", str(data), "-o", opts, "-l", f"{root}/log", "-w"]
                + ["start"]
            ),
            **run,
        )
        subprocess.run(
            _as_postgres(
                [str(pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
                + ["optuna"]
            ),
            **run,
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/optuna"
    finally:
        subprocess.run(
            _as_postgres([str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3 server on a free port of 127.0.0.1; yields its endpoint URL."""
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextlib.contextmanager
def gcs_emulator(bucket: str) -> Iterator[str]:
    """A GCS emulator (gcp-storage-emulator, in memory) on a free port of 127.0.0.1 with
    `bucket` in it; yields the value of `STORAGE_EMULATOR_HOST` that points clients at it."""
    server_mod = pytest.importorskip("gcp_storage_emulator.server")
    port = _free_port()
    server = server_mod.create_server("127.0.0.1", port, in_memory=True, default_bucket=bucket)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@contextlib.contextmanager
def moto_s3_with_auth(free_requests: int) -> Iterator[str]:
    """moto's S3 server (its own process) that checks credentials after the first
    `free_requests` requests (moto's INITIAL_NO_AUTH_ACTION_COUNT): set things up with those."""
    exe = BIN / "moto_server"
    if not exe.exists():
        pytest.skip("moto[server] is not installed")
    port = _free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(free_requests)}
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "moto did not start"
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def s3_env(endpoint: str) -> dict[str, str]:
    """The environment that points raytrain (and boto3, pyarrow) at `endpoint`."""
    return {**S3_KEYS, "AWS_ENDPOINT_URL": endpoint}


def make_bucket(endpoint: str, name: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint, **_boto_keys()).create_bucket(Bucket=name)


def _boto_keys() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_KEYS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_KEYS["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_KEYS["AWS_DEFAULT_REGION"],
    }


@contextlib.contextmanager
def optuna_dashboard(storage_url: str) -> Iterator[str]:
    """optuna-dashboard serving `storage_url` on 127.0.0.1; yields its base URL once it
    answers."""
    exe = BIN / "optuna-dashboard"
    if not exe.exists():
        pytest.skip("optuna-dashboard is not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [str(exe), storage_url, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/studies", timeout=5):
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "optuna-dashboard did not answer"
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
