"""A fake PYBOSSA API server on loopback: the projects, tasks, task runs and results Tally reads and writes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, NamedTuple
from urllib.parse import parse_qs, urlsplit

from tests.servers import Handler, LoopbackServer

TABLES = ("project", "task", "taskrun", "result")
RUN_FIELDS = {"id", "task_id", "project_id", "user_id", "user_ip", "info", "finish_time", "created"}
NOT_FILTERS = {"limit", "offset", "last_id", "api_key", "orderby", "desc", "all", "related", "fulltextsearch"}
FINISHED = datetime(2026, 11, 22, 10, 0, 0)


class Request(NamedTuple):
    method: str
    path: str
    query: dict[str, str]
    api_key: str | None


class Put(NamedTuple):
    result_id: int
    body: Any
    api_key: str | None
    at: float  # time.time()


class _Rule:
    def __init__(self, prefix: str, times: int, **what: Any) -> None:
        self.prefix, self.times, self.what = prefix, times, what


def _error(status: int, target: str, action: str, message: str) -> dict[str, Any]:
    names = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 405: "MethodNotAllowed"}
    return {
        "action": action,
        "exception_cls": names.get(status, "HTTPException"),
        "exception_msg": message,
        "status": "failed",
        "status_code": status,
        "target": target,
    }


class FakePybossa(LoopbackServer):
    """PYBOSSA's REST API as Tally uses it: GET project/task/taskrun/result, PUT result; faults on demand.

    It serves from `start()` (or `with`) until `close()`.
    """

    methods: ClassVar[frozenset[str]] = frozenset({"GET", "PUT", "POST", "DELETE"})

    def __init__(self, api_key: str = "pybossa-key-0123456789") -> None:
        super().__init__()
        self.api_key = api_key
        self.require_key = True
        self.require_key_for_reads = False
        self.page_size_max = 100
        self.requests: list[Request] = []
        self.puts: list[Put] = []
        self.tables: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in TABLES}
        self._faults: list[_Rule] = []
        self._delays: list[_Rule] = []
        self._next_run_id = 1
        self._lock = threading.Lock()

    # --- setup -----------------------------------------------------------------------------------------------

    def add_project(self, project_id: int, short_name: str = "proj", name: str | None = None) -> None:
        with self._lock:
            project = {"id": project_id, "short_name": short_name, "name": name or short_name}
            self.tables["project"][project_id] = project

    def add_task(
        self,
        project_id: int,
        task_id: int,
        *,
        state: str = "completed",
        runs: Sequence[Any] = (),
        result_id: int | None = None,
        info: dict[str, Any] | None = None,
        n_answers: int | None = None,
    ) -> int:
        """Create a task, its runs and its result (id `task_id + 1000` unless given); return the result id."""
        if project_id not in self.tables["project"]:
            self.add_project(project_id)
        result_id = task_id + 1000 if result_id is None else result_id
        with self._lock:
            self.tables["task"][task_id] = {
                "id": task_id,
                "project_id": project_id,
                "state": state,
                "info": info if info is not None else {},
                "n_answers": n_answers if n_answers is not None else max(len(runs), 1),
            }
            self.tables["result"][result_id] = {
                "id": result_id,
                "task_id": task_id,
                "project_id": project_id,
                "info": {},
                "task_run_ids": [],
                "last_version": True,
            }
        self.set_runs(task_id, runs)
        return result_id

    def set_runs(self, task_id: int, runs: Sequence[Any]) -> None:
        """Replace a task's runs. Each is an answer (user_id 1, 2, ...) or a run dict: only run keys, with "info"."""
        with self._lock:
            task = self.tables["task"][task_id]
            table = self.tables["taskrun"]
            for run_id in [i for i, r in table.items() if r["task_id"] == task_id]:
                del table[run_id]
            ids = []
            for n, given in enumerate(runs, start=1):
                explicit = isinstance(given, dict) and "info" in given and set(given) <= RUN_FIELDS
                run = {
                    "id": self._next_run_id,
                    "task_id": task_id,
                    "project_id": task["project_id"],
                    "user_id": n,
                    "user_ip": None,
                    "info": given,
                    "finish_time": (FINISHED + timedelta(seconds=self._next_run_id)).isoformat(timespec="microseconds"),
                }
                if explicit:
                    run.update(given)
                self._next_run_id = max(self._next_run_id, run["id"]) + 1
                table[run["id"]] = run
                ids.append(run["id"])
            for result in self.tables["result"].values():
                if result["task_id"] == task_id:
                    result["task_run_ids"] = ids

    def fail_next(
        self, path_prefix: str, status: int, times: int = 1, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        """The next `times` requests under `path_prefix` answer `status` (body: bytes/str as is, else JSON)."""
        with self._lock:
            self._faults.append(_Rule(path_prefix, times, status=status, body=body, headers=headers or {}))

    def delay_next(self, path_prefix: str, seconds: float, times: int = 1) -> None:
        """The next `times` requests under `path_prefix` wait `seconds` before answering."""
        with self._lock:
            self._delays.append(_Rule(path_prefix, times, seconds=seconds))

    # --- serving -----------------------------------------------------------------------------------------------

    def _take(self, rules: list[_Rule], path: str) -> dict[str, Any] | None:
        with self._lock:
            for rule in rules:
                if rule.times > 0 and path.startswith(rule.prefix):
                    rule.times -= 1
                    return rule.what
        return None

    def _answer(self, method: str, path: str, query: dict[str, str], key: str | None, raw: bytes) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if len(parts) not in (2, 3) or parts[0] != "api" or parts[1] not in TABLES:
            return 404, _error(404, "", method, "Not Found")
        target = parts[1]
        if method not in ("GET", "PUT") or (method == "PUT" and (target != "result" or len(parts) != 3)):
            return 405, _error(405, target, method, "Method Not Allowed")
        if self.require_key and key != self.api_key and (method == "PUT" or self.require_key_for_reads):
            return 401, _error(401, target, method, "This request requires a valid API key")
        if len(parts) == 3:
            try:
                row_id = int(parts[2])
            except ValueError:
                return 404, _error(404, target, method, "Not Found")
            with self._lock:
                row = self.tables[target].get(row_id)
                if row is None:
                    return 404, _error(404, target, method, "Not Found")
                if method == "GET":
                    return 200, json.loads(json.dumps(row))
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                return 400, _error(400, target, method, "Invalid JSON body")
            with self._lock:
                self.puts.append(Put(row_id, body, key, time.time()))
                if isinstance(body, dict):
                    row.update({k: v for k, v in body.items() if k in row and k != "id"})
                return 200, json.loads(json.dumps(row))
        try:
            limit = max(0, min(int(query.get("limit", 20)), self.page_size_max))
            offset = max(0, int(query.get("offset", 0)))
            last_id = int(query["last_id"]) if "last_id" in query else None
        except ValueError:
            return 400, _error(400, target, method, "limit, offset and last_id must be integers")
        filters = {k: v for k, v in query.items() if k not in NOT_FILTERS}
        with self._lock:
            rows = [
                r
                for _, r in sorted(self.tables[target].items())
                if all(k not in r or str(r[k]).lower() == v.lower() for k, v in filters.items())
            ]
            if last_id is not None:  # keyset paging: PYBOSSA ignores offset then
                page = [r for r in rows if r["id"] > last_id][:limit]
            else:
                page = rows[offset : offset + limit]
            return 200, json.loads(json.dumps(page))

    def handle(self, request: Handler) -> None:
        raw = request.body()
        split = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        key = query.get("api_key") or request.headers.get("Authorization")
        with self._lock:
            self.requests.append(Request(request.command, split.path, query, key))
        delay = self._take(self._delays, split.path)
        if delay:
            time.sleep(delay["seconds"])
        fault = self._take(self._faults, split.path)
        headers: dict[str, str] = {}
        if fault:
            status, payload, headers = fault["status"], fault["body"], fault["headers"]
            if payload is None:
                payload = _error(status, "", request.command, "injected fault")
        else:
            status, payload = self._answer(request.command, split.path, query, key, raw)
        body = payload if isinstance(payload, bytes) else str(payload).encode()
        if not isinstance(payload, (bytes, str)):
            body = json.dumps(payload).encode()
            headers = {"Content-Type": "application/json", **headers}
        request.answer(status, body, headers)

    def __enter__(self) -> FakePybossa:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
