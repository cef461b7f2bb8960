"""`gs://` through pyarrow's GCS file system, against a GCS emulator on 127.0.0.1
(gcp-storage-emulator, reached through `STORAGE_EMULATOR_HOST`): the storage functions write,
read and list there. (Parquet over gs:// is not tested: the emulator answers no ranged reads,
which a parquet reader needs.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import gcs_emulator

from raytrain.artifacts import storage

ROOT = "gs://gcs-bucket/raytrain"


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with gcs_emulator("gcs-bucket") as host:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", host)
        yield host


def test_storage_reads_writes_and_lists_a_gcs_bucket(gcs: str, tmp_path: Path) -> None:
    storage.write_text(f"{ROOT}/a/one.txt", "one")
    storage.write_bytes(f"{ROOT}/a/two.bin", b"\x00two")
    assert storage.read_text(f"{ROOT}/a/one.txt") == "one"
    assert storage.read_bytes(f"{ROOT}/a/two.bin") == b"\x00two"
    assert storage.listdir(f"{ROOT}/a") == ["one.txt", "two.bin"]
    assert storage.exists(f"{ROOT}/a/one.txt") and not storage.exists(f"{ROOT}/a/three")
    assert storage.is_dir(f"{ROOT}/a") and storage.listdir(f"{ROOT}/none") == []
    storage.check_writable(ROOT, "tune.storage_path")
    storage.check_readable(ROOT, "dataset.path")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "f.txt").write_text("f")
    storage.upload_dir(folder, f"{ROOT}/copy")
    back = storage.download_dir(f"{ROOT}/copy", tmp_path / "back")
    assert (back / "sub" / "f.txt").read_text() == "f"
