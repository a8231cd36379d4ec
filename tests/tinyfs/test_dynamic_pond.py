"""Dynamic nodes in a real pond (Delta Lake in tmp_path), read through ``duckpond.Pond``.

The pond API does not pass a resolver yet (the pipeline will); these tests
give the pond's FS an in-process ``MappingResolver``, as the pipeline will.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from duckpond import Pond
from duckpond.errors import ReadOnlyError
from duckpond.tinyfs import (
    DYNAMIC_DIR,
    DYNAMIC_FILE,
    FactoryContext,
    MappingResolver,
    MemoryCache,
    Output,
)

HOUR_US = 3_600_000_000
T0 = 1_700_000_000_000_000  # 2023-11-14T22:13:20Z, in microseconds


@dataclass
class _Upper:
    ctx: FactoryContext
    source: str
    runs: list[str]

    def read_bytes(self) -> bytes:
        self.runs.append(self.ctx.path)
        return self.ctx.root.read_bytes(self.source).upper()


@dataclass
class _Hours:
    """``n`` hourly rows from T0, in batches of 3: a table output with its event range."""

    n: int

    def schema(self) -> pa.Schema:
        return pa.schema([("timestamp", pa.timestamp("us", tz="UTC")), ("v", pa.float64())])

    def batches(self) -> Iterator[pa.RecordBatch]:
        for start in range(0, self.n, 3):
            stop = min(start + 3, self.n)
            times = pa.array([T0 + i * HOUR_US for i in range(start, stop)], pa.int64())
            yield pa.record_batch(
                [
                    times.cast(pa.timestamp("us", tz="UTC")),
                    pa.array([float(i) for i in range(start, stop)]),
                ],
                schema=self.schema(),
            )

    def event_range(self) -> tuple[int, int] | None:
        return (T0, T0 + (self.n - 1) * HOUR_US) if self.n else None


@dataclass
class _Site:
    """A directory: a table, and a bytes file."""

    def entries(self) -> Mapping[str, str]:
        return {"hours.series": "series", "readme.txt": "data"}

    def child(self, name: str, ctx: FactoryContext) -> Output:
        return _Hours(4) if name == "hours.series" else _Bytes(b"hello\n")


@dataclass
class _Bytes:
    data: bytes

    def read_bytes(self) -> bytes:
        return self.data


@dataclass
class _Writer:
    ctx: FactoryContext

    def read_bytes(self) -> bytes:
        self.ctx.root.write_file("/src.txt", b"overwritten by a factory")
        return b"unreachable"


@pytest.fixture
def runs() -> list[str]:
    return []


@pytest.fixture
def resolver(runs: list[str]) -> MappingResolver:
    def upper(config: Mapping[str, Any], ctx: FactoryContext) -> Output:
        return _Upper(ctx, str(config["source"]), runs)

    return MappingResolver(
        {
            "upper": upper,
            "hours": lambda config, ctx: _Hours(int(config["n"])),
            "site": lambda config, ctx: _Site(),
            "writer": lambda config, ctx: _Writer(ctx),
        }
    )


@pytest.fixture
def pond(tmp_path: Path, resolver: MappingResolver) -> Pond:
    pond = Pond.init(tmp_path / "pond", command=["test"])
    pond.fs.set_resolver(resolver)
    return pond


def _open(pond: Pond, resolver: MappingResolver, **kwargs: Any) -> Pond:
    again = Pond.open(pond.path, **kwargs)
    again.fs.set_resolver(resolver)
    return again


def test_a_factory_that_writes_gets_read_only_and_the_pond_is_unchanged(
    pond: Pond, resolver: MappingResolver
) -> None:
    with pond.transaction() as root:
        root.write_file("/src.txt", b"original")
        root.create_dynamic("/writer", DYNAMIC_FILE, "writer", {})
    last = pond.last_txn
    log = pond.log()
    with pytest.raises(ReadOnlyError):
        pond.read_bytes("/writer")
    assert pond.last_txn == last and pond.log() == log
    again = _open(pond, resolver)
    assert again.last_txn == last
    assert again.read_bytes("/src.txt") == b"original"
    assert [v.version for v in again.history("/src.txt")] == [1]


def test_a_moved_node_sees_its_new_path(pond: Pond, runs: list[str]) -> None:
    with pond.transaction() as root:
        root.write_file("/src.txt", b"quiet")
        root.mkdir("/a")
        root.create_dynamic("/a/loud", DYNAMIC_FILE, "upper", {"source": "/src.txt"})
    assert pond.read_bytes("/a/loud") == b"QUIET"
    pond.mkdir("/b")
    pond.move("/a/loud", "/b/louder")
    assert pond.read_bytes("/b/louder") == b"QUIET"
    assert runs == ["/a/loud", "/b/louder"]


def test_time_travel_reads_inputs_as_they_were(
    pond: Pond, resolver: MappingResolver, runs: list[str]
) -> None:
    cache = MemoryCache()
    pond.fs.set_cache(cache)
    with pond.transaction() as root:
        root.write_file("/src.txt", b"one")
        root.create_dynamic("/loud", DYNAMIC_FILE, "upper", {"source": "/src.txt"})
    first = pond.last_txn
    pond.write_bytes("/src.txt", b"two")
    assert pond.read_bytes("/loud") == b"TWO"
    past = _open(pond, resolver, at_txn=first)
    past.fs.set_cache(cache)
    assert past.read_bytes("/loud") == b"ONE"
    assert len(runs) == 2
    # Both states are now in the one cache; each reader finds its own.
    now = _open(pond, resolver)
    now.fs.set_cache(cache)
    assert now.read_bytes("/loud") == b"TWO"
    past_again = _open(pond, resolver, at_txn=first)
    past_again.fs.set_cache(cache)
    assert past_again.read_bytes("/loud") == b"ONE"
    assert len(runs) == 2 and cache.hits == 2


def test_a_table_output_reads_as_rows_without_parquet(pond: Pond, tmp_path: Path) -> None:
    with pond.transaction() as root:
        root.create_dynamic("/hours", DYNAMIC_FILE, "hours", {"n": 7})
    got = pond.cat("/hours").read_all()
    assert got.column("v").to_pylist() == [float(i) for i in range(7)]
    summed = pond.cat("/hours", sql="SELECT sum(v) AS s FROM source").read_all()
    assert summed.column("s").to_pylist() == [21.0]
    start = pa.scalar(T0 + 2 * HOUR_US, pa.timestamp("us", tz="UTC")).as_py()
    assert pond.read_table("/hours", start=start).num_rows == 5
    assert pond.sql('SELECT count(*) AS n FROM "/hours"').column("n").to_pylist() == [7]
    [described] = pond.describe("/hours")
    assert described["type"] == DYNAMIC_FILE and described["rows"] == 7
    assert [c["name"] for c in described["columns"]] == ["timestamp", "v"]
    assert described["min_event_time"].startswith("2023-11-14T22:13:20")
    written = pond.copy_out("/hours", tmp_path / "out")
    assert pq.read_table(written[0]).num_rows == 7


def test_a_dynamic_directory_lists_reads_and_describes(pond: Pond) -> None:
    with pond.transaction() as root:
        root.create_dynamic("/site", DYNAMIC_DIR, "site", {})
    listed = pond.list("/site/")
    assert [np.path for np in listed] == ["/site/hours.series", "/site/readme.txt"]
    entries = [pond.entry(np) for np in listed]
    assert [(e.type, e.size, e.version) for e in entries] == [(DYNAMIC_FILE, 0, 1)] * 2
    created = pond.history("/site")[-1].timestamp
    assert {e.timestamp for e in entries} == {created}
    assert pond.read_bytes("/site/readme.txt") == b"hello\n"
    assert pond.cat("/site/hours.series").read_all().num_rows == 4
    assert pond.read_table("/site/*.series").num_rows == 4
    assert [d["rows"] for d in pond.describe("/site/*")] == [4, None]


def test_a_long_lived_reader_that_refreshes_recomputes(
    pond: Pond, resolver: MappingResolver
) -> None:
    with pond.transaction() as root:
        root.write_file("/src.txt", b"one")
        root.create_dynamic("/loud", DYNAMIC_FILE, "upper", {"source": "/src.txt"})
    reader = _open(pond, resolver)
    assert reader.read_bytes("/loud") == b"ONE"
    before = reader.root.get("/loud").node
    pond.write_bytes("/src.txt", b"two")
    assert reader.root.get("/loud").node is before
    reader.persistence.refresh()
    # A later state is a new read: what was computed for the earlier one is dropped.
    assert reader.root.get("/loud").node is not before
    assert reader.read_bytes("/loud") == b"TWO"


def test_the_cli_lists_without_computing_and_names_an_unknown_factory(pond: Pond) -> None:
    from click.testing import CliRunner

    from duckpond.cli.main import cli

    with pond.transaction() as root:
        root.write_file("/src.txt", b"quiet")
        root.create_dynamic("/loud", DYNAMIC_FILE, "upper", {"source": "/src.txt"})
    runner = CliRunner()
    # The CLI's resolver is the pipeline's, which knows no 'upper': metadata still lists.
    listed = runner.invoke(cli, ["--pond", str(pond.path), "--json", "list", "-l", "/"])
    assert listed.exit_code == 0, listed.output
    assert '"dynamic:file"' in listed.stdout and '"/loud"' in listed.stdout
    read = runner.invoke(cli, ["--pond", str(pond.path), "cat", "/loud"])
    assert read.exit_code == 1
    [line] = read.stderr.strip().splitlines()
    assert line.startswith("error: unknown factory 'upper' (known: ")
    assert "SqlDerived" in line
