"""The PYBOSSA API client: pooled connections, timeouts, retried GETs, paced calls, errors typed.

PYBOSSA (pybossa/ratelimit/__init__.py) allows each client address `LIMIT`
requests (300) per fixed window of `PER` seconds (15 minutes) per endpoint
(`/api/task`, `/api/taskrun`, `/api/result`, ...), and tells after every call
how many are left: `X-RateLimit-Remaining`, `X-RateLimit-Limit`,
`X-RateLimit-Reset` (the window's end, epoch seconds). The request that
brings the count to the limit is already refused (`over_limit` is
`current >= limit`), so with `Remaining` at 1 or less the next call waits for
`Reset`. What the last answer said is kept in the cache, shared by every
worker calling that server from this address; a 429 is waited out the same
way. A rate limit only ever delays: it is never a failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from common.logging import scrub

logger = logging.getLogger(__name__)

USER_AGENT = "Tally-PYBOSSA/1"
# PYBOSSA answers these when it is busy or down for a moment: try again later.
TRANSIENT_STATUSES = frozenset({408, 425, 500, 502, 503, 504})
RATE_LIMITED = 429
# How long to wait after a 429 that says nothing usable about its window.
RATE_LIMIT_FALLBACK_SECONDS = 60.0
# PYBOSSA's X-RateLimit-Reset is whole seconds; this much more is waited, so the new window has begun.
RATE_LIMIT_MARGIN_SECONDS = 0.05


class PybossaError(Exception):
    """PYBOSSA did not answer as needed; `status` is its HTTP status, if it answered."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PybossaTransientError(PybossaError):
    """Timeouts, refused connections, 408/425/429/5xx: worth trying again later."""


class PybossaPermanentError(PybossaError):
    """401, 403, 404 and other refusals: trying again will not help."""


class PybossaRateLimited(PybossaError):
    """PYBOSSA's rate limit is reached for longer than this caller sleeps: call again after `wait_seconds`.

    Not a failure: a settlement that meets it is put back on the queue, however often.
    """

    def __init__(self, message: str, *, wait_seconds: float) -> None:
        super().__init__(message, status=RATE_LIMITED)
        self.wait_seconds = wait_seconds


@lru_cache(maxsize=1)
def _session() -> requests.Session:
    """One pooled session per process. Idempotent GETs are retried here, with backoff; PUTs are not."""
    http = requests.Session()
    retry = Retry(
        total=2,
        connect=2,
        read=2,
        status=2,
        backoff_factor=0.3,
        status_forcelist=sorted(TRANSIENT_STATUSES),  # not 429: the client waits for the window's end
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=False,  # a long Retry-After is the task's to wait, not a worker thread's
        raise_on_status=False,
    )
    adapter = HTTPAdapter(pool_connections=16, pool_maxsize=16, max_retries=retry)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    http.headers["User-Agent"] = USER_AGENT
    return http


def _endpoint(path: str) -> str:
    """PYBOSSA's rate-limit key is the Flask endpoint: /api/task and /api/task/7 are one endpoint, `task`."""
    parts = path.strip("/").split("/")
    return parts[1] if len(parts) > 1 else parts[0]


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, ValueError):
        return None


def _server_offset(headers: Mapping[str, str], now: float) -> float:
    """PYBOSSA's clock minus ours, from its `Date` header, when they differ by more than its 1 s resolution."""
    try:
        offset = parsedate_to_datetime(headers["Date"]).timestamp() - now
    except (KeyError, TypeError, ValueError, IndexError):
        return 0.0
    return offset if abs(offset) > 2 else 0.0


