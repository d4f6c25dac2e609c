"""A fake PYBOSSA (v4.0.2) API server on loopback: the projects, tasks, task runs and results Tally reads and writes.

It is as strict as PYBOSSA in what Tally depends on; each rule quotes the
PYBOSSA source it copies (github.com/Scifabric/pybossa, v4.0.2):

- Owner-scoped lists. pybossa/api/api_base.py, `APIBase.api_context`:

      if current_user.is_authenticated:
          filters['owner_id'] = current_user.id
      if filters.get('owner_id') and all_arg == '1':
          del filters['owner_id']

  and pybossa/repositories/__init__.py, `Repository.create_context`, keeps
  only rows whose project has `owner_id` (the primary owner): a list asked
  with a co-owner's or an admin's key, without `all=1`, is empty. Only the
  string '1' counts (`all=true` does not). Anonymous lists are not scoped.
  GET of one row (`/api/task/<id>`) is never scoped (`APIBase._db_query`).
- The rate limit. pybossa/ratelimit/__init__.py, `RateLimit.__init__` and
  `ratelimit()`: a fixed window per endpoint (`key_func=lambda:
  request.endpoint`, so `/api/task` and `/api/task/<id>` share one) and
  client address,

      self.reset = (int(time.time()) // per) * per + per
      self.current = min(p.execute()[0], limit)   # INCR, every request counts
      remaining = property(lambda x: x.limit - x.current)
      over_limit = property(lambda x: x.current >= x.limit)

  so the `limit`-th request of a window is already refused, with
  `error.format_exception(e, target=path(), action=f.__name__)` (a JSON 429
  body, no Retry-After); pybossa/core.py, `setup_hooks._inject_x_rate_headers`,
  adds `X-RateLimit-Remaining`, `X-RateLimit-Limit` and `X-RateLimit-Reset`
  (the window's end, epoch seconds) to every answer of a limited view, the
  429 included. Defaults: pybossa/default_settings.py `LIMIT = 300`,
  `PER = 15 * 60`.
- Errors. pybossa/error/__init__.py, `ErrorStatus.format_exception`: a JSON
  body {action, status, status_code, target, exception_cls, exception_msg}.
- Writes. pybossa/api/api_base.py, `APIBase.put`: `self.valid_args()` (any
  query argument but `api_key` that is not a column is an AttributeError,
  415), `ensure_authorized_to('update', existing)` (pybossa/auth/__init__.py:
  401 when anonymous, else 403), pybossa/auth/result.py `ResultAuth._update`:
  `user.id in project.owners_ids or user.admin`; pybossa/api/result.py
  `ResultAPI.reserved_keys` are a 400.
- Authentication. pybossa/core.py, `setup_hooks._api_authentication`: the key
  from `?api_key=`, overridden by a raw `Authorization` header; an unknown key
  is simply anonymous.
- Task runs. pybossa/model/task_run.py: `user_id` (authenticated), `user_ip`
  (anonymous), `external_uid` (a user of an external site): a run may carry
  only `external_uid`.
- Webhooks. `send_webhook` posts exactly as pybossa/jobs.py `webhook()` does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, NamedTuple
from urllib.parse import parse_qs, urlsplit

import requests

from tests.servers import Handler, LoopbackServer

TABLES = ("project", "task", "taskrun", "result")
# The columns of each model (pybossa/model/*.py): a list filter or a PUT field outside them is refused.
COLUMNS = {
    "project": {"id", "short_name", "name", "owner_id", "owners_ids", "created", "updated", "info", "published"},
    "task": {
        "id", "created", "project_id", "state", "quorum", "calibration", "priority_0",
        "info", "n_answers", "fav_user_ids", "exported",
    },
    "taskrun": {
        "id", "created", "project_id", "task_id", "user_id", "user_ip", "finish_time",
        "timeout", "calibration", "external_uid", "media_url", "info",
    },
    "result": {"id", "created", "project_id", "task_id", "task_run_ids", "last_version", "info"},
}  # fmt: skip
RUN_FIELDS = COLUMNS["taskrun"]
# pybossa/api/api_base.py, `APIBase._filter_query`: the arguments that are not column filters.
NOT_FILTERS = {
    "limit", "offset", "api_key", "last_id", "all", "fulltextsearch", "desc", "orderby",
    "related", "participated", "full", "stats",
}  # fmt: skip
# pybossa/api/result.py, `ResultAPI.reserved_keys`.
RESULT_RESERVED = {"id", "created", "project_id", "task_id", "task_run_ids", "last_version"}
FINISHED = datetime(2026, 11, 22, 10, 0, 0)
OWNER_ID = 1

# werkzeug 1.0.1's descriptions, as format_exception words them.
UNAUTHORIZED = (
    "The server could not verify that you are authorized to access the URL requested. You either supplied "
    "the wrong credentials (e.g. a bad password), or your browser doesn't understand how to supply the "
    "credentials required."
)
FORBIDDEN = (
    "You don't have the permission to access the requested resource. It is either read-protected or not "
    "readable by the server."
)
NOT_FOUND = (
    "404 Not Found: The requested URL was not found on the server. If you entered the URL manually please "
    "check your spelling and try again."
)
TOO_MANY = "429 Too Many Requests: This user has exceeded an allotted request count. Try again later."


class Request(NamedTuple):
    method: str
    path: str
    query: dict[str, str]
    api_key: str | None
    status: int = 0  # what the fake answered


class Put(NamedTuple):
    result_id: int
    body: Any
    api_key: str | None
    at: float  # time.time()


@dataclass
class User:
    id: int
    admin: bool = False


@dataclass
class _Window:
    """pybossa/ratelimit/__init__.py `RateLimit`: one counter per (endpoint, address, window end)."""

    limit: int
    per: int
    counts: dict[tuple[str, str, int], int] = field(default_factory=dict)

    def hit(self, endpoint: str, address: str) -> tuple[int, int, bool]:
        """Count one request; return (remaining, reset, over_limit) as PYBOSSA computes them."""
        reset = (int(time.time()) // self.per) * self.per + self.per
        key = (endpoint, address, reset)
        self.counts[key] = self.counts.get(key, 0) + 1
        current = min(self.counts[key], self.limit)
        return self.limit - current, reset, current >= self.limit


class _Rule:
    def __init__(self, prefix: str, times: int, **what: Any) -> None:
        self.prefix, self.times, self.what = prefix, times, what


def _error(status: int, target: str, action: str, message: str, cls: str | None = None) -> dict[str, Any]:
    """pybossa/error/__init__.py, `ErrorStatus.format_exception`: `error = dict(action=action.upper(), ...)`."""
    names = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed"}
    names |= {415: "AttributeError", 429: "TooManyRequests"}
    return {
        "action": action.upper(),
        "status": "failed",
        "status_code": status,
        "target": target,
        "exception_cls": cls or names.get(status, "HTTPException"),
        "exception_msg": message,
    }


def webhook_payload(
    *, project_short_name: str, project_id: int, task_id: int, result_id: int, fired_at: str | None = None
) -> dict[str, Any]:
    """pybossa/model/event_listeners.py, `push_webhook`: the payload PYBOSSA stores and posts."""
    return dict(
        event="task_completed",
        project_short_name=project_short_name,
        project_id=project_id,
        task_id=task_id,
        result_id=result_id,
        fired_at=fired_at or datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
    )


def send_webhook(url: str, payload: dict[str, Any], *, rerun: bool = False) -> requests.Response:
    """POST a webhook exactly as pybossa/jobs.py `webhook(url, payload=None, oid=None, rerun=False)` does:

    headers = {'Content-type': 'application/json', 'Accept': 'text/plain'}
    params = dict()
    if rerun:
        params['rerun'] = True
    response = requests.post(url, params=params, data=json.dumps(payload), headers=headers)

    The project's webhook page re-sends with `rerun=True` (pybossa/view/projects.py, `webhook_handler`:
    `webhook_queue.enqueue(webhook, project.webhook, tmp.payload, tmp.id, True)`), so requests appends
    `rerun=True` to the URL, after the `?token=` already there. PYBOSSA counts anything but 200 as a failed
    webhook (`if project.published and webhook.response_status_code != 200`: a "Broken" mail).
    """
    headers = {"Content-type": "application/json", "Accept": "text/plain"}
    params: dict[str, Any] = {}
    if rerun:
        params["rerun"] = True
    # PYBOSSA sets no timeout; a test does, so a hang fails instead of blocking.
    return requests.post(url, params=params, data=json.dumps(payload), headers=headers, timeout=30)


class FakePybossa(LoopbackServer):
    """PYBOSSA's REST API as Tally uses it: GET project/task/taskrun/result, PUT result; faults on demand.

    `api_key` belongs to the primary owner (user 1) of every project made here;
    `add_user` makes other keys, `add_coowner` puts one among a project's
    owners. The rate limit is PYBOSSA's default (300 per 15 minutes per
    endpoint); `rate_limit(limit, per)` changes it for a test. It serves from
    `start()` (or `with`) until `close()`.
    """

    methods: ClassVar[frozenset[str]] = frozenset({"GET", "PUT", "POST", "DELETE"})

    def __init__(self, api_key: str = "pybossa-key-0123456789", *, limit: int = 300, per: int = 15 * 60) -> None:
        super().__init__()
        self.api_key = api_key
        self.users: dict[str, User] = {api_key: User(OWNER_ID)}
        # Real PYBOSSA lets anyone read (pybossa/auth/taskrun.py `_read`: `return True`). Tests set this to
        # check that every call Tally makes carries the key: stricter than PYBOSSA, never friendlier.
        self.require_key = True
        self.require_key_for_reads = False
        self.page_size_max = 100  # `limit = min(100, int(request.args.get('limit')))`, default 20
        self.requests: list[Request] = []
        self.puts: list[Put] = []
        self.tables: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in TABLES}
        self._window = _Window(limit, per)
        self._faults: list[_Rule] = []
        self._delays: list[_Rule] = []
        self._next_run_id = 1
        self._lock = threading.Lock()

    # --- setup -----------------------------------------------------------------------------------------------

    def rate_limit(self, limit: int, per: int) -> None:
        """PYBOSSA's LIMIT and PER (whole seconds: the window's end is `(int(now) // per) * per + per`)."""
        with self._lock:
            self._window = _Window(limit, per)

    def add_user(self, api_key: str, *, admin: bool = False) -> int:
        with self._lock:
            user = User(max(u.id for u in self.users.values()) + 1, admin)
            self.users[api_key] = user
            return user.id

    def add_coowner(self, project_id: int, api_key: str) -> None:
        """pybossa/model/project.py `owners_ids`: co-owners may update results, but own no rows of their own."""
        with self._lock:
            self.tables["project"][project_id]["owners_ids"].append(self.users[api_key].id)

    def add_project(self, project_id: int, short_name: str = "proj", name: str | None = None) -> None:
        with self._lock:
            project = {
                "id": project_id,
                "short_name": short_name,
                "name": name or short_name,
                "owner_id": OWNER_ID,
                "owners_ids": [OWNER_ID],
            }
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
                "quorum": 0,
                "calibration": 0,
                "priority_0": 0.0,
            }
            self.tables["result"][result_id] = {
                "id": result_id,
                "task_id": task_id,
                "project_id": project_id,
                "info": None,
                "task_run_ids": [],
                "last_version": True,
            }
        self.set_runs(task_id, runs)
        return result_id

    def set_runs(self, task_id: int, runs: Sequence[Any]) -> None:
        """Replace a task's runs. Each is an answer (user_id 1, 2, ...) or a run dict: only run keys, with "info".

        A run dict sets its own user_id / user_ip / external_uid: {"info": "cat", "user_id": None,
        "external_uid": "ext-1"} is a run of an external site's user, as pybossa/model/task_run.py allows.
        """
        with self._lock:
            table = self.tables["taskrun"]
            for run_id in [i for i, r in table.items() if r["task_id"] == task_id]:
                del table[run_id]
            ids = [self._add_run(task_id, n, given) for n, given in enumerate(runs, start=1)]
            for result in self.tables["result"].values():
                if result["task_id"] == task_id:
                    result["task_run_ids"] = ids

    def complete_again(self, task_id: int, more_runs: Sequence[Any], *, result_id: int) -> int:
        """The owner raised n_answers and `more_runs` came in: the task completes into a new result.

        As pybossa/model/event_listeners.py `create_result` does it: every
        earlier result of the task gets `last_version=false`, and the new one
        lists all the task's runs in `task_run_ids`. Returns the new result's id.
        """
        with self._lock:
            task = self.tables["task"][task_id]
            first = 1 + sum(1 for r in self.tables["taskrun"].values() if r["task_id"] == task_id)
            for n, given in enumerate(more_runs, start=first):
                self._add_run(task_id, n, given)
            task["n_answers"] = first - 1 + len(more_runs)
            for result in self.tables["result"].values():
                if result["task_id"] == task_id:
                    result["last_version"] = False
            self.tables["result"][result_id] = {
                "id": result_id,
                "created": FINISHED.isoformat(),
                "task_id": task_id,
                "project_id": task["project_id"],
                "info": None,
                "task_run_ids": sorted(i for i, r in self.tables["taskrun"].items() if r["task_id"] == task_id),
                "last_version": True,
            }
        return result_id

    def _add_run(self, task_id: int, n: int, given: Any) -> int:
        """One run of the task by user `n` (or as the run dict says); the caller holds the lock."""
        task = self.tables["task"][task_id]
        explicit = isinstance(given, dict) and "info" in given and set(given) <= RUN_FIELDS
        run = {
            "id": self._next_run_id,
            "created": (FINISHED + timedelta(seconds=self._next_run_id - 1)).isoformat(),
            "task_id": task_id,
            "project_id": task["project_id"],
            "user_id": n,
            "user_ip": None,
            "external_uid": None,
            "timeout": None,
            "calibration": None,
            "media_url": None,
            "info": given,
            "finish_time": (FINISHED + timedelta(seconds=self._next_run_id)).isoformat(timespec="microseconds"),
        }
        if explicit:
            run.update(given)
        self._next_run_id = max(self._next_run_id, run["id"]) + 1
        self.tables["taskrun"][run["id"]] = run
        return int(run["id"])

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

    def answered(self, status: int) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.status == status]

    # --- serving -----------------------------------------------------------------------------------------------

    def _take(self, rules: list[_Rule], path: str) -> dict[str, Any] | None:
        with self._lock:
            for rule in rules:
                if rule.times > 0 and path.startswith(rule.prefix):
                    rule.times -= 1
                    return rule.what
        return None

    def _visible(self, target: str, row: dict[str, Any], user: User | None, all_arg: str | None) -> bool:
        """`APIBase.api_context` + `Repository.create_context`: an authenticated list sees its own projects' rows."""
        if user is None or all_arg == "1":
            return True
        project_id = row["id"] if target == "project" else row.get("project_id")
        project = self.tables["project"].get(int(project_id or 0))
        return project is not None and project["owner_id"] == user.id

    def _answer(self, method: str, path: str, query: dict[str, str], key: str | None, raw: bytes) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        target = parts[1]
        user = self.users.get(key) if key else None
        if method not in ("GET", "PUT") or (method == "PUT" and (target != "result" or len(parts) != 3)):
            return 405, _error(405, target, method, "Method Not Allowed")
        if self.require_key_for_reads and method == "GET" and user is None:
            return 401, _error(401, target, method, UNAUTHORIZED)
        if len(parts) == 3:
            try:
                row_id = int(parts[2])
            except ValueError:
                return 404, _error(404, target, method, NOT_FOUND)
            if method == "GET":
                with self._lock:
                    row = self.tables[target].get(row_id)
                    if row is None:  # `_create_json_response`: `raise abort(404)`
                        return 404, _error(404, target, method, NOT_FOUND)
                    return 200, json.loads(json.dumps(row))
            return self._put(target, row_id, query, key, user, raw)
        try:
            limit = max(0, min(int(query.get("limit", 20)), self.page_size_max))
            offset = max(0, int(query.get("offset", 0)))
            last_id = int(query["last_id"]) if query.get("last_id") else None
        except ValueError:
            limit, offset, last_id = 20, 0, None  # `_set_limit_and_offset`: `except (ValueError, TypeError)`
        filters = {k: v for k, v in query.items() if k not in NOT_FILTERS}
        for name in filters:
            if name not in COLUMNS[target]:  # `getattr(self.__class__, k)` raises
                cls = target.capitalize() if target != "taskrun" else "TaskRun"
                message = f"type object '{cls}' has no attribute '{name}'"
                return 415, _error(415, target, method, message)
        if target == "result" and "last_version" not in filters:
            filters["last_version"] = "true"  # pybossa/repositories/result_repository.py `filter_by`
        with self._lock:
            rows = [
                r
                for _, r in sorted(self.tables[target].items())
                if all(str(r.get(k)).lower() == v.lower() for k, v in filters.items())
                and self._visible(target, r, user, query.get("all"))
            ]
            if last_id is not None:  # keyset paging: PYBOSSA ignores offset then
                page = [r for r in rows if r["id"] > last_id][:limit]
            else:
                page = rows[offset : offset + limit]
            return 200, json.loads(json.dumps(page))

    def _put(
        self, target: str, row_id: int, query: dict[str, str], key: str | None, user: User | None, raw: bytes
    ) -> tuple[int, Any]:
        for name in query:  # `APIBase.valid_args`: every argument but api_key must be a column
            if name != "api_key" and name not in COLUMNS[target]:
                return 415, _error(415, target, "PUT", f"type object 'Result' has no attribute '{name}'")
        with self._lock:
            row = self.tables[target].get(row_id)
            if row is None:
                return 404, _error(404, target, "PUT", NOT_FOUND)
            project = self.tables["project"][row["project_id"]]
        if self.require_key and user is None:
            return 401, _error(401, target, "PUT", UNAUTHORIZED)
        if user is not None and not (user.id in project["owners_ids"] or user.admin):
            return 403, _error(403, target, "PUT", FORBIDDEN)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return 415, _error(415, target, "PUT", "Expecting value: line 1 column 1 (char 0)", cls="ValueError")
        if not isinstance(body, dict):
            return 415, _error(415, target, "PUT", "argument must be a mapping", cls="TypeError")
        if set(body) & RESULT_RESERVED:
            return 400, _error(400, target, "PUT", "Reserved keys in payload")
        if set(body) - COLUMNS[target]:
            unknown = sorted(set(body) - COLUMNS[target])[0]
            message = f"'{unknown}' is an invalid keyword argument for Result"
            return 415, _error(415, target, "PUT", message, cls="TypeError")
        with self._lock:
            self.puts.append(Put(row_id, body, key, time.time()))
            row.update(body)
            return 200, json.loads(json.dumps(row))

    def handle(self, request: Handler) -> None:
        raw = request.body()
        split = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        # pybossa/core.py `_api_authentication`: `apikey = request.args.get('api_key', None)`, then
        # `if 'Authorization' in request.headers: apikey = request.headers.get('Authorization')`.
        key = request.headers.get("Authorization") or query.get("api_key")
        with self._lock:  # recorded as it comes; its status once answered
            index = len(self.requests)
            self.requests.append(Request(request.command, split.path, query, key))
        delay = self._take(self._delays, split.path)
        if delay:
            time.sleep(delay["seconds"])
        parts = split.path.strip("/").split("/")
        routed = len(parts) in (2, 3) and parts[0] == "api" and parts[1] in TABLES
        headers: dict[str, str] = {}
        payload: Any
        if not routed:
            status, payload = 404, _error(404, "", request.command, NOT_FOUND)
        else:
            with self._lock:
                remaining, reset, over = self._window.hit(parts[1], request.client_address[0])
            # `_inject_x_rate_headers`, in this order, on every answer of a rate-limited view.
            headers = {
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Limit": str(self._window.limit),
                "X-RateLimit-Reset": str(reset),
            }
            fault = self._take(self._faults, split.path)
            if over:  # `if rlimit.over_limit: raise TooManyRequests`, before the view runs
                status, payload = 429, _error(429, split.path, request.command, TOO_MANY)
            elif fault:
                status, payload, extra = fault["status"], fault["body"], fault["headers"]
                headers = {**headers, **extra}
                if payload is None:
                    payload = _error(status, parts[1], request.command, "injected fault")
            else:
                status, payload = self._answer(request.command, split.path, query, key, raw)
        with self._lock:
            self.requests[index] = self.requests[index]._replace(status=status)
        body = payload if isinstance(payload, bytes) else str(payload).encode()
        if not isinstance(payload, (bytes, str)):
            body = json.dumps(payload).encode()
            headers = {"Content-Type": "application/json", **headers}
        request.answer(status, body, headers)

    def __enter__(self) -> FakePybossa:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
