"""A pond that lives on S3 (``pond --pond s3://bucket/prefix init``), against SeaweedFS.

Writers share no lock: Delta's create-only commit keeps them apart, and a writer that
loses the race re-applies its command (``duckpond.tlogfs.shared``).  These tests run the
README tour on such a pond, race four writer processes with caches of their own, kill
writers at random instants, and check the refusals: a server that ignores
``If-None-Match: *`` (a stand-in HTTP server, since SeaweedFS honours it) and writes to a
backup's URL.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from duckpond import Pond
from duckpond.backup import Remote, push

from .conftest import POND_SCRIPT, assert_process_user_error, child_env, script

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _own_cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ponds opened in this process cache under the test's directory, not the user's."""
    monkeypatch.setenv("DUCKPOND_CACHE_DIR", str(tmp_path / "in-process-cache"))


def pond_env(cache: Path, **extra: str) -> dict[str, str]:
    """A child's environment: the server's AWS_* variables (set by ``s3_env``), its own cache."""
    return child_env(DUCKPOND_CACHE_DIR=str(cache), **extra)


def pond_cli(
    url: str, cache: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(POND_SCRIPT), "--pond", url, *args],
        capture_output=True,
        timeout=timeout,
        env=pond_env(cache),
    )


def ok(proc: subprocess.CompletedProcess[bytes]) -> str:
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def gapless(url: str, cache: Path) -> list[int]:
    """The pond's transaction numbers, oldest first, asserted to be 1..N."""
    seqs = sorted(t["txn_seq"] for t in json.loads(ok(pond_cli(url, cache, "--json", "log"))))
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    return seqs


def fsck_ok(url: str, cache: Path) -> None:
    out = ok(pond_cli(url, cache, "--json", "fsck"))
    report = json.loads(out)
    assert report["problems"] == [], report


# -- the tour -------------------------------------------------------------------------