class PybossaClient:
    """The calls Tally makes to one PYBOSSA server, authenticated with the source's API key.

    A call that meets PYBOSSA's rate limit sleeps until the window's end when
    that is at most `max_sleep` seconds away (default
    PYBOSSA_RATE_LIMIT_SLEEP_SECONDS; the backfill passes infinity), else
    raises PybossaRateLimited. `on_wait(seconds, endpoint)` is told of each sleep.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        max_sleep: float | None = None,
        on_wait: Callable[[float, str], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.max_sleep = settings.PYBOSSA_RATE_LIMIT_SLEEP_SECONDS if max_sleep is None else max_sleep
        self.on_wait = on_wait

    def __repr__(self) -> str:
        return f"PybossaClient({self.base_url!r})"  # never the key

    # --- the rate limit ------------------------------------------------------------------------------------

    def _window_key(self, endpoint: str) -> str:
        server = hashlib.sha256(self.base_url.encode()).hexdigest()[:16]
        return f"pybossa:ratelimit:{server}:{endpoint}"

    def _window_read(self, endpoint: str) -> tuple[int, float] | None:
        try:
            value = cache.get(self._window_key(endpoint))
        except Exception:  # the cache is down: pacing falls back on PYBOSSA's 429s
            return None
        if isinstance(value, (list, tuple)) and len(value) == 2:
            return int(value[0]), float(value[1])
        return None

    def _window_note(self, endpoint: str, headers: Mapping[str, str], *, refused: bool) -> float | None:
        """Keep what PYBOSSA said of the endpoint's window; return when it ends, on our clock (None: not said)."""
        remaining = _header_int(headers, "X-RateLimit-Remaining")
        reset = _header_int(headers, "X-RateLimit-Reset")
        if reset is None or (remaining is None and not refused):
            return None
        now = time.time()
        left = reset - (now + _server_offset(headers, now)) + RATE_LIMIT_MARGIN_SECONDS
        ends = now + min(max(left, 0.0), settings.PYBOSSA_RATE_LIMIT_MAX_WAIT_SECONDS)
        remaining = 0 if refused else remaining
        with contextlib.suppress(Exception):
            cache.set(self._window_key(endpoint), (remaining, ends), timeout=max(1, math.ceil(ends - now) + 5))
        return ends

    def _wait(self, seconds: float, endpoint: str) -> None:
        seconds = min(max(seconds, 0.0), float(settings.PYBOSSA_RATE_LIMIT_MAX_WAIT_SECONDS))
        if seconds > self.max_sleep:
            raise PybossaRateLimited(
                f"PYBOSSA's rate limit for /api/{endpoint} is reached; its window ends in {seconds:.0f} s",
                wait_seconds=seconds,
            )
        logger.info("waiting for PYBOSSA's rate limit", extra={"endpoint": endpoint, "seconds": round(seconds, 2)})
        if self.on_wait is not None:
            self.on_wait(seconds, endpoint)
        time.sleep(seconds)

    def _pace(self, endpoint: str) -> None:
        """Wait for the window's end when the last answer said the next call would be refused."""
        window = self._window_read(endpoint)
        if window is not None:
            remaining, ends = window
            if remaining <= 1 and ends > time.time():
                self._wait(ends - time.time(), endpoint)

    # --- calls ---------------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        endpoint = _endpoint(path)
        while True:
            self._pace(endpoint)
            response = self._send(method, path, params=params, body=body)
            ends = self._window_note(endpoint, response.headers, refused=response.status_code == RATE_LIMITED)
            if response.status_code != RATE_LIMITED:
                return self._answer(method, path, response)
            # Refused by the rate limit: nothing was done, so the same call is made again once the window ends.
            wait = RATE_LIMIT_FALLBACK_SECONDS if ends is None else ends - time.time()
            self._wait(wait if wait > 0 else 1.0, endpoint)

    def _send(self, method: str, path: str, *, params: dict[str, Any] | None, body: Any) -> requests.Response:
        # The key goes raw in the Authorization header, which PYBOSSA reads first
        # (pybossa/core.py `_api_authentication`): a URL would carry it into
        # urllib3's retry warnings and every proxy log on the way.
        headers = {"Authorization": self._api_key} if self._api_key else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if not self.base_url:
            raise PybossaPermanentError("The source has no pybossa_url.")
        try:
            return _session().request(
                method,
                f"{self.base_url}{path}",
                params=params,
                data=None if body is None else json.dumps(body),
                headers=headers,
                timeout=(settings.PYBOSSA_CONNECT_TIMEOUT_SECONDS, settings.PYBOSSA_TIMEOUT_SECONDS),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            # The exception text may hold the URL, and with it the key.
            raise PybossaTransientError(f"{method} {path}: {scrub(str(exc))[:300]}") from None

    @staticmethod
    def _answer(method: str, path: str, response: requests.Response) -> Any:
        if response.status_code >= 400 or response.status_code in (301, 302, 303, 307, 308):
            excerpt = scrub(response.text[:300])
            error = PybossaTransientError if response.status_code in TRANSIENT_STATUSES else PybossaPermanentError
            raise error(f"{method} {path}: HTTP {response.status_code} {excerpt}", status=response.status_code)
        try:
            return response.json()
        except ValueError:
            raise PybossaTransientError(
                f"{method} {path}: the answer is not JSON", status=response.status_code
            ) from None

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every row of a PYBOSSA list, by id, page after page (`last_id` keyset) until exhausted.

        Lists are asked with `all=1`: without it PYBOSSA keeps only the rows of
        projects whose primary owner holds the key (pybossa/api/api_base.py
        `api_context`), so a co-owner's or an admin's key would read nothing.
        """
        limit = settings.PYBOSSA_PAGE_SIZE
        last_id: int | None = None
        while True:
            query = {**params, "all": 1, "limit": limit, **({"last_id": last_id} if last_id else {})}
            page = self._call("GET", path, params=query)
            if not isinstance(page, list):
                raise PybossaTransientError(f"GET {path}: expected a list")
            rows = [row for row in page if isinstance(row, dict) and isinstance(row.get("id"), int)]
            fresh = [row for row in rows if last_id is None or row["id"] > last_id]
            yield from fresh
            # Only an empty page (or one with nothing new) ends the list: a server
            # whose own cap is below `limit` still answers full pages of its size.
            if not fresh:
                return
            last_id = max(row["id"] for row in fresh)

    def task(self, task_id: int) -> dict[str, Any]:
        task = self._call("GET", f"/api/task/{task_id}")
        if not isinstance(task, dict):
            raise PybossaTransientError(f"GET /api/task/{task_id}: expected an object")
        return task

    def result(self, result_id: int) -> dict[str, Any]:
        result = self._call("GET", f"/api/result/{result_id}")
        if not isinstance(result, dict):
            raise PybossaTransientError(f"GET /api/result/{result_id}: expected an object")
        return result

    def task_runs(self, task_id: int) -> list[dict[str, Any]]:
        return list(self._pages("/api/taskrun", {"task_id": task_id}))

    def completed_tasks(self, project_id: int) -> Iterator[dict[str, Any]]:
        return self._pages("/api/task", {"project_id": project_id, "state": "completed"})

    def result_ids(self, project_id: int) -> dict[int, int]:
        """The id of each task's result in a project, by task id (PYBOSSA lists only the last versions)."""
        ids: dict[int, int] = {}
        for row in self._pages("/api/result", {"project_id": project_id}):
            task_id = row.get("task_id")
            if isinstance(task_id, int):
                ids[task_id] = max(row["id"], ids.get(task_id, 0))
        return ids

    def result_put_info(self, result_id: int, info: dict[str, Any]) -> None:
        # No query arguments: PYBOSSA's PUT refuses any that is not a column (`APIBase.valid_args`), `all` too.
        self._call("PUT", f"/api/result/{result_id}", body={"info": info})
