"""One station, one series (issue 20): an Inbox routes each file to the series its
captures name, and a file that grows appends only its new rows."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from ..cli.conftest import PondRunner
from .test_timeseries_kinds import apply


def export(path: Path, start: str, hours: int, first: float) -> str:
    """A logger's hourly export: ``hours`` rows from ``start``."""
    times = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    lines = ["timestamp,temp"] + [
        f"{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{first + i * 0.25}" for i, t in enumerate(times)
    ]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def read(pond: PondRunner, path: str) -> pd.DataFrame:
    frame = pd.read_csv(io.StringIO(pond.ok("cat", path, "--format", "csv").stdout))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def loggers(pond: PondRunner, host: Path, inbox: Path, extra: str = "") -> None:
    """Apply the Inbox ``loggers``: each ``<inbox>/<station>/*.csv`` to that station's
    series; ``extra`` is more YAML after the document (its spec lines or more documents)."""
    apply(
        pond,
        host,
        f"""
apiVersion: duckpond/v1
kind: Inbox
name: loggers
spec:
  pattern: "{inbox}/*/*.csv"
  format: series
  series: "$0.series"
  settle: 0s
{extra}""",
    )


def test_each_station_gets_one_series_and_a_grown_file_appends_its_new_rows(
    pond: PondRunner, host: Path
) -> None:
    inbox = host / "in"
    export(inbox / "north" / "2024-06-10.csv", "2024-06-10", 24, 10.0)
    export(inbox / "north" / "2024-06-11.csv", "2024-06-11", 6, 20.0)
    export(inbox / "south" / "2024-06-10.csv", "2024-06-10", 24, 30.0)
    reduce = """---
apiVersion: duckpond/v1
kind: Reduce
name: daily
spec: {in_pattern: "/inbox/loggers/*.series", resolutions: [1h, 1d]}
"""
    loggers(pond, host, inbox, reduce)
    first = pond.json("run")["results"][0]["details"]
    assert (first["new"], first["changed"]) == (3, 0)
    assert pond.paths("/inbox/loggers/*") == [
        "/inbox/loggers/north.series",
        "/inbox/loggers/south.series",
    ]
    assert len(pond.json("history", "/inbox/loggers/north.series")) == 2
    assert len(read(pond, "/inbox/loggers/north.series")) == 30
    pond.ok("cat", "/reduce/daily/north/res=1h.series", "--format", "csv")

    # The logger appends six hours to today's file: one version of those rows alone.
    grown = export(inbox / "north" / "2024-06-11.csv", "2024-06-11", 12, 20.0)
    again = pond.json("run")["results"][0]["details"]
    assert (again["new"], again["changed"], again["unchanged"]) == (0, 1, 2)
    history = pond.json("history", "/inbox/loggers/north.series")
    assert len(history) == 3
    # Every stored row, of every version: the six old rows of today's file not again.
    stored = pond.ok("cat", "/inbox/loggers/north.series", "--all-versions", "--format", "csv")
    assert len(stored.stdout.strip().splitlines()) == 1 + 36
    ours = read(pond, "/inbox/loggers/north.series")
    theirs = pd.concat(
        [
            pd.read_csv(inbox / "north" / "2024-06-10.csv"),
            pd.read_csv(io.StringIO(grown)),
        ]
    )
    assert list(ours["temp"]) == list(theirs["temp"])
    assert ours["timestamp"].is_unique and len(ours) == 36
    # The Reduce over it: six new hours recomputed, none of them late.
    pond.ok("cat", "/reduce/daily/north/res=1h.series", "--format", "csv")
    update = pond.json("describe", "/reduce/daily/north/res=1h.series")[0]["derivation"]["update"]
    assert update == {
        "mode": "incremental",
        "recomputed_buckets": 6,
        "late_rows": 0,
        "late_buckets": 0,
    }
    # Nothing new: nothing imported, nothing committed.
    log = pond.json("log")
    assert pond.json("run")["results"][0]["details"]["unchanged"] == 3
    assert pond.json("log") == log


def test_series_routing_needs_the_series_format(pond: PondRunner, host: Path) -> None:
    doc = host / "bad.yaml"
    doc.write_text(
        f"""
apiVersion: duckpond/v1
kind: Inbox
name: loggers
spec: {{pattern: "{host}/*/*.csv", series: "$0.series"}}
"""
    )
    assert "spec.series: files go to one series each with format: series" in pond.fails(
        "apply", "-f", str(doc)
    )


