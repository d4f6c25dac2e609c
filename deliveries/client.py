"""The push client: signed POSTs over pooled keep-alive connections."""

from __future__ import annotations

import os
import socket
import time
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError, NewConnectionError

from common.deadline import attach_current, deadline
from common.logging import scrub
from common.standard_webhooks import signature_headers
from deliveries.policy import AttemptOutcome, parse_retry_after
from deliveries.ssrf import UnsafeDestination, pinned_address, url_check

EXCERPT_BYTES = 2048
CONNECT_TIMEOUT = 5.0
USER_AGENT = "Tally-Webhooks/1"


class _Pinned:
    """Connects to the address the network guard approved at connect time; TLS and Host keep the name.

    Each socket it sends or reads on is attached to the running push's
    deadline, so the watchdog can cut a receiver that drips its answer.
    """

    _dns_host: str
    port: int
    sock: socket.socket | None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        attach_current(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        attach_current(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]

    def getresponse(self) -> Any:
        attach_current(self.sock)
        return super().getresponse()  # type: ignore[misc]

    def _new_conn(self) -> socket.socket:
        name = self._dns_host
        try:
            address = pinned_address(name.rstrip("."), self.port)
        except UnsafeDestination as exc:
            if isinstance(exc.__context__, socket.gaierror):  # no address at all, as urllib3 reports it
                raise NameResolutionError(name, self, exc.__context__) from None  # type: ignore[arg-type]
            raise NewConnectionError(self, f"refused: {exc}") from None  # type: ignore[arg-type]
        self._dns_host = address
        try:
            sock: socket.socket = super()._new_conn()  # type: ignore[misc]
            return sock
        finally:
            self._dns_host = name  # the certificate and SNI are checked against the name


class _PinnedHTTPConnection(_Pinned, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_Pinned, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinnedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PinnedHTTPPool, "https": _PinnedHTTPSPool}


@lru_cache(maxsize=1)
def session() -> requests.Session:
    """One pooled session per process; threads share its connection pools."""
    http = requests.Session()
    # Straight to the address the network guard approved: never through a
    # proxy named in the environment (which would also step around that
    # guard), and without scanning the environment on every push. A CA
    # bundle named there still applies.
    http.trust_env = False
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        http.verify = bundle
    adapter = _PinnedAdapter(pool_connections=64, pool_maxsize=64, max_retries=0)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http


def _clean(exc: BaseException) -> str:
    return scrub(str(exc))[:500]


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps: urllib3's reasons, causes and contexts, each once."""
    seen: list[BaseException] = []
    pending = [exc]
    while pending:
        current = pending.pop()
        if any(current is other for other in seen):
            continue
        seen.append(current)
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending.extend(e for e in inner if isinstance(e, BaseException))
    return seen


def connection_error(exc: BaseException, url: str) -> str:
    """A failed connection in a few words, naming the host: what an operator reads on the attempt.

    requests and urllib3 wrap the cause in a pool's repr and a retry count
    ("HTTPSConnectionPool(host=...): Max retries exceeded ... NameResolutionError(...)");
    the cause is what matters.
    """
    parts = urlsplit(url)
    host = parts.hostname or "?"
    chain = _chain(exc)
    if any(isinstance(e, NameResolutionError | socket.gaierror) for e in chain):
        return f"could not resolve host {host}"
    try:
        where = f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    except ValueError:
        where = host
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return f"connection error: {where} refused the connection"
    connecting = next((e for e in chain if isinstance(e, NewConnectionError)), None)
    if connecting is not None:
        message = str(connecting)
        if "refused: " in message:  # the network guard's refusal at connect time, in its own words
            return "refused: " + message.split("refused: ", 1)[1]
        cause = next((e for e in chain if type(e) is not NewConnectionError and isinstance(e, OSError)), None)
        if cause is not None and cause.strerror:  # unreachable network, no route to host, ...
            return f"connection error: could not connect to {where}: {cause.strerror}"
    return f"connection error: {_clean(exc)}"


def signed_headers(*, secrets: list[str], msg_id: str, body: bytes, extra: dict[str, str]) -> dict[str, str]:
    """A push's headers: the destination's own, ours, and Standard Webhooks' signed with every secret."""
    return {
        **extra,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signature_headers(signing_secrets=secrets, msg_id=msg_id, body=body),
    }


def push(
    *, url: str, secrets: list[str], msg_id: str, body: bytes, headers: dict[str, str], timeout: float
) -> AttemptOutcome:
    """POST one signed body, all of it (connect, send, answer) within `timeout` seconds.

    Never raises: whatever the network, the receiver or a stored setting
    does becomes this attempt's outcome, so one bad receiver fails only its
    own push, never the batch it runs in.
    """
    started = time.monotonic()
    with deadline(timeout) as watched:
        try:
            outcome = _post(url=url, secrets=secrets, msg_id=msg_id, body=body, headers=headers, timeout=timeout)
        except Exception as exc:
            # A header that cannot be encoded, an unusable host name, a bug of
            # ours: this push fails, the batch goes on.
            outcome = AttemptOutcome(status_code=None, duration_ms=0, error=f"request error: {_clean(exc)}")
    if watched.expired and outcome.status_code is None:
        # Cut by the watchdog before a status line came (a dripped answer);
        # once one has come, it says what the receiver meant.
        outcome = AttemptOutcome(status_code=None, duration_ms=0, error=f"timeout: no answer within {timeout:g} s")
    return AttemptOutcome(
        status_code=outcome.status_code,
        duration_ms=int((time.monotonic() - started) * 1000),
        excerpt=outcome.excerpt,
        error=outcome.error,
        retry_after=outcome.retry_after,
    )


def _post(
    *, url: str, secrets: list[str], msg_id: str, body: bytes, headers: dict[str, str], timeout: float
) -> AttemptOutcome:
    try:
        url_check(url)
    except UnsafeDestination as exc:
        if isinstance(exc.__context__, socket.gaierror):  # nothing to refuse: the host has no address
            return AttemptOutcome(status_code=None, duration_ms=0, error=connection_error(exc.__context__, url))
        return AttemptOutcome(status_code=None, duration_ms=0, error=f"refused: {exc}")
    try:
        response = session().post(
            url,
            data=body,
            headers=signed_headers(secrets=secrets, msg_id=msg_id, body=body, extra=headers),
            timeout=(min(CONNECT_TIMEOUT, timeout), timeout),
            allow_redirects=False,  # a redirect could lead past the network guard
            stream=True,
        )
    except requests.Timeout:
        return AttemptOutcome(status_code=None, duration_ms=0, error=f"timeout after {timeout:g} s")
    except requests.ConnectionError as exc:
        return AttemptOutcome(status_code=None, duration_ms=0, error=connection_error(exc, url))
    try:
        raw = response.raw.read(EXCERPT_BYTES, decode_content=True) or b""
    except Exception as exc:
        # A reply cut short, or not in the encoding it claims: the status line
        # still says what the receiver meant.
        raw = f"(could not read the response: {_clean(exc)})".encode()
    finally:
        response.close()
    return AttemptOutcome(
        status_code=response.status_code,
        duration_ms=0,
        excerpt=raw.decode("utf-8", errors="replace").replace("\x00", ""),
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )
