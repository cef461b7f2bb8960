"""A prepared dataset put in a bucket (`raytrain data prepare SRC --out s3://bucket/prefix`).

The dataset is prepared in a local temp folder first, then uploaded: every shard (one PUT
each), then `manifest.json` last. A reader goes by the manifest (`dataset.path` is checked for
it before a run), so it sees the whole dataset or none: an upload that dies half way leaves
shards without a manifest, which no run reads. An existing dataset at `--out` is kept:
uploading the same data again does nothing, other data is refused unless `--overwrite`, which
deletes the old manifest first (so no reader sees old and new shards mixed), then the rest.
"""

from __future__ import annotations

from pathlib import Path

from raytrain.data import fs
from raytrain.data.manifest import MANIFEST, read_manifest
from raytrain.data.provenance import data_fingerprint
from raytrain.errors import RaytrainError


def _same_data(local: Path, uri: str) -> bool:
    """Whether the dataset at `uri` holds what `local` holds (same raw source and options, or
    the same shards byte for byte)."""
    mine, theirs = read_manifest(local), read_manifest(uri)
    key = mine.extra.get("fingerprint")
    if key and key == theirs.extra.get("fingerprint"):
        return True
    return data_fingerprint(local) == data_fingerprint(uri)


def upload_dataset(local: Path, uri: str, *, overwrite: bool = False, key: str = "--out") -> bool:
    """Put the prepared dataset folder `local` at `uri`, manifest last. Returns False when
    `uri` already held the same dataset (nothing uploaded), True otherwise."""
    from pyarrow import fs as pafs

    fs.check_readable(uri, key)  # endpoint, credentials, bucket: one line before any upload
    f, root = fs.filesystem(uri)
    manifest_uri = str(fs.join(uri, MANIFEST))
    try:
        if fs.exists(manifest_uri):
            if _same_data(local, uri):
                return False
            if not overwrite:
                raise RaytrainError(
                    f"{key} {uri}: already holds a prepared dataset of other data; choose "
                    f"another {key} or pass --overwrite to replace it"
                )
        elif not overwrite and f.get_file_info(pafs.FileSelector(root, allow_not_found=True)):
            raise RaytrainError(
                f"{key} {uri}: not empty and not a prepared dataset (an upload that died, "
                f"or other files); choose another {key} or pass --overwrite to replace it"
            )
        if overwrite:  # the manifest first: from here on no reader takes it for a dataset
            if fs.exists(manifest_uri):
                f.delete_file(f"{root}/{MANIFEST}")
            f.delete_dir_contents(root, missing_dir_ok=True)
        local_fs = pafs.LocalFileSystem()
        for child in sorted(local.iterdir()):
            if child.name == MANIFEST:
                continue
            pafs.copy_files(
                str(child.absolute()),
                f"{root}/{child.name}",
                source_filesystem=local_fs,
                destination_filesystem=f,
            )
        with f.open_output_stream(f"{root}/{MANIFEST}") as out:  # last: the dataset appears
            out.write((local / MANIFEST).read_bytes())
    except RaytrainError:
        raise
    except OSError as e:
        raise RaytrainError(f"{key} {uri}: {fs.describe_error(e)}") from None
    return True
