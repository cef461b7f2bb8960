"""The model registry on object storage (`export.registry_dir: s3://bucket/models`, `gs://...`).

The layout is the folder registry's (`registry.json`, `<name>/<version>/...`). A bucket has no
rename and no file lock, so the registry's promises rest on conditional writes instead:

- **A lock object.** Every write (register, promote, remove) first creates
  `<root>/.registry.lock` with a create-only PUT (`If-None-Match: *` on S3,
  `ifGenerationMatch=0` on GCS): exactly one writer succeeds; the others wait and retry. The
  holder deletes it afterwards with `If-Match` on its own ETag, so it never deletes another
  writer's lock. A lock older than `LOCK_LEASE_S` is taken to be left by a writer that died; it
  is deleted with `If-Match` on *that* lock's ETag (so two waiters cannot both break it and one
  delete the other's fresh lock), then the wait goes on.
- **A fenced index.** Under the lock, the index is read with its ETag, and written back with
  `If-Match` on that ETag (`If-None-Match: *` when there was none). Should a lock ever be
  broken under a live writer (one that stalled longer than the lease), its index write fails
  instead of overwriting entries: no registration is lost, and the writer gets an error.
- **Files before entries.** A version's files are uploaded (one PUT each) before its entry
  joins the index. The files of a writer that died before its index write are never deleted
  or overwritten: the next registration takes a fresh version number past them, as in the
  folder registry. A registration deletes only files it has just uploaded itself (when its
  upload fails). Removal takes the entry out of the index first, then deletes the files.

Reading needs no lock: the index is one object, replaced whole by each write. Loading a model
downloads its version folder once into a local cache (`~/.cache/raytrain/registry`, or
`RAYTRAIN_REGISTRY_CACHE`) and checks every file against the sha256 the index records.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from raytrain.artifacts import storage
from raytrain.artifacts.checkpoint import load_model, read_meta
from raytrain.artifacts.registry import (
    _SEMVER,
    INDEX,
    REMOTE_BACKENDS,
    Bump,
    ModelRegistry,
    _find,
    build_version,
    check_name,
    pick_version,
)
from raytrain.data.manifest import sha256_file
from raytrain.errors import RaytrainError

LOCK = ".registry.lock"
#: A lock older than this was left by a writer that died (a registration takes seconds).
LOCK_LEASE_S = 600.0
#: How long a writer waits for the lock before giving up with an error.
LOCK_WAIT_S = 900.0


class Conflict(Exception):
    """A conditional write's precondition failed (the object exists / changed)."""


class _S3:
    """Conditional object writes on S3 (boto3; endpoint and credentials from AWS_*)."""

    def __init__(self, uri: str) -> None:
        import boto3

        self.bucket, _, self.prefix = uri.partition("://")[2].partition("/")
        self.client = boto3.client("s3", endpoint_url=storage.endpoint())

    def _key(self, name: str) -> str:
        return f"{self.prefix.strip('/')}/{name}".lstrip("/")

    def get(self, name: str) -> tuple[bytes, str] | None:
        try:
            r = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
        except self.client.exceptions.NoSuchKey:
            return None
        return r["Body"].read(), r["ETag"]

    def age(self, name: str) -> tuple[float, str] | None:
        try:
            r = self.client.head_object(Bucket=self.bucket, Key=self._key(name))
        except Exception as e:
            if _code(e) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return time.time() - r["LastModified"].timestamp(), r["ETag"]

    def put(self, name: str, data: bytes, match: str | None) -> str:
        """PUT `name`: create-only when `match` is None, else only over ETag `match`."""
        cond = {"IfNoneMatch": "*"} if match is None else {"IfMatch": match}
        try:
            r = self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data, **cond)
        except Exception as e:
            if _code(e) in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                raise Conflict(name) from None
            raise
        return r["ETag"]

    def delete(self, name: str, match: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(name), IfMatch=match)
        except Exception as e:
            if _code(e) not in ("PreconditionFailed", "412", "NoSuchKey", "404"):
                raise


