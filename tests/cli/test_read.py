"""cat, describe, query and time travel (--at-txn, --at) through the CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from .conftest import SERIES_CSV, SERIES_CSV_2, PondRunner, write


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def series(pond: PondRunner, host: Path) -> PondRunner:
    """/data/s.series with two versions (5 rows over 00:00..04:00), /data/t a table, /raw.csv."""
    pond.ok("mkdir", "/data")
    pond.ok("copy", "--format", "series", str(write(host / "a.csv", SERIES_CSV)), "/data/s.series")
    pond.ok(
        "copy", "--format", "series", str(write(host / "b.csv", SERIES_CSV_2)), "/data/s.series"
    )
    pond.ok("copy", "--format", "table", str(host / "a.csv"), "/data/t")
    pond.ok("copy", str(host / "a.csv"), "/raw.csv")
    return pond


# -- cat -------------------------------------------------------------------------------------


def test_cat_data_file_prints_raw_bytes(series: PondRunner, host: Path) -> None:
    assert series.cat_bytes("/raw.csv") == SERIES_CSV.encode()


def test_cat_series_formats(series: PondRunner) -> None:
    rows = csv_rows(series.ok("cat", "/data/s.series", "--format", "csv").stdout)
    assert [r["timestamp"] for r in rows] == [f"2025-01-01T0{h}:00:00Z" for h in range(5)]
    assert [r["site"] for r in rows] == ["a", "b", "c", "d", "e"]
    objects = json.loads(series.ok("cat", "/data/s.series", "--format", "json").stdout)
    assert [o["site"] for o in objects] == ["a", "b", "c", "d", "e"]
    assert objects[0] == {"timestamp": "2025-01-01T00:00:00Z", "temp": 1.5, "site": "a"}


def test_cat_prints_floats_at_full_precision(series: PondRunner) -> None:
    text = series.ok("cat", "/data/t", "--format", "csv").stdout
    assert "0.30000000000000004" in text
    values = [o["temp"] for o in series.json("cat", "/data/t")]
    assert values[2] == 0.1 + 0.2


def test_cat_parquet_output(series: PondRunner, host: Path) -> None:
    out = host / "s.parquet"
    series.ok("cat", "/data/s.series", "--format", "parquet", "--output", str(out))
    table = pq.read_table(out)
    assert table.num_rows == 5
    assert table.column_names == ["timestamp", "temp", "site"]
    raw = series.cat_bytes("/data/s.series", "--format", "parquet")
    assert raw[:4] == b"PAR1"


def test_cat_table_preview_and_every_row(pond: PondRunner, host: Path) -> None:
    start = datetime(2025, 1, 1)
    lines = ["timestamp,v"] + [f"{(start + timedelta(hours=h)).isoformat()},{h}" for h in range(30)]
    pond.ok("copy", "--format", "series", str(write(host / "a.csv", "\n".join(lines))), "/s")
    preview = pond.ok("cat", "/s").stdout
    assert "20 of 30 rows" in preview
    assert "2025-01-01T19:00:00Z" in preview and "2025-01-01T20:00:00Z" not in preview
    full = pond.ok("cat", "/s", "--format", "table").stdout
    assert "30 rows" in full
    assert "2025-01-02T05:00:00Z" in full
    out = host / "table.txt"
    pond.ok("cat", "/s", "--format", "table", "--output", str(out))
    assert "2025-01-02T05:00:00Z" in out.read_text()


def test_cat_json_flag_and_format_wins_over_json(series: PondRunner) -> None:
    objects = series.json("cat", "/data/t")
    assert len(objects) == 3
    text = series.ok("--json", "cat", "/data/t", "--format", "csv").stdout
    assert text.splitlines()[0] == "timestamp,temp,site"


def test_cat_sql(series: PondRunner) -> None:
    out = series.ok(
        "cat",
        "/data/s.series",
        "--sql",
        "SELECT count(*) AS n, max(temp) AS hi FROM source",
        "--format",
        "csv",
    ).stdout
    assert csv_rows(out) == [{"n": "5", "hi": "5.5"}]
    # A raw CSV file is a table too.
    out = series.ok("cat", "/raw.csv", "--sql", "SELECT site FROM source", "--format", "csv")
    assert out.stdout.split() == ["site", "a", "b", "c"]


def test_cat_start_is_inclusive_and_end_exclusive(series: PondRunner) -> None:
    out = series.ok(
        "cat",
        "/data/s.series",
        "--start",
        "2025-01-01T01:00Z",
        "--end",
        "2025-01-01T03:00Z",
        "--format",
        "csv",
    ).stdout
    assert [r["site"] for r in csv_rows(out)] == ["b", "c"]
    out = series.ok(
        "cat", "/data/s.series", "--start", "2025-01-01T03:00:00+00:00", "--format", "csv"
    ).stdout
    assert [r["site"] for r in csv_rows(out)] == ["d", "e"]
    out = series.ok(
        "cat", "/data/s.series", "--end", "2025-01-01T01:00:00.000001Z", "--format", "csv"
    ).stdout
    assert [r["site"] for r in csv_rows(out)] == ["a", "b"]
    # A zone offset is honoured: 02:00+01:00 is 01:00Z.
    out = series.ok(
        "cat",
        "/data/s.series",
        "--start",
        "2025-01-01T02:00+01:00",
        "--end",
        "2025-01-01T02:00Z",
        "--format",
        "csv",
    ).stdout
    assert [r["site"] for r in csv_rows(out)] == ["b"]


def test_cat_time_range_reads_a_data_file_as_rows(series: PondRunner) -> None:
    # --start/--end mean rows, so a raw CSV is read as a table rather than printed as bytes.
    out = series.ok("cat", "/raw.csv", "--start", "2025-01-01T01:00Z", "--format", "csv").stdout
    assert [r["site"] for r in csv_rows(out)] == ["b", "c"]


def test_cat_a_glob_of_series(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/d")
    pond.ok("copy", "--format", "series", str(write(host / "a.csv", SERIES_CSV)), "/d/a.series")
    pond.ok("copy", "--format", "series", str(write(host / "b.csv", SERIES_CSV_2)), "/d/b.series")
    rows = csv_rows(pond.ok("cat", "/d/*.series", "--format", "csv").stdout)
    assert sorted(r["site"] for r in rows) == ["a", "b", "c", "d", "e"]


def test_cat_version(series: PondRunner, host: Path) -> None:
    series.ok("copy", str(write(host / "x", b"second")), "/raw.csv")
    assert series.cat_bytes("/raw.csv", "--version", "1") == SERIES_CSV.encode()
    assert series.cat_bytes("/raw.csv", "--version", "2") == b"second"
    message = series.fails("cat", "/raw.csv", "--version", "3")
    assert "version 3" in message
    v1 = series.cat_bytes("/data/s.series", "--version", "1")
    assert v1[:4] == b"PAR1"
    assert pq.read_table(io.BytesIO(v1)).num_rows == 3
    assert series("cat", "/raw.csv", "--version", "1", "--sql", "SELECT 1").exit_code == 2


def test_cat_output_file(series: PondRunner, host: Path) -> None:
    out = host / "o.csv"
    result = series.ok("cat", "/data/t", "--format", "csv", "--output", str(out))
    assert result.stdout == ""
    assert [r["site"] for r in csv_rows(out.read_text())] == ["a", "b", "c"]
    raw = host / "raw.out"
    series.ok("cat", "/raw.csv", "--output", str(raw))
    assert raw.read_bytes() == SERIES_CSV.encode()


def test_cat_of_a_host_url_needs_no_pond(tmp_path: Path, host: Path) -> None:
    src = write(host / "a.csv", SERIES_CSV)
    runner = PondRunner(tmp_path / "no-pond-here")
    out = runner.ok("cat", f"host+csv://{src}", "--format", "csv").stdout
    assert [r["site"] for r in csv_rows(out)] == ["a", "b", "c"]
    assert not (tmp_path / "no-pond-here").exists()


def test_cat_errors(series: PondRunner) -> None:
    assert "directory" in series.fails("cat", "/data")
    assert "/nope" in series.fails("cat", "/nope")
    assert "ISO 8601" in series.fails("cat", "/data/s.series", "--start", "soon")


# -- describe ----------------------------------------------------------------------------------


def test_describe_json_shape(series: PondRunner) -> None:
    described = {d["path"]: d for d in series.json("describe", "/data/*")}
    assert set(described) == {"/data/s.series", "/data/t"}
    keys = {
        "path",
        "type",
        "size",
        "versions",
        "rows",
        "columns",
        "min_event_time",
        "max_event_time",
    }
    for d in described.values():
        assert keys <= set(d)
    s = described["/data/s.series"]
    assert (s["type"], s["versions"], s["rows"]) == ("file:series", 2, 5)
    assert s["columns"] == [
        {"name": "timestamp", "type": "timestamp[us, tz=UTC]"},
        {"name": "temp", "type": "double"},
        {"name": "site", "type": "string"},
    ]
    assert (s["min_event_time"], s["max_event_time"]) == (
        "2025-01-01T00:00:00Z",
        "2025-01-01T04:00:00Z",
    )
    assert s["size"] == sum(h["size"] for h in series.json("history", "/data/s.series"))
    t = described["/data/t"]
    assert (t["type"], t["versions"], t["rows"]) == ("file:table", 1, 3)


def test_describe_data_file_and_directory(series: PondRunner) -> None:
    [raw] = series.json("describe", "/raw.csv")
    assert raw == {
        "path": "/raw.csv",
        "type": "file:data",
        "size": len(SERIES_CSV),
        "size_of": "latest version",
        "latest_size": len(SERIES_CSV),
        "versions": 1,
        "rows": None,
        "columns": [],
        "min_event_time": None,
        "max_event_time": None,
    }
    [d] = series.json("describe", "/data")
    assert d["type"] == "directory"


def test_describe_text(series: PondRunner) -> None:
    text = series.ok("describe", "/data/s.series").stdout
    assert "file:series" in text
    assert "versions: 2" in text
    assert "rows:     5" in text
    assert "2025-01-01T00:00:00Z .. 2025-01-01T04:00:00Z" in text
    assert "site" in text and "double" in text


def test_globs_in_read_commands_skip_hidden_names(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/d")
    pond.ok("copy", "--format", "series", str(write(host / "a.csv", SERIES_CSV)), "/d/a")
    pond.ok("copy", "--format", "series", str(write(host / "b.csv", SERIES_CSV_2)), "/d/.b")
    assert [d["path"] for d in pond.json("describe", "/d/*")] == ["/d/a"]
    assert len(pond.json("cat", "/d/*")) == 3
    assert pond.json("query", 'SELECT count(*) AS n FROM "/d/*"') == [{"n": 3}]
    # Named explicitly, a hidden node is there.
    assert pond.json("describe", "/d/.b")[0]["rows"] == 2


def test_describe_nothing_matches(series: PondRunner) -> None:
    assert "/nope" in series.fails("describe", "/nope/*")


# -- query -------------------------------------------------------------------------------------


def test_query_system_tables(series: PondRunner) -> None:
    txns = series.json("query", "SELECT txn_seq FROM transactions ORDER BY txn_seq")
    assert [t["txn_seq"] for t in txns] == [1, 2, 3, 4, 5, 6]
    entries = series.json("query", "SELECT path, type FROM entries ORDER BY path")
    assert entries == [
        {"path": "/data", "type": "directory"},
        {"path": "/data/s.series", "type": "file:series"},
        {"path": "/data/t", "type": "file:table"},
        {"path": "/raw.csv", "type": "file:data"},
    ]
    [count] = series.json(
        "query", "SELECT count(*) AS n FROM nodes WHERE file_type = 'file:series'"
    )
    assert count == {"n": 2}
    # nodes has no content column: it is metadata only.
    columns = series.json("query", "SELECT * FROM nodes LIMIT 1")[0].keys()
    assert "content" not in columns and {"node_id", "version", "txn_seq", "sha256"} <= columns


def test_query_quoted_pond_paths(series: PondRunner) -> None:
    [row] = series.json("query", 'SELECT count(*) AS n, avg(temp) AS m FROM "/data/s.series"')
    assert row["n"] == 5
    assert row["m"] == pytest.approx((1.5 + 2.25 + 0.30000000000000004 + 4.0 + 5.5) / 5)
    joined = series.json(
        "query",
        'SELECT s.site FROM "/data/s.series" s JOIN "/data/t" t ON s.timestamp = t.timestamp '
        "ORDER BY s.site",
    )
    assert [r["site"] for r in joined] == ["a", "b", "c"]


def test_query_output_formats(series: PondRunner, host: Path) -> None:
    sql = 'SELECT site FROM "/data/t" ORDER BY site'
    assert series.ok("query", sql, "--format", "csv").stdout.split() == ["site", "a", "b", "c"]
    assert json.loads(series.ok("query", sql, "--format", "json").stdout) == [
        {"site": "a"},
        {"site": "b"},
        {"site": "c"},
    ]
    table = series.ok("query", sql).stdout
    assert "3 rows" in table
    out = host / "q.parquet"
    series.ok("query", sql, "--format", "parquet", "--output", str(out))
    assert pq.read_table(out).column("site").to_pylist() == ["a", "b", "c"]


def test_query_errors(series: PondRunner) -> None:
    series.fails("query", "SELEC 1")
    message = series.fails("query", "SELECT * FROM no_such_table")
    assert "no_such_table" in message
    assert "/nope" in series.fails("query", 'SELECT * FROM "/nope"')


# -- time travel ---------------------------------------------------------------------------


@pytest.fixture
def history(pond: PondRunner, host: Path) -> PondRunner:
    """txn 2 writes /f "old" and /s v1; txn 3 mkdir /later; txn 4 /f "new"; txn 5 /s v2."""
    write(host / "a.csv", SERIES_CSV)
    pond.ok("mkdir", "/d")  # txn 2
    pond.ok("copy", str(write(host / "f", b"old")), "/d/f")  # 3
    pond.ok("copy", "--format", "series", str(host / "a.csv"), "/d/s")  # 4
    pond.ok("copy", str(write(host / "f", b"new")), "/d/f")  # 5
    pond.ok("copy", "--format", "series", str(write(host / "b.csv", SERIES_CSV_2)), "/d/s")  # 6
    pond.ok("mkdir", "/later")  # 7
    return pond


def test_list_at_txn(history: PondRunner) -> None:
    assert history.paths("--at-txn", "1") == []
    assert history.paths("--at-txn", "2") == ["/d"]
    assert sorted(history.paths("--at-txn", "4")) == ["/d", "/d/f", "/d/s"]
    assert "/later" in history.paths("--at-txn", "7")
    assert history.json("list", "/d/f", "--at-txn", "3")[0]["version"] == 1
    assert history.json("list", "/d/f", "--at-txn", "5")[0]["version"] == 2


def test_cat_at_txn_returns_old_bytes(history: PondRunner) -> None:
    assert history.cat_bytes("/d/f", "--at-txn", "3") == b"old"
    assert history.cat_bytes("/d/f", "--at-txn", "4") == b"old"
    assert history.cat_bytes("/d/f", "--at-txn", "5") == b"new"
    assert history.cat_bytes("/d/f") == b"new"
    old = history.json("cat", "/d/s", "--at-txn", "5")
    assert [r["site"] for r in old] == ["a", "b", "c"]
    assert "/d/f" in history.fails("cat", "/d/f", "--at-txn", "2")


def test_describe_at_txn(history: PondRunner) -> None:
    [then] = history.json("describe", "/d/s", "--at-txn", "4")
    assert (then["versions"], then["rows"]) == (1, 3)
    assert then["max_event_time"] == "2025-01-01T02:00:00Z"
    [now] = history.json("describe", "/d/s")
    assert (now["versions"], now["rows"]) == (2, 5)


def test_query_and_history_at_txn(history: PondRunner) -> None:
    rows = history.json("query", 'SELECT count(*) AS n FROM "/d/s"', "--at-txn", "4")
    assert rows == [{"n": 3}]
    txns = history.json("query", "SELECT max(txn_seq) AS t FROM transactions", "--at-txn", "3")
    assert txns == [{"t": 3}]
    assert [h["version"] for h in history.json("history", "/d/f", "--at-txn", "4")] == [1]


def test_at_time_is_the_last_transaction_at_or_before_it(history: PondRunner) -> None:
    log = {t["txn_seq"]: t["timestamp"] for t in history.json("log")}
    at3 = log[3]
    assert history.cat_bytes("/d/f", "--at", at3) == b"old"
    assert history.paths("--at", at3) == history.paths("--at-txn", "3")
    # Between txn 4 and txn 5: the state after txn 4.
    t4 = datetime.fromisoformat(log[4].replace("Z", "+00:00"))
    t5 = datetime.fromisoformat(log[5].replace("Z", "+00:00"))
    assert t4 < t5
    between = (t4 + (t5 - t4) / 2).isoformat()
    assert history.cat_bytes("/d/f", "--at", between) == b"old"
    [d] = history.json("describe", "/d/s", "--at", between)
    assert d["versions"] == 1
    assert history.cat_bytes("/d/f", "--at", "2999-01-01T00:00Z") == b"new"


def test_time_travel_errors(history: PondRunner) -> None:
    message = history.fails("list", "--at-txn", "8")
    assert "8" in message
    history.fails("cat", "/d/f", "--at-txn", "0")
    assert "ISO 8601" in history.fails("list", "--at", "last tuesday")
    history.fails("list", "--at", "1999-01-01T00:00Z")
    history.fails("list", "--at", "2025-01-01", "--at-txn", "2")


def test_past_state_cannot_be_written(history: PondRunner) -> None:
    # Write commands do not take time-travel options at all.
    assert history("mkdir", "/x", "--at-txn", "2").exit_code == 2


def test_describe_host_url_needs_no_pond(host: Path) -> None:
    from click.testing import CliRunner

    from duckpond.cli import cli

    path = write(host / "r.csv", SERIES_CSV)
    result = CliRunner().invoke(cli, ["--json", "describe", f"host+csv://{path}"])
    assert result.exit_code == 0, result.output
    [d] = json.loads(result.stdout)
    assert (d["type"], d["rows"]) == ("csv", 3)
    assert [c["name"] for c in d["columns"]] == ["timestamp", "temp", "site"]
    assert (d["min_event_time"], d["max_event_time"]) == (
        "2025-01-01T00:00:00Z",
        "2025-01-01T02:00:00Z",
    )


def test_describe_pond_csv_url(series: PondRunner) -> None:
    [d] = series.json("describe", "csv:///raw.csv")
    assert (d["path"], d["rows"]) == ("csv:///raw.csv", 3)
    assert d["columns"][1] == {"name": "temp", "type": "double"}
