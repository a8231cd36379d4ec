"""An HTTP client for In-Situ's HydroVu public API (facts: docs in shared/HYDROVU.md).

Three layers of httpx, each doing one job:

- ``RetryTransport`` wraps the real transport and retries, with tenacity, what
  is worth retrying: 429 and 5xx responses, timeouts and refused connections;
  bounded exponential backoff with jitter, stretched to what the server's
  rate-limit headers ask for (``Retry-After``, ``X-ISI-Requests-Timeout``),
  never past ``RetryPolicy.max_wait``.  The token request goes through it too.
- ``ClientCredentials`` (an ``httpx.Auth``) gets an OAuth2 client-credentials
  token, keeps it for the run, fetches a new one shortly before it expires, and
  retries a request once with a fresh token on 401.
- ``HydroVuClient`` speaks the endpoints: friendly names, the paged location
  list, and paged readings of a location from a start time (a 404 there means
  no data, not an error).

Secrets never reach an exception message, a log line or a ``repr``: messages
name the endpoint and the HTTP status, never a header or a body.
"""

from __future__ import annotations

import contextvars
import random
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import tenacity

from ...errors import PondError
from . import DEFAULT_BASE_URL

NEXT_PAGE = "X-ISI-Next-Page"
START_PAGE = "X-ISI-Start-Page"
RATE_TIMEOUT = "X-ISI-Requests-Timeout"
# A few locations per page: an account with more than this many pages of them is a server
# whose paging does not end.
MAX_LOCATION_PAGES = 10_000

__all__ = [
    "DEFAULT_BASE_URL",
    "ClientCredentials",
    "FriendlyNames",
    "HydroVuAuthError",
    "HydroVuClient",
    "HydroVuError",
    "HydroVuTimeLimit",
    "RetryPolicy",
    "RetryTransport",
    "list_locations",
]


class HydroVuError(PondError):
    """The HydroVu API failed (after retries) or answered something unexpected."""


class HydroVuAuthError(HydroVuError):
    """HydroVu refused the client credentials or a fresh token."""


class HydroVuTimeLimit(HydroVuError):
    """The run's time limit (``HydroVuClient.deadline``) passed before a request could end."""


class SecretLike(Protocol):
    """A secret the pipeline resolved: ``reveal()`` gives the value, printing masks it."""

    def reveal(self) -> str: ...


@dataclass(frozen=True)
class RetryPolicy:
    """How failed requests are retried.

    ``attempts`` bounds every request (first try included); waits grow
    exponentially from ``initial`` seconds with up to ``jitter`` seconds of
    randomness, capped at ``max_wait`` seconds even when the server asks for
    more.
    """

    attempts: int = 5
    initial: float = 1.0
    max_wait: float = 60.0
    jitter: float = 1.0


RETRY_STATUS = frozenset({429, 500, 502, 503, 504})

# Per-thread (per-device, in the collector) count of retries, so each device's stats are its own.
_retry_counter: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "hydrovu_retry_counter", default=None
)


def count_retries() -> list[int]:
    """Start counting this thread's retries; the returned one-element list holds the count."""
    box = [0]
    _retry_counter.set(box)
    return box


