"""The backup commands through the CLI against a real S3 server: output, errors, secrets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import obstore
import pytest
from click.testing import CliRunner, Result

from duckpond import Pond
from duckpond.backup import Remote, StoreOptions
from duckpond.cli import cli
from duckpond.testing.s3server import ACCESS_KEY, SECRET_KEY, S3Server

from .conftest import backup_doc, snapshot

SECRET_REFS = {
    "access_key_id": "${env:S3_KEY}",
    "secret_access_key": "${env:S3_SECRET}",
}


def pond_cli(pond_dir: Path | None, *args: str) -> Result:
    argv = (["--pond", str(pond_dir)] if pond_dir else []) + list(args)
    return CliRunner().invoke(cli, argv, catch_exceptions=True)


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def secret_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials only as S3_KEY/S3_SECRET (referenced by the Backup spec), not AWS_*."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("S3_KEY", ACCESS_KEY)
    monkeypatch.setenv("S3_SECRET", SECRET_KEY)


def make(tmp_path: Path, server: S3Server, url: str, **spec: str) -> Path:
    pond = Pond.init(tmp_path / "pond")
    pond.mkdir("/raw")
    pond.write_bytes("/raw/a.txt", b"hello")
    doc = tmp_path / "backup.yaml"
    fields = {"endpoint": server.endpoint, "allow_http": "true", **SECRET_REFS, **spec}
    doc.write_text(backup_doc("offsite", url, **fields))
    assert pond_cli(pond.path, "apply", "-f", str(doc)).exit_code == 0
    return pond.path


def test_push_list_verify_status_run_and_no_secret_anywhere(
    s3_server: S3Server, s3_url: str, secret_env: None, tmp_path: Path
) -> None:
    pond_dir = make(tmp_path, s3_server, s3_url)
    outputs: list[str] = []

    def ok(*args: str) -> Result:
        result = pond_cli(pond_dir, *args)
        outputs.extend([result.stdout, result.stderr])
        assert result.exit_code == 0, (args, result.stdout, result.stderr, result.exception)
        return result

    pushed = json.loads(ok("--json", "backup", "push").stdout)
    assert pushed[0]["last_txn"] == 4 and pushed[0]["objects_sent"] > 0
    listed = json.loads(ok("--json", "backup", "list").stdout)
    assert listed[0]["last_pushed_txn"] == 4 and listed[0]["lag_txns"] == 0
    Pond.open(pond_dir).write_bytes("/raw/b.txt", b"more")
    listed = json.loads(ok("--json", "backup", "list").stdout)
    assert listed[0]["lag_txns"] == 1 and listed[0]["lag_bytes"] > 0
    verified = json.loads(ok("--json", "backup", "verify", "offsite").stdout)
    assert (verified["status"], verified["behind_by"]) == ("behind", 1)
    # `pond run`: the Backup runs and pushes; its run record lives beside the oplog
    # (no transaction of its own), so no lag is left and txn 5 is the last.
    assert "offsite" in ok("run").stdout
    status = json.loads(ok("--json", "status").stdout)
    assert status["backups"][0]["lag_txns"] == 0
    assert status["backups"][0]["last_pushed_txn"] == status["last_txn"] == 5
    assert status["pond_id"] == Pond.open(pond_dir).pond_id
    assert status["disk"]["log_bytes"] > 0 and status["resources"][0]["last_outcome"] == "ok"
    deep = json.loads(ok("--json", "backup", "verify", "offsite", "--deep").stdout)
    assert deep["ok"] and deep["status"] == "equal" and deep["objects_checked"] > 0
    for args in (("status",), ("backup", "list"), ("log",), ("resources",)):
        ok(*args)
    outputs.append(ok("query", "SELECT * FROM runs").stdout)

    # A wrong secret: the run fails, recorded without the value.
    wrong = "wrong-secret-5f1e2d"
    import os

    os.environ["S3_SECRET"] = wrong
    try:
        result = pond_cli(pond_dir, "backup", "push")
        assert "credentials were refused" in one_line_error(result)
        outputs.extend([result.stdout, result.stderr])
        outputs.append(pond_cli(pond_dir, "run").stdout)
        outputs.append(pond_cli(pond_dir, "--json", "query", "SELECT * FROM runs").stdout)
        outputs.append(pond_cli(pond_dir, "--json", "backup", "list").stdout)
    finally:
        os.environ["S3_SECRET"] = SECRET_KEY

    for secret in (SECRET_KEY, wrong):
        for text in outputs:
            assert secret not in text
        for path in pond_dir.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
        for key, data in s3_server.objects(s3_url).items():
            assert secret.encode() not in data, key


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://no-such-bucket-here/p", "the bucket does not exist"),
        ("s3:///p", "names no bucket"),
        ("ftp://host/p", "unknown scheme 'ftp'"),
    ],
)
def test_bad_remotes_are_one_line_errors_and_change_nothing(
    s3_server: S3Server, s3_env: dict[str, str], tmp_path: Path, url: str, expected: str
) -> None:
    source = Pond.init(tmp_path / "src")
    source.write_bytes("/a", b"a")
    result = pond_cli(None, "restore", url, str(tmp_path / "dest"))
    assert expected in one_line_error(result)
    assert not (tmp_path / "dest").exists()
    # The same URL in a Backup resource: refused at apply (a bad URL) or at push.
    doc = tmp_path / "b.yaml"
    doc.write_text(backup_doc("offsite", url, endpoint=s3_server.endpoint))
    before = snapshot(source.path)
    applied = pond_cli(source.path, "apply", "-f", str(doc))
    if applied.exit_code == 0:
        before = snapshot(source.path)
        assert expected in one_line_error(pond_cli(source.path, "backup", "push"))
    else:
        assert expected in one_line_error(applied)
    assert snapshot(source.path) == before


def test_wrong_credentials_for_restore(
    s3_server: S3Server, s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pond = Pond.init(tmp_path / "src")
    assert pond_cli(pond.path, "restore", s3_url, str(tmp_path / "x")).exit_code == 1
    from duckpond.backup import Remote, push

    push(pond.path, Remote(s3_url, create=True), "b")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    message = one_line_error(pond_cli(None, "restore", s3_url, str(tmp_path / "dest")))
    assert "credentials were refused" in message and "not-the-secret" not in message
    assert not (tmp_path / "dest").exists()


def test_restore_command_and_its_checks(s3_server: S3Server, s3_url: str, tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "src")
    pond.write_bytes("/a", b"one")
    pond.write_bytes("/a", b"two")
    from duckpond.backup import Remote, push

    push(pond.path, Remote(s3_url, create=True), "b")
    result = pond_cli(
        None,
        "--json",
        "restore",
        s3_url,
        str(tmp_path / "r"),
        "--at-txn",
        "2",
        "--endpoint",
        s3_server.endpoint,
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["txn_seq"] == 2
    assert Pond.open(tmp_path / "r").read_bytes("/a") == b"one"
    message = one_line_error(pond_cli(None, "restore", s3_url, str(tmp_path / "r")))
    assert "not empty" in message
    message = one_line_error(
        pond_cli(None, "restore", s3_url, str(tmp_path / "q"), "--at-txn", "9")
    )
    assert "no transaction 9" in message


def test_pond_run_pushes_after_every_other_resource_and_leaves_no_lag(
    s3_server: S3Server,
    s3_url: str,
    secret_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.txt").write_text("from the field\n")
    pond_dir = make(tmp_path, s3_server, s3_url)
    # Named to sort before the Backup ("offsite"), and no dependency between them.
    doc = tmp_path / "inbox.yaml"
    doc.write_text(
        "apiVersion: duckpond/v1\nkind: Inbox\nname: aaa-drop\n"
        f"spec: {{pattern: '{inbox}/*', path: /drop, settle: 0s}}\n"
    )
    assert pond_cli(pond_dir, "apply", "-f", str(doc)).exit_code == 0
    result = pond_cli(pond_dir, "--json", "run")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [r["resource"] for r in report["results"]] == ["aaa-drop", "offsite"]
    pond = Pond.open(pond_dir)
    assert pond.backups.list()[0].lag_txns == 0
    restored = tmp_path / "restored"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    Pond.restore(s3_url, restored, endpoint=s3_server.endpoint, allow_http=True)
    assert Pond.open(restored).read_bytes("/drop/a.txt") == b"from the field\n"
    assert snapshot(restored) == snapshot(pond_dir)


def test_verify_compares_content_roots(
    s3_server: S3Server, s3_url: str, secret_env: None, tmp_path: Path
) -> None:
    pond_dir = make(tmp_path, s3_server, s3_url)
    Pond.open(pond_dir).write_bytes("/raw/b.bin", os.urandom(200_000))
    assert pond_cli(pond_dir, "backup", "push", "offsite").exit_code == 0
    fsck = json.loads(pond_cli(pond_dir, "--json", "fsck").stdout)
    result = pond_cli(pond_dir, "--json", "backup", "verify", "offsite")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["remote_root"] == report["local_root"] == fsck["content_root"]
    assert report["roots_equal"] is True and report["remote_txn"] == fsck["root_txn"]
    text = pond_cli(pond_dir, "backup", "verify", "offsite").stdout
    assert f"remote content root at txn {fsck['root_txn']}: {fsck['content_root']}" in text

    # Behind: the local root is taken at the remote's transaction, not the newest.
    Pond.open(pond_dir).write_bytes("/raw/a.txt", b"changed")
    behind = json.loads(pond_cli(pond_dir, "--json", "backup", "verify", "offsite").stdout)
    assert behind["status"] == "behind" and behind["roots_equal"] is True
    assert behind["local_root"] == fsck["content_root"]

    # Every remote oplog data file overwritten (a flipped bit in bytes the root does not
    # read is for --deep): found without --deep, by reading the remote in place.
    store = s3_server.store(s3_url)
    for obj in obstore.list(store, prefix="data").collect():
        key = obj["path"]
        if key.endswith(".parquet") and "_delta_log" not in key:
            data = bytearray(obstore.get(store, key).bytes())
            data[4:-8] = bytes(len(data) - 12)
            obstore.put(store, key, bytes(data))
    result = pond_cli(pond_dir, "--json", "backup", "verify", "offsite")
    line = one_line_error(result)
    assert "backup offsite is not usable" in line
    tampered = json.loads(result.stdout)
    assert tampered["ok"] is False
    assert tampered["problems"] or tampered["roots_equal"] is False


# -- a push that finds its remote damaged says so: one line, exit 1, the push still done


def _remote(server: S3Server, url: str) -> Remote:
    options = StoreOptions(
        endpoint=server.endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        allow_http=True,
    )
    return Remote(url, options)


def test_a_missing_or_resized_object_is_named_by_the_next_push(
    s3_server: S3Server, s3_url: str, secret_env: None, tmp_path: Path
) -> None:
    pond_dir = make(tmp_path, s3_server, s3_url)
    blob = os.urandom(200_000)
    with Pond.open(pond_dir) as pond:
        pond.write_bytes("/raw/big.bin", blob)
    assert pond_cli(pond_dir, "backup", "push").exit_code == 0
    remote = _remote(s3_server, s3_url)
    found = remote.record(remote.tip())
    assert found is not None
    newest_data = next(o.key for o in found[0].objects if o.key.startswith("data/part_id="))
    store = s3_server.store(s3_url)
    store.delete(newest_data)
    with Pond.open(pond_dir) as pond:
        pond.write_bytes("/raw/a.txt", b"changed")
    result = pond_cli(pond_dir, "backup", "push")
    line = one_line_error(result)
    assert newest_data in line and "missing" in line, line
    assert "pond backup verify offsite --deep" in line, line
    assert "pushed through txn" in result.stdout  # the push itself was done

    # A content-addressed blob of the wrong size, found when a push looks for it.
    blob_key = next(k for k in s3_server.objects(s3_url) if k.startswith("data/_large_files/"))
    store.put(blob_key, b"short")
    with Pond.open(pond_dir) as pond:
        pond.write_bytes("/raw/again.bin", blob)  # the same content: the push asks for it
    line = one_line_error(pond_cli(pond_dir, "--json", "backup", "push"))
    assert blob_key in line and "5 bytes" in line, line
    assert s3_server.objects(s3_url)[blob_key] == b"short"  # named, never replaced

    # An undamaged remote: exit 0 (a fresh prefix, pushed whole).
    doc = tmp_path / "fresh.yaml"
    doc.write_text((tmp_path / "backup.yaml").read_text().replace(s3_url, s3_url + "-fresh"))
    assert pond_cli(pond_dir, "apply", "-f", str(doc)).exit_code == 0
    result = pond_cli(pond_dir, "backup", "push")
    assert result.exit_code == 0, result.stderr


def test_an_unset_endpoint_variable_is_named_as_the_endpoints(
    s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint or region written ${env:...} is not a secret: an unset variable is
    named as the field's, and its value is not masked in messages."""
    monkeypatch.delenv("DP_TEST_ENDPOINT", raising=False)
    source = Pond.init(tmp_path / "src")
    doc = tmp_path / "b.yaml"
    doc.write_text(backup_doc("offsite", s3_url, endpoint="${env:DP_TEST_ENDPOINT}"))
    assert pond_cli(source.path, "apply", "-f", str(doc)).exit_code == 0
    before = snapshot(source.path)
    error = one_line_error(pond_cli(source.path, "backup", "push"))
    assert "endpoint ${env:DP_TEST_ENDPOINT} is not set" in error, error
    assert "secret" not in error, error
    assert snapshot(source.path) == before
    # Set to an address nothing listens at: the address is named, not masked.
    monkeypatch.setenv("DP_TEST_ENDPOINT", "http://127.0.0.1:9")
    error = one_line_error(pond_cli(source.path, "backup", "push"))
    assert "***" not in error, error


