"""The TinyFS conformance suite: written once, passed by every ``Persistence``.

The tests drive TinyFS through its public entry points (``FS``, ``WD``,
``NodePath``) over a store supplied by a backend, so they state what any
persistence must preserve: bytes, versions, directory entries, symlinks,
dynamic nodes, transactions.

A backend plugs in with a test class that inherits ``TinyFSConformance`` and
the fixtures below, defined in that class or in its module:

``make_persistence`` (required)
    A zero-argument callable returning a fresh, empty ``Persistence``.  The
    suite calls it exactly once per test.
``reopen`` (optional)
    A zero-argument callable returning a NEW persistence object over the
    store ``make_persistence`` created, as a later process would open it; it
    may close the previous object first.  Leave it undefined (or return
    None) and the reopen tests skip.

For example, in ``tests/tlogfs/test_conformance.py``::

    from tinyfs.conformance import TinyFSConformance

    class TestDeltaConformance(TinyFSConformance):
        @pytest.fixture
        def make_persistence(self, tmp_path):
            return lambda: DeltaPersistence.create(tmp_path / "pond")

        @pytest.fixture
        def reopen(self, tmp_path):
            return lambda: DeltaPersistence.open(tmp_path / "pond")

``tests/tinyfs`` is a package, so pytest puts ``tests/`` on ``sys.path`` for
any test module that is itself in a package: give the backend's test
directory an ``__init__.py`` and the import above works however pytest is run.
"""

from __future__ import annotations

import errno
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from duckpond.errors import (
    ConfigError,
    GlobError,
    InvalidPathError,
    ReadOnlyError,
    SymlinkLoopError,
    TransactionError,
)
from duckpond.tinyfs import (
    DIRECTORY,
    DYNAMIC_DIR,
    DYNAMIC_FILE,
    FILE_DATA,
    FILE_SERIES,
    FILE_TABLE,
    FS,
    ROOT_ID,
    SYMLINK,
    WD,
    DirEntry,
    FactoryContext,
    GlobMatch,
    MappingResolver,
    MemoryCache,
    Output,
    Persistence,
)
from duckpond.tinyfs.nodes import DynamicFileNode

# -- dynamic factories used by the suite ------------------------------------------


@dataclass(frozen=True)
class _Bytes:
    data: bytes

    def read_bytes(self) -> bytes:
        return self.data


@dataclass
class Calls:
    """How often the suite's factories ran: the tests count computations."""

    factory: int = 0
    entries: int = 0
    child: int = 0
    content: int = 0


@dataclass(frozen=True)
class _Tree:
    """A directory described by a JSON mapping: a string is a file, a mapping a directory."""

    spec: Mapping[str, Any]
    calls: Calls

    def entries(self) -> Mapping[str, str]:
        self.calls.entries += 1
        return {name: "dir" if isinstance(v, dict) else "data" for name, v in self.spec.items()}

    def child(self, name: str, ctx: FactoryContext) -> Output:
        self.calls.child += 1
        value = self.spec[name]
        return _Tree(value, self.calls) if isinstance(value, dict) else _Bytes(value.encode())


@dataclass(frozen=True)
class _Upper:
    """Reads another pond file at read time, so its output follows its source."""

    root: WD
    source: str
    calls: Calls

    def read_bytes(self) -> bytes:
        self.calls.content += 1
        return self.root.read_bytes(self.source).upper()


@dataclass(frozen=True)
class _Where:
    """A file whose bytes are the path its factory was told."""

    ctx: FactoryContext

    def read_bytes(self) -> bytes:
        return self.ctx.path.encode()


@dataclass(frozen=True)
class _WhereDir:
    """A directory of one file, ``here``, whose bytes are the path its context gives."""

    def entries(self) -> Mapping[str, str]:
        return {"here": "data"}

    def child(self, name: str, ctx: FactoryContext) -> Output:
        return _Where(ctx)


@dataclass
class _Writer:
    """Tries every way to write the pond from inside a read; records what each attempt raised."""

    ctx: FactoryContext
    outcomes: dict[str, str]

    def read_bytes(self) -> bytes:
        root = self.ctx.root
        victim = root.get("/victim")
        attempts: dict[str, Callable[[], object]] = {
            "write_file": lambda: root.write_file("/victim", b"changed"),
            "create_file": lambda: root.create_file("/new", b""),
            "mkdir": lambda: root.mkdir("/newdir"),
            "symlink": lambda: root.symlink("/victim", "/link"),
            "remove": lambda: root.remove("/victim"),
            "rename": lambda: root.rename("/victim", "/moved"),
            "create_dynamic": lambda: root.create_dynamic(
                "/dyn2", DYNAMIC_FILE, TEXT_FACTORY, {"text": ""}
            ),
            "transaction": lambda: root.fs.transaction().__enter__(),
            "via node": lambda: victim.node.fs.root().write_file("/victim", b"x"),
            "persistence": lambda: root.fs.persistence.write_version(victim.node_id, b"x"),
            "persistence begin": lambda: root.fs.persistence.begin(),
        }
        for name, attempt in attempts.items():
            try:
                attempt()
            except Exception as exc:  # the test checks every one was a ReadOnlyError
                self.outcomes[name] = type(exc).__name__
            else:
                self.outcomes[name] = "wrote"
        return b"tried"


TEXT_FACTORY = "conformance-text"
TREE_FACTORY = "conformance-tree"
UPPER_FACTORY = "conformance-upper"
WHERE_FACTORY = "conformance-where"
WHERE_DIR_FACTORY = "conformance-where-dir"
WRITER_FACTORY = "conformance-writer"


def make_resolver(calls: Calls, outcomes: dict[str, str]) -> MappingResolver:
    """The suite's factories, each counting its runs in ``calls``."""

    def counted(factory: Callable[[Mapping[str, Any], FactoryContext], Output]) -> Any:
        def run(config: Mapping[str, Any], ctx: FactoryContext) -> Output:
            calls.factory += 1
            return factory(config, ctx)

        return run

    return MappingResolver(
        {
            TEXT_FACTORY: counted(lambda config, ctx: _Bytes(str(config["text"]).encode())),
            TREE_FACTORY: counted(lambda config, ctx: _Tree(config["tree"], calls)),
            UPPER_FACTORY: counted(
                lambda config, ctx: _Upper(ctx.root, str(config["source"]), calls)
            ),
            WHERE_FACTORY: counted(lambda config, ctx: _Where(ctx)),
            WHERE_DIR_FACTORY: counted(lambda config, ctx: _WhereDir()),
            WRITER_FACTORY: counted(lambda config, ctx: _Writer(ctx, outcomes)),
        }
    )


TREE = {"a.txt": "alpha", "b.txt": "beta", "sub": {"c.txt": "gamma", "deeper": {"d.txt": "delta"}}}


def paths_of(matches: Iterable[GlobMatch]) -> list[str]:
    return [m.node_path.path for m in matches]


def captures_of(matches: Iterable[GlobMatch]) -> dict[str, tuple[str, ...]]:
    return {m.node_path.path: m.captures for m in matches}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the suite, in groups ---------------------------------------------------------


