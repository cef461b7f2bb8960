"""Where raytrain keeps files: a local folder, or a bucket (`s3://bucket/prefix`,
`gs://bucket/prefix`), through pyarrow's file systems, the ones Ray Train and Tune use.

Credentials and the endpoint come only from the standard environment, never from the YAML:
`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` / `AWS_PROFILE` / instance
roles, `AWS_REGION` (or `AWS_DEFAULT_REGION`) and `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`,
for MinIO, Ceph, moto) for S3; `GOOGLE_APPLICATION_CREDENTIALS` or the machine's service account
for GCS. A bucket has no rename: a file appears whole when its one PUT completes, which is what
the writers here rely on (see `raytrain.artifacts.remote_registry` for the registry's lock).

Reading, and the file systems themselves, are `raytrain.data.fs` (a dataset may be in a bucket
too); they are importable from here as well.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from raytrain.data.fs import (  # shared with the data layer (a dataset in a bucket)
    REMOTE_SCHEMES,
    as_root,
    bucket_of,
    check_readable,
    describe_error,
    endpoint,
    exists,
    filesystem,
    is_remote,
    join,
    read_bytes,
    read_text,
    s3_filesystem,
)
from raytrain.errors import RaytrainError

#: this module's own names, and those of `raytrain.data.fs` it passes on
__all__ = [
    "check_writable",
    "delete_dir",
    "download_dir",
    "is_dir",
    "listdir",
    "local_copy",
    "upload_dir",
    "write_bytes",
    "write_text",
    "REMOTE_SCHEMES",
    "as_root",
    "bucket_of",
    "check_readable",
    "describe_error",
    "endpoint",
    "exists",
    "filesystem",
    "is_remote",
    "join",
    "read_bytes",
    "read_text",
    "s3_filesystem",
]


def write_bytes(uri: str | Path, data: bytes) -> None:
    """Write a whole file: a local one through temp file + fsync + rename, an object in one
    PUT (readers see the old object or the new one, never a part)."""
    if not is_remote(uri):
        path = Path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        return
    f, path = filesystem(str(uri))
    with f.open_output_stream(path) as out:
        out.write(data)


def write_text(uri: str | Path, text: str) -> None:
    if not is_remote(uri):
        from raytrain.data.manifest import atomic_write_text

        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(uri), text)
        return
    write_bytes(uri, text.encode())


def is_dir(uri: str | Path) -> bool:
    """A folder, or a prefix with objects under it."""
    if not is_remote(uri):
        return Path(uri).is_dir()
    from pyarrow import fs

    f, path = filesystem(str(uri))
    info = f.get_file_info(path)
    if info.type == fs.FileType.Directory:
        return True
    return bool(f.get_file_info(fs.FileSelector(path, allow_not_found=True)))


def listdir(uri: str | Path) -> list[str]:
    """Names directly under a folder or prefix (empty when there is none)."""
    if not is_remote(uri):
        p = Path(uri)
        return sorted(c.name for c in p.iterdir()) if p.is_dir() else []
    from pyarrow import fs

    f, path = filesystem(str(uri))
    infos = f.get_file_info(fs.FileSelector(path, allow_not_found=True))
    return sorted(i.base_name for i in infos)


def upload_dir(local: Path, uri: str) -> None:
    """Copy a local folder's files to `uri` (each file one PUT)."""
    from pyarrow import fs

    f, path = filesystem(uri)
    fs.copy_files(str(local), path, destination_filesystem=f)


def download_dir(uri: str, local: Path) -> Path:
    """Copy everything under `uri` into `local` (made whole in a temp folder, then renamed)."""
    from pyarrow import fs

    f, path = filesystem(uri)
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=local.parent, prefix=f".{local.name}."))
    try:
        fs.copy_files(path, str(tmp), source_filesystem=f)
        if local.exists():
            shutil.rmtree(local)
        os.replace(tmp, local)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return local


def delete_dir(uri: str) -> None:
    from pyarrow import fs

    f, path = filesystem(uri)
    if f.get_file_info(path).type != fs.FileType.NotFound or is_dir(uri):
        f.delete_dir(path)


def local_copy(path: str | Path, cache: Path) -> Path:
    """A local folder holding what `path` holds: `path` itself, or a download into `cache`."""
    if not is_remote(path):
        return Path(path)
    return download_dir(str(path), cache)


def check_writable(uri: str, key: str) -> None:
    """Prove, before anything runs, that `uri` can be written: one small object is put under
    it and deleted. An unreachable endpoint, rejected credentials, a missing bucket or no
    permission each become one line naming `key` (the config key or option)."""
    f, path = filesystem(uri, quick=True)
    probe = f"{path}/.raytrain-write-check-{os.getpid()}"
    try:
        bucket = f.get_file_info(bucket_of(uri))
        from pyarrow import fs

        if bucket.type == fs.FileType.NotFound:
            raise RaytrainError(f"{key}: {uri}: bucket '{bucket_of(uri)}' does not exist")
        with f.open_output_stream(probe) as out:
            out.write(b"ok")
        f.delete_file(probe)
    except RaytrainError:
        raise
    except OSError as e:
        raise RaytrainError(f"{key}: {uri}: {describe_error(e)}") from None
