"""A second run with nothing to write opens no pond, and says what a full run says."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

from duckpond.ingest.mirror.idle import idle_report
from duckpond.pond import Pond, refresh_mirror


@pytest.fixture
def pond(tmp_path: Path) -> Pond:
    p = Pond.init(tmp_path / "pond", command=["test"])
    with p.transaction() as tx:
        tx.mkdir("/raw", "/data")
        tx.write_file("/raw/notes.txt", b"field notes\n")
        tx.write_file("/raw/bad\nname", b"odd\n")
        tx.write_file("/raw/" + "x" * 300, b"too long for a host\n")
        tx.write_table("/data/sites.table", pa.table({"site": ["a", "b"]}))
    return p


def idle(pond: Pond, out: Path) -> object:
    return idle_report(out, str(pond.path))


def test_nothing_moved_means_no_pond_is_opened(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out)
    code = textwrap.dedent(
        f"""
        import sys
        from duckpond.cli.main import main
        try:
            main(["--pond", {str(pond.path)!r}, "mirror", {str(out)!r}])
        except SystemExit as exc:
            assert not exc.code, exc.code
        print(sorted({{"deltalake", "pyarrow", "datafusion"}} & set(sys.modules)))
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = run.stdout.splitlines()
    assert lines[0].startswith(
        f"mirrored {out} at txn 2: 0 written, 0 removed, 5 unchanged, 1 refused"
    )
    assert lines[-1] == "[]"
    # One commit later the run opens the pond and writes what moved.
    pond.write_bytes("/raw/notes.txt", b"day 2\n")
    assert idle(pond, out) is None
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "1 written" in run.stdout.splitlines()[0]
    assert "'deltalake'" in run.stdout.splitlines()[-1]
    assert (out / "raw/notes.txt").read_bytes() == b"day 2\n"


def test_the_idle_answer_is_the_full_runs(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out)
    (out / "raw/notes.txt").write_bytes(b"edited on the host\n")
    (out / "data/sites.table.parquet").write_bytes(b"not parquet any more")
    (out / "raw/mine.txt").write_bytes(b"new")
    (out / "fresh").mkdir()
    (out / "fresh/deep.txt").write_bytes(b"new too")
    quick = idle(pond, out)
    assert quick is not None
    full = pond.mirrors.write(out)  # the pond opened: the same state, found the long way
    assert quick.to_json() == full.to_json()  # type: ignore[attr-defined]
    doc = full.to_json()
    assert [n["path"] for n in doc["edited"]] == ["/data/sites.table", "/raw/notes.txt"]
    assert [n["host"] for n in doc["new"]] == ["fresh", "raw/mine.txt"]
    assert [n["path"] for n in doc["refused"]] == ["/raw/" + "x" * 300]


def test_what_needs_writing_sends_the_run_the_full_way(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out)
    (out / "raw/notes.txt").unlink()
    assert idle(pond, out) is None
    report = refresh_mirror(pond.path, out)
    assert report.written == ["/raw/notes.txt"]
    assert (out / "raw/notes.txt").read_bytes() == b"field notes\n"
    # Other patterns or another table format are a full run too.
    assert idle_report(out, str(pond.path), tables="csv") is None
    assert idle_report(out, str(pond.path), patterns=["/raw/**"]) is None
    assert idle(pond, out) is not None
    assert refresh_mirror(pond.path, out, tables="csv").written == ["/data/sites.table"]


def test_a_touched_file_is_read_once_then_known_by_its_stat(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out)
    (out / "raw/notes.txt").touch()
    before = (out / ".pond-mirror").read_bytes()
    report = idle(pond, out)
    assert report is not None and report.edited == [] and report.touched  # type: ignore[attr-defined]
    after = (out / ".pond-mirror").read_bytes()
    assert after != before  # the new lstat is recorded
    assert not idle(pond, out).touched  # type: ignore[attr-defined]


def test_a_pond_made_again_at_the_same_path_is_no_idle_run(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out)
    pond.close()
    shutil.rmtree(pond.path)
    again = Pond.init(pond.path, command=["test"])
    with again.transaction() as tx:  # as many commits as before: the same log version
        tx.mkdir("/raw", "/data")
        tx.write_file("/raw/notes.txt", b"another pond\n")
    assert idle(again, out) is None
    report = refresh_mirror(again.path, out)
    assert "/raw/notes.txt" in report.written
    assert (out / "raw/notes.txt").read_bytes() == b"another pond\n"


def test_a_folder_mirroring_another_pond_is_refused(pond: Pond, tmp_path: Path) -> None:
    from duckpond.errors import ConfigError

    out = tmp_path / "m"
    pond.mirrors.write(out)
    other = Pond.init(tmp_path / "other", command=["test"])
    other.write_bytes("/raw.txt", b"the other pond")
    with pytest.raises(ConfigError, match="a mirror of another pond"):
        other.mirrors.write(out)
    with pytest.raises(ConfigError, match="a mirror of another pond"):
        refresh_mirror(other.path, out)
    assert (out / "raw/notes.txt").read_bytes() == b"field notes\n"
    # A pond moved to another path is the same pond: its mirror follows it.
    pond.close()
    moved = tmp_path / "moved"
    shutil.move(pond.path, moved)
    assert refresh_mirror(moved, out).written == []


def test_a_record_of_the_first_layout_is_read_and_rewritten(pond: Pond, tmp_path: Path) -> None:
    import json

    out = tmp_path / "m"
    pond.mirrors.write(out)
    header, files = (out / ".pond-mirror").read_text().splitlines()
    doc = json.loads(header) | {"format": "duckpond-mirror/1", "files": json.loads(files)}
    del doc["log"]  # the first layout had no log stamp: the next run is a full one
    (out / ".pond-mirror").write_text(json.dumps(doc, indent=1))
    assert idle(pond, out) is None
    report = refresh_mirror(pond.path, out)
    assert report.written == [] and report.unchanged == 5
    assert json.loads((out / ".pond-mirror").read_text().splitlines()[0])["format"] == (
        "duckpond-mirror/2"
    )
    assert idle(pond, out) is not None