class BasicOperations:
    def test_new_store_has_an_empty_root_directory(self, root: WD) -> None:
        np = root.get("/")
        assert np.node_id == ROOT_ID
        assert np.is_dir() and np.path == "/"
        assert np.node_type == DIRECTORY
        assert root.listdir("/") == []

    def test_creating_the_store_is_transaction_one(self, root: WD) -> None:
        assert root.stat("/").txn_seq == 1
        root.write_file("/f", b"x")
        assert root.stat("/f").txn_seq == 2

    def test_create_then_read_file(self, root: WD) -> None:
        np = root.create_file("/f.txt", b"hello")
        assert np.path == "/f.txt" and np.is_file()
        assert root.read_bytes("/f.txt") == b"hello"

    def test_write_file_creates_a_missing_file(self, root: WD) -> None:
        root.write_file("/new", b"data")
        assert root.read_bytes("/new") == b"data"
        assert len(root.versions("/new")) == 1

    def test_create_file_refuses_an_existing_name(self, root: WD) -> None:
        root.create_file("/f", b"1")
        with pytest.raises(FileExistsError):
            root.create_file("/f", b"2")
        root.mkdir("/d")
        with pytest.raises(FileExistsError):
            root.create_file("/d", b"2")
        assert root.read_bytes("/f") == b"1"

    def test_create_file_in_a_missing_directory(self, root: WD) -> None:
        with pytest.raises(FileNotFoundError):
            root.create_file("/nope/f", b"")
        assert root.listdir("/") == []

    def test_path_through_a_file_is_not_a_directory(self, root: WD) -> None:
        root.write_file("/f", b"")
        with pytest.raises(NotADirectoryError):
            root.create_file("/f/g", b"")
        with pytest.raises(NotADirectoryError):
            root.read_bytes("/f/g")
        with pytest.raises(NotADirectoryError):
            root.mkdir("/f/d", parents=True)

    def test_mkdir_and_listdir(self, root: WD) -> None:
        np = root.mkdir("/d")
        assert np.is_dir() and np.path == "/d"
        root.mkdir("/d/e")
        root.write_file("/d/f", b"")
        assert root.listdir("/") == ["d"]
        assert root.listdir("/d") == ["e", "f"]
        assert root.listdir("/d/e") == []

    def test_mkdir_on_an_existing_name_fails(self, root: WD) -> None:
        root.mkdir("/d")
        root.write_file("/f", b"")
        with pytest.raises(FileExistsError):
            root.mkdir("/d")
        with pytest.raises(FileExistsError):
            root.mkdir("/f")
        with pytest.raises(FileExistsError):
            root.mkdir("/")

    def test_mkdir_exist_ok(self, root: WD) -> None:
        first = root.mkdir("/d")
        again = root.mkdir("/d", exist_ok=True)
        assert again.node_id == first.node_id
        root.write_file("/f", b"")
        with pytest.raises(FileExistsError):
            root.mkdir("/f", exist_ok=True)

    def test_mkdir_parents(self, root: WD) -> None:
        leaf = root.mkdir("/a/b/c", parents=True)
        assert leaf.path == "/a/b/c"
        assert root.listdir("/a") == ["b"] and root.listdir("/a/b") == ["c"]
        # Existing parents are reused, and an existing leaf is fine with parents.
        assert root.mkdir("/a/b/c", parents=True).node_id == leaf.node_id
        root.mkdir("/a/b/x", parents=True)
        assert root.listdir("/a/b") == ["c", "x"]

    def test_mkdir_without_parents_needs_the_parent(self, root: WD) -> None:
        with pytest.raises(FileNotFoundError):
            root.mkdir("/a/b")
        assert not root.exists("/a")

    def test_entries_are_sorted_with_absolute_paths(self, root: WD) -> None:
        root.mkdir("/d")
        for name in ["zeta", "Alpha", "beta", "_x", "10", "9"]:
            root.write_file(f"/d/{name}", b"")
        entries = root.entries("/d")
        names = sorted(["zeta", "Alpha", "beta", "_x", "10", "9"])
        assert [e.name for e in entries] == names
        assert [e.path for e in entries] == [f"/d/{n}" for n in names]
        assert [e.path for e in root.entries("/")] == ["/d"]

    def test_listdir_of_a_file_is_not_a_directory(self, root: WD) -> None:
        root.write_file("/f", b"")
        with pytest.raises(NotADirectoryError):
            root.listdir("/f")

    def test_reading_a_directory_is_a_directory_error(self, root: WD) -> None:
        root.mkdir("/d")
        with pytest.raises(IsADirectoryError):
            root.read_bytes("/d")
        with pytest.raises(IsADirectoryError):
            root.read_bytes("/")

    def test_writing_a_directory_is_a_directory_error(self, root: WD) -> None:
        root.mkdir("/d")
        with pytest.raises(IsADirectoryError):
            root.write_file("/d", b"x")
        assert root.get("/d").is_dir()

    def test_missing_paths_are_not_found(self, root: WD) -> None:
        with pytest.raises(FileNotFoundError):
            root.read_bytes("/missing")
        with pytest.raises(FileNotFoundError):
            root.get("/missing/deeper")
        with pytest.raises(FileNotFoundError):
            root.stat("/missing")

    def test_exists(self, root: WD) -> None:
        root.mkdir("/d")
        root.write_file("/d/f", b"")
        root.symlink("/nowhere", "/dangling")
        assert root.exists("/") and root.exists("/d") and root.exists("/d/f")
        assert root.exists("/dangling")
        assert not root.exists("/missing")
        assert not root.exists("/d/f/under-a-file")

    def test_stat_reports_type_size_and_digest(self, root: WD) -> None:
        root.write_file("/f", b"12345")
        info = root.stat("/f")
        assert info.node_type == FILE_DATA
        assert info.size == 5 and info.sha256 == sha(b"12345")
        assert info.version == 1
        assert info.node_id == root.get("/f").node_id

    def test_file_type_is_kept_by_later_versions(self, root: WD) -> None:
        root.create_file("/s", b"v1", node_type=FILE_SERIES)
        root.create_file("/t", b"v1", node_type=FILE_TABLE)
        root.write_file("/s", b"v2")
        root.write_file("/t", b"v2", node_type=FILE_DATA)
        assert [v.node_type for v in root.versions("/s")] == [FILE_SERIES, FILE_SERIES]
        assert root.stat("/t").node_type == FILE_TABLE

    def test_create_file_refuses_a_non_file_type(self, root: WD) -> None:
        with pytest.raises(ValueError):
            root.create_file("/f", b"", node_type=DIRECTORY)
        assert not root.exists("/f")

    def test_attributes_and_event_range_are_stored_per_version(self, root: WD) -> None:
        root.write_file(
            "/s", b"a", node_type=FILE_SERIES, attributes={"ts": "time"}, event_range=(10, 20)
        )
        root.write_file("/s", b"b", attributes={"ts": "when"}, event_range=(30, 45))
        first, second = root.versions("/s")
        assert dict(first.attributes)["ts"] == "time"
        assert (first.min_event_time, first.max_event_time) == (10, 20)
        assert dict(second.attributes)["ts"] == "when"
        assert (second.min_event_time, second.max_event_time) == (30, 45)
        root.write_file("/plain", b"")
        assert root.stat("/plain").min_event_time is None

    def test_node_ids_are_stable_and_distinct(self, root: WD) -> None:
        a = root.write_file("/a", b"")
        b = root.write_file("/b", b"")
        d = root.mkdir("/d")
        assert len({a.node_id, b.node_id, d.node_id, ROOT_ID}) == 4
        assert root.get("/a").node_id == a.node_id
        root.write_file("/a", b"again")
        assert root.get("/a").node_id == a.node_id

    def test_nodepath_name_and_path(self, root: WD) -> None:
        root.mkdir("/d/e", parents=True)
        np = root.write_file("/d/e/file.csv", b"")
        assert np.path == "/d/e/file.csv" and np.name == "file.csv"
        assert str(root.get("/d/e/")) == "/d/e"


class Removal:
    def test_remove_a_file(self, root: WD) -> None:
        root.write_file("/f", b"x")
        root.write_file("/g", b"y")
        root.remove("/f")
        assert not root.exists("/f")
        assert root.listdir("/") == ["g"]

    def test_remove_an_empty_directory(self, root: WD) -> None:
        root.mkdir("/d")
        root.remove("/d")
        assert root.listdir("/") == []

    def test_remove_a_non_empty_directory_needs_recursive(self, root: WD) -> None:
        root.mkdir("/d")
        root.write_file("/d/f", b"x")
        with pytest.raises(OSError) as caught:
            root.remove("/d")
        assert caught.value.errno == errno.ENOTEMPTY
        assert root.read_bytes("/d/f") == b"x"

    def test_remove_recursive(self, root: WD) -> None:
        root.mkdir("/d/e", parents=True)
        root.write_file("/d/e/f", b"x")
        root.remove("/d", recursive=True)
        assert root.listdir("/") == []
        with pytest.raises(FileNotFoundError):
            root.read_bytes("/d/e/f")

    def test_remove_a_missing_path(self, root: WD) -> None:
        with pytest.raises(FileNotFoundError):
            root.remove("/missing")
        with pytest.raises(FileNotFoundError):
            root.remove("/missing/child")

    def test_the_root_cannot_be_removed(self, root: WD) -> None:
        with pytest.raises(InvalidPathError):
            root.remove("/", recursive=True)

    def test_remove_a_symlink_keeps_its_target(self, root: WD) -> None:
        root.mkdir("/d")
        root.write_file("/d/f", b"x")
        root.symlink("/d", "/link")
        root.remove("/link")
        assert not root.exists("/link")
        assert root.read_bytes("/d/f") == b"x"

    def test_removed_node_keeps_its_history_in_the_store(self, root: WD, fs: FS) -> None:
        np = root.write_file("/f", b"one")
        root.write_file("/f", b"two")
        root.remove("/f")
        assert [v.version for v in fs.persistence.versions(np.node_id)] == [1, 2]
        assert fs.persistence.read_bytes(np.node_id, 1) == b"one"

    def test_a_recreated_name_is_a_new_node(self, root: WD) -> None:
        old = root.write_file("/f", b"old")
        root.remove("/f")
        new = root.write_file("/f", b"new")
        assert new.node_id != old.node_id
        assert [v.version for v in root.versions("/f")] == [1]
        assert root.read_bytes("/f") == b"new"


class PathsAndCd:
    def test_cd_and_relative_paths(self, root: WD) -> None:
        root.mkdir("/a/b", parents=True)
        a = root.cd("/a")
        assert a.path == "/a"
        a.write_file("x", b"1")
        a.write_file("b/y", b"2")
        assert root.read_bytes("/a/x") == b"1"
        assert root.read_bytes("/a/b/y") == b"2"
        assert a.listdir() == ["b", "x"]
        assert a.get("x").path == "/a/x"
        assert a.cd("b").path == "/a/b"

    def test_cd_with_dot_and_dotdot(self, root: WD) -> None:
        root.mkdir("/a/b", parents=True)
        b = root.cd("/a/b")
        assert b.cd("..").path == "/a"
        assert b.cd("../..").path == "/"
        assert b.cd(".").path == "/a/b"
        assert b.cd("./../b/.").path == "/a/b"

    def test_dot_and_dotdot_inside_paths(self, root: WD) -> None:
        root.mkdir("/a/b", parents=True)
        root.write_file("/a/f", b"f")
        assert root.read_bytes("/a/./b/../f") == b"f"
        assert root.get("/a/b/..").path == "/a"
        assert root.cd("/a/b").read_bytes("../f") == b"f"

    def test_dotdot_above_the_root_is_invalid(self, root: WD) -> None:
        root.mkdir("/a")
        a = root.cd("/a")
        for bad in ("/..", "/a/../..", "../.."):
            with pytest.raises(InvalidPathError):
                a.get(bad)
        with pytest.raises(InvalidPathError):
            a.write_file("../../f", b"")
        with pytest.raises(InvalidPathError):
            root.cd("..")
        assert root.listdir("/") == ["a"]

    def test_absolute_paths_ignore_the_working_directory(self, root: WD) -> None:
        root.mkdir("/a/b", parents=True)
        root.write_file("/top", b"t")
        b = root.cd("/a/b")
        assert b.read_bytes("/top") == b"t"
        b.write_file("/other", b"o")
        assert root.listdir("/") == ["a", "other", "top"]

    def test_redundant_slashes(self, root: WD) -> None:
        root.mkdir("/a/b", parents=True)
        root.write_file("/a/b/f", b"x")
        assert root.read_bytes("//a///b//f") == b"x"
        assert root.get("/a/b/").path == "/a/b"
        assert root.cd("a/").path == "/a"

    def test_cd_to_a_file_or_missing_path(self, root: WD) -> None:
        root.write_file("/f", b"")
        with pytest.raises(NotADirectoryError):
            root.cd("/f")
        with pytest.raises(FileNotFoundError):
            root.cd("/missing")

    def test_nul_in_a_path_is_invalid(self, root: WD) -> None:
        with pytest.raises(InvalidPathError):
            root.write_file("/a\x00b", b"")
        assert root.listdir("/") == []

    def test_working_directory_sees_later_changes(self, root: WD) -> None:
        d = root.cd(root.mkdir("/d").path)
        root.write_file("/d/late", b"")
        assert d.listdir() == ["late"]


class Symlinks:
    def test_absolute_target(self, root: WD) -> None:
        root.mkdir("/data")
        root.write_file("/data/f", b"abs")
        link = root.symlink("/data/f", "/link")
        assert link.is_symlink()
        assert root.read_bytes("/link") == b"abs"
        assert root.readlink("/link") == "/data/f"
        assert root.get("/link").node_id == root.get("/data/f").node_id

    def test_relative_target_resolves_from_the_links_directory(self, root: WD) -> None:
        root.mkdir("/d")
        root.write_file("/d/f", b"rel")
        root.write_file("/f", b"top")
        root.symlink("f", "/d/link")
        assert root.read_bytes("/d/link") == b"rel"
        assert root.readlink("/d/link") == "f"

    def test_relative_target_with_dotdot(self, root: WD) -> None:
        root.mkdir("/a/b", parents=True)
        root.mkdir("/a/c")
        root.write_file("/a/c/f", b"up")
        root.symlink("../c/f", "/a/b/link")
        assert root.read_bytes("/a/b/link") == b"up"

    def test_link_to_a_directory_is_traversed(self, root: WD) -> None:
        root.mkdir("/real")
        root.write_file("/real/x", b"x")
        root.symlink("/real", "/alias")
        assert root.read_bytes("/alias/x") == b"x"
        assert root.listdir("/alias") == ["x"]
        assert [e.path for e in root.entries("/alias")] == ["/alias/x"]
        assert root.cd("/alias").read_bytes("x") == b"x"
        root.write_file("/alias/y", b"y")
        assert root.listdir("/real") == ["x", "y"]

    def test_relative_target_of_a_link_reached_through_a_link(self, root: WD) -> None:
        root.mkdir("/a/b", parents=True)
        root.mkdir("/a/c")
        root.write_file("/a/c/f", b"deep")
        root.symlink("../c/f", "/a/b/rel")
        root.symlink("/a/b", "/shortcut")
        # 'rel' resolves from where it really lives, /a/b, not from /shortcut.
        assert root.read_bytes("/shortcut/rel") == b"deep"

    def test_chain_of_links(self, root: WD) -> None:
        root.write_file("/end", b"end")
        root.symlink("/end", "/l0")
        for i in range(1, 20):
            root.symlink(f"l{i - 1}" if i % 2 else f"/l{i - 1}", f"/l{i}")
        assert root.read_bytes("/l19") == b"end"
        assert root.get("/l19").node_id == root.get("/end").node_id

    def test_dangling_link(self, root: WD) -> None:
        root.symlink("/not/there", "/dangling")
        assert root.exists("/dangling")
        assert root.readlink("/dangling") == "/not/there"
        assert root.listdir("/") == ["dangling"]
        with pytest.raises(FileNotFoundError):
            root.read_bytes("/dangling")

    def test_dangling_link_works_once_its_target_exists(self, root: WD) -> None:
        root.symlink("later", "/link")
        root.write_file("/later", b"now")
        assert root.read_bytes("/link") == b"now"

    def test_readlink_of_a_non_link_is_invalid(self, root: WD) -> None:
        root.write_file("/f", b"")
        with pytest.raises(InvalidPathError):
            root.readlink("/f")

    def test_stat_without_following(self, root: WD) -> None:
        root.write_file("/f", b"12345")
        root.symlink("/f", "/link")
        assert root.stat("/link").node_type == FILE_DATA
        assert root.stat("/link").size == 5
        assert root.stat("/link", follow=False).node_type == SYMLINK
        assert root.get("/link", follow=False).is_symlink()
        assert root.versions("/link")[0].node_type == SYMLINK

    @pytest.mark.timeout(10)
    def test_self_loop_is_detected_quickly(self, root: WD) -> None:
        root.symlink("/self", "/self")
        started = time.monotonic()
        with pytest.raises(SymlinkLoopError) as caught:
            root.read_bytes("/self")
        assert time.monotonic() - started < 2
        assert isinstance(caught.value, OSError)
        assert caught.value.errno == errno.ELOOP

    @pytest.mark.timeout(10)
    def test_two_link_cycle_is_detected_quickly(self, root: WD) -> None:
        root.symlink("b", "/a")
        root.symlink("/a", "/b")
        started = time.monotonic()
        with pytest.raises(SymlinkLoopError):
            root.get("/a")
        with pytest.raises(SymlinkLoopError):
            root.cd("/b")
        assert time.monotonic() - started < 2
        assert root.readlink("/a") == "b"

    @pytest.mark.timeout(10)
    def test_growing_loop_through_directories_is_detected(self, root: WD) -> None:
        root.mkdir("/d")
        root.symlink("loop/x", "/d/loop")
        root.symlink("../d/up/down", "/d/up")
        started = time.monotonic()
        with pytest.raises(SymlinkLoopError):
            root.read_bytes("/d/loop")
        with pytest.raises(SymlinkLoopError):
            root.write_file("/d/up/f", b"")
        assert time.monotonic() - started < 2

    def test_target_above_the_root_is_invalid(self, root: WD) -> None:
        root.symlink("../../escape", "/bad")
        with pytest.raises(InvalidPathError):
            root.read_bytes("/bad")

    def test_symlink_onto_an_existing_name_fails(self, root: WD) -> None:
        root.write_file("/f", b"")
        root.symlink("/f", "/link")
        with pytest.raises(FileExistsError):
            root.symlink("/elsewhere", "/f")
        with pytest.raises(FileExistsError):
            root.symlink("/elsewhere", "/link")
        assert root.readlink("/link") == "/f"

    def test_empty_target_is_invalid(self, root: WD) -> None:
        with pytest.raises(InvalidPathError):
            root.symlink("", "/link")

    def test_writing_through_a_link_versions_its_target(self, root: WD) -> None:
        root.write_file("/f", b"v1")
        root.symlink("f", "/link")
        root.write_file("/link", b"v2")
        assert [v.version for v in root.versions("/f")] == [1, 2]
        assert root.read_bytes("/f") == b"v2"
        assert root.readlink("/link") == "f"

    def test_dotdot_is_lexical_even_after_a_link(self, root: WD) -> None:
        root.mkdir("/a/b", parents=True)
        root.mkdir("/d")
        root.symlink("/a/b", "/d/link")
        assert root.get("/d/link/..").path == "/d"
        assert root.get("/d/link/..").node_id == root.get("/d").node_id

    @pytest.mark.timeout(10)
    def test_visit_reports_links_without_following_them(self, root: WD) -> None:
        root.mkdir("/d")
        root.symlink("/d", "/d/up")
        root.symlink("/", "/d/top")
        seen = [np.path for np in root.visit("/")]
        assert seen == ["/", "/d", "/d/top", "/d/up"]


