"""``kind: Import`` read from the source's log tail, against a whole comparison, and its faults.

Every pond is real (Delta tables in ``tmp_path``), written through ``duckpond.Pond``.
An import kept up run after run (which reads only the source's log tail) must leave
exactly what a fresh import of the same source (which compares every file) leaves.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from duckpond import Pond
from duckpond.pipeline.run import RunResult

MOUNT = "/imports/src"


def series(start_hour: int, rows: int, value: float, **more: list[Any]) -> pa.Table:
    times = pa.array(
        [(start_hour + i) * 3_600_000_000 for i in range(rows)], pa.timestamp("us", tz="UTC")
    )
    return pa.table({"timestamp": times, "v": [value + i for i in range(rows)], **more})


def pond_with(path: Path, files: dict[str, bytes]) -> Path:
    """A new pond holding ``files`` (raw bytes), their directories made."""
    with Pond.init(path) as p, p.transaction() as tx:
        for name, data in files.items():
            tx.mkdir(name.rsplit("/", 1)[0] or "/", parents=True, exist_ok=True)
            tx.write_file(name, data)
    return path


def import_doc(where: Path, url: Path, **spec: Any) -> Path:
    doc = {"apiVersion": "duckpond/v1", "kind": "Import", "name": "src"}
    path = where / "import.json"
    path.write_text(json.dumps({**doc, "spec": {"url": str(url), **spec}}))
    return path


def hub_with_import(where: Path, source: Path, **spec: Any) -> Path:
    hub = where
    Pond.init(hub).close()
    with Pond.open(hub) as p:
        p.pipeline.apply([import_doc(where.parent, source, **spec)])
    return hub


def run_import(hub: Path) -> RunResult:
    with Pond.open(hub) as p:
        [result] = p.pipeline.run().results
    return result


def tree(pond: Path, top: str = MOUNT) -> dict[str, Any]:
    """Everything under ``top`` (hidden entries included): type, versions' hashes, link target."""
    with Pond.open(pond) as p:
        root = p.root
        if not root.exists(top):
            return {}
        out: dict[str, Any] = {}
        for np in root.visit(top):
            rel = np.path if top == "/" else np.path[len(top) :]
            if np.path == top or rel == "/.import.json":
                continue
            if np.is_symlink():
                out[rel] = ("link", root.readlink(np.path))
            elif np.is_file():
                out[rel] = (np.node_type, [v.sha256 for v in np.node.versions()])
            else:
                out[rel] = ("dir",)
        return out


def source_tree(source: Path) -> dict[str, Any]:
    """The source as an import brings it: its tree but /etc."""
    found = tree(source, "/")
    # An absolute link target points into the mount there.
    return {
        path: ("link", MOUNT + value[1]) if value[0] == "link" and value[1][0] == "/" else value
        for path, value in found.items()
        if not (path == "/etc" or path.startswith("/etc/"))
    }


def test_the_log_tail_brings_what_a_whole_comparison_would(tmp_path: Path) -> None:
    source = tmp_path / "source"
    with Pond.init(source) as p, p.transaction() as tx:
        tx.mkdir("/data/a", "/data/b", "/raw", parents=True)
        for i in range(6):
            tx.write_series(f"/data/a/s{i}.series", series(i, 4, float(i)))
        tx.write_series("/data/b/t.series", series(0, 3, 1.0))
    hub = hub_with_import(tmp_path / "hub", source)
    assert run_import(hub).details["compared"] == "all"

    steps: list[tuple[str, Any]] = [
        (
            "a new version of one series",
            lambda p: p.write_series("/data/a/s3.series", series(10, 2, 9.0)),
        ),
        (
            "a new file in a new tree",
            lambda p: (p.mkdir("/new/x/y", parents=True), p.write_bytes("/new/x/y/n.txt", b"n")),
        ),
        ("a file removed", lambda p: p.remove("/data/a/s0.series")),
        ("a link", lambda p: p.symlink("/data/b/t.series", "/data/latest")),
        (
            "a file renamed in its directory",
            lambda p: p.transaction_mv("/data/a/s1.series", "/data/a/s1b.series"),
        ),
        (
            "a file moved to another directory",
            lambda p: p.transaction_mv("/data/a/s2.series", "/data/b/s2.series"),
        ),
        (
            "a new version of the moved file",
            lambda p: p.write_series("/data/b/s2.series", series(20, 2, 2.0)),
        ),
        ("a directory moved", lambda p: p.transaction_mv("/new/x", "/moved")),
        ("a tree removed", lambda p: p.remove("/moved", recursive=True)),
        (
            "a file where a directory was",
            lambda p: (
                p.remove("/data/b", recursive=True),
                p.write_bytes("/data/b", b"now a file"),
            ),
        ),
        ("the link removed and nothing else", lambda p: p.remove("/data/latest")),
    ]
    compared = []
    for what, change in steps:
        with Pond.open(source) as p:
            change(_Verbs(p))
        result = run_import(hub)
        assert result.outcome == "ok", (what, result.error)
        compared.append(result.details["compared"])
        fresh = tmp_path / f"fresh{len(compared)}"
        fresh.mkdir()
        assert run_import(hub_with_import(fresh / "hub", source)).outcome == "ok"
        assert tree(hub) == tree(fresh / "hub") == source_tree(source), what
    # Moves the record cannot place fall back to a whole comparison; the rest read the tail.
    assert compared.count("tail") >= 8, compared
    # Nothing new: nothing read, nothing committed.
    with Pond.open(hub) as p:
        before = p.last_txn
    assert run_import(hub).details.get("versions", 0) == 0
    with Pond.open(hub) as p:
        assert p.last_txn == before


