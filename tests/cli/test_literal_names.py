"""A path whose literal name holds glob characters reads exactly as any other path, by every
read command; a copy out that fails half-way leaves the host as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from duckpond import Pond

from .conftest import SERIES_CSV, SERIES_CSV_2, PondRunner, host_url, write

NAMES = ["export[1].csv", "a[b]*c.csv", "q?.csv"]
DATA = b"timestamp,v\n2025-01-01T00:00:00Z,1\n"
DECOY = b"timestamp,v\n2025-01-02T00:00:00Z,2\n"


@pytest.fixture
def named(pond: PondRunner, host: Path) -> PondRunner:
    """Each literal name, a plain name with the same bytes, and decoys its glob matches."""
    for name in NAMES:
        pond.ok("copy", str(write(host / "src", DATA)), f"/{name}")
    pond.ok("copy", str(write(host / "src", DATA)), "/plain.csv")
    for decoy in ("export1.csv", "abc.csv", "qx.csv", "a[b]xyzc.csv"):
        pond.ok("copy", str(write(host / "src", DECOY)), f"/{decoy}")
    return pond


def without_path(text: str, name: str) -> str:
    return text.replace(f"/{name}", "/P")


@pytest.mark.parametrize("name", NAMES)
def test_every_read_command_reads_a_literal_name_as_the_plain_one(
    named: PondRunner, host: Path, name: str
) -> None:
    pond = named
    # cat: the bytes, not a table.
    assert pond.cat_bytes(f"/{name}") == DATA
    for extra in ([], ["--format", "csv"], ["--sql", "SELECT count(*) AS n FROM source"]):
        literal = pond.ok("cat", f"/{name}", *extra).stdout
        assert literal == pond.ok("cat", "/plain.csv", *extra).stdout
    # describe, history, list: one node, the named one.
    [described] = pond.json("describe", f"/{name}")
    [plain] = pond.json("describe", "/plain.csv")
    assert described["path"] == f"/{name}"
    assert {**described, "path": "/P"} == {**plain, "path": "/P"}
    assert len(pond.json("history", f"/{name}")) == 1
    assert [e["path"] for e in pond.json("list", f"/{name}")] == [f"/{name}"]
    # copy out: that file alone, as its bytes.
    out = host / "out"
    result = pond.ok("copy", f"/{name}", host_url(out))
    assert "copied 1 file(s)" in result.stdout
    assert [p.name for p in out.iterdir()] == [name]
    assert (out / name).read_bytes() == DATA


def test_a_literal_series_name_reads_and_exports_as_the_plain_one(
    pond: PondRunner, host: Path
) -> None:
    csv1 = write(host / "one.csv", SERIES_CSV)
    csv2 = write(host / "two.csv", SERIES_CSV_2)
    pond.ok("copy", "--format", "series", str(csv1), "/s[1].series")
    pond.ok("copy", "--format", "series", str(csv1), "/plain.series")
    pond.ok("copy", "--format", "series", str(csv2), "/s1.series")  # what the glob would match
    for extra in (["--format", "csv"], ["--sql", "SELECT count(*) AS n FROM source"]):
        assert (
            pond.ok("cat", "/s[1].series", *extra).stdout
            == pond.ok("cat", "/plain.series", *extra).stdout
        )
    pond.ok("export", "/s[1].series", "--dir", str(host / "exp"))
    exported = sorted(
        p.relative_to(host / "exp").parts[0] for p in (host / "exp").rglob("*.parquet")
    )
    assert exported == ["s[1].series"]
    handle = Pond.open(pond.dir)
    assert handle.read_table("/s[1].series").equals(handle.read_table("/plain.series"))
    handle.close()


def test_a_literal_directory_name_copies_out_as_a_plain_one(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/d[1]", "/d1")
    pond.ok("copy", str(write(host / "f", b"inside")), "/d[1]/f.txt")
    pond.ok("copy", str(write(host / "g", b"decoy")), "/d1/g.txt")
    pond.ok("copy", "/d[1]/f.txt", host_url(host / "one"))
    assert [p.name for p in (host / "one").iterdir()] == ["f.txt"]
    pond.ok("copy", "/d[1]", host_url(host / "tree"))
    assert [str(p.relative_to(host / "tree")) for p in (host / "tree").rglob("*")] == [
        "d[1]",
        "d[1]/f.txt",
    ]


def test_a_copy_out_failing_half_way_leaves_the_host_as_it_was(
    pond: PondRunner, host: Path
) -> None:
    pond.ok("mkdir", "/many")
    for name in ("a.txt", "b.txt", "c.txt"):
        pond.ok("copy", str(write(host / "src", name.encode() * 3)), f"/many/{name}")
    out = host / "out"
    out.mkdir()
    (out / "a.txt").write_bytes(b"old a")
    (out / "b.txt").mkdir()  # the second destination cannot be a file
    (out / "b.txt" / "keep").write_bytes(b"keep")
    message = pond.error("copy", "/many/*", host_url(out))
    assert "b.txt" in message and "is a directory" in message
    # Nothing of the copy is left: a.txt keeps its old bytes, c.txt was never placed,
    # and no temporary or kept-aside file remains.
    assert (out / "a.txt").read_bytes() == b"old a"
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]
    assert [p.name for p in (out / "b.txt").iterdir()] == ["keep"]


def test_staged_commit_puts_back_what_it_replaced_when_a_rename_fails(tmp_path: Path) -> None:
    """A rename that fails after others succeeded (the destination turned into a directory
    after the checks): the earlier ones are undone."""
    from duckpond.ingest.export import StagedExport

    out = tmp_path / "out"
    out.mkdir()
    (out / "a").write_bytes(b"old a")
    staged = StagedExport()
    for name in ("a", "b", "c"):
        temp = out / f".{name}.tmp"
        temp.write_bytes(f"new {name}".encode())
        staged._staged.append((temp, out / name))
    # Fails at the rename of b: its temporary file is gone.
    (out / ".b.tmp").unlink()
    with pytest.raises(FileNotFoundError), staged:
        staged.commit()
    assert (out / "a").read_bytes() == b"old a"
    assert sorted(p.name for p in out.iterdir()) == ["a"]