def test_identical_bytes_at_two_stations_are_two_imports(pond: PondRunner, host: Path) -> None:
    """Deduplication by content is per series: two stations' identical exports are both kept."""
    inbox = host / "in"
    text = export(inbox / "north" / "202502.csv", "2025-02-01", 5, 1.0)
    (inbox / "west").mkdir()
    (inbox / "west" / "202502.csv").write_text(text)  # the same bytes, new in the same run
    loggers(pond, host, inbox)
    first = pond.json("run")["results"][0]
    assert (first["details"]["new"], first["details"]["skipped"]) == (2, 0)
    assert first["outcome"] == "ok"
    # A third station later copies north's file: imported into its own series too.
    (inbox / "east").mkdir()
    (inbox / "east" / "202502.csv").write_text(text)
    again = pond.json("run")["results"][0]
    assert (again["details"]["new"], again["details"]["skipped"]) == (1, 0)
    assert again["details"]["unchanged"] == 2
    for station in ("north", "west", "east"):
        assert len(read(pond, f"/inbox/loggers/{station}.series")) == 5
    # The same bytes twice for one series stay one import.
    (inbox / "east" / "copy.csv").write_text(text)
    last = pond.json("run")["results"][0]["details"]
    assert (last["new"], last["skipped"]) == (0, 1)
    assert len(pond.json("history", "/inbox/loggers/east.series")) == 1


def test_an_inbox_file_with_rows_at_equal_times_is_a_warning_of_the_run(
    pond: PondRunner, host: Path
) -> None:
    inbox = host / "in"
    (inbox / "north").mkdir(parents=True)
    twice = inbox / "north" / "202501.csv"
    twice.write_text("Date,Time,v\n2025-01-01,00:00,1\n2025-01-01,00:00,2\n")
    csv = "  csv: {timestamp_column: Date, time_column: Time, timestamp_format: '%Y-%m-%d %H:%M'}\n"
    loggers(pond, host, inbox, csv)
    result = pond.json("run")["results"][0]
    warning = f"{twice}: 1 row(s) with the same time as an earlier row (all stored)"
    assert result["details"]["warnings"] == [warning]
    assert result["outcome"] == "ok"  # stored all the same: a warning, not a failure
    rows = pond.ok("cat", "/inbox/loggers/north.series", "--format", "csv").stdout
    assert len(rows.strip().splitlines()) == 1 + 2


def test_a_grown_file_without_series_appends_its_new_rows_too(pond: PondRunner, host: Path) -> None:
    """Late data means late for a plain Inbox: a file that only grew stores its new rows
    alone, so a Reduce over it recomputes the touched buckets and counts nothing late."""
    inbox = host / "plain"
    export(inbox / "station7.csv", "2024-06-10", 48, 5.0)
    apply(
        pond,
        host,
        f"""
apiVersion: duckpond/v1
kind: Inbox
name: plain
spec: {{pattern: "{inbox}/*.csv", format: series, path: /inbox/plain, settle: 0s}}
---
apiVersion: duckpond/v1
kind: Reduce
name: hourly
spec: {{in_pattern: "/inbox/plain/*.csv", resolutions: [1h]}}
""",
    )
    assert pond.json("run")["results"][0]["details"]["new"] == 1
    out = pond.paths("/reduce/hourly/**/*.series")
    assert len(out) == 1
    pond.ok("cat", out[0], "--format", "csv")
    grown = export(inbox / "station7.csv", "2024-06-10", 54, 5.0)
    result = pond.json("run")["results"][0]
    assert result["details"]["changed"] == 1
    assert not [w for w in result["warnings"] if "stored whole" in w], result["warnings"]
    stored = pond.ok("cat", "/inbox/plain/station7.csv", "--all-versions", "--format", "csv")
    assert len(stored.stdout.strip().splitlines()) == 1 + 54  # the 48 old rows not again
    assert list(read(pond, "/inbox/plain/station7.csv")["temp"]) == list(
        pd.read_csv(io.StringIO(grown))["temp"]
    )
    pond.ok("cat", out[0], "--format", "csv")
    update = pond.json("describe", out[0])[0]["derivation"]["update"]
    assert update == {
        "mode": "incremental",
        "recomputed_buckets": 6,
        "late_rows": 0,
        "late_buckets": 0,
    }


def test_a_file_with_na_where_the_series_has_numbers_names_the_csv_key(
    pond: PondRunner, host: Path
) -> None:
    """The append check's words reach an Inbox's run: the column, both types, and the
    ``csv:`` key (not the CLI's flag) that names a missing value."""
    inbox = host / "in"
    export(inbox / "north" / "2024-06-10.csv", "2024-06-10", 3, 10.0)
    loggers(pond, host, inbox)
    pond.ok("run")
    (inbox / "north" / "2024-06-11.csv").write_text("timestamp,temp\n2024-06-11T00:00:00Z,NA\n")
    result = pond("--json", "run")
    assert result.exit_code == 1
    [failed] = json.loads(result.stdout)["results"][0]["details"]["failed_files"]
    assert failed.endswith(
        "2024-06-11.csv: /inbox/loggers/north.series: the new version's column 'temp' is "
        "text (string) where the series has number (double); 'NA' in column 'temp' is not "
        "a number: if it means no value, name it a missing value with null_values: ['NA']; "
        "fix the input, or store it as a new series"
    ), failed