class _Verbs:
    """The pond's verbs, and ``mv`` (a transaction verb) for the steps above."""

    def __init__(self, pond: Pond) -> None:
        self.pond = pond

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pond, name)

    def transaction_mv(self, src: str, dst: str) -> None:
        with self.pond.transaction() as tx:
            tx.mv(src, dst)


def test_directories_removed_at_the_source_go_here_too(tmp_path: Path) -> None:
    source = pond_with(
        tmp_path / "source",
        {"/data/gone/deep/a.txt": b"a", "/data/emptied/b.txt": b"b", "/data/keep/c.txt": b"c"},
    )
    hub = hub_with_import(tmp_path / "hub", source)
    run_import(hub)
    with Pond.open(source) as p:
        p.remove("/data/gone", recursive=True)
        p.remove("/data/emptied/b.txt")
    result = run_import(hub)
    assert result.details["compared"] == "tail"
    # Removed there: removed here (its subdirectory too); emptied there: still there, empty.
    assert sorted(tree(hub)) == [
        "/data",
        "/data/emptied",
        "/data/keep",
        "/data/keep/c.txt",
    ]

    # With patterns naming files, a directory holding none of them any more goes.
    source2 = pond_with(
        tmp_path / "source2",
        {"/data/one/x.csv": b"x", "/data/two/y.csv": b"y", "/data/two/notes.md": b"never brought"},
    )
    (tmp_path / "h2").mkdir()
    hub2 = hub_with_import(tmp_path / "h2" / "hub", source2, patterns=["/data/*/*.csv"])
    run_import(hub2)
    assert sorted(tree(hub2)) == [
        "/data",
        "/data/one",
        "/data/one/x.csv",
        "/data/two",
        "/data/two/y.csv",
    ]
    with Pond.open(source2) as p:
        p.remove("/data/two/y.csv")
    assert run_import(hub2).details["removed"] == 2
    assert sorted(tree(hub2)) == ["/data", "/data/one", "/data/one/x.csv"]


def _snapshot(pond: Path, to: Path) -> None:
    shutil.copytree(pond, to)


def test_a_source_that_went_back_or_was_rewritten_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "source"
    with Pond.init(source) as p:
        p.mkdir("/data")
        p.write_series("/data/s.series", series(0, 3, 1.0))
    older = tmp_path / "older"
    _snapshot(source, older)
    with Pond.open(source) as p:
        p.write_series("/data/s.series", series(5, 3, 2.0))
        p.write_bytes("/data/n.txt", b"n")
    hub = hub_with_import(tmp_path / "hub", source)
    assert run_import(hub).outcome == "ok"
    before = tree(hub)

    # Restored from an older copy: its transactions stop before the one imported.
    shutil.rmtree(source)
    _snapshot(older, source)
    result = run_import(hub)
    assert result.outcome == "failed"
    assert "before transaction" in (result.error or "")
    assert tree(hub) == before

    # The older copy then writes as many transactions again: same numbers, other history.
    with Pond.open(source) as p:
        p.write_bytes("/data/other.txt", b"o")
        p.write_bytes("/data/other2.txt", b"p")
    result = run_import(hub)
    assert result.outcome == "failed"
    assert "history was rewritten" in (result.error or "")
    assert tree(hub) == before


def test_a_series_whose_schema_changed_comes_as_the_source_has_it(tmp_path: Path) -> None:
    source = tmp_path / "source"
    with Pond.init(source) as p:
        p.mkdir("/data")
        p.write_series("/data/s.series", series(0, 3, 1.0))
    hub = hub_with_import(tmp_path / "hub", source)
    run_import(hub)
    with Pond.open(source) as p:
        # A new column, and the value column's type changed.
        p.write_series(
            "/data/s.series",
            series(10, 2, 5.0, depth=[1.5, 2.5]).set_column(1, "v", pa.array([5, 6], pa.int64())),
        )
        expected = p.read_table("/data/s.series")
    result = run_import(hub)
    assert result.outcome == "ok" and result.details["versions"] == 1
    with Pond.open(hub) as p:
        got = p.read_table(f"{MOUNT}/data/s.series")
    assert got.sort_by("timestamp").to_pylist() == expected.sort_by("timestamp").to_pylist()


