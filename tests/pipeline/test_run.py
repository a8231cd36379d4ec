"""``pond run``: dependency order, isolated failures, run records, Inbox, secrets, the run lock."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ..cli.conftest import POND_SCRIPT, assert_process_user_error, child_env, run_pond
from .conftest import PondRunner, assert_user_error, doc, yaml_file

CSV_A = "timestamp,temp\n2025-01-01T00:00:00,1.5\n2025-01-01T01:00:00,2.5\n"
CSV_B = "timestamp,temp\n2025-01-02T00:00:00,3.5\n"


def runs(pond: PondRunner) -> list[dict[str, object]]:
    return list(
        pond.json(
            "query", "SELECT resource, outcome, rows, error, details FROM runs ORDER BY start"
        )
    )


def test_chain_of_three_runs_in_dependency_order(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    inbox = host / "in"
    inbox.mkdir()
    (inbox / "a.csv").write_text(CSV_A)
    log = tmp_path / "order.log"
    # Written last-first: the order comes from what each reads, not from the file.
    f = yaml_file(
        tmp_path / "chain.yaml",
        doc("Relay", "third", f"{{inputs: ['/relay/second/*'], log: '{log}'}}"),
        doc("Relay", "second", f"{{inputs: ['/inbox/first/*.csv'], log: '{log}'}}"),
        doc("Inbox", "first", f"{{pattern: '{inbox}/*.csv', settle: 0s}}"),
    )
    pond.ok("apply", "-f", str(f))
    pond.ok("run")
    assert log.read_text().splitlines() == ["second", "third"]
    # One run carried the file through all three: each saw the one before committed.
    assert pond.cat_bytes("/relay/third/a.csv") == CSV_A.encode()
    assert [r["resource"] for r in runs(pond)] == ["first", "second", "third"]
    assert {r["outcome"] for r in runs(pond)} == {"ok"}


def test_a_failure_is_isolated_recorded_and_exits_1(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    inbox = host / "in"
    inbox.mkdir()
    (inbox / "a.csv").write_text(CSV_A)
    log = tmp_path / "order.log"
    f = yaml_file(
        tmp_path / "r.yaml",
        doc("Relay", "broken", f"{{inputs: ['/nothing/*'], log: '{log}', fail: true}}"),
        doc("Inbox", "drop", f"{{pattern: '{inbox}/*.csv', settle: 0s}}"),
    )
    pond.ok("apply", "-f", str(f))
    result = pond("run")
    assert assert_user_error(result) == "1 of 2 run(s) failed: broken"
    assert "broken was told to fail" in result.stdout
    assert pond.cat_bytes("/inbox/drop/a.csv") == CSV_A.encode()
    records = {r["resource"]: r for r in runs(pond)}
    assert records["broken"]["outcome"] == "failed"
    assert records["broken"]["error"] == "RuntimeError: broken was told to fail"
    assert records["drop"]["outcome"] == "ok"
    assert pond.paths("/relay/broken/") == []
    listed = {r["name"]: r for r in pond.json("resources")}
    assert listed["broken"]["last_outcome"] == "failed"
    assert listed["drop"]["last_outcome"] == "ok" and listed["drop"]["last_run"]
    # Named runs, and names that do not run.
    out = json.loads(pond.ok("--json", "run", "drop").stdout)
    assert [r["resource"] for r in out["results"]] == ["drop"] and out["ok"]
    assert "no resource named 'nope'" in pond.fails("run", "nope")


def inbox_pond(pond: PondRunner, tmp_path: Path, inbox: Path, extra: str = "") -> None:
    inbox.mkdir(exist_ok=True)
    f = yaml_file(
        tmp_path / "inbox.yaml",
        doc("Inbox", "drop", f"{{pattern: '{inbox}/*.csv', format: series, settle: 0s{extra}}}"),
    )
    pond.ok("apply", "-f", str(f))


def run_details(pond: PondRunner) -> dict[str, object]:
    out = json.loads(pond.ok("--json", "run").stdout)
    [result] = out["results"]
    assert result["outcome"] == "ok", result
    details: dict[str, object] = result["details"]
    return details


def test_inbox_new_changed_unchanged_and_duplicate(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    inbox = host / "in"
    inbox_pond(pond, tmp_path, inbox)
    (inbox / "a.csv").write_text(CSV_A)
    d = run_details(pond)
    assert (d["new"], d["changed"], d["unchanged"], d["skipped"]) == (1, 0, 0, 0)
    assert pond.json("describe", "/inbox/drop/a.csv")[0]["rows"] == 2
    log_length = len(pond.json("log"))
    d = run_details(pond)
    assert (d["new"], d["changed"], d["unchanged"], d["skipped"]) == (0, 0, 1, 0)
    assert len(pond.json("log")) == log_length  # nothing new: no transaction
    assert [v["version"] for v in pond.json("history", "/inbox/drop/a.csv")] == [1]
    (inbox / "a.csv").write_text(CSV_A + "2025-01-01T02:00:00,9.0\n")
    (inbox / "b.csv").write_text(CSV_B)
    (inbox / "ignored.txt").write_text("not matched")
    d = run_details(pond)
    assert (d["new"], d["changed"], d["unchanged"], d["skipped"]) == (1, 1, 0, 0)
    assert [v["version"] for v in pond.json("history", "/inbox/drop/a.csv")] == [1, 2]
    # The same content again, under another name or back in a.csv: never imported twice.
    (inbox / "copy-of-b.csv").write_text(CSV_B)
    (inbox / "a.csv").write_text(CSV_A)
    d = run_details(pond)
    assert (d["new"], d["changed"], d["unchanged"], d["skipped"]) == (0, 0, 1, 2)
    assert sorted(pond.paths("/inbox/drop/*")) == ["/inbox/drop/a.csv", "/inbox/drop/b.csv"]
    rows = pond.json("query", 'SELECT count(*) AS n FROM "/inbox/drop/b.csv"')
    assert rows == [{"n": 1}]


def test_inbox_leaves_a_file_still_being_written(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    inbox = host / "in"
    inbox.mkdir()
    f = yaml_file(
        tmp_path / "inbox.yaml",
        doc("Inbox", "drop", f"{{pattern: '{inbox}/*.csv', settle: 1s}}"),
    )
    pond.ok("apply", "-f", str(f))
    (inbox / "done.csv").write_text(CSV_A)
    growing = inbox / "growing.csv"
    growing.write_text("timestamp,temp\n")
    stop = threading.Event()

    def writer() -> None:
        with growing.open("a") as fh:
            while not stop.is_set():
                fh.write("2025-01-01T00:00:00,1.0\n")
                fh.flush()
                time.sleep(0.05)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        d = run_details(pond)
    finally:
        stop.set()
        thread.join()
    assert (d["new"], d["skipped"]) == (1, 1)
    assert d["skipped_files"] == [f"{growing}: still being written"]
    assert pond.paths("/inbox/drop/*") == ["/inbox/drop/done.csv"]
    d = run_details(pond)
    assert (d["new"], d["unchanged"], d["skipped"]) == (1, 1, 0)
    assert pond.cat_bytes("/inbox/drop/growing.csv") == growing.read_bytes()


def test_inbox_skips_and_names_a_bad_file_and_imports_the_good_ones(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    inbox = host / "in"
    inbox_pond(pond, tmp_path, inbox)
    # Semicolons with the default options: one column, no timestamp found. Sorted first.
    bad = inbox / "a-bad.csv"
    bad.write_text("timestamp;temp\n2025-01-01T00:00:00;1.0\n")
    (inbox / "b.csv").write_text(CSV_A)
    result = pond("run")
    assert result.exit_code == 1
    assert f"drop: failed: 1 new, 0 changed, 0 unchanged, 0 skipped, 1 failed: {bad}: " in (
        result.stdout
    )
    assert "timestamp column" in result.stdout
    # The good file is committed all the same.
    assert pond.paths("/inbox/drop/*") == ["/inbox/drop/b.csv"]
    assert pond.json("describe", "/inbox/drop/b.csv")[0]["rows"] == 2
    [record] = pond.json("query", "SELECT outcome, error, details FROM runs")
    assert record["outcome"] == "failed" and str(bad) in record["error"]
    details = json.loads(record["details"])
    assert details["new"] == 1 and details["failed"] == 1
    [line] = details["failed_files"]
    assert line.startswith(f"{bad}: ") and "timestamp column" in line and "\n" not in line
    # Tried again on the next run: still failing, the good file unchanged.
    out = json.loads(pond("--json", "run").stdout)
    [again] = out["results"]
    assert again["outcome"] == "failed"
    assert (again["details"]["unchanged"], again["details"]["failed"]) == (1, 1)
    # Fixed: imported, and the run is ok again.
    bad.write_text("timestamp,temp\n2025-01-02T00:00:00,1.0\n")
    d = run_details(pond)
    assert (d["new"], d["unchanged"], d["failed"], d["failed_files"]) == (1, 1, 0, [])
    assert pond.paths("/inbox/drop/*") == ["/inbox/drop/a-bad.csv", "/inbox/drop/b.csv"]


def test_inbox_a_version_that_does_not_fit_the_series_fails_alone(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    inbox = host / "in"
    inbox_pond(pond, tmp_path, inbox)
    (inbox / "a.csv").write_text(CSV_A)
    (inbox / "b.csv").write_text(CSV_B)
    run_details(pond)
    # a.csv changes to a timestamp column of another type; b.csv changes fine.
    (inbox / "a.csv").write_text("timestamp,temp\n1,2\n")
    (inbox / "b.csv").write_text(CSV_B + "2025-01-03T00:00:00,5.0\n")
    out = json.loads(pond("--json", "run").stdout)
    [result] = out["results"]
    assert result["outcome"] == "failed"
    assert result["details"]["changed"] == 1
    [line] = result["details"]["failed_files"]
    assert line.startswith(f"{inbox / 'a.csv'}: ")
    assert [v["version"] for v in pond.json("history", "/inbox/drop/b.csv")] == [1, 2]
    assert [v["version"] for v in pond.json("history", "/inbox/drop/a.csv")] == [1]


SECRET = "pa55-Zq8-very-secret-value"


def test_secrets_never_reach_the_pond_or_the_output(
    pond: PondRunner, pond_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    monkeypatch.setenv("DP_VAULT_TOKEN", SECRET)
    f = yaml_file(
        tmp_path / "v.yaml",
        doc("Vault", "good", "{token: '${env:DP_VAULT_TOKEN}', path: /vault/good}"),
        doc("Vault", "bad", "{token: '${env:DP_VAULT_TOKEN}', path: /vault/bad, fail: true}"),
    )
    outputs = [pond.ok("apply", "-f", str(f))]
    result = pond("run")
    assert result.exit_code == 1
    outputs.append(result)
    # It was resolved and used: the run stored a digest of the right value.
    digest = hashlib.sha256(SECRET.encode()).hexdigest().encode()
    assert pond.cat_bytes("/vault/good/token.sha256") == digest
    for args in (
        ("--json", "query", "SELECT * FROM runs"),
        ("--json", "resources"),
        ("describe", "/etc/resources/good"),
        ("cat", "/etc/resources/bad"),
        ("--json", "run"),
    ):
        outputs.append(pond(*args))
    for out in outputs:
        assert SECRET not in out.stdout + out.stderr
    records = pond.json("query", "SELECT error FROM runs WHERE resource = 'bad'")
    assert records[0]["error"] == "server refused token *** for bad"
    assert "${env:DP_VAULT_TOKEN}" in pond.cat_bytes("/etc/resources/good").decode()
    needle = SECRET.encode()
    walked = 0
    for top, _dirs, files in os.walk(pond_dir):
        for name in files:
            walked += 1
            assert needle not in (Path(top) / name).read_bytes(), Path(top) / name
    assert walked > 10


@pytest.mark.slow
def test_two_concurrent_runs(pond: PondRunner, pond_dir: Path, host: Path, tmp_path: Path) -> None:
    inbox = host / "in"
    inbox.mkdir()
    (inbox / "a.csv").write_text(CSV_A)
    f = yaml_file(
        tmp_path / "slow.yaml",
        doc("Inbox", "slow", f"{{pattern: '{inbox}/*.csv', settle: 15s}}"),
    )
    pond.ok("apply", "-f", str(f))
    first = subprocess.Popen(
        [str(POND_SCRIPT), "--pond", str(pond_dir), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    try:
        lock = pond_dir / "run.lock"
        deadline = time.monotonic() + 30
        while not (lock.exists() and lock.read_text().strip()):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        refused = run_pond("run", "--no-wait", pond_dir=pond_dir)
        # It did not wait: the first run (sleeping 15 s to let its file settle) still runs.
        assert first.poll() is None
        message = assert_process_user_error(refused)
        assert message.startswith(
            f"another pond run is under way: pid {first.pid} (pond --pond {pond_dir} run) since "
        ), message
        waited = run_pond("--lock-timeout", "60", "--json", "run", pond_dir=pond_dir)
        assert waited.returncode == 0, waited.stderr
        assert first.wait(30) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    second = json.loads(waited.stdout)["results"][0]
    # The waiting run started after the first finished: it found the file already there.
    assert second["details"]["unchanged"] == 1 and second["details"]["new"] == 0
    assert [r["outcome"] for r in runs(pond)] == ["ok", "ok"]


def test_inbox_directory_gone_since_apply_fails_the_run(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    inbox = host / "in"
    inbox_pond(pond, tmp_path, inbox)
    inbox.rmdir()
    result = pond("run")
    assert assert_user_error(result) == "1 of 1 run(s) failed: drop"
    [record] = runs(pond)
    assert record["error"] == f"the inbox directory does not exist: {inbox}"