def test_json_after_the_command_is_the_global_json(tmp_path: Path) -> None:
    """`pond backup list --json` and `pond status --json`, as issue and docs write them,
    print what `pond --json ...` prints; a `--json` after `--` is an argument."""
    pond = Pond.init(tmp_path / "pond")
    pond.write_bytes("/a.txt", b"a")
    doc = tmp_path / "b.yaml"
    doc.write_text(backup_doc("nas", f"file://{tmp_path / 'nas'}"))
    assert pond_cli(pond.path, "apply", "-f", str(doc)).exit_code == 0
    for command in (["backup", "list"], ["status"], ["list", "/"]):
        after = pond_cli(pond.path, *command, "--json")
        before = pond_cli(pond.path, "--json", *command)
        assert after.exit_code == 0, after.stderr
        assert json.loads(after.stdout) == json.loads(before.stdout)
    as_argument = pond_cli(pond.path, "list", "--", "--json")
    assert as_argument.exit_code == 1 and "--json" in as_argument.stderr


def test_status_and_list_after_a_push_by_hand_read_whole(tmp_path: Path) -> None:
    # A Backup pushed with `pond backup push` (never by `pond run`) is not "never run",
    # and a URL longer than its column is wrapped, never cut short.
    source = Pond.init(tmp_path / "src")
    source.write_bytes("/a", b"a")
    url = (tmp_path / "a-rather-long-directory-name-for-the-backup" / "remote").as_uri()
    doc = tmp_path / "b.yaml"
    doc.write_text(backup_doc("offsite", url))
    for args in (("apply", "-f", str(doc)), ("backup", "push")):
        assert pond_cli(source.path, *args).exit_code == 0
    status = pond_cli(source.path, "status").stdout
    assert "never run" not in status and "pushed by hand" in status, status
    # A terminal of 100 columns: the table, the URL folded over lines inside its cell
    # (tests/cli/test_narrow.py: narrower, one block a backup).
    listed = (
        CliRunner(env={"COLUMNS": "100"})
        .invoke(cli, ["--pond", str(source.path), "backup", "list"])
        .stdout
    )
    assert "…" not in listed
    # The URL's characters in order, column by column.
    cells = [line.split("│")[2].strip() for line in listed.splitlines() if line.count("│") > 2]
    assert "".join(cells) == url, listed


