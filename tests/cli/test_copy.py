"""pond copy: host files in (data, table, series), pond globs out, byte-exact round trips."""

from __future__ import annotations

import csv
import gzip
import io
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from .conftest import (
    SERIES_CSV,
    SERIES_CSV_2,
    PondRunner,
    host_url,
    parquet_bytes,
    sha256,
    write,
)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# -- copy in: where things land ------------------------------------------------------------


def test_copy_one_file_to_a_new_path(pond: PondRunner, host: Path) -> None:
    result = pond.ok("copy", str(write(host / "a.txt", b"hello")), "/b.txt")
    assert "copied 1 file(s), txn 2" in result.stdout
    assert pond.paths() == ["/b.txt"]
    assert pond.json("list", "/b.txt")[0]["type"] == "file:data"
    assert pond.cat_bytes("/b.txt") == b"hello"


def test_copy_into_an_existing_directory_uses_the_basename(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/raw")
    pond.ok("copy", str(write(host / "a.txt", b"a")), "/raw")
    pond.ok("copy", str(write(host / "b.txt", b"b")), "/raw/")
    assert pond.paths() == ["/raw", "/raw/a.txt", "/raw/b.txt"]


def test_copy_several_files_into_an_existing_directory(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/raw")
    files = [str(write(host / f"f{i}.txt", f"file {i}")) for i in range(3)]
    result = pond.ok("copy", *files, "/raw/")
    assert "copied 3 file(s)" in result.stdout
    assert pond.paths("/raw/") == ["/raw/f0.txt", "/raw/f1.txt", "/raw/f2.txt"]
    for i in range(3):
        assert pond.cat_bytes(f"/raw/f{i}.txt") == f"file {i}".encode()
    # One command, one transaction.
    assert [t["txn_seq"] for t in pond.json("log")] == [3, 2, 1]


def test_copy_several_files_into_a_missing_directory_fails(pond: PondRunner, host: Path) -> None:
    a, b = write(host / "a", b"a"), write(host / "b", b"b")
    assert "/missing" in pond.fails("copy", str(a), str(b), "/missing")
    assert "/missing" in pond.fails("copy", str(a), "/missing/")


def test_copy_a_directory_recursively_with_dot_files(pond: PondRunner, host: Path) -> None:
    tree = host / "tree"
    write(tree / "a.txt", b"a")
    write(tree / ".env", b"dot")
    write(tree / "sub" / "b.txt", b"b")
    write(tree / ".git" / "HEAD", b"ref")
    (tree / "empty").mkdir()
    pond.ok("copy", str(tree), "/t")
    expected = ["/t", "/t/.env", "/t/.git", "/t/.git/HEAD", "/t/a.txt", "/t/empty", "/t/sub"]
    assert sorted(pond.paths("-a")) == [*expected, "/t/sub/b.txt"]
    assert pond.cat_bytes("/t/.git/HEAD") == b"ref"
    assert pond.json("list", "/t/empty")[0]["type"] == "directory"
    # Into an existing directory, the tree keeps its name.
    pond.ok("mkdir", "/in")
    pond.ok("copy", str(tree), "/in/")
    assert "/in/tree/.git/HEAD" in pond.paths("-a")
    assert pond.cat_bytes("/in/tree/sub/b.txt") == b"b"


def test_copy_a_directory_twice_writes_only_what_changed(pond: PondRunner, host: Path) -> None:
    tree = host / "tree"
    write(tree / "a", b"a")
    write(tree / "b", b"b")
    pond.ok("copy", str(tree), "/")
    write(tree / "b", b"B")
    write(tree / "c", b"c")
    out = pond.json("copy", str(tree), "/")
    assert sorted(out["written"]) == ["/tree/b", "/tree/c"]
    assert out["unchanged"] == ["/tree/a"]
    assert [h["version"] for h in pond.json("history", "/tree/a")] == [1]
    assert [h["version"] for h in pond.json("history", "/tree/b")] == [1, 2]
    # Onto an existing directory by its own name, the tree goes inside it, as cp does.
    pond.ok("copy", str(tree), "/tree")
    assert "/tree/tree/c" in pond.paths()


def test_copy_sources_may_be_host_urls(pond: PondRunner, host: Path) -> None:
    src = write(host / "a.txt", b"by url")
    pond.ok("copy", host_url(src), "/a.txt")
    assert pond.cat_bytes("/a.txt") == b"by url"


def test_copy_in_rejects_strip_prefix(pond: PondRunner, host: Path) -> None:
    result = pond("copy", "--strip-prefix", "/x", str(write(host / "a", b"a")), "/a")
    assert result.exit_code == 2
    assert pond.paths() == []


def test_copy_sources_must_be_host_files(pond: PondRunner) -> None:
    result = pond("copy", "file:///in/pond", "/x")
    assert result.exit_code == 2
    assert pond.paths() == []


# -- copy in: versions and unchanged content -----------------------------------------------


def test_copy_onto_an_existing_file_adds_a_version(pond: PondRunner, host: Path) -> None:
    src = host / "a.txt"
    pond.ok("copy", str(write(src, b"one")), "/a")
    pond.ok("copy", str(write(src, b"two")), "/a")
    assert pond.cat_bytes("/a") == b"two"
    assert pond.cat_bytes("/a", "--version", "1") == b"one"
    assert [h["sha256"] for h in pond.json("history", "/a")] == [sha256(b"one"), sha256(b"two")]


def test_identical_bytes_write_nothing_and_say_so(pond: PondRunner, host: Path) -> None:
    src = write(host / "a.txt", b"same")
    pond.ok("copy", str(src), "/a")
    before = pond.snapshot()
    result = pond.ok("copy", str(src), "/a")
    assert "unchanged" in result.stdout and "/a" in result.stdout
    assert "copied" not in result.stdout
    assert pond.snapshot() == before
    out = pond.json("copy", str(src), "/a")
    assert out == {"written": [], "unchanged": ["/a"], "txn_seq": None, "warnings": []}
    assert pond.snapshot() == before


def test_identical_to_an_older_version_is_a_new_version(pond: PondRunner, host: Path) -> None:
    src = host / "a"
    for data in (b"x", b"y", b"x"):
        pond.ok("copy", str(write(src, data)), "/a")
    assert [h["version"] for h in pond.json("history", "/a")] == [1, 2, 3]
    assert pond.cat_bytes("/a") == b"x"


# -- copy in: tables and series --------------------------------------------------------------


def test_copy_csv_as_table(pond: PondRunner, host: Path) -> None:
    pond.ok("copy", "--format", "table", str(write(host / "s.csv", SERIES_CSV)), "/t")
    [entry] = pond.json("list", "/t")
    assert entry["type"] == "file:table"
    [d] = pond.json("describe", "/t")
    assert d["rows"] == 3
    assert [c["name"] for c in d["columns"]] == ["timestamp", "temp", "site"]
    rows = csv_rows(pond.ok("cat", "/t", "--format", "csv").stdout)
    assert [r["site"] for r in rows] == ["a", "b", "c"]
    # Stored as Parquet: the raw bytes are a Parquet file.
    raw = pond.cat_bytes("/t", "--format", "raw")
    assert raw[:4] == b"PAR1" and raw[-4:] == b"PAR1"


def test_copy_parquet_as_table_and_series(pond: PondRunner, host: Path) -> None:
    import datetime as dt

    rows = [
        {"timestamp": dt.datetime(2025, 1, 1, h, tzinfo=dt.UTC), "value": float(h)}
        for h in range(5)
    ]
    src = write(host / "p.parquet", parquet_bytes(rows))
    pond.ok("copy", "--format", "table", str(src), "/t")
    pond.ok("copy", "--format", "series", str(src), "/s")
    types = {e["path"]: e["type"] for e in pond.json("list")}
    assert types == {"/t": "file:table", "/s": "file:series"}
    [d] = pond.json("describe", "/s")
    assert d["rows"] == 5
    assert d["min_event_time"] == "2025-01-01T00:00:00Z"
    assert d["max_event_time"] == "2025-01-01T04:00:00Z"
    values = [r["value"] for r in pond.json("cat", "/t", "--format", "json")]
    assert values == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_copy_csv_as_series_then_append_a_version(pond: PondRunner, host: Path) -> None:
    pond.ok("copy", "--format", "series", str(write(host / "a.csv", SERIES_CSV)), "/s")
    pond.ok("copy", "--format", "series", str(write(host / "b.csv", SERIES_CSV_2)), "/s")
    hist = pond.json("history", "/s")
    assert [h["version"] for h in hist] == [1, 2]
    [d] = pond.json("describe", "/s")
    assert (d["type"], d["versions"], d["rows"]) == ("file:series", 2, 5)
    assert d["min_event_time"] == "2025-01-01T00:00:00Z"
    assert d["max_event_time"] == "2025-01-01T04:00:00Z"
    rows = csv_rows(pond.ok("cat", "/s", "--format", "csv").stdout)
    assert [r["site"] for r in rows] == ["a", "b", "c", "d", "e"]
    # The same version again writes nothing.
    result = pond.ok("copy", "--format", "series", str(host / "b.csv"), "/s")
    assert "unchanged" in result.stdout
    assert len(pond.json("history", "/s")) == 2


def test_copy_onto_an_existing_series_keeps_its_type(pond: PondRunner, host: Path) -> None:
    pond.ok("copy", "--format", "series", str(write(host / "a.csv", SERIES_CSV)), "/s")
    # No --format: the existing node's type wins, so the CSV is appended as a series version.
    pond.ok("copy", str(write(host / "b.csv", SERIES_CSV_2)), "/s")
    assert pond.json("list", "/s")[0]["type"] == "file:series"
    assert pond.json("describe", "/s")[0]["rows"] == 5


def test_copy_series_from_compressed_csv_and_csv_url(pond: PondRunner, host: Path) -> None:
    gz = write(host / "a.csv.gz", gzip.compress(SERIES_CSV.encode()))
    pond.ok("copy", "--format", "series", str(gz), "/gz")
    assert pond.json("describe", "/gz")[0]["rows"] == 3
    odd = write(host / "readings.txt", SERIES_CSV)
    pond.ok("copy", "--format", "series", f"host+csv://{odd}", "/url")
    assert pond.json("describe", "/url")[0]["rows"] == 3


def test_copy_csv_timestamps_are_utc_unless_tz(pond: PondRunner, host: Path) -> None:
    src = write(host / "a.csv", "timestamp,v\n2025-07-01T12:00:00,1\n")
    pond.ok("copy", "--format", "series", str(src), "/utc")
    pond.ok("copy", "--format", "series", "--tz", "America/Los_Angeles", str(src), "/la")
    assert pond.json("describe", "/utc")[0]["min_event_time"] == "2025-07-01T12:00:00Z"
    assert pond.json("describe", "/la")[0]["min_event_time"] == "2025-07-01T19:00:00Z"


def test_copy_csv_options(pond: PondRunner, host: Path) -> None:
    src = write(host / "a.csv", "2025-01-01T00:00:00;1.5\n2025-01-01T01:00:00;2.5\n")
    pond.ok("copy", "--format", "table", "--delimiter", ";", "--no-header", str(src), "/t")
    assert pond.json("describe", "/t")[0]["rows"] == 2


def test_series_needs_a_timestamp_column(pond: PondRunner, host: Path) -> None:
    src = write(host / "a.csv", "name,v\nx,1\n")
    message = pond.fails("copy", "--format", "series", str(src), "/s")
    assert "time" in message


def test_table_from_an_unknown_extension_suggests_format_data(pond: PondRunner, host: Path) -> None:
    src = write(host / "a.bin", b"\x00\x01")
    message = pond.fails("copy", "--format", "table", str(src), "/t")
    assert "--format data" in message


# -- copy out ----------------------------------------------------------------------------


def test_copy_out_a_glob_strips_the_static_prefix(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/ok")
    pond.ok("copy", str(write(host / "A", b"a")), "/ok/A")
    pond.ok("copy", str(write(host / "B", b"b")), "/ok/B")
    out = host / "out"
    result = pond.ok("copy", "/ok/*", host_url(out))
    assert "copied 2 file(s)" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["A", "B"]
    assert (out / "A").read_bytes() == b"a"


def test_copy_out_creates_nested_destinations(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "-p", "/data/site-a")
    pond.ok("mkdir", "-p", "/data/site-b")
    pond.ok("copy", str(write(host / "x", b"1")), "/data/site-a/x.csv")
    pond.ok("copy", str(write(host / "x", b"2")), "/data/site-b/x.csv")
    pond.ok("copy", str(write(host / "x", b"3")), "/data/site-b/y.txt")
    out = host / "deep" / "out"
    pond.ok("copy", "/data/*/*.csv", host_url(out))
    found = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert found == ["site-a/x.csv", "site-b/x.csv"]
    assert (out / "site-b" / "x.csv").read_bytes() == b"2"


def test_copy_out_with_strip_prefix(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "-p", "/a/b")
    pond.ok("copy", str(write(host / "f", b"f")), "/a/b/f")
    out = host / "out"
    pond.ok("copy", "--strip-prefix", "/", "/a/b/*", host_url(out))
    assert (out / "a" / "b" / "f").read_bytes() == b"f"
    out2 = host / "out2"
    pond.ok("copy", "--strip-prefix", "/a", "/a/b/*", host_url(out2))
    assert (out2 / "b" / "f").read_bytes() == b"f"
    message = pond.fails("copy", "--strip-prefix", "/zzz", "/a/b/*", host_url(host / "out3"))
    assert "/zzz" in message
    assert not (host / "out3").exists()


def test_copy_out_a_path_and_a_directory(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "-p", "/d/sub")
    pond.ok("copy", str(write(host / "f", b"f")), "/d/sub/f")
    pond.ok("copy", str(write(host / "g", b"g")), "/d/.g")
    out = host / "out"
    pond.ok("copy", "/d", host_url(out))
    assert (out / "d" / "sub" / "f").read_bytes() == b"f"
    # A directory's contents copy whole, dot-files included.
    assert (out / "d" / ".g").read_bytes() == b"g"
    out2 = host / "out2"
    pond.ok("copy", "/d/sub/f", host_url(out2))
    assert [p.name for p in out2.iterdir()] == ["f"]


def test_copy_out_recursive_glob_writes_each_file_once(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "-p", "/t/sub")
    pond.ok("copy", str(write(host / "f", b"a")), "/t/a")
    pond.ok("copy", str(write(host / "f", b"b")), "/t/sub/b")
    out = host / "out"
    written = pond.json("copy", "/t/**", host_url(out))
    assert sorted(written) == sorted({str(out / "a"), str(out / "sub" / "b")})
    assert (out / "sub" / "b").read_bytes() == b"b"


def test_copy_out_glob_skips_hidden_names(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/d")
    pond.ok("copy", str(write(host / "f", b"v")), "/d/visible")
    pond.ok("copy", str(write(host / "f", b"h")), "/d/.hidden")
    out = host / "out"
    pond.ok("copy", "/d/*", host_url(out))
    assert [p.name for p in out.iterdir()] == ["visible"]


def test_copy_out_a_series_writes_every_version_as_one_parquet(
    pond: PondRunner, host: Path
) -> None:
    pond.ok("copy", "--format", "series", str(write(host / "a.csv", SERIES_CSV)), "/s")
    pond.ok("copy", "--format", "series", str(write(host / "b.csv", SERIES_CSV_2)), "/s")
    out = host / "out"
    pond.ok("copy", "/s", host_url(out))
    table = pq.read_table(out / "s")
    assert table.num_rows == 5
    assert table.column("site").to_pylist() == ["a", "b", "c", "d", "e"]


def test_copy_out_of_nothing_fails(pond: PondRunner, host: Path) -> None:
    assert "/nope" in pond.fails("copy", "/nope/*", host_url(host / "out"))
    assert not (host / "out").exists()


# -- byte-exact round trips --------------------------------------------------------------


def payload(size: int) -> bytes:
    """``size`` bytes holding every byte value once the size allows, in a shuffled order."""
    rng = random.Random(size)
    if size <= 256 * 1024:
        base = bytes(range(256)) * (size // 256 + 1)
        data = bytearray(base[:size])
        rng.shuffle(data)
        return bytes(data)
    return rng.randbytes(size)


@pytest.mark.parametrize("size", [0, 1, 255, 256, 65535, 65536, 65537, 10 * 1024 * 1024])
def test_byte_exact_round_trip(pond: PondRunner, host: Path, size: int) -> None:
    data = payload(size)
    if size >= 256:
        assert set(data) == set(range(256))
    src = write(host / "in.bin", data)
    pond.ok("copy", str(src), "/f.bin")
    assert pond.cat_bytes("/f.bin") == data
    assert pond.cat_bytes("/f.bin", "--format", "raw") == data
    pond.ok("cat", "/f.bin", "--output", str(host / "cat.bin"))
    assert (host / "cat.bin").read_bytes() == data
    out = host / "out"
    pond.ok("copy", "/f.bin", host_url(out))
    assert (out / "f.bin").read_bytes() == data
    [entry] = pond.json("list", "/f.bin")
    assert entry["size"] == size
    [version] = pond.json("history", "/f.bin")
    assert version["sha256"] == sha256(data)
    assert pond.json("fsck")["ok"] is True


def test_round_trip_of_versions_around_the_blob_threshold(pond: PondRunner, host: Path) -> None:
    sizes = [65535, 65536, 10, 65537, 0]
    datas = [payload(s) for s in sizes]
    for data in datas:
        pond.ok("copy", str(write(host / "in", data)), "/f")
    for k, data in enumerate(datas, start=1):
        assert pond.cat_bytes("/f", "--version", str(k)) == data
    assert [h["size"] for h in pond.json("history", "/f")] == sizes


def test_copy_out_a_symlink_copies_its_target(pond: PondRunner, host: Path) -> None:
    pond.ok("copy", "--format", "series", str(write(host / "a.csv", SERIES_CSV)), "/s")
    pond.ok("mkdir", "-p", "/d/e")
    pond.ok("copy", str(write(host / "f", b"f")), "/d/e/f")
    pond.ok("ln", "-s", "/s", "/latest")
    pond.ok("ln", "-s", "/d", "/dlink")
    out = host / "out"
    pond.ok("copy", "/latest", host_url(out))
    assert pq.read_table(out / "latest").num_rows == 3
    pond.ok("copy", "/dlink", host_url(out))
    assert (out / "dlink" / "e" / "f").read_bytes() == b"f"
    pond.ok("ln", "-s", "/nowhere", "/dangling")
    assert "/dangling" in pond.fails("copy", "/dangling", host_url(host / "out2"))


def test_copy_out_does_not_follow_symlink_loops_in_directories(
    pond: PondRunner, host: Path
) -> None:
    pond.ok("mkdir", "-p", "/d/e")
    pond.ok("copy", str(write(host / "f", b"f")), "/d/e/f")
    pond.ok("ln", "-s", "/", "/d/root")
    out = host / "out"
    pond.ok("copy", "/d", host_url(out))
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["d", "d/e", "d/e/f"]


def test_series_version_with_clashing_columns_is_refused(pond: PondRunner, host: Path) -> None:
    pond.ok("copy", "--format", "series", str(write(host / "a.csv", SERIES_CSV)), "/s")
    clash = write(host / "b.csv", "timestamp,temp\n2025-01-02T00:00:00,warm\n")
    message = pond.fails("copy", "--format", "series", str(clash), "/s")
    assert "/s" in message and "temp" in message
    # The series is still whole and readable.
    assert pond.json("describe", "/s")[0]["rows"] == 3
    assert len(pond.json("cat", "/s")) == 3


def test_series_versions_may_widen_and_add_columns(pond: PondRunner, host: Path) -> None:
    pond.ok(
        "copy",
        "--format",
        "series",
        str(write(host / "a.csv", "timestamp,v\n2025-01-01T00:00:00,1\n")),
        "/s",
    )
    wider = write(host / "b.csv", "timestamp,v,note\n2025-01-01T01:00:00,2.5,x\n")
    pond.ok("copy", "--format", "series", str(wider), "/s")
    rows = pond.json("cat", "/s")
    assert [r["v"] for r in rows] == [1, 2.5]
    assert [r["note"] for r in rows] == [None, "x"]


def test_describe_of_a_table_is_its_latest_version(pond: PondRunner, host: Path) -> None:
    pond.ok("copy", "--format", "table", str(write(host / "a.csv", SERIES_CSV)), "/t")
    newer = write(host / "b.csv", "timestamp,other\n2026-06-01T00:00:00,7\n")
    pond.ok("copy", "--format", "table", str(newer), "/t")
    [d] = pond.json("describe", "/t")
    assert d["versions"] == 2
    assert d["rows"] == 1
    assert [c["name"] for c in d["columns"]] == ["timestamp", "other"]
    assert d["min_event_time"] == d["max_event_time"] == "2026-06-01T00:00:00Z"
    assert pond.json("cat", "/t") == [{"timestamp": "2026-06-01T00:00:00Z", "other": 7}]


def test_copy_tsv_is_tab_separated(pond: PondRunner, host: Path) -> None:
    tsv = SERIES_CSV.replace(",", "\t")
    pond.ok("copy", "--format", "series", str(write(host / "a.tsv", tsv)), "/a")
    pond.ok(
        "copy",
        "--format",
        "table",
        str(write(host / "b.tsv.gz", gzip.compress(tsv.encode()))),
        "/b",
    )
    for path in ("/a", "/b"):
        [d] = pond.json("describe", path)
        assert [c["name"] for c in d["columns"]] == ["timestamp", "temp", "site"]
        assert d["rows"] == 3


def test_a_long_copy_shows_a_progress_bar_on_a_terminal(tmp_path: Path, host: Path) -> None:
    import os
    import pty
    import subprocess

    from .conftest import POND_SCRIPT, child_env

    for i in range(600):
        (host / f"f{i}").write_text(str(i))
    pond_dir = tmp_path / "pond"
    subprocess.run([str(POND_SCRIPT), "--pond", str(pond_dir), "init"], check=True, env=child_env())
    leader, follower = pty.openpty()
    env = {k: v for k, v in child_env().items() if k != "CI"}
    proc = subprocess.run(
        [str(POND_SCRIPT), "--pond", str(pond_dir), "copy", str(host), "/many"],
        stderr=follower,
        stdout=subprocess.PIPE,
        env=env,
        timeout=120,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.returncode == 0
    assert b"copying" in shown and b"100%" in shown
    assert b"copied 600 file(s)" in proc.stdout
