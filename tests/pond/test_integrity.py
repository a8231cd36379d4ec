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


def truncate_log_entry(pond_dir: Path, rng: random.Random) -> str:
    target = rng.choice(_files(pond_dir, "_delta_log/*", ".json"))
    data = target.read_bytes()
    target.write_bytes(data[: rng.randrange(len(data))])
    return str(target.relative_to(pond_dir))


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
    delete_log_entry,
    stray_file,
]


def test_every_injected_fault_is_named(base: Path, tmp_path: Path) -> None:
    """35 faults at random places, each in a fresh byte copy: fsck names every one."""
    rng = random.Random(20261207)
    found: dict[str, int] = {}
    for i in range(35):
        fault = FAULTS[i % len(FAULTS)] if i < len(FAULTS) else rng.choice(FAULTS)
        pond_dir = copy_of(base, tmp_path, f"copy{i}")
        target = fault(pond_dir, rng)
        report = Pond.check(pond_dir)
        named = [p for p in report.problems if p.path == target]
        assert not report.ok and named, f"{fault.__name__} on {target}: {report.summary()}"
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
