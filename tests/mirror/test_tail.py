"""A run after new raw file versions reads the log's tail, and ends as the full run ends."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from duckpond.ingest.mirror.tail import tail_report
from duckpond.pond import Pond, refresh_mirror

EDITED = 1_790_000_000_123_456_789
BIG = 70_000  # above the pond's inline threshold (64 KiB): a blob


@pytest.fixture
def pond(tmp_path: Path) -> Pond:
    p = Pond.init(tmp_path / "pond", command=["test"])
    with p.transaction() as tx:
        tx.mkdir("/raw", "/data", "/raw/deep")
        tx.write_file("/raw/notes.txt", b"field notes\n")
        tx.write_file("/raw/deep/cal.csv", b"k,v\na,1\n")
        tx.write_file("/raw/big.bin", b"x" * BIG)
        tx.write_file("/raw/bad\nname", b"odd\n")
        tx.write_table("/data/sites.table", pa.table({"site": ["a", "b"]}))
    return p


def _state(out: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, tuple[bytes, int]]]:
    """The record's header and files (lstat fields a copy cannot share left out), and DIR's files."""
    header, files = (out / ".pond-mirror").read_text().splitlines()
    head = json.loads(header)
    del head["saved"]
    entries = json.loads(files)
    for entry in entries.values():
        for key in ("ino", "ctime_ns", "mtime_ns"):  # the host file's times: compared below
            entry.pop(key, None)
    host = {}
    for path in sorted(out.rglob("*")):
        rel = str(path.relative_to(out))
        if path.is_file() and not path.name.startswith(".pond-mirror"):
            host[rel] = (path.read_bytes(), path.stat().st_mtime_ns)
    return head, entries, host


def _report(doc: dict[str, Any]) -> dict[str, Any]:
    del doc["dir"]
    for key in ("edited", "conflicts", "new", "refused", "written", "adopted", "removed"):
        doc[key] = sorted(doc[key], key=lambda n: (n["path"], n["host"]))
    return doc


def _twins(pond: Pond, tmp_path: Path) -> tuple[Path, Path]:
    tail, full = tmp_path / "tail", tmp_path / "full"
    pond.mirrors.write(tail)
    shutil.copytree(tail, full, symlinks=True)
    # The copy's lstats differ from its record's: one full run records them.
    pond.mirrors.write(full)
    return tail, full


def _same_end(pond: Pond, tail: Path, full: Path) -> dict[str, Any]:
    """Run the tail path in ``tail`` and the full run in ``full``: both must end alike."""
    quick = tail_report(tail, str(pond.path))
    assert quick is not None, "the tail path was expected to answer"
    slow = Pond.open(pond.path).mirrors.write(full)
    assert _report(quick.to_json()) == _report(slow.to_json())
    assert _state(tail) == _state(full)
    return quick.to_json()


def _edit_host(rel: str, data: bytes) -> Callable[[Path], None]:
    def edit(out: Path) -> None:
        (out / rel).write_bytes(data)
        os.utime(out / rel, ns=(EDITED, EDITED))  # the twins' edits alike, to the nanosecond

    return edit


def _two_commits(p: Pond) -> None:
    p.write_bytes("/raw/notes.txt", b"day 2\n")
    p.write_bytes("/raw/deep/cal.csv", b"k,v\na,2\n")


CASES: dict[str, tuple[Callable[[Pond], None], Callable[[Path], None] | None, list[str]]] = {
    "one new version": (lambda p: p.write_bytes("/raw/notes.txt", b"day 2\n"), None, ["written"]),
    "two commits, two files": (
        lambda p: _two_commits(p),
        None,
        ["written"],
    ),
    "a blob": (lambda p: p.write_bytes("/raw/big.bin", b"y" * BIG), None, ["written"]),
    "small to blob": (lambda p: p.write_bytes("/raw/notes.txt", b"z" * BIG), None, ["written"]),
    "edited on both sides": (
        lambda p: p.write_bytes("/raw/notes.txt", b"day 2\n"),
        _edit_host("raw/notes.txt", b"the host's edit\n"),
        ["conflicts"],
    ),
    "the host already holds it": (
        lambda p: p.write_bytes("/raw/notes.txt", b"day 2\n"),
        _edit_host("raw/notes.txt", b"day 2\n"),
        ["adopted"],
    ),
    "another file edited on the host": (
        lambda p: p.write_bytes("/raw/notes.txt", b"day 2\n"),
        _edit_host("raw/deep/cal.csv", b"k,v\nb,9\n"),
        ["written", "edited"],
    ),
    "the host file deleted": (
        lambda p: p.write_bytes("/raw/notes.txt", b"day 2\n"),
        lambda out: (out / "raw/notes.txt").unlink(),
        ["written"],
    ),
    "a new host file": (
        lambda p: p.write_bytes("/raw/notes.txt", b"day 2\n"),
        _edit_host("raw/mine.txt", b"mine"),
        ["written", "new"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_tail_run_ends_as_the_full_run(pond: Pond, tmp_path: Path, case: str) -> None:
    change, host_edit, nonempty = CASES[case]
    tail, full = _twins(pond, tmp_path)
    change(pond)
    if host_edit is not None:
        host_edit(tail)
        host_edit(full)
    doc = _same_end(pond, tail, full)
    for key in nonempty:
        assert doc[key], key
    assert doc["txn"] == Pond.open(pond.path).last_txn
    # Whatever was kept in a conflict is looked at by the next run, the full way.
    assert tail_report(tail, str(pond.path)) is None


def test_what_it_wrote_is_the_pond_s_bytes_with_the_version_s_time(
    pond: Pond, tmp_path: Path
) -> None:
    tail, full = _twins(pond, tmp_path)
    pond.write_bytes("/raw/big.bin", b"w" * BIG)
    _same_end(pond, tail, full)
    assert (tail / "raw/big.bin").read_bytes() == b"w" * BIG
    info = Pond.open(pond.path).root.get("/raw/big.bin").info()
    assert (tail / "raw/big.bin").stat().st_mtime_ns // 1000 == info.timestamp.timestamp() * 1e6
    # Nothing new since: the next run is idle, and finds nothing to do.
    assert refresh_mirror(pond.path, tail).written == []


def _table_version(p: Pond) -> None:
    with p.transaction() as tx:
        tx.write_table("/data/sites.table", pa.table({"site": ["c"]}))


FALLBACKS: dict[str, Callable[[Pond], None]] = {
    "a new file": lambda p: p.write_bytes("/raw/new.txt", b"new\n"),
    "a removal": lambda p: p.remove("/raw/notes.txt"),
    "a folder": lambda p: p.mkdir("/more"),
    "a table's new version": lambda p: _table_version(p),
}


@pytest.mark.parametrize("case", sorted(FALLBACKS))
def test_what_it_cannot_map_goes_the_full_way(pond: Pond, tmp_path: Path, case: str) -> None:
    tail, full = _twins(pond, tmp_path)
    FALLBACKS[case](pond)
    before = (tail / ".pond-mirror").read_bytes()
    assert tail_report(tail, str(pond.path)) is None
    assert (tail / ".pond-mirror").read_bytes() == before  # the folder is untouched
    quick = refresh_mirror(pond.path, tail)  # the full way, from the same entry point
    slow = Pond.open(pond.path).mirrors.write(full)
    assert _report(quick.to_json()) == _report(slow.to_json())
    assert _state(tail) == _state(full)


def test_a_compaction_goes_the_full_way(pond: Pond, tmp_path: Path) -> None:
    tail, _ = _twins(pond, tmp_path)
    for day in range(3):
        pond.write_bytes("/raw/notes.txt", b"day %d\n" % day)
    pond.maintenance.maintain()
    assert tail_report(tail, str(pond.path)) is None
    assert refresh_mirror(pond.path, tail).written == ["/raw/notes.txt"]
    assert (tail / "raw/notes.txt").read_bytes() == b"day 2\n"


def test_a_log_entry_of_another_shape_goes_the_full_way(pond: Pond, tmp_path: Path) -> None:
    tail, _ = _twins(pond, tmp_path)
    pond.write_bytes("/raw/notes.txt", b"day 2\n")
    log = pond.path / "data/_delta_log"
    newest = sorted(log.glob("*.json"))[-1]
    text = newest.read_text()
    # An action this path does not know (here a made-up one) is never guessed at.
    newest.write_text(text + json.dumps({"somethingNew": {}}) + "\n")
    assert tail_report(tail, str(pond.path)) is None
    newest.write_text(text.replace('"dataChange":true', '"dataChange":false'))
    assert tail_report(tail, str(pond.path)) is None
    newest.write_text(text)
    assert tail_report(tail, str(pond.path)) is not None


def test_a_computed_output_in_the_mirror_goes_the_full_way(pond: Pond, tmp_path: Path) -> None:
    tail, _ = _twins(pond, tmp_path)
    header, files = (tail / ".pond-mirror").read_text().splitlines()
    doc = json.loads(files)
    doc["data/sites.table.parquet"]["inputs"] = []  # as a computed output's entry is
    (tail / ".pond-mirror").write_text(f"{header}\n{json.dumps(doc)}\n")
    pond.write_bytes("/raw/notes.txt", b"day 2\n")
    assert tail_report(tail, str(pond.path)) is None


def test_the_cli_run_imports_neither_deltalake_nor_numpy(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out)
    pond.write_bytes("/raw/notes.txt", b"day 2\n")
    code = textwrap.dedent(
        f"""
        import sys
        from duckpond.cli.main import main
        try:
            main(["--pond", {str(pond.path)!r}, "mirror", {str(out)!r}])
        except SystemExit as exc:
            assert not exc.code, exc.code
        print(sorted({{"deltalake", "datafusion", "numpy"}} & set(sys.modules)))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    lines = run.stdout.splitlines()
    assert lines[0].startswith(f"mirrored {out} at txn 3: 1 written, 0 removed, 7 unchanged")
    assert lines[-1] == "[]"
    assert (out / "raw/notes.txt").read_bytes() == b"day 2\n"
