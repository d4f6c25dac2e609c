"""The database's ceiling: pgbench replaying Tally's own statements for one accepted `test.completed`.

`capture()` runs in the benchmark's process, with Django set up on the bench
database: it posts one warm-up event and then one captured event through
Django's test client (the whole request: middleware, authentication, the
intake), with `CaptureQueriesContext`. The captured statements, BEGIN and
COMMIT included, become a pgbench script (`script()`):

- the keys are parametrised: the user (`random(0, users - 1)`, as in the
  HTTP runs), the unit and the event's id (random per transaction, so that
  every transaction stores a new event and a new result, as every event of
  the HTTP runs does);
- ids a statement returns and a later one uses (the event's, the summary's)
  come back through `\\gset`;
- every other value (scores, timestamps, the body apart from its keys) is
  sent as captured: it does not change what the statements cost;
- the test client skips the per-request connection health check
  (`CONN_HEALTH_CHECKS`), which gunicorn's requests run as a `SELECT 1`: it is
  added in front when the setting is on;
- the intake counters are written by a flush once a second per process, not
  per request: the capture sets the flush interval out of reach, so the
  script has none (nor do Redis calls appear: they are not SQL).

`start()` starts pgbench (`-M simple`: psycopg2 sends its statements as text,
parameters inlined, as the script does) for a bounded time on loopback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Numbers that cannot occur anywhere else in the captured SQL: they mark the keys to parametrise.
USER_MARK = 918273645
UNIT_MARK = 546372819
KEY_MARK = 777666555444
# Ids the captured request creates start above these per table, so that they too can be found in the SQL.
ID_BASE = 1_100_000_000  # int4 sequences end at 2,147,483,647
ID_STEP = 10_000_000  # up to 100 tables


@dataclass
class Capture:
    statements: list[str]  # as executed, parameters inlined
    health_check: bool  # a `SELECT 1` before each request's first statement
    created: dict[int, str]  # id -> table, for the rows the captured request inserted
    status: int  # the captured request's HTTP status


def capture(*, slug: str, token: str, make_body: Callable[[int, int, int], bytes], path: str | None = None) -> Capture:
    """One real intake, captured; Django must be set up in this process (with ALLOWED_HOSTS taking testserver)."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    url = path or f"/api/v1/webhooks/{slug}/"
    client = Client()
    headers = {"authorization": f"Bearer {token}"}
    warm = client.post(url, make_body(KEY_MARK - 1, USER_MARK - 1, UNIT_MARK - 1), "application/json", headers=headers)
    if warm.status_code != 202:
        raise RuntimeError(f"capture: the warm-up intake answered {warm.status_code}: {warm.content[:300]!r}")
    bases = _ids_bump()
    with CaptureQueriesContext(connection) as queries:
        response = client.post(url, make_body(KEY_MARK, USER_MARK, UNIT_MARK), "application/json", headers=headers)
    created: dict[int, str] = {}
    with connection.cursor() as cursor:
        for table, base in bases.items():
            cursor.execute(f'SELECT id FROM "{table}" WHERE id > %s', [base])
            created.update({row[0]: table for row in cursor.fetchall()})
    database = settings.DATABASES["default"]
    health = bool(database.get("CONN_HEALTH_CHECKS")) and database.get("CONN_MAX_AGE") != 0
    statements = [query["sql"] for query in queries.captured_queries]
    connection.close()
    return Capture(statements, health, created, response.status_code)


def _ids_bump() -> dict[str, int]:
    """Move every table's id sequence above a distinct base; returns table -> base."""
    from django.db import connection

    bases: dict[str, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.relname, s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid"
            " JOIN pg_class t ON t.oid = d.refobjid"
            " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid"
            " WHERE s.relkind = 'S' AND a.attname = 'id' ORDER BY t.relname"
        )
        for i, (table, sequence) in enumerate(cursor.fetchall()):
            bases[table] = ID_BASE + i * ID_STEP
            cursor.execute("SELECT setval(%s, %s)", [sequence, bases[table]])
    return bases


