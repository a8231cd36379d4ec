"""fsck: a content root that survives copies and maintenance, and every injected fault named."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from duckpond import Pond
from duckpond.errors import ConfigError

from .sample import build

Fault = Callable[[Path, random.Random], str]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("integrity") / "pond"
    build(path).close()
    return path


def copy_of(base: Path, tmp_path: Path, name: str = "copy") -> Path:
    dest = tmp_path / name
    shutil.copytree(base, dest)
    return dest


def test_the_root_is_64_hex_digits_and_equal_for_a_byte_copy(base: Path, tmp_path: Path) -> None:
    report = Pond.check(base)
    assert report.ok, report.summary()
    root = report.content_root
    assert root is not None and len(root) == 64 and int(root, 16) >= 0
    assert Pond.check(copy_of(base, tmp_path)).content_root == root


def test_the_root_survives_compaction_and_changes_with_content(base: Path, tmp_path: Path) -> None:
    pond_dir = copy_of(base, tmp_path)
    root = Pond.check(pond_dir).content_root
    with Pond.open(pond_dir) as pond:
        pond.persistence.maintain()
        assert pond.fsck().content_root == root
        pond.write_bytes("/raw/notes.txt", b"round 5\n")  # the same bytes: nothing written
        assert pond.fsck().content_root == root
        pond.write_bytes("/raw/notes.txt", b"round 5!\n")
        changed = pond.fsck().content_root
    assert changed != root
    with Pond.open(pond_dir) as pond:
        pond.move("/raw/notes.txt", "/raw/notes2.txt")  # a path is content too
        assert pond.fsck().content_root not in (root, changed)


def test_the_root_at_a_past_transaction(base: Path, tmp_path: Path) -> None:
    pond_dir = copy_of(base, tmp_path)
    with Pond.open(pond_dir) as pond:
        then = pond.last_txn
        root_then = pond.fsck().content_root
        pond.write_bytes("/raw/new.txt", b"later")
        assert pond.fsck().content_root != root_then
        assert pond.fsck(at_txn=then).content_root == root_then
        assert pond.fsck(at_txn=then).root_txn == then
        with pytest.raises(ConfigError, match="no transaction 999"):
            pond.fsck(at_txn=999)


# -- fault injection ------------------------------------------------------------------


def _files(pond_dir: Path, where: str, suffix: str) -> list[Path]:
    return sorted(p for p in (pond_dir / "data").glob(where) if p.name.endswith(suffix))


def _flip(path: Path, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


def _snapshot_data_files(pond_dir: Path) -> list[Path]:
    with Pond.open(pond_dir) as pond:
        names = pond.persistence.snapshot_files()
    return sorted(pond_dir / "data" / n for n in names)


def flip_data_file(pond_dir: Path, rng: random.Random) -> str:
    target = rng.choice(_snapshot_data_files(pond_dir))
    _flip(target, rng)
    return str(target.relative_to(pond_dir))


def flip_blob(pond_dir: Path, rng: random.Random) -> str:
    target = rng.choice(_files(pond_dir, "_large_files/*", ""))
    _flip(target, rng)
    return str(target.relative_to(pond_dir))


def flip_checkpoint(pond_dir: Path, rng: random.Random) -> str:
    target = rng.choice(_files(pond_dir, "_delta_log/*", ".checkpoint.parquet"))
    _flip(target, rng)
    return str(target.relative_to(pond_dir))


def delete_data_file(pond_dir: Path, rng: random.Random) -> str:
    target = rng.choice(_snapshot_data_files(pond_dir))
    target.unlink()
    return str(target.relative_to(pond_dir))


def _cut(target: Path, rng: random.Random) -> str:
    """Cut ``target`` short part-way: at least one byte kept, at least one lost."""
    data = target.read_bytes()
    target.write_bytes(data[: rng.randrange(1, len(data))])
    return str(target.relative_to(pond_dir_of(target)))


def pond_dir_of(path: Path) -> Path:
    return next(p.parent for p in path.parents if p.name == "data")


def truncate_log_entry(pond_dir: Path, rng: random.Random) -> str:
    return _cut(rng.choice(_files(pond_dir, "_delta_log/*", ".json")), rng)


def truncate_log_entry_before_checkpoint(pond_dir: Path, rng: random.Random) -> str:
    """An entry the snapshot does not read (the checkpoint covers it), only the commits'
    history does: a fault once reported as the parser's error, naming no file."""
    (checkpoint,) = _files(pond_dir, "_delta_log/*", ".checkpoint.parquet")
    covered = int(checkpoint.name.split(".")[0])
    entries = _files(pond_dir, "_delta_log/*", ".json")
    return _cut(rng.choice([e for e in entries if int(e.name.split(".")[0]) < covered]), rng)


def empty_log_entry(pond_dir: Path, rng: random.Random) -> str:
    target = rng.choice(_files(pond_dir, "_delta_log/*", ".json"))
    target.write_bytes(b"")
    return str(target.relative_to(pond_dir))


def truncate_checkpoint(pond_dir: Path, rng: random.Random) -> str:
    return _cut(rng.choice(_files(pond_dir, "_delta_log/*", ".checkpoint.parquet")), rng)


def truncate_data_file(pond_dir: Path, rng: random.Random) -> str:
    return _cut(rng.choice(_snapshot_data_files(pond_dir)), rng)


def delete_log_entry(pond_dir: Path, rng: random.Random) -> str:
    target = rng.choice(_files(pond_dir, "_delta_log/*", ".json"))
    target.unlink()
    return str(target.relative_to(pond_dir))


