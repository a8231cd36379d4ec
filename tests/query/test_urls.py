"""URLs: parsing, and each format reader on host files and pond files."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from duckpond.errors import ConfigError, FormatError
from duckpond.query import FORMATS, PondURL, QuerySession, cat, is_url, parse_url, read_url
from duckpond.query.csvread import CsvOptions
from duckpond.tinyfs import WD

from .conftest import HOUR, add_version, hourly, parquet_bytes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/data/x.series", PondURL("/data/x.series")),
        ("csv:///raw/a.csv", PondURL("/raw/a.csv", "csv")),
        ("host+csv:///tmp/*.csv", PondURL("/tmp/*.csv", "csv", host=True)),
        ("host+csv+gzip:///tmp/a.csv.gz", PondURL("/tmp/a.csv.gz", "csv", "gzip", True)),
        ("host+series:///d/*.parquet", PondURL("/d/*.parquet", "series", host=True)),
        ("host:///tmp/out", PondURL("/tmp/out", host=True)),
        ("jsonl+zstd:///logs/x", PondURL("/logs/x", "jsonl", "zstd")),
        ("HOST+CSV:///X.csv", PondURL("/X.csv", "csv", host=True)),
        ("file:///raw/blob", PondURL("/raw/blob", "file")),
    ],
)
def test_parse(text: str, expected: PondURL) -> None:
    assert parse_url(text) == expected


@pytest.mark.parametrize(
    ("text", "error", "words"),
    [
        ("csv://relative.csv", FormatError, "three slashes"),
        ("host+csv:/tmp/x.csv", FormatError, "three slashes"),
        ("xml:///a.xml", ConfigError, "'xml'"),
        ("host+csv+bzip2:///a", ConfigError, "'bzip2'"),
        ("csv+table:///a", ConfigError, "'table'"),
        ("table+gzip:///a", ConfigError, "gzip"),
        ("relative/path", FormatError, "absolute"),
        ("gzip:///a", ConfigError, "no format"),
    ],
)
def test_bad_urls_say_what_is_wrong(text: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        parse_url(text)


def test_is_url() -> None:
    assert is_url("host+csv:///a")
    assert is_url("host:///a")
    assert not is_url("/data/a:b")
    assert not is_url("data.csv")


def test_str_round_trips() -> None:
    for text in ("host+csv+gzip:///a.csv.gz", "series:///x", "/plain", "host:///tmp"):
        assert str(parse_url(text)) == text


def test_formats_registry_lists_the_design_formats() -> None:
    assert set(FORMATS) == {"file", "table", "series", "csv", "jsonl"}


def test_host_csv_glob_unions_files(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("timestamp,v\n2024-01-01T00:00:00Z,1\n")
    (tmp_path / "b.csv").write_text("timestamp,v,w\n2024-01-02T00:00:00Z,2,x\n")
    table = read_url(f"host+csv://{tmp_path}/*.csv")
    assert table.column("v").to_pylist() == [1, 2]
    assert table.column("w").to_pylist() == [None, "x"]


def test_host_csv_with_options_and_compression(tmp_path: Path) -> None:
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(b"2024-01-01 00:00:00;5\n"))
    table = read_url(
        f"host+csv://{tmp_path}/a.csv.gz",
        csv=CsvOptions(delimiter=";", has_header=False, tz="Europe/Berlin"),
    )
    assert table.column("f1").to_pylist() == [5]
    # Midnight in Berlin in winter is 23:00 UTC the day before.
    assert table.column("f0").to_pylist() == [datetime(2023, 12, 31, 23, tzinfo=UTC)]


def test_host_series_reads_parquet_files_by_path(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"{i}.parquet").write_bytes(parquet_bytes(hourly(i, 1, v=[i] * 4)))
    session = QuerySession()
    session.register("s", f"host+series://{tmp_path}/*.parquet", start=HOUR)
    got = session.sql("SELECT v, count(*) AS n FROM s GROUP BY v ORDER BY v")
    assert got.to_pylist() == [{"v": 1, "n": 4}, {"v": 2, "n": 4}]


def test_host_parquet_without_magic_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fake.parquet").write_text("a,b\n1,2\n")
    with pytest.raises(FormatError, match="not Parquet"):
        read_url(f"host+table://{tmp_path}/fake.parquet")


def test_host_jsonl_by_extension(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text('{"a": 1, "t": "x"}\n{"a": 2, "t": "y"}\n')
    assert read_url(f"host://{tmp_path}/x.jsonl").column("a").to_pylist() == [1, 2]


def test_bad_jsonl(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text("{nope\n")
    with pytest.raises(FormatError, match="JSON lines"):
        read_url(f"host+jsonl://{tmp_path}/x.jsonl")


def test_host_format_must_be_known(tmp_path: Path) -> None:
    (tmp_path / "x.dat").write_text("1")
    with pytest.raises(FormatError, match="cannot tell the format"):
        read_url(f"host://{tmp_path}/x.dat")


def test_missing_host_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_url(f"host+csv://{tmp_path}/nope.csv")
    with pytest.raises(FileNotFoundError):
        read_url(f"host+csv://{tmp_path}/*.nope")


def test_pond_bytes_read_as_csv(wd: WD) -> None:
    wd.write_file("/data/readings", b"timestamp,v\n2024-01-01T00:00:00Z,1.5\n")
    got = cat(wd, "csv:///data/readings", sql="SELECT v FROM source").read_all()
    assert got.column("v").to_pylist() == [1.5]


def test_pond_series_and_table_urls(wd: WD) -> None:
    add_version(wd, "/data/s.series", hourly(0, 1, v=[1] * 4))
    add_version(wd, "/data/s.series", hourly(1, 1, v=[2] * 4))
    assert read_url("series:///data/s.series", pond=QuerySession(wd).pond).num_rows == 8
    # As a table, only the latest version counts.
    latest = read_url("table:///data/s.series", pond=QuerySession(wd).pond)
    assert latest.column("v").to_pylist() == [2] * 4


def test_file_urls_are_not_tables(wd: WD) -> None:
    wd.write_file("/data/raw", b"x")
    with pytest.raises(FormatError, match="raw bytes"):
        cat(wd, "file:///data/raw")


def test_pond_path_without_a_pond() -> None:
    with pytest.raises(ConfigError, match="no pond"):
        read_url("/data/x.series")


def test_url_in_a_query(tmp_path: Path, wd: WD) -> None:
    (tmp_path / "a.csv").write_text("k,v\n1,10\n2,20\n")
    got = QuerySession(wd).sql(f'SELECT sum(v) AS s FROM "host+csv://{tmp_path}/a.csv"')
    assert got.column("s").to_pylist() == [30]