def test_status_says_a_derivation_is_computed_when_read() -> None:
    # `pond run` never runs a Reduce or a Join: status must not call one "never run".
    from duckpond.cli.commands.backup import _computed_on_read

    assert _computed_on_read("Reduce") and _computed_on_read("Join")
    assert not _computed_on_read("Backup") and not _computed_on_read("Inbox")
    assert not _computed_on_read("NoSuchKind")


def test_a_restored_pond_that_runs_and_pushes_keeps_the_backup_restorable(
    tmp_path: Path,
) -> None:
    # The restored pond's runs file holds the original's run records: its pushes send
    # only those added since, not the whole file again from byte 0 (which left a backup
    # whose newest restore point was refused for overlapping run records).
    url = (tmp_path / "remote").as_uri()
    doc = tmp_path / "b.yaml"
    doc.write_text(backup_doc("b8", url))
    note = tmp_path / "a.txt"
    note.write_text("a")
    src, copy = tmp_path / "src", tmp_path / "copy"
    Pond.init(src).close()
    for args in (("copy", str(note), "/a.txt"), ("apply", "-f", str(doc)), ("run",)):
        assert pond_cli(src, *args).exit_code == 0, args
    assert pond_cli(src, "copy", str(note), "/b.txt").exit_code == 0
    assert pond_cli(src, "backup", "push").exit_code == 0
    assert pond_cli(None, "restore", url, str(copy)).exit_code == 0
    for args in (("run",), ("copy", str(note), "/c.txt"), ("backup", "push")):
        result = pond_cli(copy, *args)
        assert result.exit_code == 0, (args, result.output)
    again = pond_cli(None, "restore", url, str(tmp_path / "again"))
    assert again.exit_code == 0, again.output
    with Pond.open(tmp_path / "again") as restored:
        assert restored.read_bytes("/c.txt") == b"a"