class Globs:
    @pytest.fixture
    def tree(self, root: WD) -> WD:
        with root.fs.transaction():
            root.mkdir("/data/2024", parents=True)
            root.mkdir("/data/2025")
            root.mkdir("/data/.cache")
            for path in (
                "/a.csv",
                "/b.txt",
                "/.hidden.csv",
                "/data/x.csv",
                "/data/y.csv",
                "/data/z1.csv",
                "/data/2024/jan.csv",
                "/data/2024/feb.parquet",
                "/data/2025/mar.csv",
                "/data/.cache/c.csv",
            ):
                root.write_file(path, path.encode())
        return root

    def test_star(self, tree: WD) -> None:
        assert paths_of(tree.glob("/data/*.csv")) == ["/data/x.csv", "/data/y.csv", "/data/z1.csv"]
        assert paths_of(tree.glob("/*")) == ["/a.csv", "/b.txt", "/data"]

    def test_question_mark(self, tree: WD) -> None:
        assert paths_of(tree.glob("/data/?.csv")) == ["/data/x.csv", "/data/y.csv"]
        assert paths_of(tree.glob("/data/20?4")) == ["/data/2024"]

    def test_character_class(self, tree: WD) -> None:
        assert paths_of(tree.glob("/data/[xz]*.csv")) == ["/data/x.csv", "/data/z1.csv"]
        assert paths_of(tree.glob("/data/202[0-4]")) == ["/data/2024"]

    def test_negated_character_class(self, tree: WD) -> None:
        assert paths_of(tree.glob("/data/[!x]*.csv")) == ["/data/y.csv", "/data/z1.csv"]
        assert paths_of(tree.glob("/data/202[!4]")) == ["/data/2025"]

    def test_double_star_matches_zero_or_more_directories(self, tree: WD) -> None:
        assert paths_of(tree.glob("/**/*.csv")) == [
            "/a.csv",
            "/data/2024/jan.csv",
            "/data/2025/mar.csv",
            "/data/x.csv",
            "/data/y.csv",
            "/data/z1.csv",
        ]
        assert paths_of(tree.glob("/data/**/jan.csv")) == ["/data/2024/jan.csv"]
        assert paths_of(tree.glob("/data/**/x.csv")) == ["/data/x.csv"]

    def test_trailing_double_star_never_includes_its_base(self, tree: WD) -> None:
        found = paths_of(tree.glob("/data/2024/**"))
        assert found == ["/data/2024/feb.parquet", "/data/2024/jan.csv"]
        everything = paths_of(tree.glob("/**"))
        assert "/" not in everything
        assert everything[:3] == ["/a.csv", "/b.txt", "/data"]
        assert len(everything) == 11

    def test_star_captures(self, tree: WD) -> None:
        got = captures_of(tree.glob("/data/*/*.csv"))
        assert got == {"/data/2024/jan.csv": ("2024", "jan"), "/data/2025/mar.csv": ("2025", "mar")}

    def test_double_star_captures_the_relative_directory(self, tree: WD) -> None:
        got = captures_of(tree.glob("/**/*.csv"))
        assert got["/a.csv"] == ("", "a")
        assert got["/data/x.csv"] == ("data", "x")
        assert got["/data/2024/jan.csv"] == ("data/2024", "jan")
        trailing = captures_of(tree.glob("/data/**"))
        assert trailing["/data/2024/jan.csv"] == ("2024/jan.csv",)

    def test_captures_number_every_star_left_to_right(self, tree: WD) -> None:
        got = captures_of(tree.glob("/*/20*/*.*"))
        assert got["/data/2024/feb.parquet"] == ("data", "24", "feb", "parquet")
        assert got["/data/2025/mar.csv"] == ("data", "25", "mar", "csv")

    def test_hidden_names_are_skipped_by_default(self, tree: WD) -> None:
        everything = paths_of(tree.glob("/**"))
        assert not any("/." in p for p in everything)
        assert "/.hidden.csv" not in paths_of(tree.glob("/*"))
        assert "/.hidden.csv" not in paths_of(tree.glob("/?hidden.csv"))
        assert paths_of(tree.glob("/.*")) == []
        assert "/.hidden.csv" in paths_of(tree.glob("/.*", hidden=True))
        assert paths_of(tree.glob("/data/*/c.csv")) == []

    def test_hidden_names_match_with_hidden(self, tree: WD) -> None:
        assert "/.hidden.csv" in paths_of(tree.glob("/*.csv", hidden=True))
        deep = paths_of(tree.glob("/**/*.csv", hidden=True))
        assert "/data/.cache/c.csv" in deep and "/.hidden.csv" in deep
        assert len(paths_of(tree.glob("/**", hidden=True))) == 14

    def test_literal_hidden_names_always_match(self, tree: WD) -> None:
        assert paths_of(tree.glob("/data/.cache/*")) == ["/data/.cache/c.csv"]
        assert paths_of(tree.glob("/.hidden.csv")) == ["/.hidden.csv"]

    def test_pattern_without_wildcards(self, tree: WD) -> None:
        assert paths_of(tree.glob("/data/x.csv")) == ["/data/x.csv"]
        assert paths_of(tree.glob("/data/missing.csv")) == []
        assert paths_of(tree.glob("/a.csv/under")) == []

    def test_no_match_is_empty(self, tree: WD) -> None:
        assert paths_of(tree.glob("/*.json")) == []
        assert paths_of(tree.glob("/nothing/**")) == []

    def test_relative_pattern_from_a_working_directory(self, tree: WD) -> None:
        data = tree.cd("/data")
        assert paths_of(data.glob("*.csv")) == ["/data/x.csv", "/data/y.csv", "/data/z1.csv"]
        assert paths_of(data.glob("../*.txt")) == ["/b.txt"]

    def test_results_come_in_path_order(self, tree: WD) -> None:
        found = paths_of(tree.glob("/**/*"))
        assert found == [np.path for np in tree.visit("/", hidden=False)][1:]
        assert found == sorted(found, key=lambda p: p.split("/"))

    def test_results_have_no_duplicates(self, tree: WD) -> None:
        found = paths_of(tree.glob("/**/**"))
        assert len(found) == len(set(found)) == 11

    def test_glob_goes_through_linked_directories(self, tree: WD) -> None:
        tree.symlink("/data/2024", "/y24")
        assert paths_of(tree.glob("/y24/*.csv")) == ["/y24/jan.csv"]
        assert paths_of(tree.glob("/y*/j*")) == ["/y24/jan.csv"]

    def test_glob_skips_links_that_lead_nowhere(self, tree: WD) -> None:
        tree.symlink("/missing", "/l-dangling")
        tree.symlink("/l-loop", "/l-loop")
        tree.symlink("../../above", "/l-above")
        tree.symlink("/a.csv", "/l-file")
        assert paths_of(tree.glob("/l-*/*")) == []
        assert paths_of(tree.glob("/l-*")) == ["/l-above", "/l-dangling", "/l-file", "/l-loop"]
        assert "/l-loop" in paths_of(tree.glob("/**"))

    def test_malformed_pattern(self, tree: WD) -> None:
        with pytest.raises(GlobError):
            list(tree.glob("/data/[abc"))
        with pytest.raises(ValueError):
            list(tree.glob("/data/x]"))

    def test_glob_matches_carry_nodes(self, tree: WD) -> None:
        (match,) = tree.glob("/data/2025/*")
        assert match.node_path.read_bytes() == b"/data/2025/mar.csv"
        assert match.node_path.node_id == tree.get("/data/2025/mar.csv").node_id


class Visiting:
    def test_visit_is_depth_first_in_name_order(self, root: WD) -> None:
        with root.fs.transaction():
            root.mkdir("/b/c", parents=True)
            root.mkdir("/a")
            root.write_file("/b/c/z", b"")
            root.write_file("/b/a", b"")
            root.write_file("/a/x", b"")
            root.write_file("/c", b"")
        assert [np.path for np in root.visit("/")] == [
            "/",
            "/a",
            "/a/x",
            "/b",
            "/b/a",
            "/b/c",
            "/b/c/z",
            "/c",
        ]
        assert [np.path for np in root.visit("/b")] == ["/b", "/b/a", "/b/c", "/b/c/z"]

    def test_visit_can_skip_hidden_subtrees(self, root: WD) -> None:
        root.mkdir("/.git/objects", parents=True)
        root.write_file("/.git/objects/o", b"")
        root.write_file("/.env", b"")
        root.write_file("/seen", b"")
        assert [np.path for np in root.visit("/", hidden=False)] == ["/", "/seen"]
        assert len(list(root.visit("/"))) == 6

    def test_visit_of_a_file_is_the_file(self, root: WD) -> None:
        root.write_file("/f", b"")
        assert [np.path for np in root.visit("/f")] == ["/f"]

    def test_visit_relative_to_the_working_directory(self, root: WD) -> None:
        root.mkdir("/d/e", parents=True)
        assert [np.path for np in root.cd("/d").visit()] == ["/d", "/d/e"]


