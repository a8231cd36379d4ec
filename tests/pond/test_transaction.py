"""One transaction object with every write verb: one commit, or nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from duckpond import Pond
from duckpond.errors import ConfigError, FormatError

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def readings(hours: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": [T0 + timedelta(hours=i) for i in range(hours)],
            "temp": [float(i) for i in range(hours)],
        }
    )


@pytest.fixture
def pond(tmp_path: Path) -> Pond:
    return Pond.init(tmp_path / "pond", command=["test"])


def test_every_verb_in_one_transaction_is_one_commit(pond: Pond, tmp_path: Path) -> None:
    host = tmp_path / "a.csv"
    host.write_text("timestamp,temp\n2025-02-01T00:00:00Z,1.5\n")
    with pond.transaction(command=["notebook"]) as tx:
        tx.mkdir("/raw", "/data/site", parents=True)
        tx.write_series("/data/site/a.series", readings(24))
        tx.write_file("/raw/notes.txt", b"calibrated")
        tx.write_table("/data/site/t.table", readings(2))
        copied = tx.copy_in([host], "/raw/", format="series")
        tx.symlink("/data/site/a.series", "/latest")
        tx.mv("/raw/notes.txt", "/raw/notes-2025.txt")
        tx.rm("/data/site/t.table")
        assert tx.txn_seq is None  # not committed yet
    assert copied.written == ["/raw/a.csv"]
    assert tx.txn_seq == 2
    log = pond.log()
    assert [t.txn_seq for t in log] == [2, 1]
    assert log[0].command == ["notebook"]
    again = Pond.open(pond.path)
    assert again.read_bytes("/raw/notes-2025.txt") == b"calibrated"
    assert again.read_table("/latest").num_rows == 24
    assert not again.root.exists("/data/site/t.table")
    assert again.read_table("/raw/a.csv").column("temp").to_pylist() == [1.5]


def test_an_exception_inside_leaves_the_pond_as_it_was(pond: Pond) -> None:
    pond.mkdir("/keep")
    before = sorted(p.path for p in pond.list())
    with pytest.raises(FormatError), pond.transaction() as tx:
        tx.mkdir("/new")
        tx.write_file("/new/f", b"x")
        tx.write_series("/new/s.series", readings(3))
        tx.write_series("/new/s.series", pd.DataFrame({"no_time_here": [1.0]}))
    assert pond.last_txn == 2
    reopened = Pond.open(pond.path)
    assert sorted(p.path for p in reopened.list()) == before
    assert [t.txn_seq for t in reopened.log()] == [2, 1]


def test_a_verb_of_pond_is_one_transaction(pond: Pond) -> None:
    pond.write_series("/s.series", readings(3))
    pond.write_bytes("/f", b"1")
    assert [t.txn_seq for t in pond.log()] == [3, 2, 1]


@pytest.mark.parametrize(
    "start",
    [
        "2025-01-01T05:00:00Z",
        "2025-01-01 05:00",
        T0 + timedelta(hours=5),
        pd.Timestamp("2025-01-01T05:00:00"),
        np.datetime64("2025-01-01T05:00:00"),
    ],
)
def test_times_accept_strings_datetimes_and_pandas_timestamps(pond: Pond, start: object) -> None:
    pond.write_series("/s.series", readings(10))
    table = pond.read_table("/s.series", start=start, end="2025-01-01T07:00Z")
    assert table.column("temp").to_pylist() == [5.0, 6.0]
    rows = pond.cat("/s.series", start=start).read_all()
    assert rows.num_rows == 5


def test_open_at_a_time_given_as_a_string(pond: Pond) -> None:
    pond.mkdir("/later")
    with pytest.raises(ConfigError, match="no transaction at or before 2000-01-01"):
        Pond.open(pond.path, at="2000-01-01")
    now = Pond.open(pond.path, at="2099-01-01")
    assert now.root.exists("/later")
    with pytest.raises(ConfigError, match="not a time"):
        Pond.open(pond.path, at=3.5)