class _GCS:
    """Conditional object writes on GCS (google-cloud-storage; generation preconditions)."""

    def __init__(self, uri: str) -> None:
        try:
            from google.cloud import storage as gcs
        except ImportError:
            raise RaytrainError(
                f"{uri}: a registry on GCS needs google-cloud-storage "
                f"(pip install google-cloud-storage)"
            ) from None
        bucket, _, self.prefix = uri.partition("://")[2].partition("/")
        self.bucket = gcs.Client().bucket(bucket)

    def _blob(self, name: str) -> Any:
        return self.bucket.blob(f"{self.prefix.strip('/')}/{name}".lstrip("/"))

    def get(self, name: str) -> tuple[bytes, str] | None:
        blob = self.bucket.get_blob(self._blob(name).name)
        return None if blob is None else (blob.download_as_bytes(), str(blob.generation))

    def age(self, name: str) -> tuple[float, str] | None:
        blob = self.bucket.get_blob(self._blob(name).name)
        if blob is None:
            return None
        return time.time() - blob.updated.timestamp(), str(blob.generation)

    def put(self, name: str, data: bytes, match: str | None) -> str:
        from google.api_core.exceptions import PreconditionFailed

        blob = self._blob(name)
        try:
            blob.upload_from_string(data, if_generation_match=0 if match is None else int(match))
        except PreconditionFailed:
            raise Conflict(name) from None
        return str(blob.generation)

    def delete(self, name: str, match: str) -> None:
        from google.api_core.exceptions import NotFound, PreconditionFailed

        with contextlib.suppress(PreconditionFailed, NotFound):
            self._blob(name).delete(if_generation_match=int(match))


