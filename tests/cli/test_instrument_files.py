"""Files as instruments write them (issue 20): read without preprocessing, checked
against pandas reading the same file.

- ``tmy3_723170_greensboro_jan.csv``: 300 hours of a real TMY3 file (pvlib's), its
  station line above the header, date and time in two columns, hours ending at 24:00;
- ``toa5_soiling_station_hourly.dat``: a Campbell TOA5 layout (environment line above
  the header, units and processing lines below it);
- ``co2_monthly_yyyymmdd.csv``: comment lines above the header and YYYYMMDD dates.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from duckpond import Pond

from .conftest import PondRunner

DATA = Path(__file__).resolve().parent.parent / "data"
TMY = DATA / "tmy3_723170_greensboro_jan.csv"
TOA5 = DATA / "toa5_soiling_station_hourly.dat"
CO2 = DATA / "co2_monthly_yyyymmdd.csv"
TMY_FLAGS = (
    "--skip-rows",
    "1",
    "--tz",
    "-05:00",
    "--timestamp-column",
    "Date (MM/DD/YYYY)",
    "--time-column",
    "Time (HH:MM)",
    "--timestamp-format",
    "%m/%d/%Y %H:%M",
)


def frame(pond: PondRunner, path: str) -> pd.DataFrame:
    out = pond.ok("cat", path, "--format", "csv").stdout
    return pd.read_csv(io.StringIO(out))


def rows(pond: PondRunner, path: str, sql: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = json.loads(
        pond.ok("cat", path, "--sql", sql, "--format", "json").stdout
    )
    return result


def test_tmy3_with_its_station_line_and_24_00_hours(pond: PondRunner, tmp_path: Path) -> None:
    pond.ok("copy", "--format", "series", *TMY_FLAGS, str(TMY), "/tmy.series")
    ours = frame(pond, "/tmy.series")
    # pandas: the station line skipped, date and time joined, 24:00 moved to the next day.
    theirs = pd.read_csv(TMY, skiprows=1)
    hour = theirs.pop("Time (HH:MM)").str.slice(0, 2).astype(int)
    day = pd.to_datetime(theirs.pop("Date (MM/DD/YYYY)"), format="%m/%d/%Y")
    local = day + pd.to_timedelta(hour, unit="h")
    expected_times = local.dt.tz_localize("-05:00").dt.tz_convert("UTC")
    times = pd.to_datetime(ours["Date (MM/DD/YYYY)"], utc=True)
    assert len(ours) == len(theirs) == 300
    assert list(times) == list(expected_times)
    assert times.is_monotonic_increasing and times.is_unique
    # The hour ending at 24:00 on January 1st is 05:00 UTC on the 2nd.
    assert pd.Timestamp("1988-01-02T05:00Z") in set(times)
    assert "Time (HH:MM)" not in ours.columns
    for column in ("GHI (W/m^2)", "Dry-bulb (C)", "Pressure (mbar)", "Wspd (m/s)"):
        assert np.allclose(ours[column].to_numpy(float), theirs[column].to_numpy(float)), column
    assert list(ours["GHI source"]) == list(theirs["GHI source"])
    # The station line is kept with the series.
    [described] = pond.json("describe", "/tmy.series")
    assert described["preamble"] == [TMY.read_text().splitlines()[0]]
    assert described["preamble"][0].startswith('723170,"GREENSBORO PIEDMONT TRIAD INT"')


@pytest.mark.parametrize("late", ["24:30", "24:00:01", "24:59"])
def test_an_hour_past_24_00_is_refused_naming_its_line(
    pond: PondRunner, tmp_path: Path, late: str
) -> None:
    # 24:30 read as 00:30 of the same day was stored a day early, silently.
    src = tmp_path / "late.csv"
    src.write_text(f"Date,Time,v\n2025-01-01,24:00,0\n2025-01-01,{late},1\n")
    message = pond.fails(
        "copy",
        "--format",
        "series",
        "--timestamp-column",
        "Date",
        "--time-column",
        "Time",
        "--timestamp-format",
        "%Y-%m-%d %H:%M" + (":%S" if late.count(":") == 2 else ""),
        str(src),
        "/late.series",
    )
    assert "data row 2 (line 3)" in message and repr(late) in message and "'Time'" in message


def test_24_00_and_24_00_00_are_the_next_day(pond: PondRunner, tmp_path: Path) -> None:
    src = tmp_path / "ending.csv"
    src.write_text("Date,Time,v\n2025-01-01,23:00:00,1\n2025-01-01,24:00:00,2\n")
    flags = ("--timestamp-column", "Date", "--time-column", "Time")
    fmt = ("--timestamp-format", "%Y-%m-%d %H:%M:%S")
    pond.ok("copy", "--format", "series", *flags, *fmt, str(src), "/e.series")
    times = list(pd.to_datetime(frame(pond, "/e.series")["Date"], utc=True))
    assert times == [pd.Timestamp("2025-01-01T23:00Z"), pd.Timestamp("2025-01-02T00:00Z")]


def test_toa5_with_units_and_processing_lines(pond: PondRunner) -> None:
    pond.ok(
        "copy",
        "--format",
        "series",
        "--skip-rows",
        "1",
        "--skip-rows-after-header",
        "2",
        "--tz",
        "-07:00",
        f"host+csv://{TOA5}",
        "/soiling.series",
    )
    ours = frame(pond, "/soiling.series")
    theirs = pd.read_csv(TOA5, skiprows=[0, 2, 3], na_values=["NAN"])
    assert len(ours) == len(theirs) == 72
    expected = pd.to_datetime(theirs["TIMESTAMP"]).dt.tz_localize("-07:00").dt.tz_convert("UTC")
    assert list(pd.to_datetime(ours["TIMESTAMP"], utc=True)) == list(expected)
    for column in ("BattV_Min", "AirT_C_Avg", "RH", "Rain_mm_Tot", "GHI_Wm2_Avg", "Soil_Ratio"):
        assert np.allclose(
            ours[column].to_numpy(float), theirs[column].to_numpy(float), equal_nan=True
        ), column
    total = rows(pond, "/soiling.series", 'SELECT sum("Rain_mm_Tot") AS r FROM source')
    assert total[0]["r"] == pytest.approx(theirs["Rain_mm_Tot"].sum())
    # The lines skipped above and under the header are kept as the node's metadata.
    lines = TOA5.read_text().splitlines()
    described = pond.json("describe", "/soiling.series")[0]
    assert described["preamble"] == lines[:1]
    assert described["below_header"] == lines[2:4]
    shown = pond.ok("describe", "/soiling.series").stdout
    assert f"  above the header:\n    {lines[0]}\n  under it:\n    {lines[2]}\n" in shown


def test_metadata_lines_are_kept_whichever_way_the_file_comes_in(
    pond: PondRunner, tmp_path: Path
) -> None:
    """A compressed copy, and an Inbox routing files to a station's series, keep the
    same lines as a plain ``pond copy``."""
    lines = TOA5.read_text().splitlines()
    packed = tmp_path / "soiling.dat.gz"
    packed.write_bytes(gzip.compress(TOA5.read_bytes()))
    flags = ("--skip-rows", "1", "--skip-rows-after-header", "2")
    pond.ok("copy", "--format", "series", *flags, f"host+csv+gzip://{packed}", "/gz.series")
    inbox = tmp_path / "inbox" / "stn1"
    inbox.mkdir(parents=True)
    shutil.copy(TOA5, inbox / "2024-06.dat")
    doc = tmp_path / "inbox.yaml"
    doc.write_text(
        f"""
