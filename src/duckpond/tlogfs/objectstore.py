"""Object stores: where a URL points and how to reach it, in one place.

A backup (``duckpond.backup``), a pond read in place on S3 and, later, a pond kept on S3
all name their store by URL and reach it the same way:

- ``s3://bucket/prefix`` through obstore (our own reads and writes) and deltalake (the
  Delta table), which are the same Rust ``object_store`` with the same option names;
- ``file:///absolute/dir`` for a NAS or a USB disk, the same layout on a host directory.

Where the caller leaves endpoint, region or credentials out, the variables every S3 tool
honours apply, read here once so obstore and deltalake see the same values:
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``), ``AWS_REGION`` (or
``AWS_DEFAULT_REGION``) and ``AWS_ALLOW_HTTP``.  A store's failures become one-line
``RemoteError`` messages that name the URL and never a credential (``remote_error``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError, RemoteError

if TYPE_CHECKING:
    from obstore.store import ObjectStore

Scheme = Literal["s3", "file"]

# A request that fails (a transport error or a 5xx answer such as a restarting server's
# InternalError) is retried with obstore's exponential backoff (0.1 s, doubling) for at most
# this long: a field machine on a flaky link should not give up at once, nor hang a cron job
# for minutes.  Eight retries reach the time limit before the count runs out.
RETRY_TIMEOUT = timedelta(seconds=20)
MAX_RETRIES = 8
CONNECT_TIMEOUT = timedelta(seconds=5)
REQUEST_TIMEOUT = timedelta(seconds=120)

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Location:
    """A parsed store URL: ``scheme``, ``bucket`` (S3) or ``path`` (file), and ``prefix``.

    ``prefix`` has no leading or trailing slash ("" for a bucket's root); ``url`` is the
    normalised form for messages (``s3://bucket/prefix``, ``file:///dir``).
    """

    scheme: Scheme
    bucket: str | None
    prefix: str
    path: Path | None

    @property
    def url(self) -> str:
        if self.scheme == "file":
            return f"file://{self.path}"
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def child(self, sub: str) -> str:
        """The URL of ``sub`` (a relative key such as ``data``) under this location."""
        return f"{self.url.rstrip('/')}/{sub}"


def is_store_url(text: str) -> bool:
    """True if ``text`` looks like a store URL (``scheme://...``) rather than a host path."""
    return "://" in text


def parse_location(url: str) -> Location:
    """``Location`` of ``url``; ``ConfigError`` naming what is wrong (scheme, bucket, path)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("s3", "s3a"):
        bucket = parts.netloc
        if not bucket:
            raise ConfigError(f"{url!r} names no bucket: write s3://BUCKET/PREFIX")
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise ConfigError(f"{bucket!r} in {url!r} is not a valid S3 bucket name")
        if parts.query or parts.fragment:
            raise ConfigError(f"{url!r}: an S3 URL takes no query or fragment")
        prefix = parts.path.strip("/")
        if any(p in ("", ".", "..") for p in prefix.split("/")) and prefix:
            raise ConfigError(f"{url!r}: the prefix has an empty, '.' or '..' component")
        return Location("s3", bucket, prefix, None)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(f"{url!r}: a file URL names no host; write file:///absolute/dir")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise ConfigError(f"{url!r}: a file URL needs an absolute path (file:///dir)")
        return Location("file", None, "", Path(os.path.normpath(path)))
    if not scheme:
        raise ConfigError(f"{url!r} is not a URL: write s3://BUCKET/PREFIX or file:///DIR")
    raise ConfigError(
        f"unknown scheme {scheme!r} in {url!r}: use s3://BUCKET/PREFIX or file:///DIR"
    )


@dataclass(frozen=True)
class StoreOptions:
    """How to reach an S3 store; None means "from the environment, else the default".

    ``access_key_id`` and ``secret_access_key`` are resolved values: they are used, never
    stored, printed or put in a message.  ``repr`` masks them.
    """

    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    allow_http: bool | None = None

    def __repr__(self) -> str:
        shown = {
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key_id": "***" if self.access_key_id else None,
            "secret_access_key": "***" if self.secret_access_key else None,
            "allow_http": self.allow_http,
        }
        return f"StoreOptions({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    def with_environment(self, env: dict[str, str] | None = None) -> StoreOptions:
        """These options with every unset one filled from the ``AWS_*`` variables."""
        env = dict(os.environ) if env is None else env

        def first(*names: str) -> str | None:
            for name in names:
                value = env.get(name)
                if value:
                    return value
            return None

        allow = self.allow_http
        if allow is None and first("AWS_ALLOW_HTTP") is not None:
            allow = (first("AWS_ALLOW_HTTP") or "").lower() in _TRUE
        return replace(
            self,
            endpoint=self.endpoint or first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
            region=self.region or first("AWS_REGION", "AWS_DEFAULT_REGION"),
            access_key_id=self.access_key_id or first("AWS_ACCESS_KEY_ID"),
            secret_access_key=self.secret_access_key or first("AWS_SECRET_ACCESS_KEY"),
            session_token=self.session_token or first("AWS_SESSION_TOKEN"),
            allow_http=allow,
        )

    def allows_http(self) -> bool:
        """True if plain HTTP may be used: said so, or an ``http://`` endpoint was named."""
        if self.allow_http is not None:
            return self.allow_http
        return bool(self.endpoint and self.endpoint.startswith("http://"))

    def secrets(self) -> list[str]:
        """The credential values, for removing them from any text before it is shown."""
        return [v for v in (self.access_key_id, self.secret_access_key, self.session_token) if v]


def open_store(location: Location, options: StoreOptions, *, create: bool = False) -> ObjectStore:
    """An obstore store rooted at ``location`` (its prefix applied to every key).

    ``create`` makes a missing ``file://`` directory (a push); a read of a missing one is a
    ``RemoteError``.  S3 options are ``options`` filled from the environment.
    """
    from obstore.store import LocalStore, S3Store

    if location.scheme == "file":
        assert location.path is not None
        if not create and not location.path.is_dir():
            raise RemoteError(f"{location.url}: no such directory")
        try:
            return LocalStore(location.path, mkdir=create)
        except Exception as e:
            raise remote_error(e, location, options) from None
    opts = options.with_environment()
    config: dict[str, Any] = {}
    if opts.endpoint:
        config["endpoint"] = opts.endpoint
    config["region"] = opts.region or "us-east-1"
    if opts.access_key_id:
        config["access_key_id"] = opts.access_key_id
    if opts.secret_access_key:
        config["secret_access_key"] = opts.secret_access_key
    if opts.session_token:
        config["session_token"] = opts.session_token
    # Every upload carries its sha256, which the server checks before it keeps the object.
    config["checksum_algorithm"] = "sha256"
    return S3Store(
        location.bucket,
        prefix=location.prefix or None,
        config=config,  # type: ignore[arg-type]
        client_options={
            "allow_http": opts.allows_http(),
            "connect_timeout": CONNECT_TIMEOUT,
            "timeout": REQUEST_TIMEOUT,
        },
        retry_config={"max_retries": MAX_RETRIES, "retry_timeout": RETRY_TIMEOUT},
    )


def delta_storage_options(location: Location, options: StoreOptions) -> dict[str, str]:
    """deltalake's ``storage_options`` for a table under ``location`` (empty for ``file://``).

    deltalake 1.6 commits with a create-only put on S3, so no locking provider is set
    (``AWS_S3_LOCKING_PROVIDER`` is gone in 1.6).
    """
    if location.scheme == "file":
        return {}
    opts = options.with_environment()
    out = {"AWS_REGION": opts.region or "us-east-1"}
    if opts.endpoint:
        out["AWS_ENDPOINT_URL"] = opts.endpoint
    if opts.access_key_id:
        out["AWS_ACCESS_KEY_ID"] = opts.access_key_id
    if opts.secret_access_key:
        out["AWS_SECRET_ACCESS_KEY"] = opts.secret_access_key
    if opts.session_token:
        out["AWS_SESSION_TOKEN"] = opts.session_token
    if opts.allows_http():
        out["AWS_ALLOW_HTTP"] = "true"
    return out


# S3 error codes worth saying in words (the rest are named by their code).
_CODES = {
    "NoSuchBucket": "the bucket does not exist",
    "SignatureDoesNotMatch": "the credentials were refused (signature does not match)",
    "InvalidAccessKeyId": "the credentials were refused (unknown access key)",
    "AccessDenied": "access denied",
    "InvalidBucketName": "the bucket name is not valid",
}


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def remote_error(exc: BaseException, location: Location, options: StoreOptions) -> RemoteError:
    """A one-line ``RemoteError`` for a store failure, naming the URL and the reason.

    The reason is the S3 error code put in words when the answer has one, else the store's
    last line; every credential value is removed from it.
    """
    # Clients colour their error chains with ANSI escapes; a message never carries them.
    text = _ANSI.sub("", str(exc))
    code = re.search(r"<Code>([A-Za-z]+)</Code>", text)
    if code is not None:
        reason = _CODES.get(code.group(1), code.group(1))
    elif "169.254.169.254" in text:
        # With no credentials given, the client asks the cloud instance's metadata service.
        reason = (
            "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or the Backup's access_key_id and secret_access_key)"
        )
    elif re.search(r"(?i)connection refused|error trying to connect|dns error|timed? ?out", text):
        # The endpoint is named as is: it is an address, not a credential, and masking a
        # short secret that happens to occur inside it would hide which server failed.
        found = re.search(r"https?://[^/\s]+", text)
        # (Any user:password@ in it is dropped.)
        where = f" ({re.sub(r'//[^@/]*@', '//', found.group(0))})" if found else ""
        return RemoteError(f"{location.url}: the endpoint cannot be reached{where}")
    elif type(exc).__name__ == "PermissionDeniedError":
        reason = "access denied"
    elif type(exc).__name__ == "UnauthenticatedError":
        reason = "the credentials were refused"
    else:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        reason = lines[0] if lines else type(exc).__name__
        reason = reason[:300]
    return RemoteError(f"{location.url}: {' '.join(scrub_secrets(reason, options).split())}")


def scrub_secrets(text: str, options: StoreOptions) -> str:
    """``text`` with every credential of ``options`` (or of the environment) masked."""
    for secret in options.with_environment().secrets():
        text = text.replace(secret, "***")
    return text