class Versions:
    def test_writing_twice_keeps_both_versions(self, root: WD) -> None:
        root.write_file("/f", b"first")
        root.write_file("/f", b"second!")
        versions = root.versions("/f")
        assert [v.version for v in versions] == [1, 2]
        assert root.read_bytes("/f") == b"second!"
        assert root.read_bytes("/f", version=1) == b"first"
        assert root.read_bytes("/f", version=2) == b"second!"
        assert root.stat("/f").version == 2

    def test_each_version_records_its_size_and_digest(self, root: WD) -> None:
        contents = [b"", b"a", b"abc" * 1000]
        for data in contents:
            root.write_file("/f", data)
        versions = root.versions("/f")
        assert [v.size for v in versions] == [len(c) for c in contents]
        assert [v.sha256 for v in versions] == [sha(c) for c in contents]

    def test_version_records_the_transaction_that_wrote_it(self, root: WD, fs: FS) -> None:
        root.write_file("/f", b"1")
        first = fs.last_commit
        root.write_file("/f", b"2")
        second = fs.last_commit
        assert [v.txn_seq for v in root.versions("/f")] == [first, second]

    def test_timestamps_are_utc_and_ordered(self, root: WD) -> None:
        root.write_file("/f", b"1")
        root.write_file("/f", b"2")
        one, two = root.versions("/f")
        for v in (one, two):
            assert v.timestamp.utcoffset() == timedelta(0)
        assert one.timestamp <= two.timestamp

    def test_history_follows_the_node_across_rename(self, root: WD) -> None:
        root.write_file("/old", b"v1")
        root.mkdir("/dir")
        root.rename("/old", "/dir/new")
        root.write_file("/dir/new", b"v2")
        versions = root.versions("/dir/new")
        assert [v.version for v in versions] == [1, 2]
        assert root.read_bytes("/dir/new", version=1) == b"v1"

    def test_reading_an_unknown_version(self, root: WD) -> None:
        root.write_file("/f", b"1")
        with pytest.raises(FileNotFoundError):
            root.read_bytes("/f", version=2)
        with pytest.raises(FileNotFoundError):
            root.read_bytes("/f", version=0)

    def test_a_directory_gains_versions_as_it_changes(self, root: WD) -> None:
        root.mkdir("/d")
        counts = [len(root.versions("/d"))]
        root.write_file("/d/a", b"")
        counts.append(len(root.versions("/d")))
        root.remove("/d/a")
        counts.append(len(root.versions("/d")))
        assert counts[0] < counts[1] < counts[2]
        assert [v.version for v in root.versions("/d")] == list(range(1, counts[2] + 1))

    def test_identical_content_still_adds_a_version(self, root: WD) -> None:
        big = bytes(range(256)) * 300
        root.write_file("/f", big)
        root.write_file("/f", big)
        one, two = root.versions("/f")
        assert one.sha256 == two.sha256 == sha(big)
        assert root.read_bytes("/f", version=1) == root.read_bytes("/f", version=2) == big


class Renames:
    def test_rename_keeps_the_node_and_its_content(self, root: WD) -> None:
        before = root.write_file("/a", b"content")
        after = root.rename("/a", "/b")
        assert after.path == "/b"
        assert after.node_id == before.node_id == root.get("/b").node_id
        assert root.read_bytes("/b") == b"content"
        assert root.listdir("/") == ["b"]

    def test_rename_into_an_existing_directory(self, root: WD) -> None:
        f = root.write_file("/f", b"x")
        root.mkdir("/d")
        moved = root.rename("/f", "/d")
        assert moved.path == "/d/f"
        assert root.get("/d/f").node_id == f.node_id
        assert root.listdir("/") == ["d"]

    def test_rename_a_directory_moves_its_subtree(self, root: WD) -> None:
        root.mkdir("/src/sub", parents=True)
        root.write_file("/src/sub/f", b"deep")
        d = root.get("/src")
        root.mkdir("/dst")
        root.rename("/src", "/dst/moved")
        assert root.read_bytes("/dst/moved/sub/f") == b"deep"
        assert root.get("/dst/moved").node_id == d.node_id
        assert not root.exists("/src")

    def test_rename_onto_an_existing_file_fails(self, root: WD) -> None:
        root.write_file("/a", b"a")
        root.write_file("/b", b"b")
        with pytest.raises(FileExistsError):
            root.rename("/a", "/b")
        assert root.read_bytes("/a") == b"a" and root.read_bytes("/b") == b"b"

    def test_rename_into_a_directory_that_has_the_name_fails(self, root: WD) -> None:
        root.write_file("/f", b"outer")
        root.mkdir("/d")
        root.write_file("/d/f", b"inner")
        with pytest.raises(FileExistsError):
            root.rename("/f", "/d")
        assert root.read_bytes("/f") == b"outer" and root.read_bytes("/d/f") == b"inner"

    def test_rename_onto_a_dangling_link_fails(self, root: WD) -> None:
        root.write_file("/f", b"")
        root.symlink("/nowhere", "/link")
        with pytest.raises(FileExistsError):
            root.rename("/f", "/link")
        with pytest.raises(FileExistsError):
            root.mkdir("/link")
        assert root.readlink("/link") == "/nowhere"

    def test_rename_a_missing_source(self, root: WD) -> None:
        with pytest.raises(FileNotFoundError):
            root.rename("/missing", "/b")

    def test_rename_into_a_missing_directory_changes_nothing(self, root: WD) -> None:
        root.write_file("/f", b"x")
        with pytest.raises(FileNotFoundError):
            root.rename("/f", "/no/such/place")
        assert root.read_bytes("/f") == b"x"

    def test_moving_a_directory_inside_itself_fails(self, root: WD) -> None:
        root.mkdir("/d/sub", parents=True)
        with pytest.raises(InvalidPathError):
            root.rename("/d", "/d/sub/d2")
        with pytest.raises(InvalidPathError):
            root.rename("/d", "/d/sub")
        assert root.listdir("/") == ["d"] and root.listdir("/d") == ["sub"]

    def test_moving_a_directory_inside_itself_through_a_link_fails(self, root: WD) -> None:
        root.mkdir("/d/sub", parents=True)
        root.symlink("/d/sub", "/alias")
        with pytest.raises(InvalidPathError):
            root.rename("/d", "/alias/d2")
        with pytest.raises(InvalidPathError):
            root.rename("/d", "/alias")
        assert root.listdir("/") == ["alias", "d"] and root.listdir("/d") == ["sub"]

    def test_rename_a_link_moves_the_link(self, root: WD) -> None:
        root.write_file("/target", b"t")
        root.mkdir("/d")
        link = root.symlink("/target", "/link")
        root.rename("/link", "/d/link2")
        assert root.get("/d/link2", follow=False).node_id == link.node_id
        assert root.read_bytes("/d/link2") == b"t"
        assert root.listdir("/") == ["d", "target"]

    def test_rename_with_relative_paths(self, root: WD) -> None:
        root.mkdir("/a/b", parents=True)
        root.write_file("/a/f", b"x")
        a = root.cd("/a")
        a.rename("f", "b/g")
        assert root.read_bytes("/a/b/g") == b"x"
        a.cd("b").rename("g", "../../top")
        assert root.read_bytes("/top") == b"x"


