"""``pond export``: Hive partitions by UTC month or year, the manifest, incremental re-export.

Every expectation is computed independently with pyarrow from the rows the test
wrote (their UTC year and month), never from the exporter's own code.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from duckpond import Pond

from .conftest import PondRunner, write

T0 = datetime(2025, 1, 20, tzinfo=UTC)


def readings(start: datetime, hours: int, step_hours: int = 7, offset: float = 0.0) -> pa.Table:
    """One reading every ``step_hours`` from ``start``: UTC timestamps and a float."""
    times = [start + timedelta(hours=step_hours * i) for i in range(hours)]
    return pa.table(
        {
            "timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
            "temp": pa.array([offset + i / 4 for i in range(hours)], pa.float64()),
        }
    )


def add_version(pond_dir: Path, path: str, table: pa.Table) -> None:
    with Pond.open(pond_dir) as p:
        p.write_series(path, table)


def rows_per_month(table: pa.Table) -> Counter[str]:
    """``year=YYYY/month=MM`` -> rows, from the timestamps' UTC calendar (pyarrow alone)."""
    ts = table.column("timestamp")
    years, months = pc.year(ts).to_pylist(), pc.month(ts).to_pylist()
    return Counter(f"year={y}/month={m:02d}" for y, m in zip(years, months, strict=True))


def manifest(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    return data


def data_files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("data.*")}


def stats(out: Path) -> dict[str, tuple[int, int]]:
    """Each exported file's (inode, mtime_ns): a rewrite changes at least one."""
    result = {}
    for rel in data_files(out):
        st = (out / rel).stat()
        result[rel] = (st.st_ino, st.st_mtime_ns)
    return result


def read_back(out: Path, files: list[str]) -> pa.Table:
    return pa.concat_tables(pq.read_table(out / f) for f in sorted(files))


@pytest.fixture
def series(pond: PondRunner) -> pa.Table:
    """/data/a.series: two versions spanning 2025-01-20 .. 2025-04 (rows in 4 months)."""
    first = readings(T0, 150)
    second = readings(T0 + timedelta(hours=7 * 150), 150)
    pond.ok("mkdir", "/data")
    add_version(pond.dir, "/data/a.series", first)
    add_version(pond.dir, "/data/a.series", second)
    return pa.concat_tables([first, second])


