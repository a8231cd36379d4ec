"""``copy`` and formats: explicit formats must agree, several files onto one series,
copy out as CSV or Parquet, and a failed copy out leaves nothing half-written."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow.parquet as pq

from .conftest import SERIES_CSV, SERIES_CSV_2, PondRunner, host_url, write


def test_an_explicit_format_that_disagrees_with_the_destination_is_an_error(
    pond: PondRunner, host: Path
) -> None:
    pond.ok("copy", str(write(host / "notes.txt", "hello")), "/notes.txt")
    pond.ok("copy", "--format", "series", str(write(host / "a.csv", SERIES_CSV)), "/s.series")
    message = pond.fails("copy", "--format", "series", str(host / "a.csv"), "/notes.txt")
    assert "/notes.txt is a file:data" in message and "series" in message
    message = pond.fails(
        "copy", "--format", "table", str(write(host / "b.csv", SERIES_CSV_2)), "/s.series"
    )
    assert "/s.series is a file:series" in message
    # Without --format an existing file keeps its type, as before.
    pond.ok("copy", str(host / "b.csv"), "/s.series")
    assert len(pond.json("history", "/s.series")) == 2


def test_several_files_onto_one_series_append_one_version_each_in_one_txn(
    pond: PondRunner, host: Path
) -> None:
    files = [
        write(host / "a.csv", "timestamp,temp\n2025-01-01T00:00:00Z,1.0\n"),
        write(host / "b.csv", "timestamp,temp\n2025-01-02T00:00:00Z,2.0\n"),
        write(host / "c.csv", "timestamp,temp\n2025-01-03T00:00:00Z,3.0\n"),
    ]
    pond.ok("copy", "--format", "series", *map(str, files), "/x.series")
    history = pond.json("history", "/x.series")
    assert [h["version"] for h in history] == [1, 2, 3]
    assert {h["txn_seq"] for h in history} == {2}
    assert len(pond.json("log")) == 2
    rows = pond.ok("cat", "/x.series", "--format", "csv").stdout
    assert [float(r["temp"]) for r in csv.DictReader(io.StringIO(rows))] == [1.0, 2.0, 3.0]
    # Onto an existing series --format may be left out.
    more = write(host / "d.csv", "timestamp,temp\n2025-01-04T00:00:00Z,4.0\n")
    pond.ok("copy", str(more), str(more), "/x.series")
    assert len(pond.json("history", "/x.series")) == 4  # the second, identical one writes nothing


def test_copy_out_writes_csv_when_asked_or_named_csv(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/d")
    pond.ok("copy", "--format", "series", str(write(host / "a.csv", SERIES_CSV)), "/d/a.series")
    pond.ok("copy", "--format", "series", str(write(host / "b.csv", SERIES_CSV_2)), "/d/a.series")
    pond.ok("copy", "--format", "table", str(host / "b.csv"), "/d/b.csv")
    out = host / "out"
    pond.ok("copy", "/d/*", host_url(out), "--format", "csv")
    rows = list(csv.DictReader((out / "a.series").open()))
    assert [r["site"] for r in rows] == ["a", "b", "c", "d", "e"]
    assert rows[0]["timestamp"].startswith("2025-01-01")
    assert (out / "b.csv").read_text().startswith("timestamp,temp,site")
    # By default a table or series named .csv is written as CSV, anything else as Parquet.
    default = host / "default"
    pond.ok("copy", "/d/*", host_url(default))
    assert (default / "b.csv").read_text().startswith("timestamp,temp,site")
    assert pq.read_table(default / "a.series").num_rows == 5
    assert "for copying out" in pond.fails("copy", "--format", "csv", str(host / "a.csv"), "/z")


def test_a_copy_out_that_fails_half_way_leaves_nothing(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/d")
    pond.ok("copy", str(write(host / "a.txt", "first")), "/d/a.txt")
    big = b"x" * (200 * 1024)
    pond.ok("copy", str(write(host / "b.bin", big)), "/d/b.bin")
    # Destroy the large file's blob: the copy fails on it, after a.txt was written.
    [blob] = (pond.dir / "data" / "_large_files").iterdir()
    blob.unlink()
    out = host / "out" / "nested"
    pond.error("copy", "/d/*", host_url(out))
    assert not (host / "out").exists()
    existing = host / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    pond.error("copy", "/d/*", host_url(existing))
    assert sorted(p.name for p in existing.iterdir()) == ["keep.txt"]


def test_a_glob_copy_out_skips_a_dangling_symlink(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/d")
    pond.ok("copy", str(write(host / "a.txt", "first")), "/d/a.txt")
    pond.ok("ln", "-s", "/d/gone.txt", "/d/link.txt")
    out = host / "out"
    pond.ok("copy", "/d/*", host_url(out))
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]
    # Named on its own, a dangling link is still an error.
    assert "link.txt" in pond.error("copy", "/d/link.txt", host_url(host / "out2"))


def test_log_shows_how_many_node_versions_each_transaction_wrote(
    pond: PondRunner, host: Path
) -> None:
    pond.ok("mkdir", "/d")  # the new directory and the root's new entry
    pond.ok("copy", str(write(host / "a.txt", "1")), str(write(host / "b.txt", "2")), "/d/")
    log = pond.json("log")
    assert [t["changes"] for t in log] == [3, 2, 1]  # two files and /d; /d and /; the root
    assert "3 changes" in pond.ok("log", "--limit", "1").stdout
