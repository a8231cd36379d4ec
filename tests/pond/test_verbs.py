"""``duckpond.Pond``: what the CLI does is a call away (STYLE rule 1)."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import pytest

from duckpond import Pond
from duckpond.errors import ReadOnlyError
from duckpond.tlogfs.layout import DATA_DIR, LARGE_FILES_DIR


@pytest.fixture
def pond(tmp_path: Path) -> Pond:
    p = Pond.init(tmp_path / "pond", command=["test", "init"])
    p.mkdir("/d")
    p.write_bytes("/d/a.csv", b"t,v\n2025-01-01T00:00:00Z,1.5\n2025-01-02T00:00:00Z,2.5\n")
    return p


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def test_log_records_command_and_user_newest_first(pond: Pond) -> None:
    log = pond.log()
    assert [t.txn_seq for t in log] == [3, 2, 1]
    assert log[-1].command == ["test", "init"]
    assert {t.user for t in log} == {_user()}
    assert [t.txn_seq for t in pond.log(limit=1)] == [3]


def test_query_streams_the_system_tables(pond: Pond) -> None:
    reader = pond.query("SELECT count(*) AS n FROM transactions")
    assert reader.read_all().column("n").to_pylist() == [3]


def test_cat_names_the_target_source_and_cuts_the_range(pond: Pond) -> None:
    from duckpond.timeparse import parse_time

    rows = pond.cat("csv:///d/a.csv", sql="SELECT sum(v) AS s FROM source").read_all()
    assert rows.column("s").to_pylist() == [4.0]
    cut = pond.cat(
        "csv:///d/a.csv", start=parse_time("2025-01-02"), end=parse_time("2025-01-03")
    ).read_all()
    assert cut.column("v").to_pylist() == [2.5]


def test_describe_takes_a_pond_url(pond: Pond) -> None:
    [d] = pond.describe("csv:///d/a.csv")
    assert d["rows"] == 2
    assert [c["name"] for c in d["columns"]] == ["t", "v"]
    assert d["min_event_time"] == "2025-01-01T00:00:00Z"


def test_recover_removes_an_orphan_blob_and_fsck_proves_the_pond(pond: Pond) -> None:
    assert pond.fsck().ok
    orphan = pond.path / DATA_DIR / LARGE_FILES_DIR / ("sha256=" + "0" * 64)
    orphan.write_bytes(b"left by a crash")
    assert pond.fsck().unreferenced_blobs == 1
    report = pond.recover()
    assert report.removed_blobs == ["0" * 64]
    assert not orphan.exists()
    assert pond.fsck().unreferenced_blobs == 0
    assert pond.recover().clean


def test_recover_refuses_a_past_state(pond: Pond) -> None:
    with pytest.raises(ReadOnlyError):
        Pond.open(pond.path, at_txn=1).recover()


def test_write_table_onto_a_series_is_checked_as_a_series_version(pond: Pond) -> None:
    import pyarrow as pa

    from duckpond.errors import FormatError

    stamp = pa.array([0], pa.timestamp("us", tz="UTC"))
    pond.write_series("/s", pa.table({"t": stamp, "v": [1.0]}))
    with pytest.raises(FormatError):
        pond.write_table("/s", pa.table({"t": ["not a time"], "v": ["x"]}))
    assert len(pond.history("/s")) == 1
    pond.write_table("/s", pa.table({"t": stamp, "v": [2.0]}))
    assert pond.read_table("/s", all_versions=True).column("v").to_pylist() == [1.0, 2.0]