class Transactions:
    def test_clean_exit_commits(self, root: WD, fs: FS) -> None:
        with fs.transaction():
            root.mkdir("/d")
            root.write_file("/d/f", b"x")
        assert isinstance(fs.last_commit, int)
        assert not fs.persistence.in_transaction
        assert root.read_bytes("/d/f") == b"x"

    def test_exception_rolls_everything_back(self, root: WD, fs: FS) -> None:
        root.mkdir("/keep")
        root.write_file("/keep/f", b"v1")
        root.write_file("/keep/old", b"o")
        before = [np.path for np in root.visit("/")]
        with pytest.raises(RuntimeError, match="boom"), fs.transaction():
            root.mkdir("/new/deeper", parents=True)
            root.write_file("/new/f", b"n")
            root.write_file("/keep/f", b"v2")
            root.rename("/keep/old", "/moved")
            root.remove("/keep/f")
            root.symlink("/keep", "/link")
            raise RuntimeError("boom")
        assert not fs.persistence.in_transaction
        assert [np.path for np in root.visit("/")] == before
        assert [v.version for v in root.versions("/keep/f")] == [1]
        assert root.read_bytes("/keep/f") == b"v1"

    def test_writes_are_visible_inside_the_transaction(self, root: WD, fs: FS) -> None:
        root.write_file("/f", b"v1")
        with fs.transaction():
            root.write_file("/f", b"v2")
            root.mkdir("/d")
            root.write_file("/d/g", b"g")
            assert root.read_bytes("/f") == b"v2"
            assert root.listdir("/") == ["d", "f"]
            assert len(root.versions("/f")) == 2
            assert paths_of(root.glob("/d/*")) == ["/d/g"]

    def test_commit_numbers_increase_by_one(self, root: WD, fs: FS) -> None:
        numbers = []
        for i in range(4):
            with fs.transaction():
                root.write_file(f"/f{i}", b"")
            numbers.append(fs.last_commit)
        assert all(isinstance(n, int) for n in numbers)
        first = numbers[0]
        assert isinstance(first, int)
        assert numbers == list(range(first, first + 4))

    def test_a_single_write_is_its_own_transaction(self, root: WD, fs: FS) -> None:
        root.write_file("/a", b"")
        first = fs.last_commit
        assert isinstance(first, int)
        root.mkdir("/d")
        assert fs.last_commit == first + 1
        root.rename("/a", "/d")
        assert fs.last_commit == first + 2
        assert not fs.persistence.in_transaction

    def test_one_transaction_is_one_commit(self, root: WD, fs: FS) -> None:
        with fs.transaction():
            root.write_file("/a", b"1")
            root.write_file("/a", b"2")
            root.write_file("/b", b"")
        seqs = {v.txn_seq for v in root.versions("/a")} | {root.stat("/b").txn_seq}
        assert seqs == {fs.last_commit}

    def test_a_failed_write_leaves_no_trace(self, root: WD, fs: FS) -> None:
        root.write_file("/f", b"")
        first = fs.last_commit
        assert isinstance(first, int)
        with pytest.raises(FileNotFoundError):
            root.rename("/f", "/missing/dir/f")
        with pytest.raises(FileExistsError):
            root.mkdir("/f")
        assert not fs.persistence.in_transaction
        assert root.listdir("/") == ["f"]
        root.write_file("/g", b"")
        assert fs.last_commit == first + 1

    def test_an_empty_transaction_commits_nothing(self, root: WD, fs: FS) -> None:
        root.write_file("/f", b"")
        first = fs.last_commit
        assert isinstance(first, int)
        with fs.transaction():
            assert root.read_bytes("/f") == b""
        assert fs.last_commit is None
        root.write_file("/g", b"")
        assert fs.last_commit == first + 1

    def test_transactions_do_not_nest(self, root: WD, fs: FS) -> None:
        with pytest.raises(TransactionError), fs.transaction():
            root.write_file("/f", b"")
            with fs.transaction():
                pass
        assert not fs.persistence.in_transaction
        assert not root.exists("/f")

    def test_a_transaction_after_a_rollback_works(self, root: WD, fs: FS) -> None:
        with pytest.raises(KeyError), fs.transaction():
            root.write_file("/lost", b"")
            raise KeyError("x")
        with fs.transaction():
            root.write_file("/kept", b"k")
        assert root.listdir("/") == ["kept"]

    def test_rollback_of_a_new_directory_subtree(self, root: WD, fs: FS) -> None:
        with pytest.raises(ValueError), fs.transaction():
            root.mkdir("/a/b/c", parents=True)
            root.write_file("/a/b/c/f", b"x")
            raise ValueError
        assert root.listdir("/") == []
        root.mkdir("/a")
        assert root.listdir("/a") == []

    def test_the_store_refuses_writes_outside_a_transaction(self, fs: FS) -> None:
        p: Persistence = fs.persistence
        assert not p.in_transaction
        with pytest.raises(TransactionError):
            p.create_node(ROOT_ID, FILE_DATA, b"x")

    def test_the_store_begin_commit_protocol(self, root: WD, fs: FS) -> None:
        p: Persistence = fs.persistence
        p.begin()
        assert p.in_transaction
        with pytest.raises(TransactionError):
            p.begin()
        node_id = p.create_node(ROOT_ID, FILE_DATA, b"raw")
        p.update_dir(ROOT_ID, insert={"raw": DirEntry("raw", node_id, FILE_DATA)})
        seq = p.commit({"command": ["test"]})
        assert isinstance(seq, int) and not p.in_transaction
        assert root.read_bytes("/raw") == b"raw"
        assert p.latest(node_id).txn_seq == seq