def stray_file(pond_dir: Path, rng: random.Random) -> str:
    place = rng.choice(["", "_delta_log/", "_large_files/", "_pond/", "part_id=x/"])
    target = pond_dir / "data" / f"{place}stray-{rng.randrange(10**6)}.parquet"
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(rng.randbytes(rng.randrange(1, 200)))
    return str(target.relative_to(pond_dir))


FAULTS: list[Fault] = [
    flip_data_file,
    flip_blob,
    flip_checkpoint,
    delete_data_file,
    truncate_log_entry,
    truncate_log_entry_before_checkpoint,
    empty_log_entry,
    truncate_checkpoint,
    truncate_data_file,
    delete_log_entry,
    stray_file,
]


def test_every_injected_fault_is_named_and_repaired(base: Path, tmp_path: Path) -> None:
    """40 faults at random places, each in a fresh byte copy: fsck names every one (and
    does not stop at it), and repair from a file:// backup of the pond mends every one
    the backup holds (all but a stray), back to the pond's content root."""
    from duckpond.backup import Remote, push, repair

    url = f"file://{tmp_path}/remote"
    push(base, Remote(url, create=True), "offsite")
    root = Pond.check(base).content_root
    rng = random.Random(20261207)
    found: dict[str, int] = {}
    for i in range(40):
        fault = FAULTS[i % len(FAULTS)] if i < len(FAULTS) else rng.choice(FAULTS)
        pond_dir = copy_of(base, tmp_path, f"copy{i}")
        target = fault(pond_dir, rng)
        report = Pond.check(pond_dir)
        named = [p for p in report.problems if p.path == target]
        assert not report.ok and named, f"{fault.__name__} on {target}: {report.summary()}"
        mended = repair(pond_dir, Remote(url))
        if fault is stray_file:
            assert [where for where, _ in mended.unrepaired] == [target]
        else:
            assert mended.ok and target in mended.repaired, (fault.__name__, mended.to_json())
            assert mended.fsck.content_root == root
        found[fault.__name__] = found.get(fault.__name__, 0) + 1
        shutil.rmtree(pond_dir)
    assert set(found) == {f.__name__ for f in FAULTS}


def test_the_cli_exits_1_naming_the_fault(base: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from duckpond.cli.main import cli

    pond_dir = copy_of(base, tmp_path)
    target = flip_blob(pond_dir, random.Random(3))
    result = CliRunner().invoke(cli, ["--pond", str(pond_dir), "fsck"])
    assert result.exit_code == 1
    assert target in result.output
    assert "error: " in result.output
    result = CliRunner().invoke(cli, ["--pond", str(pond_dir), "--json", "fsck"])
    report = json.loads(result.stdout)
    assert report["ok"] is False and target in {p["path"] for p in report["problems"]}
    assert len(report["content_root"]) == 64


def test_files_a_crash_left_unsealed_are_a_note_and_recover_seals_them(
    base: Path, tmp_path: Path
) -> None:
    pond_dir = copy_of(base, tmp_path)
    seals = pond_dir / "data" / "_pond" / "seals"
    lines = seals.read_text().splitlines(keepends=True)
    # As if the newest commit's process died after its commit, before its seals.
    newest = max(line.split(" ", 2)[2] for line in lines if "_delta_log/" in line)
    kept = [line for line in lines if not line.endswith(newest)]
    seals.write_text("".join(kept) + lines[-1][:20])  # and a seal cut short
    report = Pond.check(pond_dir)
    assert report.ok and report.unsealed_files >= 1, report.summary()
    assert "not sealed: run pond recover" in report.summary()
    with Pond.open(pond_dir) as pond:
        recovered = pond.recover()
    assert newest.strip() in recovered.sealed_files
    after = Pond.check(pond_dir)
    assert after.ok and after.unsealed_files == 0, after.summary()


def test_an_unsealed_log_entry_cut_short_is_named_and_the_summary_names_leftovers(
    base: Path, tmp_path: Path
) -> None:
    """A log entry no seal covers yet (its commit's process died before sealing) is named
    when its bytes do not parse; leftovers are named in the summary; no line of the
    summary has an empty subject."""
    pond_dir = copy_of(base, tmp_path)
    seals = pond_dir / "data" / "_pond" / "seals"
    lines = seals.read_text().splitlines(keepends=True)
    newest = max(line.split(" ", 2)[2].strip() for line in lines if "_delta_log/" in line)
    seals.write_text("".join(line for line in lines if line.split(" ", 2)[2].strip() != newest))
    entry = pond_dir / "data" / newest
    entry.write_bytes(entry.read_bytes()[:100])

    report = Pond.check(pond_dir)
    rel = str(entry.relative_to(pond_dir))
    (named,) = [p for p in report.problems if p.path == rel]
    assert named.kind == "corrupt file" and "do not parse" in named.detail, report.summary()

    # A data file of one transaction gone: its transaction is a problem without a path.
    pond_dir = copy_of(base, tmp_path, "copy2")
    (pond_dir / "data" / "_delta_log" / "_commit_0123abcd.json.tmp").write_bytes(b"{}")
    with Pond.open(pond_dir) as pond:
        pond.write_bytes("/raw/one.txt", b"one")
        last = pond.last_txn
        (lone,) = [f for f in pond.persistence.snapshot_files() if f not in _names(base)]
    (pond_dir / "data" / lone).unlink()
    report = Pond.check(pond_dir)
    text = report.summary()
    assert f"missing transaction: transaction {last} has no rows" in text, text
    assert ": :" not in text
    assert "1 leftover file of interrupted writes (data/_delta_log/_commit_0123abcd" in text
    assert report.to_json()["leftovers"] == ["data/_delta_log/_commit_0123abcd.json.tmp"]


def _names(pond_dir: Path) -> set[str]:
    with Pond.open(pond_dir) as pond:
        return set(pond.persistence.snapshot_files())
