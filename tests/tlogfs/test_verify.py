"""Reads verify what they read: a changed or missing blob, or changed inline content, fails
every read path with one line naming the pond path, the version and the blob."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash

from duckpond import Pond
from duckpond.errors import CorruptDataError
from duckpond.tlogfs import DeltaPersistence
from tests.cli.conftest import PondRunner, assert_user_error

from .conftest import commit_file

BIG = bytes(range(256)) * 1024  # 256 KiB: a blob


def blob_of(pond_dir: Path, data: bytes) -> Path:
    return pond_dir / "data" / "_large_files" / f"sha256={hashlib.sha256(data).hexdigest()}"


def flip_byte(path: Path, at: int = 1000) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def delete(path: Path) -> None:
    path.unlink()


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "flipped byte": (flip_byte, "does not match its hash"),
    "deleted blob": (delete, "is missing"),
}


@pytest.fixture
def pond(tmp_path: Path) -> PondRunner:
    runner = PondRunner(tmp_path / "pond")
    runner.ok("init")
    return runner


def series_bytes(rows: int = 20_000) -> bytes:
    table = pa.table(
        {
            "timestamp": pa.array(
                [1_700_000_000_000_000 + i * 60_000_000 for i in range(rows)],
                pa.timestamp("us", tz="UTC"),
            ),
            "temp": pa.array([i * 0.25 for i in range(rows)], pa.float64()),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="none")
    data = bytes(sink.getvalue().to_pybytes())
    assert len(data) >= 65536
    return data


def assert_names_the_damage(message: str, path: str, blob: Path, what: str) -> None:
    assert message.startswith(f"{path} version 1: blob {blob.name} {what}"), message
    assert "pond fsck" in message


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_cat_of_a_damaged_blob_fails(pond: PondRunner, tmp_path: Path, damage: str) -> None:
    (tmp_path / "big.bin").write_bytes(BIG)
    pond.ok("mkdir", "/d")
    pond.ok("copy", str(tmp_path / "big.bin"), "/d/big.bin")
    assert pond.cat_bytes("/d/big.bin") == BIG
    blob = blob_of(pond.dir, BIG)
    hurt, what = DAMAGE[damage]
    hurt(blob)
    result = pond("cat", "/d/big.bin")
    assert result.stdout_bytes == b""  # nothing of the bad bytes reaches the output
    assert_names_the_damage(assert_user_error(result), "/d/big.bin", blob, what)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_queries_over_a_damaged_series_fail(pond: PondRunner, tmp_path: Path, damage: str) -> None:
    data = series_bytes()
    (tmp_path / "t.parquet").write_bytes(data)
    pond.ok("copy", "--format", "series", str(tmp_path / "t.parquet"), "/t.series")
    blob = blob_of(pond.dir, data)
    assert blob.exists()
    hurt, what = DAMAGE[damage]
    hurt(blob)
    for args in (
        ("cat", "/t.series", "--sql", "SELECT avg(temp) AS a FROM source"),
        ("cat", "/t.series", "--format", "csv"),
        ("query", 'SELECT count(*) AS n FROM "/t.series"'),
    ):
        message = assert_user_error(pond(*args))
        assert_names_the_damage(message, "/t.series", blob, what)


def test_the_api_raises_corrupt_data_error(tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "pond")
    pond.write_bytes("/big.bin", BIG)
    flip_byte(blob_of(pond.path, BIG), at=len(BIG) - 1)
    reopened = Pond.open(pond.path)
    with pytest.raises(CorruptDataError, match=r"^/big.bin version 1: blob sha256="):
        reopened.read_bytes("/big.bin")


def test_a_changed_inline_version_fails(pond: PondRunner, tmp_path: Path) -> None:
    (tmp_path / "small.txt").write_bytes(b"the right bytes\n")
    pond.ok("copy", str(tmp_path / "small.txt"), "/small.txt")
    node_id = pond.json("list", "/small.txt")[0]["node_id"]
    # Rewrite the Delta data file that holds the row, changing its inline content.
    changed = 0
    for path in (pond.dir / "data").glob("part_id=*/*.parquet"):
        table = pq.read_table(path)
        ids = table.column("node_id").to_pylist()
        if node_id not in ids:
            continue
        content = table.column("content").to_pylist()
        content[ids.index(node_id)] = b"the wrong bytes\n"
        i = table.schema.get_field_index("content")
        table = table.set_column(i, "content", pa.array(content, pa.binary()))
        pq.write_table(table, path, row_group_size=256)
        changed += 1
    assert changed == 1
    message = assert_user_error(pond("cat", "/small.txt"))
    assert message.startswith("/small.txt version 1: its stored content does not match"), message
    assert "pond fsck" in message


def test_fsck_still_reports_what_reads_refuse(pond: PondRunner, tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(BIG)
    pond.ok("copy", str(tmp_path / "big.bin"), "/big.bin")
    flip_byte(blob_of(pond.dir, BIG))
    result = pond("fsck")
    assert "sha256 mismatch" in result.stdout
    assert_user_error(result)


def test_a_blob_is_hashed_once_per_process(pond_dir: Path, store: DeltaPersistence) -> None:
    """A second look in the same process trusts the first one's hash while the file's stat
    is unchanged; a rewrite that changes it, or another process, hashes again."""
    node_id = commit_file(store, "big.bin", BIG)
    blob = store.local_path(node_id)
    assert blob is not None and blob == blob_of(pond_dir, BIG)
    before = blob.stat()
    flip_byte(blob)
    # Put the modification time back: the stat is what the memo compares.
    os.utime(blob, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert store.local_path(node_id) == blob
    assert store.read_bytes(node_id) != BIG  # trusted: the same process, the same stat
    os.utime(blob, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    with pytest.raises(CorruptDataError, match="does not match its hash"):
        store.local_path(node_id)
    with pytest.raises(CorruptDataError, match="does not match its hash"):
        store.read_bytes(node_id)


def rewrite_attributes(
    pond_dir: Path, node_id: str, change: Callable[[dict[str, object]], None]
) -> None:
    """Change the recorded attributes of a node's rows in the Delta data files, as an older
    pond (or damage) would have them."""
    changed = 0
    for path in (pond_dir / "data").glob("part_id=*/*.parquet"):
        table = pq.read_table(path)
        ids = table.column("node_id").to_pylist()
        if node_id not in ids:
            continue
        attributes = table.column("attributes").to_pylist()
        recorded = json.loads(attributes[ids.index(node_id)] or "{}")
        change(recorded)
        attributes[ids.index(node_id)] = json.dumps(recorded) if recorded else None
        i = table.schema.get_field_index("attributes")
        table = table.set_column(i, "attributes", pa.array(attributes, pa.string()))
        pq.write_table(table, path, row_group_size=256)
        changed += 1
    assert changed == 1


def recorded_attributes(pond_dir: Path, node_id: str) -> dict[str, object]:
    for path in (pond_dir / "data").glob("part_id=*/*.parquet"):
        table = pq.read_table(path)
        ids = table.column("node_id").to_pylist()
        if node_id in ids:
            value = table.column("attributes").to_pylist()[ids.index(node_id)]
            return dict(json.loads(value)) if value else {}
    raise AssertionError(f"no row for {node_id}")


def copy_big(pond: PondRunner, tmp_path: Path) -> str:
    (tmp_path / "big.bin").write_bytes(BIG)
    pond.ok("copy", str(tmp_path / "big.bin"), "/big.bin")
    return str(pond.json("list", "/big.bin")[0]["node_id"])


def test_a_blob_version_records_its_fast_checksum(pond: PondRunner, tmp_path: Path) -> None:
    """Written now, a blob version's row holds the XXH3-128 of its bytes; the attributes users
    see (describe, system tables, the API) do not show it."""
    node_id = copy_big(pond, tmp_path)
    assert recorded_attributes(pond.dir, node_id)["xxh3_128"] == xxhash.xxh3_128_hexdigest(BIG)
    assert all("xxh3_128" not in v.attributes for v in Pond.open(pond.dir).history("/big.bin"))


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_version_with_the_fast_checksum_detects_damage(
    pond: PondRunner, tmp_path: Path, damage: str
) -> None:
    node_id = copy_big(pond, tmp_path)
    assert "xxh3_128" in recorded_attributes(pond.dir, node_id)
    blob = blob_of(pond.dir, BIG)
    hurt, what = DAMAGE[damage]
    hurt(blob)
    result = pond("cat", "/big.bin")
    assert result.stdout_bytes == b""
    assert_names_the_damage(assert_user_error(result), "/big.bin", blob, what)


def test_reads_check_the_recorded_fast_checksum(pond: PondRunner, tmp_path: Path) -> None:
    """Intact bytes under a wrong recorded checksum fail: the read checks what the row says."""
    node_id = copy_big(pond, tmp_path)

    def wrong(recorded: dict[str, object]) -> None:
        recorded["xxh3_128"] = "0" * 32

    rewrite_attributes(pond.dir, node_id, wrong)
    blob = blob_of(pond.dir, BIG)
    assert_names_the_damage(
        assert_user_error(pond("cat", "/big.bin")), "/big.bin", blob, "does not match its hash"
    )


def test_a_version_written_without_the_fast_checksum_verifies_by_sha256(
    pond: PondRunner, tmp_path: Path
) -> None:
    """An older pond's blob rows carry no fast checksum: reads fall back to the sha256."""
    node_id = copy_big(pond, tmp_path)

    def forget(recorded: dict[str, object]) -> None:
        recorded.pop("xxh3_128")

    rewrite_attributes(pond.dir, node_id, forget)
    assert recorded_attributes(pond.dir, node_id) == {}
    assert pond.cat_bytes("/big.bin") == BIG
    blob = blob_of(pond.dir, BIG)
    flip_byte(blob)
    result = pond("cat", "/big.bin")
    assert result.stdout_bytes == b""
    assert_names_the_damage(assert_user_error(result), "/big.bin", blob, "does not match its hash")


def test_a_series_without_the_fast_checksum_verifies_by_sha256(
    pond: PondRunner, tmp_path: Path
) -> None:
    """The query engine's path to the blob falls back to the sha256 too."""
    data = series_bytes()
    (tmp_path / "t.parquet").write_bytes(data)
    pond.ok("copy", "--format", "series", str(tmp_path / "t.parquet"), "/t.series")
    node_id = str(pond.json("list", "/t.series")[0]["node_id"])

    def forget(recorded: dict[str, object]) -> None:
        recorded.pop("xxh3_128")

    rewrite_attributes(pond.dir, node_id, forget)
    assert "xxh3_128" not in recorded_attributes(pond.dir, node_id)
    assert pond.ok(
        "query", 'SELECT count(*) AS n FROM "/t.series"', "--format", "csv"
    ).stdout.split() == ["n", "20000"]
    blob = blob_of(pond.dir, data)
    flip_byte(blob)
    message = assert_user_error(pond("query", 'SELECT count(*) AS n FROM "/t.series"'))
    assert_names_the_damage(message, "/t.series", blob, "does not match its hash")
