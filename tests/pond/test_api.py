"""The Python API: everything a notebook needs, on real ponds in ``tmp_path``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import duckpond
from duckpond import Pond
from duckpond.errors import (
    ConfigError,
    FormatError,
    PondExistsError,
    PondNotFoundError,
    ReadOnlyError,
    TransactionError,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def frame(start_hour: int, hours: int, **extra: list[float]) -> pd.DataFrame:
    times = [T0 + timedelta(hours=start_hour + i) for i in range(hours)]
    data: dict[str, object] = {
        "timestamp": times,
        "temp": [float(start_hour + i) / 4 for i in range(hours)],
    }
    data.update(extra)
    return pd.DataFrame(data)


@pytest.fixture
def pond(tmp_path: Path) -> Pond:
    return Pond.init(tmp_path / "pond", command=["test"])


def test_public_surface() -> None:
    assert duckpond.__all__ == ["Pond", "PondError", "__version__"]
    assert duckpond.Pond is Pond


def test_init_refuses_an_existing_pond_and_open_needs_one(tmp_path: Path, pond: Pond) -> None:
    with pytest.raises(PondExistsError):
        Pond.init(pond.path)
    with pytest.raises(PondNotFoundError):
        Pond.open(tmp_path / "elsewhere")
    assert pond.last_txn == 1
    assert [t.txn_seq for t in pond.log()] == [1]
    assert pond.log()[0].command == ["test"]


def test_transaction_commits_once_on_clean_exit(pond: Pond) -> None:
    with pond.transaction(command=["notebook"]) as root:
        root.mkdir("/notes")
        root.write_file("/notes/a.txt", b"one")
        root.write_file("/notes/b.txt", b"two")
    assert pond.last_txn == 2
    reopened = Pond.open(pond.path)
    assert reopened.read_bytes("/notes/b.txt") == b"two"
    assert reopened.log(limit=1)[0].command == ["notebook"]


def test_transaction_leaves_no_trace_on_an_exception(pond: Pond) -> None:
    with pytest.raises(RuntimeError), pond.transaction() as root:
        root.write_file("/x", b"never")
        raise RuntimeError("boom")
    assert pond.last_txn == 1
    assert not Pond.open(pond.path).root.exists("/x")
    with pytest.raises(TransactionError), pond.transaction(), pond.transaction():
        pass


def test_series_from_pandas_polars_and_arrow_read_back_in_order(pond: Pond) -> None:
    first = frame(0, 24)
    second = pl.from_pandas(frame(24, 24))
    third = pa.Table.from_pandas(frame(48, 24), preserve_index=False)
    pond.write_series("/s.series", first)
    pond.write_series("/s.series", second)
    pond.write_series("/s.series", third)
    table = pond.read_table("/s.series")
    expected = pd.concat([frame(0, 24), frame(24, 24), frame(48, 24)], ignore_index=True)
    assert table.column("temp").to_pylist() == expected["temp"].tolist()
    assert len(pond.history("/s.series")) == 3
    [described] = pond.describe("/s.series")
    assert described["rows"] == 72
    assert described["min_event_time"] == "2025-01-01T00:00:00Z"
    assert described["max_event_time"] == "2025-01-03T23:00:00Z"


def test_read_table_time_range_matches_pandas(pond: Pond) -> None:
    for start in (0, 24, 48):
        pond.write_series("/s.series", frame(start, 24))
    everything = pd.concat([frame(s, 24) for s in (0, 24, 48)], ignore_index=True)
    lo, hi = T0 + timedelta(hours=20), T0 + timedelta(hours=30)
    got = pond.read_table("/s.series", start=lo, end=hi).column("temp").to_pylist()
    want = everything[(everything.timestamp >= lo) & (everything.timestamp < hi)]["temp"]
    assert got == want.tolist()
    assert len(got) == 10


def test_sql_over_files_and_system_tables(pond: Pond) -> None:
    pond.write_series("/s.series", frame(0, 48))
    result = pond.sql('SELECT max(temp) AS hi, count(*) AS n FROM "/s.series"').to_pylist()
    assert result == [{"hi": frame(0, 48)["temp"].max(), "n": 48}]
    kinds = pond.sql("SELECT file_type FROM nodes WHERE file_type = 'file:series'")
    assert kinds.num_rows == 1


def test_a_column_added_later_reads_as_null_in_older_rows(pond: Pond) -> None:
    pond.write_series("/s.series", frame(0, 2))
    pond.write_series("/s.series", frame(2, 2, cond=[1.0, 2.0]))
    assert pond.read_table("/s.series").column("cond").to_pylist() == [None, None, 1.0, 2.0]


def test_series_needs_a_timestamp_column(pond: Pond) -> None:
    with pytest.raises(FormatError):
        pond.write_series("/bad.series", pd.DataFrame({"value": [1.0]}))
    assert pond.last_txn == 1


def test_write_table_latest_wins(pond: Pond) -> None:
    pond.write_table("/t", pd.DataFrame({"a": [1, 2]}))
    pond.write_table("/t", pd.DataFrame({"a": [3]}))
    assert pond.read_table("/t").column("a").to_pylist() == [3]


def test_time_travel_by_txn_and_time(pond: Pond) -> None:
    pond.write_bytes("/f", b"old")
    middle = datetime.now(UTC)
    pond.write_bytes("/f", b"new")
    assert Pond.open(pond.path, at_txn=2).read_bytes("/f") == b"old"
    assert Pond.open(pond.path, at=middle).read_bytes("/f") == b"old"
    assert Pond.open(pond.path).read_bytes("/f") == b"new"
    assert pond.read_bytes("/f", version=1) == b"old"
    past = Pond.open(pond.path, at_txn=1)
    assert not past.root.exists("/f")
    with pytest.raises(ReadOnlyError):
        past.write_bytes("/g", b"x")
    with pytest.raises(ConfigError):
        Pond.open(pond.path, at_txn=99)


def test_copy_in_and_out_round_trip(pond: Pond, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.bin").write_bytes(bytes(range(256)) * 300)
    (src / "sub" / ".hidden").write_bytes(b"dot")
    result = pond.copy_in([src], "/in")
    assert sorted(result.written) == ["/in/a.bin", "/in/sub/.hidden"]
    again = pond.copy_in([src / "a.bin"], "/in/a.bin")
    assert again.written == [] and again.unchanged == ["/in/a.bin"]
    out = tmp_path / "out"
    pond.copy_out("/in/*", out)
    assert (out / "a.bin").read_bytes() == bytes(range(256)) * 300


def test_filesystem_helpers(pond: Pond) -> None:
    pond.mkdir("/a/b", parents=True)
    pond.write_bytes("/a/b/f", b"x")
    node_id = pond.root.get("/a/b/f").node_id
    pond.move("/a/b/f", "/a/g")
    assert pond.root.get("/a/g").node_id == node_id
    pond.symlink("/a/g", "/link")
    assert pond.read_bytes("/link") == b"x"
    pond.remove("/a", recursive=True)
    assert [np.path for np in pond.list()] == ["/link"]
