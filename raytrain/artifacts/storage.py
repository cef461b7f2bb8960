"""Where raytrain keeps files: a local folder, or a bucket (`s3://bucket/prefix`,
`gs://bucket/prefix`), through pyarrow's file systems, the ones Ray Train and Tune use.

Credentials and the endpoint come only from the standard environment, never from the YAML:
`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` / `AWS_PROFILE` / instance
roles, `AWS_REGION` (or `AWS_DEFAULT_REGION`) and `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`,
for MinIO, Ceph, moto) for S3; `GOOGLE_APPLICATION_CREDENTIALS` or the machine's service account
for GCS. A bucket has no rename: a file appears whole when its one PUT completes, which is what
the writers here rely on (see `raytrain.artifacts.remote_registry` for the registry's lock).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from raytrain.errors import RaytrainError

#: URI schemes served from object storage
REMOTE_SCHEMES = ("s3", "gs", "gcs")


def is_remote(path: str | Path | None) -> bool:
    """True for `s3://...`, `gs://...` (a `Path` never is one: it has lost its `//`)."""
    return isinstance(path, str) and path.partition("://")[0] in REMOTE_SCHEMES and "://" in path


def as_root(path: str | Path) -> str | Path:
    """A URI stays a string; anything else becomes a `Path`."""
    return path if is_remote(path) else Path(path)


def join(base: str | Path, *parts: str) -> str | Path:
    """`base / part / ...` for a folder or a URI."""
    if is_remote(base):
        return "/".join([str(base).rstrip("/"), *(p.strip("/") for p in parts)])
    return Path(base).joinpath(*parts)


def endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def s3_filesystem(*, quick: bool = False) -> Any:
    """pyarrow's S3 file system as the environment configures it. `quick`: one attempt with
    short timeouts (the checks before a run, so an unreachable endpoint fails in seconds)."""
    from pyarrow import fs

    kwargs: dict[str, Any] = {
        "region": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
    }
    url = endpoint()
    if url:
        parsed = urlparse(url if "://" in url else f"https://{url}")
        kwargs["endpoint_override"] = parsed.netloc
        kwargs["scheme"] = parsed.scheme or "https"
        kwargs["region"] = kwargs["region"] or "us-east-1"  # no region lookup on a custom host
    if quick:
        kwargs["connect_timeout"] = 5
        kwargs["request_timeout"] = 10
        kwargs["retry_strategy"] = fs.AwsStandardS3RetryStrategy(max_attempts=1)
    return fs.S3FileSystem(**{k: v for k, v in kwargs.items() if v is not None})


def filesystem(uri: str, *, quick: bool = False) -> tuple[Any, str]:
    """(pyarrow file system, path inside it) for a URI or a local path."""
    from pyarrow import fs

    if not is_remote(uri):
        return fs.LocalFileSystem(), str(Path(uri).absolute())
    scheme, _, rest = uri.partition("://")
    rest = rest.rstrip("/")
    if not rest or rest.startswith("/"):
        raise RaytrainError(f"{uri}: expected {scheme}://BUCKET[/PREFIX]")
    if scheme == "s3":
        return s3_filesystem(quick=quick), rest
    kwargs = {"retry_time_limit": 10} if quick else {}
    return fs.GcsFileSystem(**kwargs), rest


def bucket_of(uri: str) -> str:
    return uri.partition("://")[2].split("/", 1)[0]


def read_bytes(uri: str | Path) -> bytes:
    if not is_remote(uri):
        return Path(uri).read_bytes()
    f, path = filesystem(str(uri))
    with f.open_input_stream(path) as stream:
        return stream.read()


def read_text(uri: str | Path) -> str:
    return read_bytes(uri).decode()


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


def exists(uri: str | Path) -> bool:
    if not is_remote(uri):
        return Path(uri).exists()
    from pyarrow import fs

    f, path = filesystem(str(uri))
    return f.get_file_info(path).type != fs.FileType.NotFound


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


def check_readable(uri: str, key: str) -> None:
    """Like `check_writable` for something that is only read (a dataset, a registry)."""
    from pyarrow import fs

    f, path = filesystem(uri, quick=True)
    try:
        if f.get_file_info(bucket_of(uri)).type == fs.FileType.NotFound:
            raise RaytrainError(f"{key}: {uri}: bucket '{bucket_of(uri)}' does not exist")
        f.get_file_info(fs.FileSelector(path, allow_not_found=True))
    except RaytrainError:
        raise
    except OSError as e:
        raise RaytrainError(f"{key}: {uri}: {describe_error(e)}") from None


def describe_error(e: BaseException) -> str:
    """One line for an object-storage failure: what went wrong, and what to check."""
    text = " ".join(str(e).split())
    low = text.lower().replace("_", " ")
    if "access denied" in low or "accessdenied" in low or "forbidden" in low:
        why = (
            "access denied: the credentials were rejected or may not use this bucket (check "
            "AWS_ACCESS_KEY_ID / AWS_PROFILE and the bucket's policy)"
        )
    elif "invalidaccesskeyid" in low or "signaturedoesnotmatch" in low or "credential" in low:
        why = "the credentials were rejected (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
    elif "nosuchbucket" in low or "bucket does not exist" in low:
        why = "the bucket does not exist"
    elif any(w in low for w in ("curl", "connect", "resolve", "timeout", "timed out")):
        where = endpoint() or "(the provider's default; AWS_ENDPOINT_URL is not set)"
        why = f"cannot reach the endpoint {where} (check AWS_ENDPOINT_URL)"
    else:
        why = text[:200]
    return why
