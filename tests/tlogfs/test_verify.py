"""Reads verify what they read: a changed or missing blob, or changed inline content, fails
every read path with one line naming the pond path, the version and the blob."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

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
