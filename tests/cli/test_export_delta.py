"""``pond export --format delta``: standalone Delta tables that other engines read.

Every table is read back by engines that know nothing of the pond (deltalake,
Polars, DataFusion, pyarrow's dataset over the table's active files, Dask on a
2-worker LocalCluster) and compared with what ``pond cat`` prints for the same path.
Incrementality is checked on the Delta log itself: its version count and the
operation each commit recorded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from deltalake import DeltaTable

from duckpond import Pond

from .conftest import PondRunner, child_env, write

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def readings(start: datetime, count: int, offset: float = 0.0, minutes: int = 20) -> pa.Table:
    times = [start + timedelta(minutes=minutes * i) for i in range(count)]
    return pa.table(
        {
            "timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
            "Temperature.C": pa.array([offset + i / 8 for i in range(count)], pa.float64()),
            "site": pa.array([f"s{i % 3}" for i in range(count)], pa.string()),
        }
    )


def cat_rows(pond: PondRunner, path: str) -> list[dict[str, Any]]:
    """What ``pond cat`` prints, parsed back: the reference every engine must match."""
    text = pond.ok("cat", path, "--format", "csv").stdout_bytes
    table = pcsv.read_csv(pa.BufferReader(text))
    return _canonical(table)


def _canonical(table: Any) -> list[dict[str, Any]]:
    """Rows as dicts in time order, times as ISO text in UTC (every engine prints its own)."""
    rows = pa.table(table).to_pylist()
    for row in rows:
        for key, value in row.items():
            if isinstance(value, datetime):
                row[key] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return sorted(rows, key=lambda r: (r["timestamp"], json.dumps(r, sort_keys=True)))


def delta_rows(table_dir: Path) -> list[dict[str, Any]]:
    return _canonical(
        pa.RecordBatchReader.from_stream(DeltaTable(str(table_dir)).scan()).read_all()
    )


def history(table_dir: Path) -> list[dict[str, Any]]:
    """The table's commits, oldest first."""
    return list(reversed(DeltaTable(str(table_dir)).history()))


def export(pond: PondRunner, out: Path, *patterns: str) -> dict[str, Any]:
    result: dict[str, Any] = pond.json("export", *patterns, "--format", "delta", "--dir", str(out))
    return result


def actions(result: dict[str, Any]) -> dict[str, str]:
    return {t["path"]: t["action"] for t in result["tables"]}


def test_series_export_is_incremental_and_matches_cat(pond: PondRunner, tmp_path: Path) -> None:
    with Pond.open(pond.dir) as p:
        p.mkdir("/data")
        p.write_series("/data/a.series", readings(T0, 30))
    out = tmp_path / "lake"
    table = out / "data" / "a.series"

    first = export(pond, out, "/data/*")
    assert actions(first) == {"/data/a.series": "create"}
    assert first["rows"] == 30
    assert delta_rows(table) == cat_rows(pond, "/data/a.series")
    schema = pa.schema(DeltaTable(str(table)).schema().to_arrow())
    assert schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert schema.names == ["timestamp", "Temperature.C", "site"]

    # Nothing new: no commit at all.
    again = export(pond, out, "/data/*")
    assert actions(again) == {"/data/a.series": "unchanged"}
    assert again["committed"] == [] and again["rows"] == 0
    assert len(history(table)) == 1

    # A version after everything exported: a plain append of its rows only.
    with Pond.open(pond.dir) as p:
        p.write_series("/data/a.series", readings(T0 + timedelta(days=1), 10, offset=100))
    appended = export(pond, out, "/data/*")
    assert actions(appended) == {"/data/a.series": "append"}
    assert appended["rows"] == 10
    commits = history(table)
    assert len(commits) == 2 and commits[-1]["operationParameters"]["mode"] == "Append"
    assert delta_rows(table) == cat_rows(pond, "/data/a.series")

    # A version that rewrites older times: the newer rows win, as in `pond cat`; only
    # the rows from its first time on are replaced.
    with Pond.open(pond.dir) as p:
        p.write_series("/data/a.series", readings(T0 + timedelta(hours=5), 6, offset=-50))
    replaced = export(pond, out, "/data/*")
    assert actions(replaced) == {"/data/a.series": "replace"}
    assert replaced["tables"][0]["since"] == "2025-03-01T05:00:00Z"
    assert "predicate" in history(table)[-1]["operationParameters"]
    assert delta_rows(table) == cat_rows(pond, "/data/a.series")
    assert any(r["Temperature.C"] == -50.0 for r in delta_rows(table))
    assert len(delta_rows(table)) == 40
    assert actions(export(pond, out, "/data/*")) == {"/data/a.series": "unchanged"}


