"""Where files live: a local path, or a bucket (`s3://bucket/prefix`, `gs://bucket/prefix`),
reached through pyarrow's file systems, the ones Ray Data, Train and Tune use.

Here, at the bottom of the stack, because a prepared dataset may be in a bucket
(`dataset.path: s3://...`) and the data layer reads it; `raytrain.artifacts.storage` (results,
registry) builds on the same functions.

Credentials and the endpoint come only from the standard environment, never from the YAML:
`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` / `AWS_PROFILE` / instance
roles, `AWS_REGION` (or `AWS_DEFAULT_REGION`) and `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`,
for MinIO, Ceph, moto) for S3; `GOOGLE_APPLICATION_CREDENTIALS` or the machine's service account
for GCS, and `STORAGE_EMULATOR_HOST` (the Google client libraries' variable) for a GCS emulator,
reached without credentials. Ray Data's tasks build their file system where they run, from
that node's environment.
"""

from __future__ import annotations

import hashlib
import os
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
    return gcs_filesystem(quick=quick), rest


def gcs_filesystem(*, quick: bool = False) -> Any:
    """pyarrow's GCS file system as the environment configures it (`quick`: give up after
    10 s of retries)."""
    from datetime import timedelta

    from pyarrow import fs

    kwargs: dict[str, Any] = {"retry_time_limit": timedelta(seconds=10)} if quick else {}
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if emulator:
        parsed = urlparse(emulator if "://" in emulator else f"http://{emulator}")
        kwargs.update(anonymous=True, endpoint_override=parsed.netloc, scheme=parsed.scheme)
    return fs.GcsFileSystem(**kwargs)


def arrow_args(path: str | Path) -> tuple[str, Any]:
    """(path, filesystem) for pyarrow's readers (`pq.read_table(p, filesystem=f)`): a local
    path as it is with no file system (pyarrow's default), a URI with its bucket's."""
    if not is_remote(path):
        return str(path), None
    f, inner = filesystem(str(path))
    return inner, f


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


def exists(uri: str | Path) -> bool:
    if not is_remote(uri):
        return Path(uri).exists()
    from pyarrow import fs

    f, path = filesystem(str(uri))
    return f.get_file_info(path).type != fs.FileType.NotFound


def file_stamp(path: str | Path) -> tuple[int, int] | None:
    """(size, mtime in ns) of a file; None when there is no file there."""
    if not is_remote(path):
        p = Path(path)
        if not p.is_file():
            return None
        st = p.stat()
        return st.st_size, st.st_mtime_ns
    from pyarrow import fs

    f, inner = filesystem(str(path))
    info = f.get_file_info(inner)
    if info.type != fs.FileType.File:
        return None
    return int(info.size or 0), int(info.mtime_ns or 0)


def sha256_of(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks (a bucket's object streamed)."""
    h = hashlib.sha256()
    if not is_remote(path):
        with open(path, "rb") as src:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    f, inner = filesystem(str(path))
    with f.open_input_stream(inner) as stream:
        while chunk := stream.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def check_readable(uri: str, key: str) -> None:
    """Prove, before anything runs, that `uri` (a dataset, a registry) can be read: an
    unreachable endpoint, rejected credentials or a missing bucket each become one line
    naming `key` (the config key or option)."""
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
