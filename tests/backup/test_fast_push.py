"""A push that need not open the pond: the cached Backup specs, and blobs from Delta stats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from duckpond import Pond
from duckpond.backup.local import LocalLog
from duckpond.backup.state import SPECS_FILE, STATE_DIR, load_specs
from duckpond.errors import ConfigError
from duckpond.pond import push_pond
from duckpond.testing.s3server import S3Server

from .conftest import apply_text, backup_doc, rich_pond

PUSH_AND_REPORT = """\
import json, sys
from duckpond.pond import push_pond
reports = push_pond(sys.argv[1])
heavy = sorted(m for m in ("pyarrow", "deltalake", "datafusion", "pydantic", "pandas")
               if m in sys.modules)
print(json.dumps({"reports": [r.to_json() for r in reports], "heavy": heavy}))
"""


def _push_in_child(pond_dir: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PUSH_AND_REPORT, str(pond_dir)],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_push_after_a_small_change_opens_nothing_heavy_and_still_checks(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    pond = rich_pond(tmp_path / "pond", tmp_path, transactions=12)
    apply_text(
        pond,
        tmp_path,
        backup_doc("offsite", s3_url, endpoint=s3_server.endpoint, allow_http="true"),
    )
    # The first push opens the pond (no cache yet) and leaves the cache behind.
    first = push_pond(pond.path)
    assert first[0].ok and (pond.path / STATE_DIR / SPECS_FILE).exists()
    pond.write_bytes("/raw/notes.txt", b"one small change\n")
    result = _push_in_child(pond.path)
    assert result["heavy"] == [], result
    (report,) = result["reports"]  # type: ignore[misc]
    assert report["ok"] and report["last_txn"] == pond.last_txn
    assert report["objects_sent"] == 3  # the data file, its record, its log entry
    # Its checks are the push's own: a remote emptied under it is noticed and refilled.
    for key in s3_server.objects(s3_url):
        s3_server.store(s3_url).delete(key)
    pond.write_bytes("/raw/notes.txt", b"another\n")
    result = _push_in_child(pond.path)
    (report,) = result["reports"]  # type: ignore[misc]
    assert report["ok"] and report["from_version"] == -1
    assert any(k.startswith("data/_large_files/") for k in s3_server.objects(s3_url))


def test_a_changed_backup_resource_is_seen_whatever_the_cache_says(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    pond = Pond.init(tmp_path / "pond")
    pond.mkdir("/raw")
    extra = {"endpoint": s3_server.endpoint, "allow_http": "true"}
    apply_text(pond, tmp_path, backup_doc("offsite", s3_url, **extra))
    assert push_pond(pond.path)[0].ok
    cached = load_specs(pond.path)
    assert cached is not None and cached.specs["offsite"]["url"] == s3_url
    # Another URL: the apply caches the specs anew; a change the cache did not see (its
    # resource's partition changed since) makes it stale, and it is not used.
    moved = s3_url + "-moved"
    apply_text(pond, tmp_path, backup_doc("offsite", moved, **extra))
    cached = load_specs(pond.path)
    assert cached is not None and cached.specs["offsite"]["url"] == moved
    pond.write_bytes("/etc/resources/.touched", b"")
    assert load_specs(pond.path) is None
    pond.remove("/etc/resources/.touched")
    (report,) = push_pond(pond.path)
    assert report.ok and report.url == moved
    assert s3_server.objects(moved)
    # A second backup added, then the first removed: each push sees exactly what is there.
    other = s3_url + "-other"
    apply_text(pond, tmp_path, backup_doc("second", other, **extra))
    assert [r.name for r in push_pond(pond.path)] == ["offsite", "second"]
    pond.remove("/etc/resources/offsite")
    assert [r.name for r in push_pond(pond.path)] == ["second"]
    with pytest.raises(ConfigError, match="no Backup resource named 'offsite'"):
        push_pond(pond.path, ["offsite"])
    # Writes elsewhere leave the cache current (a write at the top level would not: the
    # root's partition is watched); a damaged cache is ignored, not trusted.
    pond.write_bytes("/raw/b.txt", b"b")
    assert load_specs(pond.path) is not None
    (pond.path / STATE_DIR / SPECS_FILE).write_text('{"format": "duckpond-backup-specs/1"}')
    assert load_specs(pond.path) is None
    assert [r.name for r in push_pond(pond.path)] == ["second"]


def test_blobs_from_delta_stats_are_those_the_data_files_name(tmp_path: Path) -> None:
    pond = rich_pond(tmp_path / "pond", tmp_path, transactions=30)
    with pond.transaction() as tx:  # several rows in one data file, two of them blobs
        tx.write_file("/raw/many-1.bin", os.urandom(70_000))
        tx.write_file("/raw/many-2.bin", os.urandom(80_000))
        tx.write_file("/raw/many-3.txt", b"small")
    pond.maintenance.maintain()  # compaction: many rows per file
    log = LocalLog(pond.path)
    told = read = 0
    for version in log.versions():
        for f in log.read(version).data_files:
            if log.files.size(f.key) is None:
                continue  # removed by a later compaction
            from_file = sorted(b.key for b in log.blobs(replace(f, blobs=None)))
            if f.blobs is None:
                read += 1
            else:
                told += 1
                assert sorted(b.key for b in f.blobs) == from_file, f.key
    assert told > 0 and read > 0, (told, read)


def test_the_first_push_after_an_apply_opens_nothing_heavy(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    """`pond apply` of a Backup leaves the specs cache: no push has to open the pond
    (pyarrow may still read data files whose Delta statistics do not name their blobs)."""
    pond = rich_pond(tmp_path / "pond", tmp_path, transactions=6)
    apply_text(
        pond,
        tmp_path,
        backup_doc("offsite", s3_url, endpoint=s3_server.endpoint, allow_http="true"),
    )
    assert load_specs(pond.path) is not None
    result = _push_in_child(pond.path)
    assert not {"deltalake", "datafusion", "pydantic", "pandas"} & set(result["heavy"]), result  # type: ignore[arg-type]
    (report,) = result["reports"]  # type: ignore[misc]
    assert report["ok"] and report["from_version"] == -1 and report["last_txn"] == pond.last_txn