def test_table_and_schema_change_overwrite(pond: PondRunner, tmp_path: Path) -> None:
    write(tmp_path / "lookup.csv", "code,name\n1,alpha\n2,beta\n")
    pond.ok("mkdir", "/ref")
    pond.ok("copy", "--format", "table", str(tmp_path / "lookup.csv"), "/ref/lookup")
    out = tmp_path / "lake"
    assert actions(export(pond, out, "/ref")) == {"/ref/lookup": "create"}
    assert actions(export(pond, out, "/ref")) == {"/ref/lookup": "unchanged"}
    write(tmp_path / "lookup.csv", "code,name,colour\n1,alpha,red\n3,gamma,blue\n")
    pond.ok("copy", "--format", "table", str(tmp_path / "lookup.csv"), "/ref/lookup")
    assert actions(export(pond, out, "/ref")) == {"/ref/lookup": "overwrite"}
    got = pa.RecordBatchReader.from_stream(
        DeltaTable(str(out / "ref" / "lookup")).scan()
    ).read_all()
    assert sorted(got.to_pylist(), key=lambda r: r["code"]) == [
        {"code": 1, "name": "alpha", "colour": "red"},
        {"code": 3, "name": "gamma", "colour": "blue"},
    ]

    # A series version with a new column: the table takes the new schema whole.
    with Pond.open(pond.dir) as p:
        p.write_series("/ref/s.series", readings(T0, 5))
    export(pond, out, "/ref/s.series")
    wider = readings(T0 + timedelta(days=2), 3).append_column("depth", pa.array([1.0, 2.0, 3.0]))
    with Pond.open(pond.dir) as p:
        p.write_series("/ref/s.series", wider)
    assert actions(export(pond, out, "/ref/s.series")) == {"/ref/s.series": "overwrite"}
    assert delta_rows(out / "ref" / "s.series") == cat_rows(pond, "/ref/s.series")


REDUCE = """
apiVersion: duckpond/v1
kind: Reduce
name: down
spec:
  in_pattern: /data/a.series
  resolutions: [1h]
  aggregations: [{type: avg}, {type: count}]
"""


def test_computed_output_replaces_from_first_difference(pond: PondRunner, tmp_path: Path) -> None:
    with Pond.open(pond.dir) as p:
        p.mkdir("/data")
        p.write_series("/data/a.series", readings(T0, 30))
    write(tmp_path / "down.yaml", REDUCE)
    pond.ok("apply", "-f", str(tmp_path / "down.yaml"))
    out = tmp_path / "lake"
    path = "/reduce/down/res=1h.series"
    table = out / "reduce" / "down" / "res=1h.series"

    assert actions(export(pond, out, "/reduce/down")) == {path: "create"}
    assert delta_rows(table) == cat_rows(pond, path)
    assert actions(export(pond, out, "/reduce/down")) == {path: "unchanged"}
    assert len(history(table)) == 1

    # 30 readings every 20 minutes end at 09:40; these start at 09:30: the 09:00 bucket
    # gets more readings, new buckets follow, every earlier bucket is untouched.
    with Pond.open(pond.dir) as p:
        p.write_series("/data/a.series", readings(T0 + timedelta(minutes=570), 9, offset=7))
    result = export(pond, out, "/reduce/down")
    assert actions(result) == {path: "replace"}
    assert result["tables"][0]["since"] == "2025-03-01T09:00:00Z"
    assert result["rows"] == 4  # 09:00, 10:00, 11:00, 12:00
    assert delta_rows(table) == cat_rows(pond, path)

    # Readings after every bucket: only new buckets, appended.
    with Pond.open(pond.dir) as p:
        p.write_series("/data/a.series", readings(T0 + timedelta(days=1), 3))
    result = export(pond, out, "/reduce/down")
    assert actions(result) == {path: "append"}
    assert result["rows"] == 1
    assert history(table)[-1]["operationParameters"]["mode"] == "Append"
    assert delta_rows(table) == cat_rows(pond, path)


