"""Odd names and symlinks: every pond name gets a safe, reversible host name or a reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duckpond.ingest.mirror.names import MAX_NAME_BYTES, escape, host_names, host_to_pond
from duckpond.pond import Pond

pond_names = st.text(
    st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1
).filter(lambda n: n not in (".", ".."))


@given(pond_names)
def test_the_rule_reverses(name: str) -> None:
    host = escape(name)
    assert host_to_pond(host) == name
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in host)
    assert not host.startswith(".pond-mirror")


@given(st.lists(pond_names, min_size=1, max_size=8, unique=True))
def test_names_in_one_folder_never_collide_on_a_case_insensitive_host(names: list[str]) -> None:
    chosen, refused = host_names([(n, "") for n in names])
    assert set(chosen) | {r.name for r in refused} == set(names)
    folded = [h.casefold() for h in chosen.values()]
    assert len(folded) == len(set(folded))
    for name, host in chosen.items():
        assert host_to_pond(host) == name
        assert len(host.encode()) <= MAX_NAME_BYTES


@pytest.fixture
def pond(tmp_path: Path) -> Pond:
    return Pond.init(tmp_path / "pond", command=["test"])


def test_odd_names_are_mapped_or_refused_with_a_reason(pond: Pond, tmp_path: Path) -> None:
    long = "x" * 300
    with pond.transaction() as tx:
        tx.mkdir("/odd")
        tx.write_file("/odd/line\nbreak.txt", b"newline")
        tx.write_file("/odd/esc\x1b[31m.txt", b"escape")
        tx.write_file("/odd/50%.txt", b"percent")
        tx.write_file("/odd/README", b"upper")
        tx.write_file("/odd/readme", b"lower")
        tx.write_file(f"/odd/{long}", b"long")
        tx.write_file("/odd/.pond-mirror", b"looks like ours")
    out = tmp_path / "m"
    report = pond.mirrors.write(out, ["/odd/**", "/odd/.pond-mirror"])
    on_host = sorted(os.listdir(out / "odd"))
    assert on_host == sorted(
        [
            "line%0Abreak.txt",
            "esc%1B[31m.txt",
            "50%25.txt",
            "readme",
            "%52%45%41%44%4D%45",
            "%2Epond-mirror",
        ]
    )
    assert (out / "odd/readme").read_bytes() == b"lower"
    assert (out / "odd/%52%45%41%44%4D%45").read_bytes() == b"upper"
    assert [(n.path, "255 bytes" in n.reason) for n in report.refused] == [(f"/odd/{long}", True)]
    # A later run that looks only at what changed still says so.
    pond.write_bytes("/odd/50%.txt", b"percent 2")
    again = pond.mirrors.write(out)
    assert again.written == ["/odd/50%.txt"]
    assert [n.path for n in again.refused] == [f"/odd/{long}"]
    # The mapped names come back as themselves: an edit syncs to the right node.
    (out / "odd/line%0Abreak.txt").write_bytes(b"edited")
    (out / "odd/%52%45%41%44%4D%45").write_bytes(b"UPPER")
    (out / "odd/new%09tab").write_bytes(b"tab")
    result = pond.mirrors.sync(out)
    assert sorted(result.sync.changed) == ["/odd/README", "/odd/line\nbreak.txt"]
    assert result.sync.created == ["/odd/new\ttab"]
    assert pond.read_bytes("/odd/README") == b"UPPER"
    assert pond.read_bytes("/odd/readme") == b"lower"


def test_a_new_host_name_the_rule_would_not_write_is_left_and_named(
    pond: Pond, tmp_path: Path
) -> None:
    pond.mkdir("/raw")
    out = tmp_path / "m"
    pond.mirrors.write(out)
    (out / "raw/100%.txt").write_bytes(b"all")
    (out / "raw/%41b").mkdir()
    (out / "raw/%41b/inside").write_bytes(b"x")
    result = pond.mirrors.sync(out)
    # Brought in, the next run would have renamed the user's file: it is left, said, untouched.
    assert result.sync.created == [] and result.sync.txn_seq is None
    reasons = {n.host: n.reason for n in result.sync.kept}
    assert "rename it to 100%25.txt" in reasons["raw/100%.txt"]
    assert "rename it to Ab" in reasons["raw/%41b"]
    assert sorted(os.listdir(out / "raw")) == ["%41b", "100%.txt"]
    assert [np.path for np in pond.list("/raw/*")] == []
    # Renamed as said, it comes in as the pond name the old one stood for.
    os.rename(out / "raw/100%.txt", out / "raw/100%25.txt")
    assert pond.mirrors.sync(out).sync.created == ["/raw/100%.txt"]
    assert "100%25.txt" in os.listdir(out / "raw")


def test_pond_symlinks_become_host_symlinks_inside_the_folder(pond: Pond, tmp_path: Path) -> None:
    with pond.transaction() as tx:
        tx.mkdir("/raw", "/links")
        tx.write_file("/raw/a.txt", b"a")
        tx.symlink("/raw/a.txt", "/links/abs")
        tx.symlink("../raw/a.txt", "/links/rel")
        tx.symlink("/raw", "/links/dir")
        tx.symlink("/nowhere", "/links/dangling")
    out = tmp_path / "m"
    pond.mirrors.write(out)
    for name in ("abs", "rel"):
        link = out / "links" / name
        assert os.readlink(link) == "../raw/a.txt"
        assert link.read_bytes() == b"a"
    assert os.readlink(out / "links/dir") == "../raw"
    assert os.readlink(out / "links/dangling") == "../nowhere"
    real = os.path.realpath(out)
    for link in (out / "links").iterdir():
        assert os.path.realpath(link).startswith(real + "/")


def test_sync_never_follows_a_host_symlink_out_of_the_folder(pond: Pond, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    with pond.transaction() as tx:
        tx.mkdir("/raw")
        tx.write_file("/raw/a.txt", b"a")
    out = tmp_path / "m"
    pond.mirrors.write(out)
    os.symlink(outside, out / "escape")
    os.symlink(outside / "secret.txt", out / "raw/secret-link")
    os.symlink("../raw/a.txt", out / "raw/inside-link")
    result = pond.mirrors.sync(out)
    assert result.sync.created == ["/raw/inside-link"]
    assert pond.root.readlink("/raw/inside-link") == "a.txt"
    kept = {n.path: n.reason for n in result.sync.kept}
    assert "outside the mirror" in kept["/escape"]
    assert "outside the mirror" in kept["/raw/secret-link"]
    assert not pond.root.exists("/escape")
    assert b"secret" not in b"".join(
        pond.read_bytes(np.path) for np in pond.root.visit("/") if np.is_file()
    )


def test_a_folder_replaced_by_a_symlink_is_never_written_through(
    pond: Pond, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    with pond.transaction() as tx:
        tx.mkdir("/raw")
        tx.write_file("/raw/a.txt", b"a")
    out = tmp_path / "m"
    pond.mirrors.write(out)
    import shutil

    shutil.rmtree(out / "raw")
    os.symlink(outside, out / "raw")
    pond.write_bytes("/raw/a.txt", b"a2")
    pond.write_bytes("/raw/b.txt", b"b")
    report = pond.mirrors.write(out)
    assert os.listdir(outside) == []
    assert {n.path for n in report.conflicts} >= {"/raw", "/raw/a.txt", "/raw/b.txt"}
    result = pond.mirrors.sync(out, delete=True)
    assert result.sync.deleted == []
    assert pond.read_bytes("/raw/a.txt") == b"a2"


def test_a_host_name_that_is_not_utf8_is_named_and_left(pond: Pond, tmp_path: Path) -> None:
    pond.mkdir("/raw")
    out = tmp_path / "m"
    pond.mirrors.write(out)
    with open(os.path.join(os.fsencode(out / "raw"), b"bad\xffname"), "wb") as fh:
        fh.write(b"data")
    result = pond.mirrors.sync(out)
    assert result.sync.txn_seq is None
    [note] = result.sync.kept
    assert "not UTF-8" in note.reason
    assert pond.list("/raw/") == []


def test_a_host_name_that_decodes_to_no_pond_name_is_refused(pond: Pond, tmp_path: Path) -> None:
    pond.mkdir("/raw")
    out = tmp_path / "m"
    pond.mirrors.write(out)
    (out / "raw/a%2Fb").write_bytes(b"slash")
    (out / "raw/%2E%2E").write_bytes(b"up")
    result = pond.mirrors.sync(out)
    assert result.sync.txn_seq is None
    assert sorted(n.host for n in result.sync.kept) == ["raw/%2E%2E", "raw/a%2Fb"]
    assert all("not a pond name" in n.reason for n in result.sync.kept)
    assert pond.list("/**") == [pond.root.get("/raw")]


def test_a_raw_file_and_a_series_never_take_each_others_host_file(
    pond: Pond, tmp_path: Path
) -> None:
    import pyarrow as pa

    series = pa.table({"timestamp": pa.array([0], pa.timestamp("us", "UTC")), "t": [1.0]})
    # The raw file first: the series that arrives later is refused, named with why.
    with pond.transaction() as tx:
        tx.write_file("/a.parquet", b"raw bytes")
    out = tmp_path / "m"
    pond.mirrors.write(out)
    pond.write_series("/a", series)
    report = pond.mirrors.write(out)
    assert report.written == []
    [note] = report.refused
    assert note.path == "/a" and "a.parquet is taken by 'a.parquet'" in note.reason
    assert (out / "a.parquet").read_bytes() == b"raw bytes"
    # A fresh mirror of the same pond chooses alike: a name as it is over one given
    # an extension.
    fresh = pond.mirrors.write(tmp_path / "fresh")
    assert [n.path for n in fresh.refused] == ["/a"]
    assert (tmp_path / "fresh/a.parquet").read_bytes() == b"raw bytes"


def test_a_series_keeps_its_host_file_against_a_raw_file_named_like_it(
    pond: Pond, tmp_path: Path
) -> None:
    import pyarrow as pa

    series = pa.table({"timestamp": pa.array([0], pa.timestamp("us", "UTC")), "t": [1.0]})
    pond.write_series("/a", series)
    out = tmp_path / "m"
    pond.mirrors.write(out)
    written = (out / "a.parquet").read_bytes()
    with pond.transaction() as tx:
        tx.write_file("/a.parquet", b"raw bytes")
    report = pond.mirrors.write(out)
    assert report.written == [] and [n.path for n in report.refused] == ["/a.parquet"]
    assert "taken by 'a'" in report.refused[0].reason
    assert (out / "a.parquet").read_bytes() == written
    # --sync brings nothing in from it: the host file is the series', read-only.
    assert pond.mirrors.sync(out).sync.txn_seq is None


def test_sync_writes_nothing_through_a_pond_symlink(pond: Pond, tmp_path: Path) -> None:
    pond.mkdir("/etc/resources", parents=True)
    pond.symlink("/etc", "/lnk")
    out = tmp_path / "m"
    pond.mirrors.write(out)
    # The host symlink replaced by a real folder: its files must not land under /etc.
    (out / "lnk").unlink()
    (out / "lnk/resources").mkdir(parents=True)
    (out / "lnk/resources/evil").write_bytes(b"x: [")
    result = pond.mirrors.sync(out)
    assert result.sync.txn_seq is None and result.sync.created == []
    reasons = {n.host: n.reason for n in result.sync.kept}
    assert "/lnk is a symlink in the pond" in reasons["lnk/resources/evil"]
    assert [np.path for np in pond.list("/etc/resources/*")] == []
    assert (out / "lnk/resources/evil").read_bytes() == b"x: ["