def _code(e: Exception) -> str:
    response = getattr(e, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def cache_root() -> Path:
    env = os.environ.get("RAYTRAIN_REGISTRY_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "raytrain" / "registry"


class RemoteRegistry(ModelRegistry):
    """`ModelRegistry` on `s3://` or `gs://`; built by `ModelRegistry(uri)`."""

    def __init__(self, root: str | Path = "models") -> None:
        self.uri = str(root).rstrip("/")
        digest = hashlib.sha256(self.uri.encode()).hexdigest()[:16]
        #: local cache of downloaded versions (the registry itself is at `uri`)
        self.root = cache_root() / digest
        self._store: Any = None
        self._etag: str | None = None

    def __repr__(self) -> str:
        return f"RemoteRegistry({self.uri!r})"

    @property
    def store(self) -> Any:
        if self._store is None:
            self._store = _S3(self.uri) if self.uri.startswith("s3://") else _GCS(self.uri)
        return self._store

    # -- reading ---------------------------------------------------------------------------
    def _read_index(self) -> dict[str, Any]:
        where = f"{self.uri}/{INDEX}"
        try:
            got = self.store.get(INDEX)
        except RaytrainError:
            raise
        except Exception as e:
            raise RaytrainError(f"{where}: {storage.describe_error(e)}") from None
        if got is None:
            self._etag = None
            return {"schema_version": 1, "models": {}}
        data, self._etag = got
        try:
            index = json.loads(data)
        except ValueError as e:
            raise RaytrainError(f"{where}: corrupt registry index ({e}); not touching it") from None
        if not isinstance(index, dict) or not isinstance(index.get("models"), dict):
            raise RaytrainError(f"{where}: not a raytrain registry index")
        return index

    def get(self, name: str, version: str | None = None) -> dict[str, Any]:
        return _find(self.list(), name, version, self.uri)  # type: ignore[arg-type]

    def path_of(self, entry: dict[str, Any]) -> Path:
        """The version's folder in the local cache, downloaded (again) unless every file there
        has the sha256 the index records."""
        local = self.root / entry["path"]
        files = entry.get("files", {})
        if local.is_dir() and all(
            (local / f).is_file() and sha256_file(local / f) == digest
            for f, digest in files.items()
        ):
            return local
        storage.download_dir(f"{self.uri}/{entry['path']}", local)
        return local

    # -- writing ---------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        me = json.dumps(
            {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "since": datetime.now(timezone.utc).isoformat(),
            }
        ).encode()
        deadline = time.monotonic() + LOCK_WAIT_S
        delay = 0.05
        while True:
            try:
                etag = self.store.put(LOCK, me, None)
                break
            except Conflict:
                held = self.store.age(LOCK)
                if held is not None and held[0] > LOCK_LEASE_S:
                    self.store.delete(LOCK, held[1])  # that dead writer's lock, not a new one
                    continue
                if time.monotonic() > deadline:
                    raise RaytrainError(
                        f"{self.uri}/{LOCK}: another writer has held the registry lock for "
                        f"{LOCK_WAIT_S:g} s; if no raytrain command is writing there, delete it"
                    ) from None
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 1.5, 1.0)
            except RaytrainError:
                raise
            except Exception as e:
                raise RaytrainError(f"{self.uri}: {storage.describe_error(e)}") from None
        try:
            yield
        finally:
            self.store.delete(LOCK, etag)

    def _write_index(self, index: dict[str, Any]) -> None:
        data = json.dumps(index, indent=2).encode()
        try:
            self._etag = self.store.put(INDEX, data, self._etag)
        except Conflict:
            raise RaytrainError(
                f"{self.uri}/{INDEX}: the index changed while this command held the registry "
                f"lock (a stale lock was broken); nothing was written, run the command again"
            ) from None

    def register(
        self,
        name: str,
        checkpoint_dir: str | Path,
        *,
        bump: Bump | None = None,
        source: dict[str, Any] | None = None,
        notes: str = "",
        onnx: bool = True,
        opset: int = 17,
        tolerance: float = 1e-4,
        extra_metrics: dict[str, float] | None = None,
        data: dict[str, Any] | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        """Upload a checkpoint (a folder, or one on object storage) as the next version (or as
        `version`, never one issued before); arguments as `ModelRegistry.register`."""
        check_name(name)
        with tempfile.TemporaryDirectory(prefix="raytrain-register-") as work:
            ckpt = storage.local_copy(checkpoint_dir, Path(work) / "checkpoint")
            meta = read_meta(ckpt)
            model, _ = load_model(ckpt)  # also proves the checkpoint loads
            with self._locked():
                index = self._read_index()
                # every version prefix with objects under it, the index's or not: left alone
                there = [v for v in storage.listdir(f"{self.uri}/{name}") if _SEMVER.fullmatch(v)]
                known = {
                    e["version"]
                    for k in ("models", "removed")
                    for e in index.get(k, {}).get(name, [])
                }
                whole = [
                    v
                    for v in there
                    if v not in known and storage.exists(f"{self.uri}/{name}/{v}/meta.json")
                ]
                version = pick_version(index, name, meta, bump, version, whole, there.__contains__)
                built = Path(work) / "version"
                built.mkdir()
                entry = build_version(
                    built,
                    name,
                    version,
                    ckpt,
                    model,
                    meta,
                    source=source,
                    notes=notes,
                    onnx=onnx,
                    opset=opset,
                    tolerance=tolerance,
                    extra_metrics=extra_metrics,
                    data=data,
                )
                target = f"{self.uri}/{entry['path']}"
                try:  # a prefix nobody uses (checked above, under the lock)
                    storage.upload_dir(built, target)
                except BaseException:
                    with contextlib.suppress(Exception):  # only what this upload put there
                        storage.delete_dir(target)
                    raise
                index["models"].setdefault(name, []).append(entry)
                self._write_index(index)
        return entry

    def _check_entry_path(self, entry: dict[str, Any]) -> None:
        if entry.get("path") != f"{entry.get('name')}/{entry.get('version')}":
            raise RaytrainError(f"{self.uri}/{INDEX}: entry path '{entry.get('path')}' is unsafe")

    def _delete_version_files(self, entry: dict[str, Any]) -> None:
        storage.delete_dir(f"{self.uri}/{entry['path']}")


for _scheme in storage.REMOTE_SCHEMES:
    REMOTE_BACKENDS[_scheme] = RemoteRegistry