def _server_wait(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (``Retry-After`` or HydroVu's own header)."""
    for name in ("Retry-After", RATE_TIMEOUT):
        text = response.headers.get(name)
        if text:
            try:
                return max(0.0, float(text))
            except ValueError:
                continue
    return None


class _RetryResponse(Exception):
    """Carries a retryable response through tenacity (closed before the next attempt)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class RetryTransport(httpx.BaseTransport):
    """A transport that retries 429, 5xx, timeouts and connection errors (tenacity).

    ``retries`` counts every retry made through this transport (all threads).
    """

    def __init__(
        self, inner: httpx.BaseTransport | None = None, policy: RetryPolicy | None = None
    ) -> None:
        self._inner = inner if inner is not None else httpx.HTTPTransport()
        self.policy = policy or RetryPolicy()
        self.retries = 0
        # Monotonic time after which no retry is started (the run's time limit).
        self.deadline: float | None = None
        self._lock = threading.Lock()
        backoff = tenacity.wait_exponential(
            multiplier=self.policy.initial, max=self.policy.max_wait
        ) + tenacity.wait_random(0, self.policy.jitter)

        def wait(state: tenacity.RetryCallState) -> float:
            delay = float(backoff(state))
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _RetryResponse):
                asked = _server_wait(error.response)
                if asked is not None:
                    # The server knows when its window resets: wait that, plus a little jitter
                    # so concurrent devices do not all come back in the same instant.
                    delay = max(delay, asked + random.uniform(0, self.policy.jitter))
            return min(delay, self.policy.max_wait)

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number >= self.policy.attempts:
                return True
            # No retry that could only end after the run's time limit.
            deadline = self.deadline
            return deadline is not None and time.monotonic() + float(wait(state)) >= deadline

        self._retrying = tenacity.Retrying(
            stop=stop,
            wait=wait,
            retry=tenacity.retry_if_exception_type(
                (_RetryResponse, httpx.TimeoutException, httpx.ConnectError)
            ),
            before_sleep=self._count,
            reraise=True,
        )

    def _count(self, state: tenacity.RetryCallState) -> None:
        with self._lock:
            self.retries += 1
        box = _retry_counter.get()
        if box is not None:
            box[0] += 1
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _RetryResponse):
            error.response.close()

    def _once(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if response.status_code in RETRY_STATUS:
            raise _RetryResponse(response)
        return response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._retrying(self._once, request)
        except _RetryResponse as last:
            # Out of attempts: hand the last answer to the caller, who reports its status.
            return last.response

    def close(self) -> None:
        self._inner.close()


@dataclass
class _Token:
    value: str
    expires_at: float  # on the monotonic clock


class ClientCredentials(httpx.Auth):
    """OAuth2 client credentials for HydroVu: one token per run, renewed before it expires.

    A token is renewed when less than ``min(margin, a tenth of its lifetime)``
    seconds remain; a 401 on a request renews it once and sends the request
    again.  ``client_secret`` is a ``str`` or a pipeline secret (``reveal()``);
    ``repr`` masks both credentials.
    """

    requires_response_body = True

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | SecretLike,
        *,
        margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self._margin = margin
        self._clock = clock
        self._token: _Token | None = None
        self._lock = threading.Lock()
        self.tokens_fetched = 0

    def __repr__(self) -> str:
        return (
            f"ClientCredentials(token_url={self.token_url!r}, client_id='***', client_secret='***')"
        )

    def _secret_value(self) -> str:
        secret = self._secret
        return secret if isinstance(secret, str) else secret.reveal()

    def secrets(self) -> list[str]:
        """The values that must never be printed: the credentials and the current token."""
        values = [self._secret_value(), self.client_id]
        if self._token is not None:
            values.append(self._token.value)
        # Masking a very short id would mangle ordinary words in a message instead.
        return [v for v in values if len(v) >= 6]

    def _valid_token(self) -> str | None:
        with self._lock:
            token = self._token
            if token is None or self._clock() >= token.expires_at:
                return None
            return token.value

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self._secret_value(),
            },
            headers={"Accept": "application/json"},
        )

    def _store(self, response: httpx.Response) -> str:
        if response.status_code in (400, 401, 403):
            # The client id is no secret to HydroVu, but pipeline specs treat it as one.
            raise HydroVuAuthError(
                "HydroVu refused the client credentials "
                f"(HTTP {response.status_code} from the token endpoint)"
            )
        if response.status_code != 200:
            raise HydroVuError(f"HydroVu oauth/token: HTTP {response.status_code}")
        try:
            body = response.json()
            value = str(body["access_token"])
            lifetime = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise HydroVuAuthError("HydroVu's token endpoint answered without a token") from None
        renew_before = min(self._margin, lifetime / 10)
        with self._lock:
            self._token = _Token(value, self._clock() + lifetime - renew_before)
            self.tokens_fetched += 1
        return value

    def _forget(self, value: str) -> None:
        with self._lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._valid_token()
        if token is None:
            token = self._store((yield self._token_request()))
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            # Expired early or revoked: one fresh token, one more try.
            self._forget(token)
            token = self._store((yield self._token_request()))
            request.headers["Authorization"] = f"Bearer {token}"
            yield request


@dataclass(frozen=True)
class FriendlyNames:
    """HydroVu's dictionaries: parameter id -> name, unit id -> name (ids are strings)."""

    parameters: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)

    def column(self, parameter_id: str, unit_id: str) -> str:
        """``<parameter>.<unit>``, an unknown id standing for its own name."""
        return (
            f"{self.parameters.get(parameter_id, parameter_id)}.{self.units.get(unit_id, unit_id)}"
        )


class HydroVuClient:
    """The HydroVu endpoints over one ``httpx.Client`` (thread-safe: devices share it).

    ``base_url`` ends with ``/`` (``.../public-api/``); ``connect_timeout`` and
    ``read_timeout`` are seconds; ``transport`` replaces the network transport
    (retries wrap it either way); ``http`` is the ``httpx.Client`` it sends with
    (auth, retries and timeouts included).  Use as a context manager, or call ``close()``.
    Errors: ``HydroVuAuthError`` for refused credentials, ``HydroVuError`` for
    any other failure after retries (among them a server whose paging does not
    end: a repeated next-page cursor, or more pages than ``max_pages``).

    ``deadline`` (on ``time.monotonic``'s clock, None for none) bounds the
    whole run: each request's timeouts are cut to the time left, no retry starts
    after it, and a request asked for after it raises ``HydroVuTimeLimit``.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str | SecretLike,
        *,
        base_url: str = DEFAULT_BASE_URL,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 8,
    ) -> None:
        if not base_url.endswith("/"):
            base_url += "/"
        self.base_url = base_url
        self.auth = ClientCredentials(f"{base_url}oauth/token", client_id, client_secret)
        inner = transport or httpx.HTTPTransport(
            limits=httpx.Limits(max_connections=max_connections)
        )
        self.transport = RetryTransport(inner, retry)
        self.timeouts = (connect_timeout, read_timeout)
        self.http = httpx.Client(
            base_url=base_url,
            auth=self.auth,
            transport=self.transport,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            headers={"Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"HydroVuClient(base_url={self.base_url!r})"

    def __enter__(self) -> HydroVuClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    @property
    def retries(self) -> int:
        """Retries made so far by this client (all threads)."""
        return self.transport.retries

    @property
    def deadline(self) -> float | None:
        return self.transport.deadline

    @deadline.setter
    def deadline(self, value: float | None) -> None:
        self.transport.deadline = value

    def scrub(self, text: str) -> str:
        """``text`` with the client secret and the current token masked as whole tokens."""
        from ..secrets import mask

        return mask(text, self.auth.secrets())

    def _get(self, path: str, params: dict[str, Any], page: str | None) -> httpx.Response:
        headers = {START_PAGE: page} if page else {}
        connect, read = self.timeouts
        deadline = self.deadline
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HydroVuTimeLimit(f"HydroVu {path}: the run's time limit was reached")
            connect, read = min(connect, left), min(read, left)
        try:
            return self.http.get(
                path, params=params, headers=headers, timeout=httpx.Timeout(read, connect=connect)
            )
        except httpx.TimeoutException:
            if deadline is not None and time.monotonic() >= deadline:
                raise HydroVuTimeLimit(
                    f"HydroVu {path}: the run's time limit was reached"
                ) from None
            raise HydroVuError(f"HydroVu {path}: timed out (after retries)") from None
        except httpx.TransportError as error:
            raise HydroVuError(f"HydroVu {path}: {type(error).__name__} (after retries)") from None

    def pages(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        missing_ok: bool = False,
        max_pages: int | None = None,
    ) -> Iterator[Any]:
        """The JSON body of each page of ``GET path``, following ``X-ISI-Next-Page``.

        With ``missing_ok`` a 404 ends the pages (HydroVu's "no data") instead
        of raising.  Paging is bounded: a next-page cursor seen before, or a page
        beyond ``max_pages``, raises ``HydroVuError`` naming the cause (a server
        that would otherwise be followed forever).
        """
        query = dict(params or {})
        page: str | None = None
        cursors: set[str] = set()
        count = 0
        while True:
            count += 1
            if max_pages is not None and count > max_pages:
                raise HydroVuError(
                    f"HydroVu {path}: more than {max_pages} pages, the most this run allows"
                )
            response = self._get(path, query, page)
            if response.status_code == 404 and missing_ok:
                return
            if response.status_code != 200:
                raise HydroVuError(f"HydroVu {path}: HTTP {response.status_code}")
            try:
                body = response.json()
            except ValueError:
                raise HydroVuError(f"HydroVu {path}: the answer is not JSON") from None
            yield body
            page = response.headers.get(NEXT_PAGE) or None
            if page is None:
                return
            if page in cursors:
                raise HydroVuError(
                    f"HydroVu {path}: page {count} repeats an earlier {NEXT_PAGE} cursor "
                    "(the paging would never end)"
                )
            cursors.add(page)

    def friendly_names(self) -> FriendlyNames:
        """The parameter and unit dictionaries (``v1/sispec/friendlynames``)."""
        body: Any = next(self.pages("v1/sispec/friendlynames"), {})
        if not isinstance(body, dict):
            raise HydroVuError("HydroVu v1/sispec/friendlynames: unexpected answer")
        return FriendlyNames(
            {str(k): str(v) for k, v in (body.get("parameters") or {}).items()},
            {str(k): str(v) for k, v in (body.get("units") or {}).items()},
        )

    def locations(self) -> list[dict[str, Any]]:
        """Every location of the account: ``{id, name, description, gps: {latitude, longitude}}``."""
        out: list[dict[str, Any]] = []
        for body in self.pages("v1/locations/list", max_pages=MAX_LOCATION_PAGES):
            if not isinstance(body, list):
                raise HydroVuError("HydroVu v1/locations/list: unexpected answer")
            out.extend(body)
        return out

    def data_pages(
        self,
        location_id: int | str,
        start: int,
        end: int | None = None,
        *,
        max_pages: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Pages of readings of a location from ``start`` (Unix seconds, UTC, inclusive).

        Each page is ``{"locationId", "parameters": [{"parameterId", "unitId",
        "readings": [{"timestamp", "value"}]}]}``; no pages when the location
        has no data at or after ``start``.  ``max_pages`` bounds them (``pages``).
        """
        params: dict[str, Any] = {"startTime": int(start)}
        if end is not None:
            params["endTime"] = int(end)
        path = f"v1/locations/{location_id}/data"
        for body in self.pages(path, params, missing_ok=True, max_pages=max_pages):
            if not isinstance(body, dict):
                raise HydroVuError(f"HydroVu location {location_id}: unexpected data page")
            yield body


def list_locations(
    client: HydroVuClient, *, since: int | None = None, names: FriendlyNames | None = None
) -> list[dict[str, Any]]:
    """Every location with the parameters it reports, for writing a ``devices`` list.

    Returns ``[{id, name, gps: {latitude, longitude}, parameters: [column names]}]``,
    sorted by name; the parameters come from the first page of readings at or
    after ``since`` (Unix seconds; default 30 days ago), empty without data.
    """
    names = names or client.friendly_names()
    start = since if since is not None else int(time.time()) - 30 * 86400
    out = []
    for location in client.locations():
        first = next(client.data_pages(location["id"], start), None)
        columns = sorted(
            {
                names.column(str(p.get("parameterId")), str(p.get("unitId")))
                for p in (first or {}).get("parameters", [])
            }
        )
        out.append(
            {
                "id": location["id"],
                "name": location.get("name", ""),
                "gps": location.get("gps") or {},
                "parameters": columns,
            }
        )
    return sorted(out, key=lambda loc: (str(loc["name"]), str(loc["id"])))
