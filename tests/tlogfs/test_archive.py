"""The archived commit metadata: every transaction's info, compressed, read back exactly;
an archive written before it (JSON lines) still read and folded in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from duckpond.tlogfs.retention import (
    ARCHIVE_FILE,
    LEGACY_ARCHIVE_FILE,
    archive_commits,
    archived_commits,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def commit(i: int, **extra: object) -> dict[str, object]:
    t = T0 + timedelta(minutes=15 * i, microseconds=(i * 7919) % 1_000_000)
    return {
        "timestamp": int(t.timestamp() * 1000),
        "version": i + i // 100,
        "txn_seq": i,
        "user": "station",
        "time": t.isoformat(),
        "versions": "10",
        "command": json.dumps(["pond", "run"]),
        **extra,
    }


def test_every_commit_reads_back_as_it_was(tmp_path: Path) -> None:
    commits = [commit(i) for i in range(1, 40)]
    commits[3]["operation"] = "WRITE"  # Delta's own keys are not kept
    commits[4]["extra"] = {"note": [1, 2.5, True, None]}
    commits[5]["flag"] = True
    commits[6]["time"] = "2025-01-01T00:00:00Z"  # not as isoformat prints it: kept as text
    archive_commits(tmp_path, [*commits, {"operation": "OPTIMIZE", "version": 99}])
    back = archived_commits(tmp_path)
    expected = [{k: v for k, v in c.items() if k != "operation"} for c in commits]
    assert back == expected
    assert (tmp_path / "_pond" / ARCHIVE_FILE).is_file()
    # Added again with the newest: one per transaction, the first archived kept.
    archive_commits(tmp_path, [commit(1, user="someone else"), commit(40)])
    again = archived_commits(tmp_path)
    assert again[:-1] == expected and again[-1] == commit(40)


def test_a_year_of_commits_takes_a_few_bytes_each(tmp_path: Path) -> None:
    commits = [commit(i) for i in range(1, 35_041)]
    archive_commits(tmp_path, commits)
    size = (tmp_path / "_pond" / ARCHIVE_FILE).stat().st_size
    one_line = len(json.dumps(commits[-1])) + 1
    assert size / len(commits) < 12 < one_line  # a JSON line alone is some 190 bytes
    assert archived_commits(tmp_path)[-1] == commits[-1]


def test_an_archive_of_json_lines_is_read_and_folded_in(tmp_path: Path) -> None:
    meta = tmp_path / "_pond"
    meta.mkdir()
    old = [commit(i) for i in range(1, 6)]
    (meta / LEGACY_ARCHIVE_FILE).write_text("".join(json.dumps(c) + "\n" for c in old))
    assert archived_commits(tmp_path) == old
    archive_commits(tmp_path, [commit(6)])
    assert not (meta / LEGACY_ARCHIVE_FILE).exists()
    assert archived_commits(tmp_path) == [*old, commit(6)]
    # A crash between writing the new archive and removing the old leaves both: read as one.
    (meta / LEGACY_ARCHIVE_FILE).write_text(json.dumps(old[0]) + "\n")
    assert archived_commits(tmp_path) == [*old, commit(6)]