class DynamicNodes:
    def test_dynamic_file_is_computed_on_read(self, root: WD) -> None:
        np = root.create_dynamic("/hello", DYNAMIC_FILE, TEXT_FACTORY, {"text": "hi there"})
        assert np.path == "/hello"
        assert root.read_bytes("/hello") == b"hi there"
        assert root.get("/hello").is_file()
        assert root.stat("/hello").node_type == DYNAMIC_FILE

    def test_dynamic_directory_lists_and_reads_its_children(self, root: WD) -> None:
        root.create_dynamic("/gen", DYNAMIC_DIR, TREE_FACTORY, {"tree": TREE})
        assert root.get("/gen").is_dir()
        assert root.listdir("/gen") == ["a.txt", "b.txt", "sub"]
        assert root.read_bytes("/gen/a.txt") == b"alpha"
        assert root.listdir("/gen/sub") == ["c.txt", "deeper"]
        assert root.read_bytes("/gen/sub/deeper/d.txt") == b"delta"
        assert root.get("/gen/sub").node_type == DYNAMIC_DIR
        assert root.get("/gen/b.txt").node_type == DYNAMIC_FILE
        assert root.cd("/gen/sub").read_bytes("c.txt") == b"gamma"

    def test_dynamic_directory_in_visit_and_glob(self, root: WD) -> None:
        root.mkdir("/site")
        root.create_dynamic("/site/gen", DYNAMIC_DIR, TREE_FACTORY, {"tree": TREE})
        assert [np.path for np in root.visit("/site/gen")] == [
            "/site/gen",
            "/site/gen/a.txt",
            "/site/gen/b.txt",
            "/site/gen/sub",
            "/site/gen/sub/c.txt",
            "/site/gen/sub/deeper",
            "/site/gen/sub/deeper/d.txt",
        ]
        assert captures_of(root.glob("/site/**/*.txt"))["/site/gen/sub/c.txt"] == ("gen/sub", "c")
        assert paths_of(root.glob("/site/gen/sub/*")) == [
            "/site/gen/sub/c.txt",
            "/site/gen/sub/deeper",
        ]

    def test_dynamic_directories_are_read_only(self, root: WD) -> None:
        root.create_dynamic("/gen", DYNAMIC_DIR, TREE_FACTORY, {"tree": TREE})
        root.write_file("/plain", b"")
        attempts: list[Callable[[], object]] = [
            lambda: root.create_file("/gen/new", b""),
            lambda: root.write_file("/gen/new", b""),
            lambda: root.write_file("/gen/a.txt", b"changed"),
            lambda: root.write_file("/gen/sub/c.txt", b"changed"),
            lambda: root.mkdir("/gen/dir"),
            lambda: root.symlink("/plain", "/gen/link"),
            lambda: root.remove("/gen/a.txt"),
            lambda: root.rename("/gen/a.txt", "/stolen"),
            lambda: root.rename("/plain", "/gen/plain"),
            lambda: root.create_dynamic("/gen/x", DYNAMIC_FILE, TEXT_FACTORY, {"text": ""}),
        ]
        for attempt in attempts:
            with pytest.raises(ReadOnlyError) as caught:
                attempt()
            assert isinstance(caught.value, PermissionError)
        assert root.listdir("/gen") == ["a.txt", "b.txt", "sub"]
        assert root.read_bytes("/gen/a.txt") == b"alpha"
        assert root.listdir("/") == ["gen", "plain"]

    def test_dynamic_files_are_read_only(self, root: WD) -> None:
        root.create_dynamic("/hello", DYNAMIC_FILE, TEXT_FACTORY, {"text": "hi"})
        with pytest.raises(ReadOnlyError):
            root.write_file("/hello", b"overwrite")
        assert root.read_bytes("/hello") == b"hi"
        assert len(root.versions("/hello")) == 1

    def test_unknown_factory_is_a_config_error(self, root: WD) -> None:
        with pytest.raises(ConfigError, match="no-such-factory"):
            root.create_dynamic("/x", DYNAMIC_FILE, "no-such-factory", {})
        assert not root.exists("/x")

    def test_dynamic_node_type_must_be_dynamic(self, root: WD) -> None:
        with pytest.raises(ValueError):
            root.create_dynamic("/x", FILE_DATA, TEXT_FACTORY, {"text": ""})
        assert not root.exists("/x")

    def test_output_follows_the_source(self, root: WD) -> None:
        root.write_file("/src.txt", b"quiet")
        root.create_dynamic("/loud", DYNAMIC_FILE, UPPER_FACTORY, {"source": "/src.txt"})
        assert root.read_bytes("/loud") == b"QUIET"
        root.write_file("/src.txt", b"louder")
        assert root.read_bytes("/loud") == b"LOUDER"

    def test_stored_as_configuration_not_output(self, root: WD, fs: FS) -> None:
        np = root.create_dynamic("/hello", DYNAMIC_FILE, TEXT_FACTORY, {"text": "output"})
        stored = fs.persistence.read_bytes(np.node_id)
        assert json.loads(stored) == {"text": "output"}
        assert dict(fs.persistence.latest(np.node_id).attributes)["factory"] == TEXT_FACTORY

    def test_dynamic_nodes_can_be_moved_and_removed(self, root: WD) -> None:
        root.create_dynamic("/gen", DYNAMIC_DIR, TREE_FACTORY, {"tree": TREE})
        root.mkdir("/d")
        root.rename("/gen", "/d/gen")
        assert root.read_bytes("/d/gen/b.txt") == b"beta"
        root.remove("/d/gen")
        assert root.listdir("/d") == []

    def test_dynamic_creation_is_transactional(self, root: WD, fs: FS) -> None:
        with pytest.raises(RuntimeError), fs.transaction():
            root.create_dynamic("/gen", DYNAMIC_DIR, TREE_FACTORY, {"tree": TREE})
            assert root.listdir("/gen") == ["a.txt", "b.txt", "sub"]
            raise RuntimeError
        assert not root.exists("/gen")

    # -- the shape a pipeline stands on ------------------------------------------------

    def test_listing_ten_entries_computes_them_once(self, root: WD, calls: Calls) -> None:
        ten = {f"e{i:02d}": f"entry {i}" for i in range(10)}
        root.create_dynamic("/gen", DYNAMIC_DIR, TREE_FACTORY, {"tree": ten})
        assert root.listdir("/gen") == sorted(ten)
        assert (calls.factory, calls.entries, calls.child) == (1, 1, 0)
        # `list -l`: every entry with its metadata, and a glob and a visit, in the same read.
        infos = [np.info() for np in root.entries("/gen")]
        assert [i.version for i in infos] == [1] * 10
        assert len(paths_of(root.glob("/gen/*"))) == 10
        assert len(list(root.visit("/gen"))) == 11
        assert (calls.factory, calls.entries, calls.child) == (1, 1, 0)
        # Reading one entry computes that entry alone.
        assert root.read_bytes("/gen/e03") == b"entry 3"
        assert (calls.factory, calls.entries, calls.child) == (1, 1, 1)

    def test_node_objects_are_reused_within_a_read(self, root: WD) -> None:
        root.create_dynamic("/gen", DYNAMIC_DIR, TREE_FACTORY, {"tree": TREE})
        assert root.get("/gen").node is root.get("/gen").node
        assert root.get("/gen/sub/c.txt").node is root.get("/gen/sub/c.txt").node

    def test_a_write_starts_a_new_read(self, root: WD, calls: Calls) -> None:
        root.write_file("/src.txt", b"quiet")
        root.create_dynamic("/loud", DYNAMIC_FILE, UPPER_FACTORY, {"source": "/src.txt"})
        assert root.read_bytes("/loud") == b"QUIET"
        before = root.get("/loud").node
        root.write_file("/src.txt", b"louder")
        assert root.get("/loud").node is not before
        assert root.read_bytes("/loud") == b"LOUDER"
        assert calls.factory == 2

    def test_metadata_comes_from_the_stored_configuration(
        self, root: WD, fs: FS, calls: Calls
    ) -> None:
        np = root.create_dynamic("/hello", DYNAMIC_FILE, TEXT_FACTORY, {"text": "a long output"})
        root.create_dynamic("/gen", DYNAMIC_DIR, TREE_FACTORY, {"tree": TREE})
        config = fs.persistence.latest(np.node_id)
        info = root.stat("/hello")
        assert (info.version, info.txn_seq, info.timestamp) == (
            config.version,
            config.txn_seq,
            config.timestamp,
        )
        assert info.size == 0 and info.node_type == DYNAMIC_FILE
        assert calls.factory == 0
        time.sleep(0.01)
        assert root.stat("/hello").timestamp == config.timestamp
        child = root.stat("/gen/sub/c.txt")
        gen = fs.persistence.latest(root.get("/gen").node_id)
        assert (child.version, child.txn_seq, child.timestamp) == (1, gen.txn_seq, gen.timestamp)
        assert child.attributes["kind"] == "data"
        # Reaching c.txt built the directory "sub" (one child) but not c.txt itself.
        assert calls.child == 1
        assert root.read_bytes("/gen/sub/c.txt") == b"gamma"
        assert calls.child == 2

    def test_a_factory_that_writes_gets_read_only_and_the_pond_is_unchanged(
        self, root: WD, fs: FS, outcomes: dict[str, str]
    ) -> None:
        root.write_file("/victim", b"original")
        root.create_dynamic("/writer", DYNAMIC_FILE, WRITER_FACTORY, {})
        before = [(np.path, np.info()) for np in root.visit("/")]
        last = fs.last_commit
        assert root.read_bytes("/writer") == b"tried"
        assert outcomes and set(outcomes.values()) == {"ReadOnlyError"}, outcomes
        assert [(np.path, np.info()) for np in root.visit("/")] == before
        assert root.read_bytes("/victim") == b"original"
        assert fs.last_commit == last and not fs.persistence.in_transaction

    def test_the_factory_sees_where_the_node_is_now(self, root: WD) -> None:
        root.mkdir("/a")
        root.create_dynamic("/a/where", DYNAMIC_FILE, WHERE_FACTORY, {})
        root.create_dynamic("/a/gen", DYNAMIC_DIR, WHERE_DIR_FACTORY, {})
        assert root.read_bytes("/a/where") == b"/a/where"
        assert root.read_bytes("/a/gen/here") == b"/a/gen/here"
        root.mkdir("/b")
        root.rename("/a/where", "/b/w")
        root.rename("/a", "/b")
        assert root.read_bytes("/b/w") == b"/b/w"
        assert root.read_bytes("/b/a/gen/here") == b"/b/a/gen/here"
        # Through a symlink the factory still sees the node's own place.
        root.symlink("/b/a", "/link")
        assert root.read_bytes("/link/gen/here") == b"/b/a/gen/here"

    def test_inputs_are_recorded_with_their_versions(self, root: WD, fs: FS) -> None:
        root.mkdir("/in")
        src = root.write_file("/in/src.txt", b"one")
        root.write_file("/in/src.txt", b"two")
        root.create_dynamic("/loud", DYNAMIC_FILE, UPPER_FACTORY, {"source": "/in/src.txt"})
        np = root.get("/loud")
        assert np.read_bytes() == b"TWO"
        assert isinstance(np.node, DynamicFileNode)
        inputs = np.node.context().inputs.snapshot()
        assert (src.node_id, 2) in inputs
        in_dir = root.get("/in")
        assert (in_dir.node_id, in_dir.info().version) in inputs

    def test_the_cache_is_used_while_inputs_are_unchanged(
        self, root: WD, fs: FS, calls: Calls
    ) -> None:
        cache = MemoryCache()
        fs.set_cache(cache)
        root.write_file("/other", b"1")
        root.write_file("/src.txt", b"quiet")
        root.create_dynamic("/loud", DYNAMIC_FILE, UPPER_FACTORY, {"source": "/src.txt"})
        root.create_dynamic("/gen", DYNAMIC_DIR, TREE_FACTORY, {"tree": TREE})
        assert root.read_bytes("/loud") == b"QUIET"
        assert root.listdir("/gen") == ["a.txt", "b.txt", "sub"]
        assert (calls.factory, calls.content, calls.entries) == (2, 1, 1)
        # A new version of a file nobody reads (a write, so a new read follows).
        root.write_file("/other", b"2")
        # A new read: the outputs come from the cache, not from the factories.
        assert root.read_bytes("/loud") == b"QUIET"
        assert root.listdir("/gen") == ["a.txt", "b.txt", "sub"]
        assert (calls.factory, calls.content, calls.entries) == (2, 1, 1)
        assert cache.hits == 2
        # A new version of the input invalidates what read it, and only that.
        root.write_file("/src.txt", b"louder")
        assert root.read_bytes("/loud") == b"LOUDER"
        assert root.listdir("/gen") == ["a.txt", "b.txt", "sub"]
        assert (calls.factory, calls.content, calls.entries) == (3, 2, 1)

    def test_nothing_is_cached_inside_an_open_transaction(
        self, root: WD, fs: FS, calls: Calls
    ) -> None:
        cache = MemoryCache()
        fs.set_cache(cache)
        root.write_file("/src.txt", b"kept")
        root.create_dynamic("/loud", DYNAMIC_FILE, UPPER_FACTORY, {"source": "/src.txt"})
        with pytest.raises(RuntimeError), fs.transaction():
            root.write_file("/src.txt", b"rolled back")
            assert root.read_bytes("/loud") == b"ROLLED BACK"
            raise RuntimeError
        assert cache.stores == 0
        assert root.read_bytes("/loud") == b"KEPT"

    def test_a_new_configuration_is_a_new_version_and_a_new_computation(
        self, root: WD, fs: FS, calls: Calls
    ) -> None:
        fs.set_cache(MemoryCache())
        np = root.create_dynamic("/hello", DYNAMIC_FILE, TEXT_FACTORY, {"text": "one"})
        assert root.read_bytes("/hello") == b"one"
        root.update_dynamic("/hello", {"text": "one"})
        assert root.stat("/hello").version == 1
        root.update_dynamic("/hello", {"text": "two"})
        assert root.get("/hello").node_id == np.node_id
        assert root.stat("/hello").version == 2
        assert root.read_bytes("/hello") == b"two"
        assert calls.factory == 2
        with pytest.raises(InvalidPathError):
            root.update_dynamic("/", {})

    def test_no_resolver_means_no_dynamic_nodes(self, make_persistence: Any) -> None:
        bare = FS(make_persistence()).root()
        with pytest.raises(ConfigError, match=TEXT_FACTORY):
            bare.create_dynamic("/x", DYNAMIC_FILE, TEXT_FACTORY, {"text": ""})
        assert not bare.exists("/x")

    def test_a_factory_the_resolver_does_not_know_is_named(self, root: WD, fs: FS) -> None:
        root.create_dynamic("/hello", DYNAMIC_FILE, TEXT_FACTORY, {"text": "hi"})
        fs.set_resolver(MappingResolver())
        assert root.stat("/hello").node_type == DYNAMIC_FILE
        with pytest.raises(ConfigError, match=TEXT_FACTORY):
            root.read_bytes("/hello")

    def test_registering_a_factory_twice_is_an_error(self) -> None:
        resolver = MappingResolver({"one": lambda config, ctx: _Bytes(b"")})
        with pytest.raises(ConfigError, match="one"):
            resolver.register("one", lambda config, ctx: _Bytes(b"other"))


