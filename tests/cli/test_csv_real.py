"""CSV as people really have it (issue 8, section 2).

Each test is one input of a kind: null-looking text, quoted newlines, bad headers,
encodings, and the shapes that need an option (decimal comma, column types, custom
timestamp formats, units rows, fixed offsets, DST fall-back hours).  Values are
checked after a round trip through the pond; a refusal is one line naming the file,
the row and the column.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from duckpond import Pond
from duckpond.errors import ConfigError

from .conftest import PondRunner, write


def rows(pond: PondRunner, path: str, sql: str = "SELECT * FROM source") -> list[dict[str, Any]]:
    out = pond.ok("cat", path, "--sql", sql, "--format", "json").stdout
    result: list[dict[str, Any]] = json.loads(out)
    return result


def series(pond: PondRunner, src: Path, *flags: str, dest: str = "/s.series") -> None:
    pond.ok("copy", "--format", "series", *flags, str(src), dest)


def table(pond: PondRunner, src: Path, *flags: str, dest: str = "/t.table") -> None:
    pond.ok("copy", "--format", "table", *flags, str(src), dest)


# -- null-looking text ---------------------------------------------------------------------


def test_null_looking_text_stays_text(pond: PondRunner, host: Path) -> None:
    markers = ["NA", "NULL", "N/A", "null", "nan", "None"]
    lines = ["timestamp,note"] + [f"2025-01-01T0{i}:00:00Z,{m}" for i, m in enumerate(markers)]
    lines.append("2025-01-01T08:00:00Z,")
    series(pond, write(host / "n.csv", "\n".join(lines) + "\n"))
    got = [r["note"] for r in rows(pond, "/s.series", "SELECT note FROM source")]
    assert got == [*markers, None]


def test_na_in_a_column_of_numbers_is_refused_naming_row_and_column(
    pond: PondRunner, host: Path
) -> None:
    src = write(host / "v.csv", "timestamp,temp\n2025-01-01,1.5\n2025-01-02,NA\n2025-01-03,2\n")
    message = pond.fails("copy", "--format", "series", str(src), "/s.series")
    assert str(src) in message
    assert "data row 2" in message and "'temp'" in message and "--null-value NA" in message


def test_named_null_markers_are_missing(pond: PondRunner, host: Path) -> None:
    src = write(host / "v.csv", "timestamp,temp\n2025-01-01,1.5\n2025-01-02,NA\n2025-01-03,-\n")
    series(pond, src, "--null-value", "NA", "--null-value", "-")
    assert rows(pond, "/s.series", "SELECT temp FROM source") == [
        {"temp": 1.5},
        {"temp": None},
        {"temp": None},
    ]
    assert rows(pond, "/s.series", "SELECT avg(temp) AS a FROM source") == [{"a": 1.5}]


# -- quoted newlines -----------------------------------------------------------------------


def test_quoted_newlines_in_a_large_file(pond: PondRunner, host: Path) -> None:
    lines = ["timestamp,temp,note"]
    for i in range(30_000):
        lines.append(
            f'{1_700_000_000 + i * 60},{i % 17},"line one of row {i}\nline two, with more words"'
        )
    body = "\n".join(lines) + "\n"
    # Epoch seconds are not times; the note column makes the file large.
    src = write(host / "notes.csv", body.replace("timestamp", "n", 1))
    assert src.stat().st_size > 1_500_000
    table(pond, src)
    got = rows(pond, "/t.table", "SELECT count(*) AS c, max(note) AS m FROM source")
    assert got[0]["c"] == 30_000
    notes = rows(pond, "/t.table", "SELECT note FROM source WHERE n = 1700000060")
    assert notes == [{"note": "line one of row 1\nline two, with more words"}]
    # Compressed input streams block by block: the same rows.
    import gzip

    packed = write(host / "notes.csv.gz", gzip.compress(src.read_bytes(), compresslevel=1))
    table(pond, packed, dest="/z.table")
    assert rows(pond, "/z.table", "SELECT count(*) AS c FROM source") == [{"c": 30_000}]


# -- headers -------------------------------------------------------------------------------


def test_a_repeated_header_name_is_refused(pond: PondRunner, host: Path) -> None:
    src = write(
        host / "d.csv",
        "timestamp,Temperature.C,Temperature.C,Depth.m\n2025-01-01,1,2,3\n",
    )
    for fmt in ("series", "table"):
        message = pond.fails("copy", "--format", fmt, str(src), f"/d.{fmt}")
        assert str(src) in message and "'Temperature.C' twice" in message
        assert "columns 2 and 3" in message


def test_an_empty_header_name_is_refused(pond: PondRunner, host: Path) -> None:
    src = write(host / "e.csv", "timestamp,,depth\n2025-01-01,1,2\n")
    message = pond.fails("copy", "--format", "series", str(src), "/e.series")
    assert str(src) in message and "column 2 has no name" in message


# -- encodings -----------------------------------------------------------------------------


def test_latin1_without_the_option_is_a_clean_error(pond: PondRunner, host: Path) -> None:
    src = write(host / "l.csv", "timestamp,Temp \xb0C\n2025-01-01,4.5\n".encode("latin-1"))
    message = pond.fails("copy", "--format", "series", str(src), "/l.series")
    assert str(src) in message and "line 1" in message and "--encoding" in message
    assert "internal error" not in message


def test_latin1_in_a_value_is_a_clean_error(pond: PondRunner, host: Path) -> None:
    src = write(
        host / "l.csv", "timestamp,site\n2025-01-01,a\n2025-01-02,Z\xfcrich\n".encode("latin-1")
    )
    message = pond.fails("copy", "--format", "series", str(src), "/l.series")
    assert "data row 2" in message and "'site'" in message and "--encoding" in message


def test_latin1_with_the_encoding_option(pond: PondRunner, host: Path) -> None:
    src = write(host / "l.csv", "timestamp,Temp \xb0C\n2025-01-01,4.5\n".encode("latin-1"))
    series(pond, src, "--encoding", "latin-1", dest="/l.series")
    assert rows(pond, "/l.series", 'SELECT "Temp °C" AS t FROM source') == [{"t": 4.5}]


# -- shapes that need an option ------------------------------------------------------------


def test_decimal_comma_with_semicolons(pond: PondRunner, host: Path) -> None:
    src = write(
        host / "de.csv", "timestamp;temp\n2025-01-01T00:00:00;11,5\n2025-01-01T01:00:00;-0,25\n"
    )
    series(pond, src, "--delimiter", ";", "--decimal", ",")
    assert [r["temp"] for r in rows(pond, "/s.series")] == [11.5, -0.25]


def test_leading_zeros_kept_as_text(pond: PondRunner, host: Path) -> None:
    src = write(
        host / "u.csv", "timestamp,site,flow\n2025-01-01,01646500,3\n2025-01-02,01646500,4\n"
    )
    series(pond, src, "--column-type", "site=string", "--column-type", "flow=float64")
    got = rows(pond, "/s.series", "SELECT site, flow FROM source")
    assert got == [{"site": "01646500", "flow": 3.0}, {"site": "01646500", "flow": 4.0}]
    described = pond.json("describe", "/s.series")[0]
    types = {c["name"]: c["type"] for c in described["columns"]}
    assert types["site"] == "string" and types["flow"] == "double"


def test_a_bad_value_for_a_column_type_names_row_and_column(pond: PondRunner, host: Path) -> None:
    src = write(host / "u.csv", "timestamp,flow\n2025-01-01,3\n2025-01-02,lots\n")
    message = pond.fails(
        "copy", "--format", "series", "--column-type", "flow=int64", str(src), "/s.series"
    )
    assert str(src) in message and "data row 2" in message and "'flow'" in message
    assert "'lots'" in message


def test_unknown_column_type_is_a_usage_error(pond: PondRunner, host: Path) -> None:
    src = write(host / "u.csv", "timestamp,flow\n2025-01-01,3\n")
    message = pond.fails(
        "copy", "--format", "series", "--column-type", "flow=decimal", str(src), "/s.series"
    )
    assert "--column-type: column 'flow': 'decimal'" in message
    assert "column_types" not in message


def test_date_only_time_column(pond: PondRunner, host: Path) -> None:
    src = write(host / "d.csv", "date,rain\n2025-06-02,1\n2025-06-01,0\n")
    series(pond, src, "--timestamp-column", "date")
    got = rows(pond, "/s.series", "SELECT CAST(date AS VARCHAR) AS d, rain FROM source")
    assert got == [
        {"d": "2025-06-01T00:00:00Z", "rain": 0},
        {"d": "2025-06-02T00:00:00Z", "rain": 1},
    ]
    src2 = write(host / "t.csv", "timestamp,rain\n2025-06-03,1\n")
    series(pond, src2, dest="/t.series")
    assert len(rows(pond, "/t.series")) == 1


def test_a_date_only_day_is_midnight_in_the_zone(pond: PondRunner, host: Path) -> None:
    src = write(host / "d.csv", "timestamp,rain\n2025-06-01,1\n")
    series(pond, src, "--tz", "+05:30")
    got = rows(pond, "/s.series", "SELECT CAST(timestamp AS VARCHAR) AS t FROM source")
    assert got == [{"t": "2025-05-31T18:30:00Z"}]


def test_custom_timestamp_format_with_fractions(pond: PondRunner, host: Path) -> None:
    src = write(host / "f.csv", "timestamp,v\n2016/04/20 10:12:10.123,1\n2016/04/20 10:12:11,2\n")
    series(pond, src, "--timestamp-format", "%Y/%m/%d %H:%M:%S.%f")
    got = rows(pond, "/s.series", "SELECT CAST(timestamp AS VARCHAR) AS t FROM source")
    assert got == [{"t": "2016-04-20T10:12:10.123Z"}, {"t": "2016-04-20T10:12:11Z"}]


def test_custom_timestamp_format_day_first(pond: PondRunner, host: Path) -> None:
    src = write(host / "f.csv", "time,v\n20.04.2016 10:12,1\n")
    series(pond, src, "--timestamp-format", "%d.%m.%Y %H:%M")
    got = rows(pond, "/s.series", "SELECT CAST(time AS VARCHAR) AS t FROM source")
    assert got == [{"t": "2016-04-20T10:12:00Z"}]


def test_a_time_not_matching_the_format_names_row_and_column(pond: PondRunner, host: Path) -> None:
    src = write(host / "f.csv", "timestamp,v\n2016/04/20 10:12:10.5,1\nyesterday,2\n")
    message = pond.fails(
        "copy",
        "--format",
        "series",
        "--timestamp-format",
        "%Y/%m/%d %H:%M:%S.%f",
        str(src),
        "/s.series",
    )
    assert "data row 2" in message and "'timestamp'" in message and "'yesterday'" in message


def test_a_units_row_under_the_header(pond: PondRunner, host: Path) -> None:
    src = write(host / "u.csv", "timestamp,temp,depth\n,degC,m\n2025-01-01T00:00:00Z,4.5,10\n")
    series(pond, src, "--skip-rows-after-header", "1")
    assert rows(pond, "/s.series", "SELECT temp, depth FROM source") == [{"temp": 4.5, "depth": 10}]


@pytest.mark.parametrize(
    ("tz", "utc"), [("-08:00", "2025-01-01T08:00:00Z"), ("+05:30", "2024-12-31T18:30:00Z")]
)
def test_fixed_offset_zones(pond: PondRunner, host: Path, tz: str, utc: str) -> None:
    src = write(host / "z.csv", "timestamp,v\n2025-01-01 00:00:00,1\n")
    series(pond, src, "--tz", tz)
    got = rows(pond, "/s.series", "SELECT CAST(timestamp AS VARCHAR) AS t FROM source")
    assert got == [{"t": utc}]


def test_a_malformed_offset_is_refused(pond: PondRunner, host: Path) -> None:
    src = write(host / "z.csv", "timestamp,v\n2025-01-01 00:00:00,1\n")
    message = pond.fails("copy", "--format", "series", "--tz", "+5:30", str(src), "/s.series")
    assert "+HH:MM" in message


FALL_BACK = (
    "timestamp,v\n"
    "2025-11-02 00:30:00,1\n"
    "2025-11-02 01:00:00,2\n"
    "2025-11-02 01:30:00,3\n"
    "2025-11-02 01:00:00,4\n"
    "2025-11-02 01:30:00,5\n"
    "2025-11-02 02:00:00,6\n"
)


@pytest.mark.parametrize(
    ("policy", "hours"),
    [
        ("row-order", ["07:30", "08:00", "08:30", "09:00", "09:30", "10:00"]),
        ("earliest", ["07:30", "08:00", "08:00", "08:30", "08:30", "10:00"]),
        ("latest", ["07:30", "09:00", "09:00", "09:30", "09:30", "10:00"]),
    ],
)
def test_dst_fall_back_policies(
    pond: PondRunner, host: Path, policy: str, hours: list[str]
) -> None:
    src = write(host / "dst.csv", FALL_BACK)
    series(pond, src, "--tz", "America/Los_Angeles", "--dst", policy)
    got = rows(pond, "/s.series", "SELECT CAST(timestamp AS VARCHAR) AS t, v FROM source")
    assert sorted(r["t"][11:16] for r in got) == sorted(hours)
    if policy == "row-order":
        assert [r["v"] for r in got] == [1, 2, 3, 4, 5, 6]


def test_dst_fall_back_refused_by_default_with_the_way_out(pond: PondRunner, host: Path) -> None:
    src = write(host / "dst.csv", FALL_BACK)
    message = pond.fails(
        "copy", "--format", "series", "--tz", "America/Los_Angeles", str(src), "/s.series"
    )
    assert "--dst" in message and "row-order" in message
    # The file and the physical line of the first repeated time, and the time.
    assert message.startswith(f"{src}: data row 2 (line 3): 2025-11-02 01:00:00 happens twice")


def test_a_time_in_the_spring_forward_gap_names_its_line_and_the_fixed_offset(
    pond: PondRunner, host: Path
) -> None:
    lines = ["station", "timestamp,v", "2025-03-09 01:30:00,1", "2025-03-09 02:15:00,2"]
    src = write(host / "gap.csv", "\n".join(lines) + "\n")
    for dst in ("error", "row-order"):
        message = pond.fails(
            "copy",
            "--format",
            "series",
            "--skip-rows",
            "1",
            "--tz",
            "America/Los_Angeles",
            "--dst",
            dst,
            str(src),
            "/s.series",
        )
        assert message.startswith(f"{src}: data row 2 (line 4): 2025-03-09 02:15:00 does not exist")
        assert "--tz -08:00" in message and "--dst" in message, message
    # The way out it names reads the file: a logger on standard time all year.
    series(pond, src, "--skip-rows", "1", "--tz", "-08:00")
    got = rows(pond, "/s.series", "SELECT CAST(timestamp AS VARCHAR) AS t FROM source")
    assert [r["t"][11:16] for r in got] == ["09:30", "10:15"]


# -- the options model everywhere ----------------------------------------------------------


def test_copy_options_check_every_new_field() -> None:
    from duckpond.ingest.options import CopyOptions

    bad: list[dict[str, Any]] = [
        {"encoding": "klingon"},
        {"decimal": ";"},
        {"decimal": ",", "delimiter": ","},
        {"column_types": {"a": "decimal"}},
        {"timestamp_format": "%f.%Y"},
        {"skip_rows_after_header": -1},
        {"null_values": ("",)},
        {"dst": "sometimes"},
        {"tz": "+25:00"},
    ]
    for values in bad:
        with pytest.raises(ConfigError) as err:
            CopyOptions.build(**values)
        assert next(iter(values)) in str(err.value)
    ok = CopyOptions.build(tz="-08:00", dst="row-order", column_types={"site": "string"})
    assert ok.csv().column_types == (("site", "string"),)


def test_the_inbox_spec_takes_the_new_options() -> None:
    from pydantic import TypeAdapter, ValidationError

    from duckpond.ingest.options import CopyOptions

    adapter = TypeAdapter(CopyOptions)
    options = adapter.validate_python(
        {
            "encoding": "latin-1",
            "decimal": ",",
            "delimiter": ";",
            "column_types": {"site": "string"},
            "null_values": ["NA"],
            "dst": "row-order",
            "skip_rows_after_header": 1,
        }
    )
    assert options.null_values == ("NA",) and options.column_types == {"site": "string"}
    with pytest.raises(ValidationError):
        adapter.validate_python({"dst": "never"})


def test_the_api_reads_with_the_options(pond_dir: Path, pond: PondRunner, host: Path) -> None:
    from duckpond.ingest.options import CopyOptions

    src = write(host / "de.csv", "timestamp;site;temp\n2025-01-01T00:00:00;007;11,5\n")
    p = Pond.open(pond_dir)
    options = CopyOptions.build(delimiter=";", decimal=",", column_types={"site": "string"})
    p.copy_in([str(src)], "/de.series", format="series", options=options)
    got = p.sql('SELECT site, temp FROM "/de.series"').to_pylist()
    assert got == [{"site": "007", "temp": 11.5}]


def test_nan_among_numbers_is_missing(pond: PondRunner, host: Path) -> None:
    src = write(host / "v.csv", "timestamp,temp\n2025-01-01,1.5\n2025-01-02,nan\n2025-01-03,2.5\n")
    series(pond, src)
    assert rows(pond, "/s.series", "SELECT avg(temp) AS a, count(temp) AS n FROM source") == [
        {"a": 2.0, "n": 2}
    ]


def test_a_time_column_that_does_not_read_as_times_is_named(pond: PondRunner, host: Path) -> None:
    units = host / "units.csv"
    units.write_text("timestamp,temp\nUTC,degC\n2025-01-01T00:00:00Z,1.5\n")
    message = pond.fails("copy", "--format", "series", str(units), "/u.series")
    assert "column 'timestamp' was read as string, not as times" in message
    assert "units row" in message
