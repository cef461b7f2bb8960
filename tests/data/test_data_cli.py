"""`raytrain data` commands and the functions behind them (no Ray): synth, prepare, validate,
split, stats; bad data that names the file, skip mode and its report."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from raytrain.cli.app import main
from raytrain.config.schema import SampleDataSection
from raytrain.data.checks import data_report, usable_shards
from raytrain.data.features import feature_vector, generate_ground_truth_edges
from raytrain.data.folders import prepare_folders
from raytrain.data.manifest import read_manifest
from raytrain.data.problems import REPORT_FILE
from raytrain.data.sample import write_sample_folders
from raytrain.data.split import split_folder
from raytrain.errors import RaytrainError

TASKS = ["edges", "classification", "regression", "anomaly"]
SMALL = ["--num-train", "12", "--num-val", "6", "--num-test", "6", "--image-size", "32"]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["data", *args])


def _folders(tmp: Path, task: str = "edges", n: int = 12) -> Path:
    s = SampleDataSection(num_train=n, num_val=6, num_test=6, image_size=32, num_classes=3)
    return write_sample_folders(task, s, tmp / f"raw-{task}")


@pytest.mark.parametrize("task", TASKS)
def test_synth_prepare_validate_stats_round_trip(task: str, tmp_path: Path) -> None:
    raw, out = tmp_path / "raw", tmp_path / "prepared"
    r = run("synth", task, "--out", str(raw), "--layout", "folders", *SMALL)
    assert r.exit_code == 0, r.output
    r = run("prepare", str(raw), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "train 12, val 6, test 6" in r.output and "no rows skipped" in r.output
    m = read_manifest(out)
    assert m.task == task and m.schema_version == 1
    assert all(len(sh.sha256) == 64 for s in m.splits.values() for sh in s.shards)
    assert str(raw) in m.source
    r = run("validate", str(raw), "--min-size", "16", "--min-edge-density", "0")
    assert r.exit_code == 0 and "validation passed" in r.output, r.output
    r = run("validate", str(out), "--min-size", "16", "--min-edge-density", "0")
    assert r.exit_code == 0, r.output
    stats = json.loads(run("stats", str(out), "--json").output)
    assert {k: v["count"] for k, v in stats["splits"].items()} == {"train": 12, "val": 6, "test": 6}
    if task == "edges":
        assert 0 < stats["splits"]["train"]["edge_density"] < 0.5
        assert stats["splits"]["train"]["image_sizes"] == {"32x32": 12}
    if task in ("classification", "anomaly"):
        assert sum(stats["splits"]["train"]["class_balance"].values()) == 12
    if task == "regression":
        assert stats["splits"]["train"]["target"]["min"] >= 1


def test_synth_is_deterministic_by_seed(tmp_path: Path) -> None:
    def shas(folder: Path) -> list[str]:
        return [sh.sha256 for s in read_manifest(folder).splits.values() for sh in s.shards]

    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        r = run("synth", "edges", "--out", str(tmp_path / name), "--seed", seed, *SMALL)
        assert r.exit_code == 0, r.output
    assert shas(tmp_path / "a") == shas(tmp_path / "b") != shas(tmp_path / "c")
    # Asking again for the same data is free; other data into a used folder is an error.
    assert run("synth", "edges", "--out", str(tmp_path / "a"), "--seed", "1", *SMALL).exit_code == 0
    r = run("synth", "edges", "--out", str(tmp_path / "a"), "--seed", "3", *SMALL)
    assert r.exit_code == 2 and "already holds another dataset" in r.output


def test_synth_rejects_bad_sizes(tmp_path: Path) -> None:
    r = run("synth", "edges", "--out", str(tmp_path / "x"), "--num-train", "2")
    assert r.exit_code == 2 and "--num-train" in r.output


# -- validate -------------------------------------------------------------------------------------


def _break_edges(raw: Path) -> dict[str, Path]:
    """Five different problems in an edge dataset; returns the file each is about."""
    train, val = raw / "train", raw / "val"
    bad = {
        "unreadable image": train / "images" / "img_00000.png",
        "missing edge map": train / "images" / "img_00001.png",
        "size mismatch": train / "edges" / "img_00002.png",
        "edge map too sparse": val / "edges" / "img_00003.png",
        "unreadable edge map": val / "edges" / "img_00004.png",
    }
    bad["unreadable image"].write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (train / "edges" / "img_00001.png").unlink()
    cv2.imwrite(str(bad["size mismatch"]), np.zeros((20, 24), np.uint8))
    cv2.imwrite(str(bad["edge map too sparse"]), np.zeros((32, 32), np.uint8))
    bad["unreadable edge map"].write_bytes(b"")
    return bad


def test_validate_lists_every_problem(tmp_path: Path) -> None:
    raw = _folders(tmp_path)
    bad = _break_edges(raw)
    r = run("validate", str(raw), "--min-size", "16", "--json")
    assert r.exit_code == 1
    report = json.loads(r.output)
    found = {(p["kind"], p["path"]) for p in report["problems"]}
    for kind, path in bad.items():
        assert (kind, str(path)) in found, (kind, found)
    assert report["counts"] == {"train": 12 - 3, "val": 6 - 2, "test": 6}
    # The seed's size bar (256 px) flags every 32x32 image; the text output names each file.
    r = run("validate", str(raw))
    assert r.exit_code == 1
    assert r.output.count("[too small]") == 12 - 1 + 6 + 6  # every readable image
    assert str(bad["size mismatch"]) in r.output


def test_validate_classes_and_metadata(tmp_path: Path) -> None:
    cls = _folders(tmp_path, "classification")
    (cls / "val" / "circle").rename(cls / "val" / "circles")  # not a train class
    reg = _folders(tmp_path, "regression")
    meta = json.loads((reg / "train" / "metadata.json").read_text())
    meta["img_00000.png"] = {"complexity": "medium"}  # no optimal_coefficients
    (reg / "train" / "metadata.json").write_text(json.dumps(meta))
    (reg / "train" / "images" / "img_00001.png").unlink()
    r = json.loads(run("validate", str(cls), "--min-size", "16", "--json").output)
    kinds = {p["kind"] for p in r["problems"]}
    assert {"missing class folder", "unknown class"} <= kinds
    r = json.loads(run("validate", str(reg), "--min-size", "16", "--json").output)
    paths = {p["kind"]: p["path"] for p in r["problems"]}
    assert paths["bad metadata"].endswith("train/metadata.json")
    assert paths["missing image"].endswith("img_00001.png")


# -- prepare: bad data names the file, skip mode reports ----------------------------------------


def test_prepare_stops_at_bad_data_naming_the_file(tmp_path: Path) -> None:
    raw = _folders(tmp_path)
    bad = _break_edges(raw)
    r = run("prepare", str(raw), "--out", str(tmp_path / "p"))
    assert r.exit_code == 2
    assert r.output.startswith(f"error: {bad['unreadable image']}: not a readable image")
    assert not (tmp_path / "p").exists()  # nothing half-written


def test_prepare_skip_mode_reports_rows_and_reasons(tmp_path: Path) -> None:
    raw = _folders(tmp_path)
    _break_edges(raw)
    out = tmp_path / "p"
    r = run("prepare", str(raw), "--out", str(out), "--on-bad-data", "skip")
    assert r.exit_code == 0, r.output
    assert "4 rows skipped" in r.output  # a sparse edge map is no problem for prepare
    report = json.loads((out / REPORT_FILE).read_text())
    assert report["skipped_rows"] == 4
    assert report["reasons"] == {
        "missing edge map": 1,
        "size mismatch": 1,
        "unreadable edge map": 1,
        "unreadable image": 1,
    }
    assert [p["split"] for p in report["problems"]] == ["train"] * 3 + ["val"]
    m = read_manifest(out)
    assert (m.splits["train"].count, m.splits["val"].count) == (9, 5)
    # The run-time report carries the prepare-time skips.
    assert data_report(out, "skip")["skipped_rows"] == report["skipped_rows"]


def test_prepare_empty_split_is_an_error_even_when_skipping(tmp_path: Path) -> None:
    raw = _folders(tmp_path)
    for f in (raw / "val" / "images").iterdir():
        f.write_bytes(b"not an image")
    r = run("prepare", str(raw), "--out", str(tmp_path / "p"), "--on-bad-data", "skip")
    assert r.exit_code == 2
    assert f"{raw / 'val'}: the val split holds no usable samples" in r.output


def test_prepare_generates_ensemble_edges(tmp_path: Path) -> None:
    raw = _folders(tmp_path)
    for split in ("train", "val", "test"):
        for f in (raw / split / "edges").iterdir():
            f.unlink()
        (raw / split / "edges").rmdir()
    r = run("prepare", str(raw), "--out", str(tmp_path / "p"))
    assert r.exit_code == 2 and "--generate-edges" in r.output
    r = run("prepare", str(raw), "--out", str(tmp_path / "p"), "--generate-edges")
    assert r.exit_code == 0, r.output
    table = pq.read_table(
        tmp_path / "p" / read_manifest(tmp_path / "p").splits["train"].shards[0].path
    )
    img = cv2.imread(str(raw / "train" / "images" / "img_00003.png"), cv2.IMREAD_GRAYSCALE)
    row = table["id"].to_pylist().index("img_00003")
    edge = cv2.imdecode(np.frombuffer(table["target"][row].as_py(), np.uint8), 0)
    np.testing.assert_array_equal(edge, generate_ground_truth_edges(img))


def test_prepare_metadata_layout_uses_seed_features(tmp_path: Path) -> None:
    raw = _folders(tmp_path, "regression")
    out = prepare_folders(None, raw / "train", raw / "val", out=tmp_path / "p")
    m = read_manifest(out)
    assert m.task == "regression" and m.info["feature_dim"] == 5
    table = pq.read_table(out / m.splits["train"].shards[0].path)
    meta = json.loads((raw / "train" / "metadata.json").read_text())
    row = table.to_pylist()[4]
    img = cv2.imread(str(raw / "train" / "images" / f"{row['id']}.png"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_allclose(row["features"], feature_vector(img), rtol=1e-6)
    assert row["target"] == meta[f"{row['id']}.png"]["optimal_coefficients"]


def test_prepare_generates_anomalies(tmp_path: Path) -> None:
    raw = _folders(tmp_path, "anomaly")
    for split in ("train", "val", "test"):
        for f in (raw / split / "anomalous").iterdir():
            f.unlink()
        (raw / split / "anomalous").rmdir()
    normal = len(list((raw / "train" / "normal").iterdir()))
    out = prepare_folders(
        None, raw / "train", raw / "val", out=tmp_path / "p", generate_anomalies=True
    )
    table = pq.read_table(out / read_manifest(out).splits["train"].shards[0].path).to_pylist()
    assert len(table) == 2 * normal
    tampered = [r for r in table if r["target"] == 1]
    assert len(tampered) == normal
    assert {r["kind"] for r in tampered} <= {
        "amplitude_tamper",
        "phase_tamper",
        "frequency_gap",
        "distribution_violation",
    }
    originals = {r["id"]: r["features"] for r in table if r["target"] == 0}
    for r in tampered:
        assert not np.allclose(r["features"], originals[r["id"].split("~")[0]])


# -- prepared datasets: checks before streaming ---------------------------------------------------


def _prepared(tmp_path: Path) -> Path:
    raw = _folders(tmp_path, n=24)
    return prepare_folders("edges", raw / "train", raw / "val", out=tmp_path / "p")


def test_checksum_mismatch_names_the_shard(tmp_path: Path) -> None:
    out = _prepared(tmp_path)
    shard = out / read_manifest(out).splits["val"].shards[0].path
    table = pq.read_table(shard)
    pq.write_table(table, shard, compression="gzip")  # same rows, other bytes
    with pytest.raises(RaytrainError, match=rf"{shard}: sha256 .* does not match the manifest"):
        usable_shards(out, ("train", "val"))
    pq.write_table(table.slice(1), shard)
    with pytest.raises(RaytrainError, match=rf"{shard}: 5 rows, the manifest says 6"):
        usable_shards(out, ("train", "val"))


def test_truncated_parquet_names_the_shard(tmp_path: Path) -> None:
    out = _prepared(tmp_path)
    shard = out / read_manifest(out).splits["train"].shards[0].path
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(RaytrainError, match=rf"{shard}: not a readable parquet file"):
        usable_shards(out, ("train", "val"))
    r = run("validate", str(out), "--min-size", "0", "--min-edge-density", "0")
    assert r.exit_code == 1 and f"[unreadable parquet] {shard}" in r.output


def test_skip_mode_drops_bad_shards_and_counts_rows(tmp_path: Path) -> None:
    from raytrain.data.shards import image_schema, write_split

    raw = _folders(tmp_path, n=24)
    out = tmp_path / "p"
    prepare_folders("edges", raw / "train", raw / "val", out=out)
    # Re-shard train into 3 shards of 8 rows, then damage one of them.
    m = read_manifest(out)
    rows = pq.read_table(out / m.splits["train"].shards[0].path).to_pylist()
    for f in (out / "train").iterdir():
        f.unlink()
    m.splits["train"] = write_split(rows, out, "train", image_schema("image"), rows_per_shard=8)
    from raytrain.data.manifest import write_manifest

    write_manifest(out, m)
    bad = out / m.splits["train"].shards[1].path
    bad.write_bytes(b"PAR1" + bytes(50))
    shards, report = usable_shards(out, ("train", "val"), "skip")
    assert str(bad) not in shards["train"] and len(shards["train"]) == 2
    assert report["skipped_rows"] == 8
    assert report["reasons"] == {"unreadable parquet": 8}
    with pytest.raises(RaytrainError, match=str(bad)):
        usable_shards(out, ("train",), "error")


def test_missing_split_and_newer_schema(tmp_path: Path) -> None:
    out = _prepared(tmp_path)
    with pytest.raises(RaytrainError, match=r"no 'test' split"):
        usable_shards(out, ("train", "test"))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RaytrainError, match="schema version 99 is newer"):
        usable_shards(out, ("train",))


# -- split ----------------------------------------------------------------------------------------


def _flat_edges(tmp_path: Path, n: int = 20) -> Path:
    raw = _folders(tmp_path, n=n)
    return raw / "train"  # images/ + edges/: one flat set, the seed's split input


def test_split_is_deterministic_and_keeps_pairs(tmp_path: Path) -> None:
    src = _flat_edges(tmp_path)

    def names(folder: Path) -> dict[str, list[str]]:
        return {
            s: sorted(p.name for p in (folder / s / "images").iterdir())
            for s in ("train", "val", "test")
        }

    counts = split_folder(src, tmp_path / "a", (0.7, 0.15, 0.15), seed=42)
    assert counts == {"train": 14, "val": 3, "test": 3}
    split_folder(src, tmp_path / "b", (0.7, 0.15, 0.15), seed=42)
    split_folder(src, tmp_path / "c", (0.7, 0.15, 0.15), seed=7)
    a = names(tmp_path / "a")
    assert a == names(tmp_path / "b") != names(tmp_path / "c")
    assert sorted(sum(a.values(), [])) == sorted(p.name for p in (src / "images").iterdir())
    for s in a:  # every image went with its own edge map
        for name in a[s]:
            assert (tmp_path / "a" / s / "edges" / name).read_bytes() == (
                src / "edges" / name
            ).read_bytes()


@pytest.mark.parametrize(
    "ratios, message",
    [
        ("0.7,0.2,0.2", "must sum to 1"),
        ("0.5,0.6,-0.1", ">= 0"),
        ("1,0,0", "train and val ratios must be > 0"),
        ("0.5,0.5", "three numbers"),
        ("a,b,c", "three numbers"),
    ],
)
def test_split_ratios_are_checked(ratios: str, message: str, tmp_path: Path) -> None:
    r = run("split", str(_flat_edges(tmp_path)), "--out", str(tmp_path / "o"), "--ratios", ratios)
    assert r.exit_code == 2 and message in r.output, r.output
    assert not (tmp_path / "o").exists()


def test_split_classes_keeps_balance(tmp_path: Path) -> None:
    src = _folders(tmp_path, "classification", n=30) / "train"
    r = run("split", str(src), "--out", str(tmp_path / "o"), "--ratios", "0.6,0.2,0.2")
    assert r.exit_code == 0, r.output
    for split in ("train", "val", "test"):
        sizes = [len(list(d.iterdir())) for d in sorted((tmp_path / "o" / split).iterdir())]
        assert len(sizes) == 3 and max(sizes) - min(sizes) <= 1, (split, sizes)
    # The split folders prepare as they are.
    assert run("prepare", str(tmp_path / "o"), "--out", str(tmp_path / "p")).exit_code == 0


def test_split_too_few_items(tmp_path: Path) -> None:
    src = _flat_edges(tmp_path, n=8)
    with pytest.raises(RaytrainError, match="8 item.s. are too few for a non-empty val split"):
        split_folder(src, tmp_path / "o", (0.9, 0.05, 0.05))