SIZES = [0, 1, 65535, 65536, 65537, 200_000]


class Bytes:
    @pytest.mark.parametrize("size", SIZES, ids=[f"size-{s}" for s in SIZES])
    def test_round_trip_by_size(self, root: WD, size: int) -> None:
        data = (bytes(range(251)) * (size // 251 + 1))[:size]
        root.write_file("/f", data)
        assert root.read_bytes("/f") == data
        info = root.stat("/f")
        assert info.size == size and info.sha256 == sha(data)

    def test_all_byte_values(self, root: WD) -> None:
        data = bytes(range(256)) + bytes(reversed(range(256)))
        root.write_file("/bin", data)
        assert root.read_bytes("/bin") == data

    def test_empty_file(self, root: WD) -> None:
        root.create_file("/empty", b"")
        assert root.read_bytes("/empty") == b""
        assert root.stat("/empty").sha256 == sha(b"")

    def test_large_and_small_versions_alternate(self, root: WD) -> None:
        big = b"\x00\xff" * 40_000
        contents = [b"small", big, b"", big + b"!", b"tiny"]
        for data in contents:
            root.write_file("/f", data)
        for number, data in enumerate(contents, start=1):
            assert root.read_bytes("/f", version=number) == data
        assert [v.size for v in root.versions("/f")] == [len(c) for c in contents]

    def test_two_files_with_the_same_large_content(self, root: WD) -> None:
        big = bytes(range(256)) * 512
        root.write_file("/a", big)
        root.write_file("/b", big)
        root.remove("/a")
        assert root.read_bytes("/b") == big

    def test_written_buffer_is_copied(self, root: WD) -> None:
        buffer = bytearray(b"original")
        root.write_file("/f", bytes(buffer))
        buffer[:] = b"changed!"
        assert root.read_bytes("/f") == b"original"


UNICODE_NAMES = [
    "données.csv",
    "日本語",
    "emoji-🦆.txt",
    "Ωmega",
    "space name",
    "tab\tname",
    "e\u0301",
]


class Names:
    def test_unicode_and_unusual_names(self, root: WD) -> None:
        root.mkdir("/ü")
        for name in UNICODE_NAMES:
            root.write_file(f"/ü/{name}", name.encode())
        assert root.listdir("/ü") == sorted(UNICODE_NAMES)
        for name in UNICODE_NAMES:
            assert root.read_bytes(f"/ü/{name}") == name.encode()
        assert paths_of(root.glob("/ü/*.csv")) == ["/ü/données.csv"]
        assert paths_of(root.glob("/*/日*")) == ["/ü/日本語"]

    def test_names_that_look_like_dots_are_ordinary(self, root: WD) -> None:
        root.write_file("/...", b"three")
        root.write_file("/..x", b"x")
        assert root.read_bytes("/...") == b"three"
        assert root.listdir("/") == ["...", "..x"]

    def test_many_entries_are_listed_sorted(self, root: WD, fs: FS) -> None:
        names = [f"f{(i * 7919) % 500:03d}-{i}" for i in range(500)]
        with fs.transaction():
            root.mkdir("/many")
            for name in names:
                root.write_file(f"/many/{name}", name.encode())
        assert root.listdir("/many") == sorted(names)
        assert len(paths_of(root.glob("/many/f1*"))) == 100
        assert root.read_bytes(f"/many/{names[123]}") == names[123].encode()


class Reopening:
    """Everything committed survives a new persistence object over the same store."""

    @pytest.fixture
    def reopened(
        self, request: pytest.FixtureRequest, fs: FS, resolver: MappingResolver
    ) -> Callable[[], WD]:
        try:
            reopen = request.getfixturevalue("reopen")
        except pytest.FixtureLookupError:
            reopen = None
        if reopen is None:
            pytest.skip("this persistence cannot be reopened")
        return lambda: FS(reopen(), resolver).root()

    def test_files_directories_and_bytes_survive(
        self, root: WD, reopened: Callable[[], WD]
    ) -> None:
        data = bytes(range(256)) * 300
        with root.fs.transaction():
            root.mkdir("/d/e", parents=True)
            root.write_file("/d/e/big", data)
            root.write_file("/d/small", b"s")
            root.write_file("/d/empty", b"")
        again = reopened()
        assert [np.path for np in again.visit("/")] == [np.path for np in root.visit("/")]
        assert again.read_bytes("/d/e/big") == data
        assert again.read_bytes("/d/small") == b"s"
        assert again.read_bytes("/d/empty") == b""

    def test_versions_and_ids_survive(self, root: WD, reopened: Callable[[], WD]) -> None:
        f = root.write_file("/f", b"v1", node_type=FILE_SERIES, event_range=(1, 2))
        root.write_file("/f", b"v2", attributes={"k": "v"}, event_range=(3, 4))
        before = root.versions("/f")
        again = reopened()
        assert again.get("/f").node_id == f.node_id
        after = again.versions("/f")
        assert [(v.version, v.txn_seq, v.size, v.sha256, v.node_type) for v in after] == [
            (v.version, v.txn_seq, v.size, v.sha256, v.node_type) for v in before
        ]
        assert (after[1].min_event_time, after[1].max_event_time) == (3, 4)
        assert dict(after[1].attributes)["k"] == "v"
        assert again.read_bytes("/f", version=1) == b"v1"

    def test_symlinks_and_dynamic_nodes_survive(self, root: WD, reopened: Callable[[], WD]) -> None:
        root.write_file("/f", b"x")
        root.symlink("f", "/rel")
        root.symlink("/missing", "/dangling")
        root.create_dynamic("/gen", DYNAMIC_DIR, TREE_FACTORY, {"tree": TREE})
        again = reopened()
        assert again.readlink("/rel") == "f" and again.read_bytes("/rel") == b"x"
        assert again.readlink("/dangling") == "/missing"
        assert again.read_bytes("/gen/sub/c.txt") == b"gamma"

    def test_rolled_back_changes_never_appear(self, root: WD, reopened: Callable[[], WD]) -> None:
        root.write_file("/kept", b"1")
        with pytest.raises(RuntimeError), root.fs.transaction():
            root.write_file("/kept", b"2")
            root.write_file("/lost", b"")
            raise RuntimeError
        again = reopened()
        assert again.listdir("/") == ["kept"]
        assert [v.version for v in again.versions("/kept")] == [1]

    def test_commit_numbers_continue(self, root: WD, reopened: Callable[[], WD]) -> None:
        root.write_file("/a", b"")
        last = root.fs.last_commit
        assert isinstance(last, int)
        again = reopened()
        again.write_file("/b", b"")
        assert again.fs.last_commit == last + 1
        assert again.stat("/b").txn_seq == last + 1

    def test_renames_and_removals_survive(self, root: WD, reopened: Callable[[], WD]) -> None:
        f = root.write_file("/f", b"x")
        root.mkdir("/d")
        root.write_file("/gone", b"")
        root.rename("/f", "/d")
        root.remove("/gone")
        again = reopened()
        assert again.listdir("/") == ["d"]
        assert again.get("/d/f").node_id == f.node_id


class TinyFSConformance(
    BasicOperations,
    Removal,
    PathsAndCd,
    Symlinks,
    Globs,
    Visiting,
    Versions,
    Renames,
    Transactions,
    DynamicNodes,
    Bytes,
    Names,
    Reopening,
):
    """Inherit this in a ``Test...`` class and provide ``make_persistence`` (see above)."""

    @pytest.fixture
    def calls(self) -> Calls:
        return Calls()

    @pytest.fixture
    def outcomes(self) -> dict[str, str]:
        return {}

    @pytest.fixture
    def resolver(self, calls: Calls, outcomes: dict[str, str]) -> MappingResolver:
        return make_resolver(calls, outcomes)

    @pytest.fixture
    def fs(
        self, make_persistence: Callable[[], Persistence], resolver: MappingResolver
    ) -> Iterator[FS]:
        fs = FS(make_persistence(), resolver)
        yield fs
        assert not fs.persistence.in_transaction, "a test left a transaction open"

    @pytest.fixture
    def root(self, fs: FS) -> WD:
        return fs.root()


__all__ = ["TinyFSConformance"]