def readme_block(after_heading: str, language: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(after_heading)
    found = re.search(rf"```{language}\n(.*?)```", text[start:], re.S)
    assert found
    return found.group(1)


@pytest.mark.slow
def test_the_readme_tour_runs_against_a_pond_on_s3(s3_url: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("field notes\n")
    (work / "site-a.csv").write_text(
        "timestamp,Temperature.C,Depth.m\n"
        + "".join(f"2025-05-{d:02d}T00:00:00Z,{10 + d / 10},{1 + d / 100}\n" for d in range(1, 31))
    )
    (work / "site-a-june.csv").write_text(
        "timestamp,Temperature.C,Depth.m\n"
        + "".join(f"2025-06-{d:02d}T00:00:00Z,{12 + d / 10},{1 + d / 100}\n" for d in range(1, 8))
    )
    tour = readme_block("## A short tour", "sh")
    assert tour.startswith("export POND=~/pond\n")
    tour = tour.replace("export POND=~/pond", f"export POND={s3_url}").replace(
        "/tmp/export", str(tmp_path / "export")
    )
    env = {
        **pond_env(tmp_path / "cache"),
        "PATH": f"{POND_SCRIPT.parent}{os.pathsep}{os.environ['PATH']}",
    }
    proc = subprocess.run(
        ["bash", "-e", "-c", tour], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    expected = (sum(10 + d / 10 for d in range(1, 31)) + sum(12 + d / 10 for d in range(1, 8))) / 37
    assert f"{expected:.6f}"[:8] in proc.stdout
    assert (tmp_path / "export" / "site-a.series").exists()
    # The tour's log: init, mkdir, three copies, in order and without a gap.
    assert gapless(s3_url, tmp_path / "cache") == [1, 2, 3, 4, 5]

    # The Python example, on the same pond.
    example = readme_block("The same from Python:", "python").replace('"~/pond"', repr(s3_url))
    proc = subprocess.run(
        [sys.executable, "-c", example], cwd=work, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert ok(pond_cli(s3_url, tmp_path / "cache", "cat", "/notes/today.txt")) == (
        "calibrated the DO sensor"
    )
    fsck_ok(s3_url, tmp_path / "cache")


def test_init_refuses_an_existing_pond_or_backup(s3_url: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ok(pond_cli(s3_url, cache, "init"))
    message = assert_process_user_error(pond_cli(s3_url, cache, "init"))
    assert message == f"a pond (or a backup) already exists at {s3_url}"
    assert gapless(s3_url, cache) == [1]


def test_init_into_a_missing_bucket_is_refused_and_creates_nothing(
    s3_url: str, tmp_path: Path
) -> None:
    """SeaweedFS creates a bucket on its first write; init must name the typo instead."""
    missing = "s3://no-such-bucket-here/pond"
    message = assert_process_user_error(pond_cli(missing, tmp_path / "cache", "init"))
    assert message == f"{missing}: the bucket does not exist", message
    again = assert_process_user_error(pond_cli(missing, tmp_path / "cache", "list"))
    assert "the bucket does not exist" in again, again


def test_of_four_racing_inits_one_makes_the_pond(s3_url: str, tmp_path: Path) -> None:
    """deltalake rebased a second create onto version 1 (two root rows numbered 1) until
    it was told not to retry; now the later inits are refused."""
    cache = tmp_path / "cache"
    procs = [
        subprocess.Popen(
            [str(POND_SCRIPT), "--pond", s3_url, "init"],
            env=pond_env(cache),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outcomes = [(p.wait(timeout=120), p.stderr.read().decode()) for p in procs if p.stderr]
    assert sorted(code for code, _ in outcomes) == [0, 1, 1, 1], outcomes
    for code, err in outcomes:
        if code:
            assert "already exists at" in err, err
    assert gapless(s3_url, cache) == [1]


def test_blobs_are_content_addressed_on_the_store(
    s3_url: str, s3_server: object, tmp_path: Path
) -> None:
    from duckpond.testing.s3server import S3Server

    assert isinstance(s3_server, S3Server)
    cache = tmp_path / "cache"
    big = tmp_path / "big.bin"
    big.write_bytes(random.Random(7).randbytes(300_000))
    ok(pond_cli(s3_url, cache, "init"))
    ok(pond_cli(s3_url, cache, "copy", str(big), "/"))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    objects = s3_server.objects(s3_url)
    assert objects[f"data/_large_files/sha256={digest}"] == big.read_bytes()
    # Read back by another machine (another cache), every byte checked.
    assert pond_cli(s3_url, tmp_path / "other", "cat", "/big.bin").stdout == big.read_bytes()


# -- refusals ---------------------------------------------------------------------------


def test_write_commands_on_a_backup_url_stay_refused(s3_url: str, tmp_path: Path) -> None:
    local = tmp_path / "local"
    with Pond.init(local) as pond:
        pond.mkdir("/raw")
    push(local, Remote(s3_url, create=True), "offsite")
    cache = tmp_path / "cache"
    for args in (
        ("mkdir", "/new"),
        ("copy", str(tmp_path), "/raw/"),
        ("rm", "/raw"),
        ("maintain",),
        ("maintain", "--keep-txns", "1"),
    ):
        message = assert_process_user_error(pond_cli(s3_url, cache, *args))
        assert message.startswith(f"{s3_url} is read in place and cannot be written"), message
    assert gapless(s3_url, cache) == [1, 2]


class _Forgetful(http.server.BaseHTTPRequestHandler):
    """A stand-in S3 server that keeps objects in memory and ignores ``If-None-Match``
    (what some older gateways do); no signature check, since only the probe talks to it."""

    objects: ClassVar[dict[str, bytes]] = {}

    def log_message(self, format: str, *args: object) -> None:
        return None

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.objects[self.path] = self.rfile.read(length)
        self.send_response(200)
        self.send_header("ETag", f'"{len(self.objects)}"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        """A listing (``?list-type=2``): the keys under the bucket, none of them the
        prefix asked for (init lists it to see that the prefix holds no pond)."""
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?>'
            b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            b"<Name>old-gateway</Name><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>"
            b"<IsTruncated>false</IsTruncated></ListBucketResult>"
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_DELETE(self) -> None:
        self.objects.pop(self.path, None)
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def forgetful_endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Forgetful)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_init_refuses_a_server_that_ignores_if_none_match(
    forgetful_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    _Forgetful.objects = {}
    url = "s3://old-gateway/pond"
    proc = pond_cli(
        url, tmp_path / "cache", "init", "--endpoint", forgetful_endpoint, "--allow-http"
    )
    message = assert_process_user_error(proc)
    assert message.startswith(f"{url}: the server ignores If-None-Match: *"), message
    assert "silently loses one of two racing commits" in message
    # Only the probe was put there: no pond was started.
    assert [key for key in _Forgetful.objects if "/_probe/" not in key] == []


def test_opening_for_writing_checks_the_server_again(
    s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check at open: a pond made on a good server, then reached through a path
    whose create-only puts are not honoured, is refused before anything is written."""
    from obstore.exceptions import AlreadyExistsError

    from duckpond.errors import UnsafeStoreError
    from duckpond.tlogfs import shared

    with Pond.init(s3_url) as pond:
        pond.mkdir("/a")
    real_put = shared.check_create_only

    def forgetful(store: object, location: object, options: object) -> None:
        import obstore

        original = obstore.put

        def put(store: object, key: str, data: bytes, **kw: object) -> object:
            # The second create of the probe "succeeds", as on a gateway that ignores it.
            try:
                return original(store, key, data, **kw)  # type: ignore[arg-type]
            except AlreadyExistsError:
                return None

        monkeypatch.setattr(obstore, "put", put)
        try:
            real_put(store, location, options)  # type: ignore[arg-type]
        finally:
            monkeypatch.setattr(obstore, "put", original)

    monkeypatch.setattr("duckpond.tlogfs.persistence.check_create_only", forgetful)
    with Pond.open(s3_url) as pond, pytest.raises(UnsafeStoreError, match="If-None-Match"):
        pond.mkdir("/b")
    # maintain commits too (compaction, removing versions): the same check first.
    with Pond.open(s3_url) as pond, pytest.raises(UnsafeStoreError, match="If-None-Match"):
        pond.maintenance.maintain()
    with Pond.open(s3_url) as pond:
        assert [e.path for e in pond.list("/*")] == ["/a"]
        assert pond.last_txn == 2


# -- many writers -----------------------------------------------------------------------

WRITER = """
import sys
from duckpond import Pond
from duckpond.errors import BusyError

url, me, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(out, "a") as log:
    for j in range({commands}):
        try:
            # A pond opened afresh for each command, as a command line does.
            with Pond.open(url) as pond:
                if j % 3 == 0:
                    pond.write_bytes(f"/shared/w{{me}}-{{j}}.txt", f"{{me}}:{{j}}".encode())
                elif j % 3 == 1:
                    pond.mkdir(f"/w{{me}}/d{{j}}")
                else:
                    pond.write_bytes(f"/w{{me}}/f{{j}}.txt", f"{{me}}/{{j}}".encode())
        except BusyError:
            log.write(f"busy {{j}}\\n")
            continue
        log.write(f"ok {{j}}\\n")
        log.flush()
"""


@pytest.mark.slow
def test_four_writers_race_and_every_acknowledged_write_lands_once(
    s3_url: str, tmp_path: Path
) -> None:
    writers, commands = 4, 25
    with Pond.init(s3_url) as pond:
        pond.mkdir("/shared", *(f"/w{i}" for i in range(writers)))
    code = script(tmp_path, "writer.py", WRITER.format(commands=commands))
    procs = [
        subprocess.Popen(
            [sys.executable, str(code), s3_url, str(i), str(tmp_path / f"acks-{i}")],
            env=pond_env(tmp_path / f"cache-{i}"),
            stderr=subprocess.PIPE,
        )
        for i in range(writers)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()
    acked: dict[int, list[int]] = {}
    busy = 0
    for i in range(writers):
        for line in (tmp_path / f"acks-{i}").read_text().splitlines():
            what, j = line.split()
            if what == "ok":
                acked.setdefault(i, []).append(int(j))
            else:
                busy += 1
    total = sum(len(v) for v in acked.values())
    # Most commands land; a busy one landed nothing (checked below by the count).
    assert total >= writers * commands * 3 // 4, (total, busy)

    cache = tmp_path / "check"
    # init + the setup mkdir + one transaction per acknowledged command: none twice, none lost.
    assert gapless(s3_url, cache) == list(range(1, total + 3))
    with Pond.open(s3_url) as pond:
        for i, done in acked.items():
            for j in done:
                if j % 3 == 0:
                    path, data = f"/shared/w{i}-{j}.txt", f"{i}:{j}".encode()
                elif j % 3 == 1:
                    assert pond.stat(f"/w{i}/d{j}").type == "directory"
                    continue
                else:
                    path, data = f"/w{i}/f{j}.txt", f"{i}/{j}".encode()
                assert pond.read_bytes(path) == data
                assert len(pond.history(path)) == 1, path
        # Nothing that was not acknowledged is there either.
        names = {e.path for e in pond.list("/**")}
        expected = {"/shared", *(f"/w{i}" for i in range(writers))}
        for i, done in acked.items():
            for j in done:
                expected.add(
                    f"/shared/w{i}-{j}.txt"
                    if j % 3 == 0
                    else f"/w{i}/d{j}"
                    if j % 3 == 1
                    else f"/w{i}/f{j}.txt"
                )
        assert names == expected
    fsck_ok(s3_url, cache)


# -- kill -9 ----------------------------------------------------------------------------


@pytest.mark.slow
def test_kill_9_of_a_writer_at_random_instants_leaves_the_last_commit(
    s3_url: str, tmp_path: Path
) -> None:
    rng = random.Random(19)
    cache = tmp_path / "cache"
    ok(pond_cli(s3_url, cache, "init"))
    ok(pond_cli(s3_url, cache, "mkdir", "/in"))
    landed: dict[str, bytes] = {}
    for trial in range(10):
        small = tmp_path / f"small-{trial}.txt"
        big = tmp_path / f"big-{trial}.bin"
        small.write_bytes(f"trial {trial}\n".encode())
        big.write_bytes(rng.randbytes(200_000))
        before = gapless(s3_url, cache)
        proc = subprocess.Popen(
            [str(POND_SCRIPT), "--pond", s3_url, "copy", str(small), str(big), "/in/"],
            env=pond_env(cache),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.0, 2.5))
        proc.send_signal(signal.SIGKILL)
        code = proc.wait()
        after = gapless(s3_url, cache)
        # Either the copy committed whole (one more transaction) or nothing of it did.
        assert after in (before, [*before, len(before) + 1]), (before, after)
        if len(after) > len(before) or code == 0:
            landed[small.name] = small.read_bytes()
            landed[big.name] = big.read_bytes()
        listed = json.loads(ok(pond_cli(s3_url, cache, "--json", "list", "/in/*")))
        assert sorted(e["path"] for e in listed) == sorted(f"/in/{n}" for n in landed)
        for name, data in landed.items():
            assert pond_cli(s3_url, cache, "cat", f"/in/{name}").stdout == data
    # The pond still takes writes, and checks clean.
    ok(pond_cli(s3_url, cache, "mkdir", "/after"))
    fsck_ok(s3_url, cache)


# -- local caches -----------------------------------------------------------------------


def test_a_damaged_cached_oplog_file_is_dropped_and_fetched_again(
    s3_url: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    ok(pond_cli(s3_url, cache, "init"))
    ok(pond_cli(s3_url, cache, "mkdir", "-p", "/a/b", "/c"))
    first = ok(pond_cli(s3_url, cache, "--json", "list"))
    kept = [p for p in cache.rglob("oplog/*") if p.suffix != ".sha256"]
    assert kept, "the data files read were not kept"
    for path in kept:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    assert ok(pond_cli(s3_url, cache, "--json", "list")) == first
    # Each damaged copy was replaced by the fetched bytes, which check again.
    for path in kept:
        recorded = path.with_suffix(".sha256").read_text()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == recorded


def test_each_pond_at_a_url_gets_its_own_cache(s3_url: str, s3_server: object) -> None:
    """A prefix emptied and made into a new pond never sees the old pond's entries."""
    import obstore

    from duckpond.testing.s3server import S3Server

    assert isinstance(s3_server, S3Server)
    with Pond.init(s3_url) as pond:
        pond.mkdir("/old")
        first_cache, first_id = pond.path, pond.pond_id
    store = s3_server.store(s3_url)
    for chunk in obstore.list(store):
        obstore.delete(store, [m["path"] for m in chunk])
    with Pond.init(s3_url) as pond:
        assert pond.pond_id != first_id and pond.path != first_cache
        assert [e.path for e in pond.list("/*")] == []


def test_what_a_pond_on_s3_does_not_do_is_refused_in_one_line(s3_url: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from duckpond.cli import cli

    from .conftest import assert_user_error

    with Pond.init(s3_url) as pond:
        pond.mkdir("/a")
    # status, du, maintain and backup push/list/verify/prune work there
    # (test_s3pond_commands.py); recover has nothing to do.
    expected = {
        ("recover",): "there is nothing to recover",
        ("fsck", "--repair", "offsite"): "there are no local files to repair",
    }
    for args, words in expected.items():
        message = assert_user_error(CliRunner().invoke(cli, ["--pond", s3_url, *args]))
        assert message.startswith(f"{s3_url} is kept on S3"), message
        assert words in message, (args, message)
    assert CliRunner().invoke(cli, ["--pond", s3_url, "maintain", "--cache-only"]).exit_code == 0
    with Pond.open(s3_url) as pond:
        assert pond.last_txn == 2


def test_a_pond_url_of_another_scheme_is_named_as_a_pond_location(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--pond ftp://...` is a pond location, not a copy URL: the refusal says what a pond
    location may be (a fresh-user trial got the copy URLs' format words)."""
    from click.testing import CliRunner

    from duckpond.cli import cli

    from .conftest import assert_user_error

    for args, env in (
        (["--pond", "ftp://h/x", "list"], {}),
        (["--pond=gs://h/x", "list"], {}),
        (["list"], {"POND": "ftp://h/x"}),
    ):
        message = assert_user_error(CliRunner().invoke(cli, args, env=env))
        assert message.startswith("unknown scheme"), message
        assert "use s3://BUCKET/PREFIX or file:///DIR" in message, message


# -- pond run re-applies a resource's run whose commit lost the race ----------------------


def _racing(pond: Pond, url: str, times: int) -> list[int]:
    """Make ``pond``'s next ``times`` transactions lose their commit: just before each
    commits, another writer (its own Pond, as another machine) commits first."""
    from contextlib import contextmanager

    real = pond.transaction
    beaten: list[int] = []

    @contextmanager
    def racing(command: list[str] | None = None) -> Iterator[object]:
        with real(command) as tx:
            yield tx
            if len(beaten) < times:
                with Pond.open(url) as other:
                    other.write_bytes(f"/other/{len(beaten)}.txt", b"first")
                beaten.append(other.last_txn)

    pond.transaction = racing  # type: ignore[method-assign]
    return beaten


def test_a_run_whose_commit_lost_the_race_runs_again_on_the_new_state(
    s3_url: str, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_text("timestamp,v\n2025-01-01T00:00:00Z,1\n")
    doc = tmp_path / "in.yaml"
    doc.write_text(
        "apiVersion: duckpond/v1\nkind: Inbox\nname: field\n"
        f"spec: {{pattern: '{inbox}/*.csv', path: /inbox}}\n"
    )
    with Pond.init(s3_url) as pond:
        pond.mkdir("/other")
        pond.pipeline.apply([str(doc)])
    with Pond.open(s3_url) as pond:
        beaten = _racing(pond, s3_url, 1)
        (result,) = pond.pipeline.run(["field"]).results
    assert (result.outcome, result.error) == ("ok", None), result
    assert result.details.get("commits_lost") == 1
    assert len(beaten) == 1 and result.txn_seq == beaten[0] + 1
    with Pond.open(s3_url) as pond:
        assert pond.read_bytes("/inbox/a.csv").startswith(b"timestamp,v")
        assert len(pond.history("/inbox/a.csv")) == 1
        assert pond.read_bytes("/other/0.txt") == b"first"
    assert gapless(s3_url, tmp_path / "cache") == list(range(1, result.txn_seq + 1))

    # Beaten every time: a clean busy error, recorded as the run's failure; nothing of it
    # was written, and the next run (unbeaten) brings the file once.
    (inbox / "b.csv").write_text("timestamp,v\n2025-01-02T00:00:00Z,2\n")
    from duckpond.tlogfs.shared import COMMIT_RETRIES

    with Pond.open(s3_url) as pond:
        _racing(pond, s3_url, COMMIT_RETRIES + 1)
        (result,) = pond.pipeline.run(["field"]).results
        assert result.outcome == "failed" and "busy" in (result.error or ""), result
    with Pond.open(s3_url) as pond:
        assert [e.path for e in pond.list("/inbox/*")] == ["/inbox/a.csv"]
        (result,) = pond.pipeline.run(["field"]).results
        assert result.outcome == "ok" and pond.read_bytes("/inbox/b.csv").endswith(b",2\n")
    # This machine's run records (kept in its cache for the pond) are what it shows.
    with Pond.open(s3_url) as pond:
        outcomes = pond.sql("SELECT outcome FROM runs ORDER BY start").column(0).to_pylist()
        assert outcomes == ["ok", "failed", "ok"]
        (info,) = pond.pipeline.resources()
        assert info.last_run is not None
    fsck_ok(s3_url, tmp_path / "cache")


def test_a_backup_of_a_pond_on_s3_is_read_only_too(s3_url: str, tmp_path: Path) -> None:
    """Its first commit is the S3 pond's (made to be written in place); its push records
    say it is a backup, and every write is refused (a fresh-user trial wrote to one, and
    the next push found the backup diverged)."""
    backup_url = f"{s3_url}-backup"
    with Pond.init(s3_url) as pond:
        pond.mkdir("/raw")
        pond.write_bytes("/raw/a.txt", b"a")
        push(pond.backups.files(), Remote(backup_url, create=True), "offsite")
    cache = tmp_path / "cache"
    for args in (("mkdir", "/new"), ("copy", str(tmp_path), "/raw/"), ("maintain",)):
        message = assert_process_user_error(pond_cli(backup_url, cache, *args))
        assert message.startswith(f"{backup_url} is read in place and cannot be written"), message
    assert ok(pond_cli(backup_url, cache, "cat", "/raw/a.txt")) == "a"
    assert gapless(backup_url, cache) == gapless(s3_url, cache)
