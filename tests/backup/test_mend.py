"""pond backup mend: what a backup lost is put back from the pond, checked, and named
where the pond cannot (a fresh-user trial found pushes saying ok over a lost object)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from duckpond import Pond
from duckpond.backup import Remote, push, restore, verify
from duckpond.cli import cli

from .conftest import apply_text, backup_doc, snapshot


def _backed_up(tmp_path: Path) -> tuple[Pond, str, Path]:
    nas = tmp_path / "nas"
    url = f"file://{nas}"
    pond = Pond.init(tmp_path / "pond")
    apply_text(pond, tmp_path, backup_doc("nas", url))
    pond.mkdir("/raw", "/big")
    for i in range(6):
        pond.write_bytes(f"/raw/f{i}.txt", f"reading {i}\n".encode())
        pond.write_bytes(f"/big/b{i}.bin", os.urandom(70_000 + i))
    (report,) = pond.backups.push(["nas"])
    assert report.ok
    return pond, url, nas


def _mend(pond: Pond, *args: str) -> tuple[int, dict[str, object], str]:
    result = CliRunner().invoke(cli, ["--pond", str(pond.path), "--json", "backup", "mend", *args])
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_lost_and_cut_objects_are_put_back_and_the_backup_restores(tmp_path: Path) -> None:
    pond, url, nas = _backed_up(tmp_path)
    files = sorted(p for p in nas.rglob("*.parquet") if "part_id=" in str(p))
    blobs = sorted((nas / "data" / "_large_files").iterdir())
    lost, cut = files[0], blobs[0]
    lost.unlink()
    cut.write_bytes(cut.read_bytes()[:100])
    # A push goes on (it looks only at what its newest record names); verify sees it.
    pond.write_bytes("/raw/more.txt", b"more")
    (report,) = pond.backups.push(["nas"])
    assert report.ok
    assert not verify(pond.path, Remote(url), deep=True).ok

    code, out, err = _mend(pond, "nas")
    assert code == 0, err
    assert sorted(out["resent"]) == sorted(  # type: ignore[arg-type]
        str(p.relative_to(nas)) for p in (lost, cut)
    )
    assert out["unmendable"] == [] and out["checked"] > 20  # type: ignore[operator]
    deep = verify(pond.path, Remote(url), deep=True)
    assert deep.ok and deep.problems == [], deep.problems
    restore(url, tmp_path / "restored")
    assert snapshot(tmp_path / "restored") == snapshot(pond.path)
    # Nothing left to mend: nothing sent, nothing written.
    before = {p: p.stat().st_mtime_ns for p in nas.rglob("*") if p.is_file()}
    code, out, _ = _mend(pond, "nas")
    assert code == 0 and out["resent"] == []
    assert {p: p.stat().st_mtime_ns for p in nas.rglob("*") if p.is_file()} == before


def test_deep_finds_a_flipped_bit_and_what_the_pond_lacks_is_named(tmp_path: Path) -> None:
    pond, url, nas = _backed_up(tmp_path)
    blobs = sorted((nas / "data" / "_large_files").iterdir())
    flipped = bytearray(blobs[1].read_bytes())
    flipped[500] ^= 0x01
    blobs[1].write_bytes(bytes(flipped))
    code, out, _ = _mend(pond, "nas")
    assert code == 0 and out["resent"] == []  # same size: only a re-read sees it
    code, out, _ = _mend(pond, "nas", "--deep")
    assert code == 0 and out["resent"] == [str(blobs[1].relative_to(nas))]
    assert verify(pond.path, Remote(url), deep=True).problems == []

    # A lost object the pond no longer holds either: named, exit 1, the rest mended.
    blobs[2].unlink()
    (pond.path / blobs[2].relative_to(nas)).unlink()
    blobs[3].unlink()
    code, out, err = _mend(pond, "nas")
    assert code == 1
    assert out["resent"] == [str(blobs[3].relative_to(nas))]
    assert out["unmendable"] == [f"{blobs[2].relative_to(nas)}: this pond no longer holds it"]
    assert err.startswith("error: backup nas: 1 object(s) could not be put back"), err


def test_a_bad_local_copy_is_never_sent(tmp_path: Path) -> None:
    pond, url, nas = _backed_up(tmp_path)
    blob = sorted((nas / "data" / "_large_files").iterdir())[0]
    blob.unlink()
    local = pond.path / blob.relative_to(nas)
    data = bytearray(local.read_bytes())
    data[0] ^= 0xFF
    local.write_bytes(bytes(data))
    code, out, _ = _mend(pond, "nas")
    assert code == 1 and out["resent"] == []
    assert out["unmendable"] == [
        f"{blob.relative_to(nas)}: this pond's copy is not the one the backup recorded"
    ]
    assert not blob.exists()
    # A push of another pond's backup is refused as ever; mend refuses it too.
    other = Pond.init(tmp_path / "other")
    push(other.path, Remote(f"file://{tmp_path / 'nas2'}", create=True), "x")
    apply_text(other, tmp_path, backup_doc("nas", url))
    result = CliRunner().invoke(cli, ["--pond", str(other.path), "backup", "mend", "nas"])
    assert result.exit_code == 1 and "holds the backup of pond" in result.stderr


def test_mend_on_the_s3_server(s3_server: object, s3_url: str, tmp_path: Path) -> None:
    from duckpond.testing.s3server import S3Server

    assert isinstance(s3_server, S3Server)
    pond = Pond.init(tmp_path / "pond")
    apply_text(pond, tmp_path, backup_doc("offsite", s3_url))
    pond.mkdir("/big")
    for i in range(4):
        pond.write_bytes(f"/big/b{i}.bin", os.urandom(80_000 + i))
    assert pond.backups.push(["offsite"])[0].ok
    keys = sorted(s3_server.objects(s3_url))
    gone = [next(k for k in keys if "_large_files/" in k), next(k for k in keys if "part_id=" in k)]
    for key in gone:
        s3_server.store(s3_url).delete(key)
    report = pond.backups.mend("offsite")
    assert report.ok and sorted(report.resent) == sorted(gone)
    assert verify(pond.path, Remote(s3_url), deep=True).problems == []


def test_run_records_and_a_record_rewritten_in_other_bytes_are_put_back(
    tmp_path: Path,
) -> None:
    """A fresh user's trial: a lost piece of run records made every later restore fail,
    and mend said the pond no longer held it; a record whose bytes (not content) changed
    broke the chain for good.  The pond holds both: mend puts them back."""
    import pytest

    from duckpond.errors import CorruptDataError
    from duckpond.tlogfs.runlog import append_record

    pond, url, nas = _backed_up(tmp_path)
    for run in range(2):
        append_record(pond.path, {"run": run})
        pond.write_bytes("/raw/run.txt", f"run {run}\n".encode())
        (report,) = pond.backups.push(["nas"])
        assert report.ok
    pieces = sorted((nas / "runs").iterdir())
    assert len(pieces) == 2
    pieces[0].unlink()
    records = sorted((nas / "pushes").glob("0*.json"))
    middle = records[len(records) // 2]
    middle.write_bytes(json.dumps(json.loads(middle.read_bytes())).encode() + b"\n")
    with pytest.raises(CorruptDataError, match="does not follow the record before it"):
        restore(url, tmp_path / "refused")
    # verify --deep names that record (not the next), as one mend puts back.
    from duckpond.backup.verify import REWRITTEN

    deep = verify(pond.path, Remote(url), deep=True)
    assert (str(middle.relative_to(nas)), REWRITTEN) in deep.problems, deep.problems
    assert deep.advice("nas").startswith("run pond backup mend nas"), deep.advice("nas")

    code, out, err = _mend(pond, "nas")
    assert code == 0, err
    assert sorted(out["resent"]) == sorted(  # type: ignore[arg-type]
        [str(pieces[0].relative_to(nas)), str(middle.relative_to(nas))]
    )
    restore(url, tmp_path / "restored")
    assert snapshot(tmp_path / "restored") == snapshot(pond.path)
    assert verify(pond.path, Remote(url), deep=True).problems == []


def test_an_altered_record_is_named_and_the_rest_is_still_mended(tmp_path: Path) -> None:
    import pytest

    from duckpond.errors import CorruptDataError

    pond, url, nas = _backed_up(tmp_path)
    files = sorted(p for p in nas.rglob("*.parquet") if "part_id=" in str(p))
    files[0].unlink()
    records = sorted((nas / "pushes").glob("0*.json"))
    altered = records[-3]
    body = json.loads(altered.read_bytes())
    body["txn_seq"] = 9_999
    altered.write_bytes(json.dumps(body).encode() + b"\n")

    code, out, _ = _mend(pond, "nas")
    assert code == 1
    assert out["resent"] == [str(files[0].relative_to(nas))], out
    (named,) = out["unmendable"]  # type: ignore[misc]
    assert named.startswith(f"{altered.relative_to(nas)}: altered"), named
    assert "push the pond to a new URL" in named
    # A restore names the record, and the transaction it still restores to, which works.
    with pytest.raises(CorruptDataError, match=r"restores up to txn (\d+)") as caught:
        restore(url, tmp_path / "refused")
    txn = int(str(caught.value).rsplit("--at-txn ", 1)[1].rstrip(")"))
    restore(url, tmp_path / "older", at_txn=txn)
    with Pond.open(tmp_path / "older") as older:
        assert older.last_txn == txn


def test_a_missing_object_names_where_the_backup_still_restores_from(tmp_path: Path) -> None:
    import pytest

    from duckpond.errors import CorruptDataError

    _, url, nas = _backed_up(tmp_path)
    blobs = sorted((nas / "data" / "_large_files").iterdir())
    victim = blobs[-1]  # named by one of the last records
    victim.unlink()
    with pytest.raises(CorruptDataError, match="pond backup mend NAME puts it back") as caught:
        restore(url, tmp_path / "refused")
    assert str(victim.relative_to(nas)) in str(caught.value)
    txn = int(str(caught.value).rsplit("--at-txn ", 1)[1].rstrip(")"))
    restore(url, tmp_path / "older", at_txn=txn)


def test_a_restore_removes_what_a_killed_restore_left_beside_the_destination(
    tmp_path: Path,
) -> None:
    """A restore killed midway leaves its staging directory (the destination is never
    created); the next restore to that place removes it, and only it."""
    import subprocess
    import sys

    _, url, _ = _backed_up(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / ".restored.restore-0123456789ab"
    (left / "data").mkdir(parents=True)
    (left / ".restore-pid").write_text(str(dead.pid))
    (left / "data" / "half.parquet").write_bytes(b"x" * 1000)
    alive = tmp_path / ".restored.restore-ba9876543210"  # a restore still running
    alive.mkdir()
    (alive / ".restore-pid").write_text(str(os.getpid()))
    restore(url, tmp_path / "restored")
    assert not left.exists() and alive.exists()
    assert not (tmp_path / "restored" / ".restore-pid").exists()