_INSERT_TABLE = re.compile(r'^\s*INSERT\s+INTO\s+"?(\w+)"?', re.IGNORECASE)


def _number(value: int) -> re.Pattern[str]:
    return re.compile(rf"(?<![\d.]){value}(?![\d.])")


def script(found: Capture, *, users: int) -> str:
    """The pgbench script of one captured intake (see the module's docstring)."""
    lines = [
        "-- Tally's statements for one accepted test.completed, captured from a real intake",
        "-- (bench/baselines/pgbench.py)",
        f"\\set user random(0, {users - 1})",
        "\\set unit random(1, 999999999999)",
        "\\set key random(1, 999999999999)",
    ]
    if found.health_check:
        lines.append("SELECT 1;  -- CONN_HEALTH_CHECKS: before the request's first statement")
    keys = [
        (_number(KEY_MARK), ":client_id-:key"),
        (_number(USER_MARK), ":user"),
        (_number(UNIT_MARK), ":unit"),
    ]
    returned: dict[int, str] = {}  # id -> the pgbench variable it is read back into
    statements = [sql.strip().rstrip(";") for sql in found.statements]
    for i, sql in enumerate(statements):
        for pattern, variable in [*keys, *((_number(v), f":{name}") for v, name in returned.items())]:
            sql = pattern.sub(variable, sql)
        gset = ""
        match = _INSERT_TABLE.match(sql)
        if match and re.search(r"\bRETURNING\b", sql, re.IGNORECASE):
            table = match.group(1)
            ids = [v for v, t in found.created.items() if t == table]
            later = " ".join(statements[i + 1 :])
            if len(ids) == 1 and _number(ids[0]).search(later):
                prefix = f"r{i}_"
                returned[ids[0]] = f"{prefix}id"
                gset = f" \\gset {prefix}"
        lines.append(f"{sql}{gset}" if gset else f"{sql};")
    return "\n".join(lines) + "\n"


@dataclass
class Result:
    clients: int
    seconds: float
    tps: float = 0.0
    transactions: int = 0
    failed: int = 0
    latency_ms: float = 0.0
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)


def available() -> str | None:
    return shutil.which("pgbench")


def start(url: str, script_path: Path, *, clients: int, seconds: float) -> subprocess.Popen[str]:
    """pgbench with `clients` connections for `seconds` against the database of `url` (no vacuum, no init).

    It runs in a session of its own (its pid is its process group's id, for the CPU meter); `finish` waits for it.
    """
    parts = urlsplit(url)
    env: Mapping[str, str] = dict(os.environ, PGPASSWORD=unquote(parts.password or ""))
    argv = [
        "pgbench",
        "--no-vacuum",
        "--protocol=simple",
        f"--file={script_path}",
        f"--client={clients}",
        f"--jobs={min(clients, os.cpu_count() or 1)}",
        f"--time={max(1, round(seconds))}",
        f"--host={parts.hostname or '127.0.0.1'}",
        f"--port={parts.port or 5432}",
        f"--username={unquote(parts.username or 'postgres')}",
        unquote(parts.path.lstrip("/")),
    ]
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def finish(process: subprocess.Popen[str], *, clients: int, seconds: float) -> Result:
    """Wait for pgbench and read its report: tps (without the connection time), transactions, failures."""
    out, err = process.communicate(timeout=seconds + 60)
    result = Result(clients, seconds)
    if m := re.search(r"^tps = ([\d.]+)", out, re.MULTILINE):
        result.tps = float(m.group(1))
    if m := re.search(r"actually processed: (\d+)", out):
        result.transactions = int(m.group(1))
    if m := re.search(r"failed transactions: (\d+)", out):
        result.failed = int(m.group(1))
    if m := re.search(r"latency average = ([\d.]+) ms", out):
        result.latency_ms = float(m.group(1))
    problems = [line for line in err.splitlines() if "aborted" in line or "error" in line.lower()]
    if process.returncode or not result.tps or problems:
        result.errors = problems[:5] or [f"pgbench exited {process.returncode}: {err.strip()[-500:]}"]
    return result