def test_other_engines_read_the_export(pond: PondRunner, tmp_path: Path) -> None:
    import polars as pl
    import pyarrow.dataset as ds
    from datafusion import SessionContext

    with Pond.open(pond.dir) as p:
        p.mkdir("/data")
        p.write_series("/data/a.series", readings(T0, 200))
        p.write_series("/data/b.series", readings(T0, 120, offset=3))
        p.write_series("/data/a.series", readings(T0 + timedelta(hours=10), 5, offset=-9))
    out = tmp_path / "lake"
    export(pond, out, "/data/*")
    for name in ("a", "b"):
        path, table = f"/data/{name}.series", out / "data" / f"{name}.series"
        expected = cat_rows(pond, path)
        assert _canonical(pl.scan_delta(str(table)).collect().to_arrow()) == expected
        ctx = SessionContext()
        ctx.register_table("t", DeltaTable(str(table)))
        assert _canonical(ctx.sql("SELECT * FROM t").to_arrow_table()) == expected
        # The route for engines without a Delta reader (DuckDB offline): the active files.
        files = DeltaTable(str(table)).file_uris()
        assert _canonical(ds.dataset(files, format="parquet").to_table()) == expected

    # An aggregation both ways: DataFusion over the Delta table and `pond cat --sql`.
    sql = (
        "SELECT date_trunc('hour', timestamp) AS hour, avg(\"Temperature.C\") AS t "
        "FROM {} GROUP BY 1 ORDER BY 1"
    )
    ctx = SessionContext()
    ctx.register_table("a", DeltaTable(str(out / "data" / "a.series")))
    from_delta = _canonical(
        ctx.sql(sql.format("a")).to_arrow_table().rename_columns(["timestamp", "t"])
    )
    csv = pond.ok("cat", "/data/a.series", "--sql", sql.format("source"), "--format", "csv")
    from_pond = _canonical(
        pcsv.read_csv(pa.BufferReader(csv.stdout_bytes)).rename_columns(["timestamp", "t"])
    )
    assert from_delta == from_pond


DASK_SCRIPT = """
import json, sys
from dask.distributed import Client, LocalCluster
import dask_deltatable

if __name__ == "__main__":
    with LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as cluster, Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        frame = dask_deltatable.read_deltalake(sys.argv[1])
        hourly = frame.assign(hour=frame.timestamp.dt.floor("h")).groupby("hour")[
            "Temperature.C"
        ].mean(split_out=1).compute().sort_index()
        rows = frame.compute().sort_values("timestamp")
        print(json.dumps({
            "rows": len(rows),
            "sum": float(rows["Temperature.C"].sum()),
            "hourly": [[h.isoformat(), v] for h, v in hourly.items()],
        }))
"""


@pytest.mark.slow
def test_dask_on_a_local_cluster_reads_the_export(pond: PondRunner, tmp_path: Path) -> None:
    with Pond.open(pond.dir) as p:
        p.mkdir("/data")
        p.write_series("/data/a.series", readings(T0, 300))
        p.write_series("/data/a.series", readings(T0 + timedelta(days=5), 50, offset=2))
    out = tmp_path / "lake"
    export(pond, out, "/data/a.series")
    script = tmp_path / "dask_read.py"
    script.write_text(textwrap.dedent(DASK_SCRIPT))
    # Its own process: Dask's workers are processes, and forking after deltalake panics.
    proc = subprocess.run(
        [sys.executable, str(script), str(out / "data" / "a.series")],
        capture_output=True,
        timeout=240,
        env=child_env(),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    got = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    expected = cat_rows(pond, "/data/a.series")
    assert got["rows"] == len(expected) == 350
    assert got["sum"] == pytest.approx(sum(r["Temperature.C"] for r in expected))
    sql = (
        "SELECT date_trunc('hour', timestamp) AS hour, avg(\"Temperature.C\") AS t "
        "FROM source GROUP BY 1 ORDER BY 1"
    )
    hourly = pond.json("cat", "/data/a.series", "--sql", sql, "--format", "json")
    assert len(got["hourly"]) == len(hourly)
    for (hour, value), row in zip(got["hourly"], hourly, strict=True):
        assert datetime.fromisoformat(hour) == datetime.fromisoformat(row["hour"])
        assert value == pytest.approx(row["t"])


def test_delta_export_user_errors(pond: PondRunner, tmp_path: Path) -> None:
    with Pond.open(pond.dir) as p:
        p.write_series("/a.series", readings(T0, 3))
    message = pond.fails(
        "export",
        "/a.series",
        "--format",
        "delta",
        "--dir",
        str(tmp_path / "o"),
        "--partition",
        "year",
    )
    assert "--partition" in message
    write(tmp_path / "plain", "x")
    with Pond.open(pond.dir) as p, pytest.raises(NotADirectoryError):
        p.export("/a.series", tmp_path / "plain", format="delta")
    assert "no table or series" in pond.fails(
        "export", "/nothing*", "--format", "delta", "--dir", str(tmp_path / "o")
    )