def test_a_local_file_where_the_source_has_one_is_never_replaced(tmp_path: Path) -> None:
    source = pond_with(tmp_path / "source", {"/data/x.txt": b"theirs"})
    hub = tmp_path / "hub"
    with Pond.init(hub) as p:
        # The hub wrote there before the Import resource existed.
        p.mkdir(f"{MOUNT}/data", parents=True)
        p.write_bytes(f"{MOUNT}/data/x.txt", b"ours")
        p.pipeline.apply([import_doc(tmp_path, source)])
    result = run_import(hub)
    assert result.outcome == "failed"
    assert "not brought by an import" in (result.error or "")
    with Pond.open(hub) as p:
        assert p.read_bytes(f"{MOUNT}/data/x.txt") == b"ours"
    # Moved away (the resource removed for that, then applied again), the import proceeds.
    with Pond.open(hub) as p:
        p.remove("/etc/resources/src")
        with p.transaction() as tx:
            tx.mv(f"{MOUNT}/data/x.txt", "/mine.txt")
        p.pipeline.apply([import_doc(tmp_path, source)])
    assert run_import(hub).outcome == "ok"
    with Pond.open(hub) as p:
        assert p.read_bytes(f"{MOUNT}/data/x.txt") == b"theirs"
        assert p.read_bytes("/mine.txt") == b"ours"


def test_an_import_of_an_import_brings_only_the_importers_own(tmp_path: Path) -> None:
    north = pond_with(tmp_path / "north", {"/data/n.txt": b"north"})
    region = tmp_path / "region"
    (tmp_path / "r").mkdir()
    with Pond.init(region) as p:
        p.mkdir("/own")
        p.write_bytes("/own/r.txt", b"region")
        # Its import of north lives at a path of its choosing.
        p.pipeline.apply([import_doc(tmp_path / "r", north, path="/stations/north")])
        assert p.pipeline.run().ok
        assert p.read_bytes("/stations/north/data/n.txt") == b"north"
    hub = hub_with_import(tmp_path / "hub", region)
    assert run_import(hub).outcome == "ok"
    assert sorted(p for p in tree(hub) if p.endswith(".txt")) == ["/own/r.txt"]

    # The region drops its Import resource but keeps the copies: still not brought.
    with Pond.open(region) as p:
        p.remove("/etc/resources/src")
        p.write_bytes("/own/r2.txt", b"more")
    result = run_import(hub)
    assert result.outcome == "ok"
    assert sorted(p for p in tree(hub) if p.endswith(".txt")) == ["/own/r.txt", "/own/r2.txt"]


@pytest.mark.parametrize("damage", ["not json", "wrong types", "a list of directories"])
def test_a_damaged_record_means_comparing_everything(tmp_path: Path, damage: str) -> None:
    source = pond_with(tmp_path / "source", {"/data/a.txt": b"a"})
    hub = hub_with_import(tmp_path / "hub", source)
    run_import(hub)
    record = f"{MOUNT}/.import.json"
    docs = {
        "wrong types": {"pond": 1, "txn": "2", "time": None, "patterns": [], "dirs": {}},
        "a list of directories": {"pond": "p", "txn": 2, "time": "t", "patterns": [], "dirs": []},
    }
    text = b"{" if damage == "not json" else json.dumps(docs[damage]).encode()
    # Written as the import would (other writes are refused under the mount).
    with Pond.open(hub) as p, p.transaction() as tx:
        tx.root.write_file(record, text)
    with Pond.open(source) as p:
        p.write_bytes("/data/b.txt", b"b")
    result = run_import(hub)
    assert result.outcome == "ok" and result.details["compared"] == "all"
    assert tree(hub) == source_tree(source)


def test_links_point_inside_the_mount_and_never_above_it(tmp_path: Path) -> None:
    source = tmp_path / "source"
    with Pond.init(source) as p:
        p.mkdir("/data/deep", parents=True)
        p.write_bytes("/data/deep/x.txt", b"theirs")
        p.symlink("deep/x.txt", "/data/relative")
        p.symlink("../deep/x.txt", "/data/deep/up")
        p.symlink("../../secret.txt", "/data/escape")  # above their root
    hub = tmp_path / "hub"
    with Pond.init(hub) as p:
        p.mkdir("/imports")
        p.write_bytes("/imports/secret.txt", b"the hub's own")
        p.pipeline.apply([import_doc(tmp_path, source)])
    result = run_import(hub)
    assert result.outcome == "ok", result.error
    assert any("/data/escape" in w and "climbs above" in w for w in result.warnings)
    with Pond.open(hub) as p:
        assert p.root.readlink(f"{MOUNT}/data/relative") == f"{MOUNT}/data/deep/x.txt"
        assert p.read_bytes(f"{MOUNT}/data/relative") == b"theirs"
        assert p.read_bytes(f"{MOUNT}/data/deep/up") == b"theirs"
        assert not p.root.exists(f"{MOUNT}/data/escape")


def test_an_import_loads_no_other_kind(tmp_path: Path) -> None:
    """Finding the Import kind (its module is import_) imports no other kind's module."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from duckpond.pipeline.kinds import get_kind\n"
        "print(get_kind('Import').name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('duckpond.pipeline.kinds.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["Import", "['duckpond.pipeline.kinds.import_']"]
