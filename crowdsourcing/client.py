"""The PYBOSSA API client: pooled connections, timeouts, retried GETs, errors typed permanent or transient."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from common.logging import scrub

USER_AGENT = "Tally-PYBOSSA/1"
# PYBOSSA answers these when it is busy or down for a moment: try again later.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class PybossaError(Exception):
    """PYBOSSA did not answer as needed; `status` is its HTTP status, if it answered."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PybossaTransientError(PybossaError):
    """Timeouts, refused connections, 408/425/429/5xx: worth trying again later."""


class PybossaPermanentError(PybossaError):
    """401, 403, 404 and other refusals: trying again will not help."""


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
        status_forcelist=sorted(TRANSIENT_STATUSES),
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=False,  # a long Retry-After is the task's to wait, not a worker thread's
        raise_on_status=False,
    )
    adapter = HTTPAdapter(pool_connections=16, pool_maxsize=16, max_retries=retry)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    http.headers["User-Agent"] = USER_AGENT
    return http


class PybossaClient:
    """The calls Tally makes to one PYBOSSA server, authenticated with the source's API key."""

    def __init__(self, *, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"PybossaClient({self.base_url!r})"  # never the key

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        # The key goes in a header, which PYBOSSA accepts: a URL would carry it
        # into urllib3's retry warnings and every proxy log on the way.
        headers = {"Authorization": self._api_key} if self._api_key else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if not self.base_url:
            raise PybossaPermanentError("The source has no pybossa_url.")
        try:
            response = _session().request(
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
        """Every row of a PYBOSSA list, by id, page after page (`last_id` keyset) until exhausted."""
        limit = settings.PYBOSSA_PAGE_SIZE
        last_id: int | None = None
        while True:
            page = self._call(
                "GET", path, params={**params, "limit": limit, **({"last_id": last_id} if last_id else {})}
            )
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

    def task_runs(self, task_id: int) -> list[dict[str, Any]]:
        return list(self._pages("/api/taskrun", {"task_id": task_id}))

    def completed_tasks(self, project_id: int) -> Iterator[dict[str, Any]]:
        return self._pages("/api/task", {"project_id": project_id, "state": "completed"})

    def task_result_id(self, task_id: int) -> int | None:
        rows = self._call("GET", "/api/result", params={"task_id": task_id})
        ids = [row["id"] for row in rows if isinstance(row, dict) and isinstance(row.get("id"), int)]
        return max(ids) if ids else None  # PYBOSSA keeps older versions of a task's result

    def result_put_info(self, result_id: int, info: dict[str, Any]) -> None:
        self._call("PUT", f"/api/result/{result_id}", body={"info": info})