def test_month_partitions_and_manifest_match_an_independent_count(
    pond: PondRunner, series: pa.Table, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = pond.ok("export", "/data/a.series", "--dir", str(out))
    expected = rows_per_month(series)
    assert len(expected) >= 4
    assert data_files(out) == {f"data/a.series/{k}/data.parquet" for k in expected}
    assert f"{len(expected)} file(s) written, 0 unchanged, 0 removed" in result.stdout

    m = manifest(out)
    assert m["partition"] == "month" and m["format"] == "parquet" and m["time_zone"] == "UTC"
    by_file = {f["file"]: f for f in m["files"]}
    for key, count in expected.items():
        rel = f"data/a.series/{key}/data.parquet"
        entry = by_file[rel]
        body = (out / rel).read_bytes()
        assert entry["path"] == "/data/a.series"
        assert entry["rows"] == count == pq.read_table(out / rel).num_rows
        assert entry["sha256"] == hashlib.sha256(body).hexdigest()
        assert entry["bytes"] == len(body)
        year, month = int(key[5:9]), int(key[-2:])
        assert entry["partition"] == {"year": year, "month": month}
        assert entry["start"] == f"{year}-{month:02d}-01T00:00:00Z"
        nxt = (year + 1, 1) if month == 12 else (year, month + 1)
        assert entry["end"] == f"{nxt[0]}-{nxt[1]:02d}-01T00:00:00Z"
        rows = pq.read_table(out / rel).column("timestamp")
        low, high = pc.min(rows).as_py(), pc.max(rows).as_py()
        assert entry["min_event_time"] == low.isoformat().replace("+00:00", "Z")
        assert entry["max_event_time"] == high.isoformat().replace("+00:00", "Z")

    (output,) = m["outputs"]
    assert output["path"] == "/data/a.series" and output["type"] == "file:series"
    assert output["schema"] == [
        {"name": "timestamp", "type": "timestamp[us, tz=UTC]"},
        {"name": "temp", "type": "double"},
    ]
    assert output["rows"] == series.num_rows
    assert output["timestamp_column"] == "timestamp"
    # Every row comes back, once, in order.
    assert read_back(out, output["files"]).equals(series)


def test_reexport_without_change_writes_nothing(
    pond: PondRunner, series: pa.Table, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    pond.ok("export", "/data/a.series", "--dir", str(out))
    before = stats(out)
    manifest_before = (out / "manifest.json").stat().st_mtime_ns
    again = pond.json("export", "/data/a.series", "--dir", str(out))
    assert again["written"] == [] and again["removed"] == []
    assert sorted(again["unchanged"]) == sorted(before)
    assert stats(out) == before
    assert (out / "manifest.json").stat().st_mtime_ns == manifest_before
    assert "0 file(s) written" in pond.ok("export", "/data/a.series", "--dir", str(out)).stdout


def test_a_new_version_rewrites_only_the_partition_it_touches(
    pond: PondRunner, series: pa.Table, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    pond.ok("export", "/data/a.series", "--dir", str(out))
    before = stats(out)
    # One new reading inside February, between two stored ones.
    late = readings(datetime(2025, 2, 10, 3, 30, tzinfo=UTC), 1, offset=100.0)
    add_version(pond.dir, "/data/a.series", late)
    report = pond.json("export", "/data/a.series", "--dir", str(out))
    feb = "data/a.series/year=2025/month=02/data.parquet"
    assert report["written"] == [feb]
    assert report["removed"] == []
    after = stats(out)
    assert after[feb] != before[feb]
    assert {k: v for k, v in after.items() if k != feb} == {
        k: v for k, v in before.items() if k != feb
    }
    expected = rows_per_month(pa.concat_tables([series, late]))
    entry = next(f for f in manifest(out)["files"] if f["file"] == feb)
    assert entry["rows"] == expected["year=2025/month=02"]
    assert entry["sha256"] == hashlib.sha256((out / feb).read_bytes()).hexdigest()
    assert 100.0 in pq.read_table(out / feb).column("temp").to_pylist()


def test_a_new_month_adds_a_partition(pond: PondRunner, series: pa.Table, tmp_path: Path) -> None:
    out = tmp_path / "out"
    pond.ok("export", "/data/a.series", "--dir", str(out))
    add_version(pond.dir, "/data/a.series", readings(datetime(2025, 9, 1, tzinfo=UTC), 3))
    report = pond.json("export", "/data/a.series", "--dir", str(out))
    assert report["written"] == ["data/a.series/year=2025/month=09/data.parquet"]
    assert len(report["unchanged"]) == len(rows_per_month(series))


def test_a_glob_over_several_series_and_a_removed_series(
    pond: PondRunner, series: pa.Table, tmp_path: Path
) -> None:
    other = readings(datetime(2024, 12, 30, tzinfo=UTC), 20, step_hours=5, offset=7.0)
    add_version(pond.dir, "/data/b.series", other)
    out = tmp_path / "out"
    report = pond.json("export", "/data/*.series", "--dir", str(out))
    assert report["outputs"] == ["/data/a.series", "/data/b.series"]
    b_files = {f"data/b.series/{k}/data.parquet" for k in rows_per_month(other)}
    assert {"data/b.series/year=2024/month=12/data.parquet"} < b_files
    a_files = {f"data/a.series/{k}/data.parquet" for k in rows_per_month(series)}
    assert data_files(out) == a_files | b_files
    assert [o["path"] for o in manifest(out)["outputs"]] == ["/data/a.series", "/data/b.series"]

    a_before = {k: v for k, v in stats(out).items() if k in a_files}
    pond.ok("rm", "/data/b.series")
    report = pond.json("export", "/data/*.series", "--dir", str(out))
    assert sorted(report["removed"]) == sorted(b_files)
    assert report["written"] == []
    assert data_files(out) == a_files
    assert stats(out) == a_before
    assert not (out / "data" / "b.series").exists()
    m = manifest(out)
    assert [o["path"] for o in m["outputs"]] == ["/data/a.series"]
    assert {f["file"] for f in m["files"]} == a_files


def test_year_partitions(pond: PondRunner, tmp_path: Path) -> None:
    table = readings(datetime(2024, 11, 1, tzinfo=UTC), 120, step_hours=24)
    add_version(pond.dir, "/y.series", table)
    out = tmp_path / "out"
    pond.ok("export", "/y.series", "--dir", str(out), "--partition", "year")
    years = Counter(pc.year(table.column("timestamp")).to_pylist())
    assert data_files(out) == {f"y.series/year={y}/data.parquet" for y in years}
    for f in manifest(out)["files"]:
        assert f["rows"] == years[f["partition"]["year"]]
        assert set(f["partition"]) == {"year"}


def test_csv_format(pond: PondRunner, series: pa.Table, tmp_path: Path) -> None:
    out = tmp_path / "out"
    pond.ok("export", "/data/a.series", "--dir", str(out), "--format", "csv")
    expected = rows_per_month(series)
    assert data_files(out) == {f"data/a.series/{k}/data.csv" for k in expected}
    key = "year=2025/month=02"
    text = (out / f"data/a.series/{key}/data.csv").read_text()
    assert text.startswith("timestamp,temp\n")
    back = pcsv.read_csv(out / f"data/a.series/{key}/data.csv")
    assert back.num_rows == expected[key]
    assert manifest(out)["format"] == "csv"
    # Switching format replaces every file: the Parquet ones are written, the CSV removed.
    report = pond.json("export", "/data/a.series", "--dir", str(out))
    assert len(report["written"]) == len(report["removed"]) == len(expected)
    assert data_files(out) == {f"data/a.series/{k}/data.parquet" for k in expected}


def test_start_and_end_limit_rows_and_clip_partitions(
    pond: PondRunner, series: pa.Table, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    start, end = "2025-02-10T12:00:00Z", "2025-03-15T00:00:00Z"
    pond.ok("export", "/data/a.series", "--dir", str(out), "--start", start, "--end", end)
    ts = series.column("timestamp")
    low = pa.scalar(datetime(2025, 2, 10, 12, tzinfo=UTC), pa.timestamp("us", tz="UTC"))
    high = pa.scalar(datetime(2025, 3, 15, tzinfo=UTC), pa.timestamp("us", tz="UTC"))
    kept = series.filter(pc.and_(pc.greater_equal(ts, low), pc.less(ts, high)))
    expected = rows_per_month(kept)
    assert set(expected) == {"year=2025/month=02", "year=2025/month=03"}
    m = manifest(out)
    assert (m["start"], m["end"]) == (start, end)
    by_key = {
        f"year={f['partition']['year']}/month={f['partition']['month']:02d}": f for f in m["files"]
    }
    assert {k: f["rows"] for k, f in by_key.items()} == dict(expected)
    assert by_key["year=2025/month=02"]["start"] == start
    assert by_key["year=2025/month=03"]["end"] == end
    assert read_back(out, [f["file"] for f in m["files"]]).equals(kept)
    # Narrowing the range removes the month that fell out of it.
    report = pond.json("export", "/data/a.series", "--dir", str(out), "--start", "2025-03-01")
    assert report["removed"] == ["data/a.series/year=2025/month=02/data.parquet"]


def test_a_table_without_time_column_is_one_file(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    pond.ok(
        "copy",
        "--format",
        "table",
        str(write(host / "sites.csv", "site,depth\na,1\nb,2\n")),
        "/sites",
    )
    out = tmp_path / "out"
    pond.ok("export", "/sites", "--dir", str(out), "--start", "2025-01-01")
    assert data_files(out) == {"sites/data.parquet"}
    (entry,) = manifest(out)["files"]
    assert entry["partition"] == {} and entry["start"] is None and entry["rows"] == 2
    assert pq.read_table(out / "sites/data.parquet").column("site").to_pylist() == ["a", "b"]


def test_a_directory_exports_the_tables_and_series_below_it(
    pond: PondRunner, series: pa.Table, host: Path, tmp_path: Path
) -> None:
    pond.ok("copy", str(write(host / "notes.txt", "not a table")), "/data/notes.txt")
    out = tmp_path / "out"
    report = pond.json("export", "/data", "--dir", str(out))
    assert report["outputs"] == ["/data/a.series"]


def test_user_errors(pond: PondRunner, series: pa.Table, host: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert "no table or series matches" in pond.fails("export", "/nope/*", "--dir", str(out))
    pond.ok("copy", str(write(host / "notes.txt", "x")), "/notes.txt")
    assert "not a table or series: /notes.txt" in pond.fails(
        "export", "/notes.txt", "--dir", str(out)
    )
    assert "--start" in pond.fails(
        "export",
        "/data/a.series",
        "--dir",
        str(out),
        "--start",
        "2025-03-01",
        "--end",
        "2025-02-01",
    )
    assert "not an ISO 8601 time" in pond.fails(
        "export", "/data/a.series", "--dir", str(out), "--start", "soon"
    )
    foreign = tmp_path / "foreign"
    write(foreign / "manifest.json", '{"something": "else"}')
    message = pond.fails("export", "/data/a.series", "--dir", str(foreign))
    assert "not a pond export manifest" in message
    assert data_files(foreign) == set()
    assert pond("export", "/data/a.series", "--dir", str(out), "--partition", "day").exit_code == 1


def test_files_the_manifest_never_listed_are_left_alone(
    pond: PondRunner, series: pa.Table, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    write(out / "README.md", "mine")
    pond.ok("export", "/data/a.series", "--dir", str(out))
    pond.ok("rm", "/data/a.series")
    add_version(pond.dir, "/data/b.series", readings(T0, 3))
    pond.ok("export", "/data/*.series", "--dir", str(out))
    assert (out / "README.md").read_text() == "mine"
    assert not (out / "data" / "a.series").exists()
    assert not list(out.rglob("*pond-tmp*"))


def test_a_deleted_file_is_written_again(
    pond: PondRunner, series: pa.Table, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    pond.ok("export", "/data/a.series", "--dir", str(out))
    victim = out / "data/a.series/year=2025/month=03/data.parquet"
    victim.unlink()
    report = pond.json("export", "/data/a.series", "--dir", str(out))
    assert report["written"] == ["data/a.series/year=2025/month=03/data.parquet"]
    assert victim.exists()


def test_time_travel_exports_the_pond_as_it_was(
    pond: PondRunner, series: pa.Table, tmp_path: Path
) -> None:
    txn = pond.json("log")[0]["txn_seq"]
    add_version(pond.dir, "/data/a.series", readings(datetime(2025, 9, 1, tzinfo=UTC), 3))
    out = tmp_path / "out"
    pond.ok("export", "/data/a.series", "--dir", str(out), "--at-txn", str(txn))
    assert data_files(out) == {f"data/a.series/{k}/data.parquet" for k in rows_per_month(series)}


def test_the_python_api(tmp_path: Path) -> None:
    with Pond.init(tmp_path / "pond", command=["test"]) as p:
        table = readings(datetime(2025, 5, 30, tzinfo=UTC), 10, step_hours=12)
        p.write_series("/s.series", table)
        result = p.export("/s.series", tmp_path / "out", partition="month")
    assert sorted(result.written) == [
        "s.series/year=2025/month=05/data.parquet",
        "s.series/year=2025/month=06/data.parquet",
    ]
    assert result.rows == 10
    assert result.manifest == tmp_path / "out" / "manifest.json"


def test_a_derived_series_exports_as_a_stored_one(
    pond: PondRunner, series: pa.Table, tmp_path: Path
) -> None:
    spec = tmp_path / "derived.yaml"
    spec.write_text(
        "apiVersion: duckpond/v1\nkind: SqlDerived\nname: warm\nspec:\n"
        "  inputs: {a: /data/a.series}\n"
        "  query: SELECT timestamp, temp * 2 AS twice FROM a WHERE temp >= 10\n"
    )
    pond.ok("apply", "-f", str(spec))
    out = tmp_path / "out"
    report = pond.json("export", "/sqlderived/*", "--dir", str(out))
    assert report["outputs"] == ["/sqlderived/warm"]
    kept = series.filter(pc.greater_equal(series.column("temp"), 10))
    expected = rows_per_month(kept)
    assert data_files(out) == {f"sqlderived/warm/{k}/data.parquet" for k in expected}
    m = manifest(out)
    assert m["outputs"][0]["type"] == "dynamic:file"
    assert [c["name"] for c in m["outputs"][0]["schema"]] == ["timestamp", "twice"]
    back = read_back(out, m["outputs"][0]["files"])
    assert back.column("timestamp").equals(kept.column("timestamp"))
    assert back.column("twice").to_pylist() == [2 * t for t in kept.column("temp").to_pylist()]
    assert pond.json("export", "/sqlderived/*", "--dir", str(out))["written"] == []


def test_same_rows_give_the_same_bytes_whatever_their_batches(
    pond: PondRunner, tmp_path: Path
) -> None:
    """A computed output comes in the engine's batches when computed and in the cache
    file's when read back: a re-export must still find every partition unchanged."""
    import numpy as np

    times = np.datetime64("2025-06-20", "us") + np.arange(40_000) * np.timedelta64(1, "m")
    level = np.random.default_rng(5).normal(size=len(times))
    table = pa.table(
        {
            "timestamp": pa.array(times, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
            "level": level,
        }
    )
    add_version(pond.dir, "/raw.series", table)
    spec = tmp_path / "high.yaml"
    spec.write_text(
        "apiVersion: duckpond/v1\nkind: SqlDerived\nname: high\nspec:\n"
        "  inputs: {r: /raw.series}\n"
        "  query: SELECT timestamp, level FROM r WHERE level > -0.5\n"
    )
    pond.ok("apply", "-f", str(spec))
    out = tmp_path / "out"
    first = pond.json("export", "/sqlderived/high", "--dir", str(out), "--format", "csv")
    assert first["rows"] == int((level > -0.5).sum())
    assert len(first["written"]) == 2
    assert (pond.dir / "cache").is_dir()
    again = pond.json("export", "/sqlderived/high", "--dir", str(out), "--format", "csv")
    assert again["written"] == []
    assert pond.json("export", "/sqlderived/high", "--dir", str(out))["removed"] == first["written"]
    assert pond.json("export", "/sqlderived/high", "--dir", str(out))["written"] == []


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_same_rows_stored_another_way_give_the_same_bytes(
    pond: PondRunner, tmp_path: Path, fmt: str
) -> None:
    """One series in one version, another with the same rows in three uneven versions:
    every partition file is byte for byte the same (so a re-export after a change of
    layout, or of the batches rows arrive in, rewrites nothing)."""
    rows = readings(datetime(2025, 3, 3, tzinfo=UTC), 3000, step_hours=1)
    add_version(pond.dir, "/one.series", rows)
    for low, high in ((0, 700), (700, 1901), (1901, 3000)):
        add_version(pond.dir, "/three.series", rows.slice(low, high - low))
    out = tmp_path / "out"
    pond.ok("export", "/one.series", "/three.series", "--dir", str(out), "--format", fmt)
    files = manifest(out)["files"]
    one = {f["file"].split("/", 1)[1]: f["sha256"] for f in files if f["path"] == "/one.series"}
    three = {f["file"].split("/", 1)[1]: f["sha256"] for f in files if f["path"] == "/three.series"}
    assert len(one) == len(rows_per_month(rows)) and one == three


def test_a_temporary_file_left_by_a_dead_export_is_cleaned_up(
    pond: PondRunner, series: pa.Table, tmp_path: Path
) -> None:
    import subprocess
    import sys

    out = tmp_path / "out"
    pond.ok("export", "/data/a.series", "--dir", str(out))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    march = out / "data/a.series/year=2025/month=03"
    orphan = write(march / f".data.parquet.pond-tmp-{dead.stdout.strip()}", b"half a file")
    pond.ok("export", "/data/a.series", "--dir", str(out))
    assert not orphan.exists()
    assert sorted(p.name for p in march.iterdir()) == ["data.parquet"]