apiVersion: duckpond/v1
kind: Inbox
name: soiling
spec:
  pattern: {inbox.parent}/*/*.dat
  format: series
  series: "$0.series"
  settle: 0s
  csv: {{source_format: csv, skip_rows: 1, skip_rows_after_header: 2}}
"""
    )
    pond.ok("apply", "-f", str(doc))
    pond.ok("run")
    for path in ("/gz.series", "/inbox/soiling/stn1.series"):
        described = pond.json("describe", path)[0]
        assert described["preamble"] == lines[:1], path
        assert described["below_header"] == lines[2:4], path


def test_compact_dates_with_comment_lines_above(pond: PondRunner) -> None:
    pond.ok(
        "copy",
        "--format",
        "series",
        "--skip-rows",
        "5",
        "--timestamp-format",
        "%Y%m%d",
        str(CO2),
        "/co2.series",
    )
    ours = frame(pond, "/co2.series")
    theirs = pd.read_csv(CO2, comment="#")
    assert list(pd.to_datetime(ours["date"], utc=True)) == list(
        pd.to_datetime(theirs["date"].astype(str), format="%Y%m%d").dt.tz_localize("UTC")
    )
    assert np.allclose(ours["average"].to_numpy(float), theirs["average"].to_numpy(float))
    described = pond.json("describe", "/co2.series")[0]
    assert described["timestamp_column"] == "date"


def test_compact_dates_under_another_name_are_found_by_the_format(
    pond: PondRunner, tmp_path: Path
) -> None:
    """The format alone finds the one column it reads; none or several: say what to pass."""
    renamed = tmp_path / "co2.csv"
    renamed.write_text(CO2.read_text().replace("\ndate,", "\nmonth_start,"))
    flags = ("copy", "--format", "series", "--skip-rows", "5", "--timestamp-format")
    pond.ok(*flags, "%Y%m%d", str(renamed), "/co2.series")
    ours = frame(pond, "/co2.series")
    theirs = pd.read_csv(renamed, comment="#")
    assert list(pd.to_datetime(ours["month_start"], utc=True)) == list(
        pd.to_datetime(theirs["month_start"].astype(str), format="%Y%m%d").dt.tz_localize("UTC")
    )
    assert pond.json("describe", "/co2.series")[0]["timestamp_column"] == "month_start"
    message = pond.fails(*flags, "%d/%m/%Y", str(renamed), "/none.series")
    assert "--timestamp-format '%d/%m/%Y' reads no column's values (columns: month_start, " in (
        message
    )
    assert message.endswith("name the time column with --timestamp-column")
    twice = tmp_path / "twice.csv"
    twice.write_text("start,end,v\n19580301,19580331,1.5\n")
    message = pond.fails(*flags[:3], "--timestamp-format", "%Y%m%d", str(twice), "/t.series")
    assert "reads columns 'start', 'end' alike: name the time column with --timestamp-column" in (
        message
    )


def test_an_error_names_the_physical_line(pond: PondRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.dat"
    lines = TOA5.read_text().splitlines()
    # Data row 3 is line 7: one line above the header, two under it.
    lines[6] = lines[6].replace(",0.00,", ",n/a,", 1)
    bad.write_text("\n".join(lines) + "\n")
    message = pond.fails(
        "copy",
        "--format",
        "series",
        "--skip-rows",
        "1",
        "--skip-rows-after-header",
        "2",
        f"host+csv://{bad}",
        "/s.series",
    )
    assert "data row 3 (line 7)" in message and "'Rain_mm_Tot'" in message


def test_a_date_only_column_with_several_rows_per_date_is_refused(
    pond: PondRunner, tmp_path: Path
) -> None:
    src = tmp_path / "daily.csv"
    src.write_text("Date,Hour,GHI\n2024-01-01,1,0\n2024-01-01,2,0\n2024-01-02,1,0\n")
    message = pond.fails("copy", "--format", "series", str(src), "/s.series")
    assert "holds dates only" in message and "2 rows are on 2024-01-01" in message
    assert "--time-column" in message
    # One row per date is a daily series, as it should be.
    one = tmp_path / "one.csv"
    one.write_text("date,v\n2024-01-01,1\n2024-01-02,2\n")
    pond.ok("copy", "--format", "series", str(one), "/d.series")
    assert len(frame(pond, "/d.series")) == 2


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ("--timestamp-column", "Date (MM/DD/YYY)", "--time-column", "Time (HH:MM)"),
            "--timestamp-column: no column 'Date (MM/DD/YYY)'",
        ),
        (("--column-type", "GHI (W/m2)=float64"), "did you mean 'GHI (W/m^2)'?"),
    ],
)
def test_an_option_naming_a_missing_column_lists_the_real_ones(
    pond: PondRunner, flags: tuple[str, ...], message: str
) -> None:
    extra = ("--timestamp-format", "%m/%d/%Y %H:%M") if "--time-column" in flags else ()
    got = pond.fails(
        "copy", "--format", "table", "--skip-rows", "1", *flags, *extra, str(TMY), "/t"
    )
    assert message in got and "ETR (W/m^2)" in got


def test_the_inbox_reads_tmy3_with_the_same_options_in_yaml(
    pond: PondRunner, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(TMY, inbox / "723170TYA.csv")
    doc = tmp_path / "inbox.yaml"
    doc.write_text(
        f"""
apiVersion: duckpond/v1
kind: Inbox
name: weather
spec:
  pattern: {inbox}/*.csv
  format: series
  settle: 0s
  csv:
    skip_rows: 1
    tz: "-05:00"
    timestamp_column: "Date (MM/DD/YYYY)"
    time_column: "Time (HH:MM)"
    timestamp_format: "%m/%d/%Y %H:%M"
"""
    )
    pond.ok("apply", "-f", str(doc))
    pond.ok("run")
    [found] = pond.paths("/inbox/weather/*")
    times = pd.to_datetime(frame(pond, found)["Date (MM/DD/YYYY)"], utc=True)
    assert len(times) == 300 and times.is_unique


def inbox_doc(path: Path, pattern: Path, csv: str = "") -> Path:
    path.write_text(
        "apiVersion: duckpond/v1\nkind: Inbox\nname: logger\nspec:\n"
        f"  pattern: {pattern}\n  format: series\n  settle: 0s\n{csv}"
    )
    return path


def test_a_dat_file_in_an_inbox_is_refused_with_the_yaml_key_that_reads_it(
    pond: PondRunner, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(TOA5, inbox / "toa5.dat")
    pond.ok("apply", "-f", str(inbox_doc(tmp_path / "a.yaml", inbox / "*.dat")))
    result = pond("run")
    assert result.exit_code == 1
    said = result.stdout + result.stderr
    # The way in, as the Inbox's YAML key; no Python syntax, no command-line URL.
    assert "cannot tell the format of toa5.dat" in said, said
    assert "csv: {source_format: csv}" in said and "format: data" in said, said
    assert "format='data'" not in said and "host+csv" not in said, said
    csv = "  csv: {source_format: csv, skip_rows: 1, skip_rows_after_header: 2}\n"
    pond.ok("apply", "-f", str(inbox_doc(tmp_path / "a.yaml", inbox / "*.dat", csv)))
    pond.ok("run")
    [found] = pond.paths("/inbox/logger/*")
    assert len(frame(pond, found)) == 72


def test_the_cli_names_the_host_csv_url_for_a_dat_file(pond: PondRunner) -> None:
    message = pond.fails("copy", "--format", "series", str(TOA5), "/s.series")
    assert f"read it as CSV with host+csv://{TOA5}" in message, message
    assert "--format data" in message, message


def test_gzip_files_in_an_inbox_are_read_as_pond_copy_reads_them(
    pond: PondRunner, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "tmy.csv.gz").write_bytes(gzip.compress(TMY.read_bytes()))
    csv = "".join(
        f"    {line}\n"
        for line in (
            "skip_rows: 1",
            'tz: "-05:00"',
            'timestamp_column: "Date (MM/DD/YYYY)"',
            'time_column: "Time (HH:MM)"',
            'timestamp_format: "%m/%d/%Y %H:%M"',
        )
    )
    pond.ok("apply", "-f", str(inbox_doc(tmp_path / "g.yaml", inbox / "*.gz", "  csv:\n" + csv)))
    pond.ok("run")
    [found] = pond.paths("/inbox/logger/*")
    pond.ok("copy", "--format", "series", *TMY_FLAGS, str(inbox / "tmy.csv.gz"), "/c.series")
    assert frame(pond, found).equals(frame(pond, "/c.series"))
    assert len(frame(pond, found)) == 300


def test_a_near_miss_csv_key_in_yaml_names_the_right_one(pond: PondRunner, tmp_path: Path) -> None:
    doc = tmp_path / "inbox.yaml"
    doc.write_text(
        f"""
apiVersion: duckpond/v1
kind: Inbox
name: weather
spec:
  pattern: {tmp_path}/*.csv
  csv: {{column_type: {{site: string}}}}
"""
    )
    message = pond.fails("apply", "-f", str(doc))
    assert "csv.column_type" in message and "column_types" in message


def test_rows_at_equal_times_are_stored_with_a_warning_naming_the_file(
    pond: PondRunner, tmp_path: Path
) -> None:
    src = tmp_path / "twice.csv"
    src.write_text("Date,Time,v\n2025-01-01,00:00,1\n2025-01-01,00:00,2\n2025-01-01,01:00,3\n")
    flags = (
        "--format",
        "series",
        "--timestamp-column",
        "Date",
        "--time-column",
        "Time",
        "--timestamp-format",
        "%Y-%m-%d %H:%M",
    )
    out = pond.ok("copy", *flags, str(src), "/s.series").stdout
    assert f"warning: {src}: 1 row(s) with the same time as an earlier row" in out
    assert len(frame(pond, "/s.series")) == 3
    # Out of order too (the sorted path), and in --json.
    late = tmp_path / "late.csv"
    late.write_text("Date,Time,v\n2025-01-01,02:00,1\n2025-01-01,01:00,2\n2025-01-01,02:00,3\n")
    got = pond.json("copy", *flags, str(late), "/t.series")
    assert got["warnings"] == [
        f"{late}: 1 row(s) with the same time as an earlier row (all stored)"
    ]
    # Distinct times: no warning.
    fine = tmp_path / "fine.csv"
    fine.write_text("Date,Time,v\n2025-01-01,00:00,1\n2025-01-01,01:00,2\n")
    assert "warning" not in pond.ok("copy", *flags, str(fine), "/u.series").stdout


def test_changed_csv_settings_and_a_grown_plain_file_are_said_at_run(
    pond: PondRunner, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    src = inbox / "a.csv"
    src.write_text("timestamp,v\n2025-01-01T00:00:00,1\n2025-01-01T01:00:00,2\n")
    doc = tmp_path / "i.yaml"
    pond.ok("apply", "-f", str(inbox_doc(doc, inbox / "*.csv", "  csv: {tz: UTC}\n")))
    first = pond("--json", "run")
    assert first.exit_code == 0 and "not read again" not in first.output
    # New settings: the file already imported is not read again, and the run says so.
    pond.ok("apply", "-f", str(inbox_doc(doc, inbox / "*.csv", "  csv: {tz: '+01:00'}\n")))
    again = pond.json("run")
    [result] = again["results"]
    assert result["details"]["unchanged"] == 1
    [said] = [w for w in result["warnings"] if "not read again" in w]
    assert "1 file(s)" in said and "(a.csv)" in said, said
    assert "pond rm /inbox/logger/NAME" in said, said
    # Removed and run again, it is read with the settings now applied.
    pond.ok("rm", "/inbox/logger/a.csv")
    pond.ok("run")
    times = list(pd.to_datetime(frame(pond, "/inbox/logger/a.csv")["timestamp"], utc=True))
    assert times[0] == pd.Timestamp("2024-12-31T23:00Z")
    assert not [w for w in pond.json("run")["results"][0]["warnings"] if "not read again" in w]
    # Without series:, a file that grows appends only its new rows (late data is late).
    with src.open("a") as fh:
        fh.write("2025-01-01T02:00:00,3\n")
    [grown] = pond.json("run")["results"]
    assert grown["details"]["changed"] == 1
    assert not [w for w in grown["warnings"] if "stored whole" in w], grown["warnings"]
    with Pond.open(pond.dir) as p:
        versions = p.history("/inbox/logger/a.csv")
    assert versions[-1].attributes["rows"] == 1, versions[-1].attributes
    assert list(frame(pond, "/inbox/logger/a.csv")["v"]) == [1, 2, 3]
    # A file changed before its end is stored whole: said, and its rows win.
    src.write_text("timestamp,v\n2025-01-01T00:00:00,10\n2025-01-01T01:00:00,2\n")
    [changed] = pond.json("run")["results"]
    [whole] = [w for w in changed["warnings"] if "stored whole" in w]
    assert str(src) in whole and "changed before its end" in whole, whole
    assert list(frame(pond, "/inbox/logger/a.csv")["v"]) == [10, 2, 3]
