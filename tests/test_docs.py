"""docs/operations.md's configuration reference agrees with the code that reads the environment.

The reference table (header `| variable | default | meaning |`) must have one
row for every variable Tally's Python code reads: every `env.<cast>("NAME",
default=...)` and `env("NAME", ...)` call in config/settings.py, and every
`os.environ.get`, `os.environ[...]`, `os.getenv` and `"NAME" in os.environ`
in Tally's own modules (config/gunicorn.py's HOST, PORT, WEB_CONCURRENCY,
GUNICORN_THREADS, ...). Each row's default cell starts with the real default:

- a literal default is written as a code span: numbers as written (`5.0`),
  booleans `true` / `false`, lists comma-joined (`5,15,30`), strings as they
  are; an empty string or list is the word "empty";
- a variable read without a default somewhere says "required";
- a default that is an expression (`default=DEBUG`) needs a non-empty cell;
  for the expressions listed in EXPRESSION_DEFAULTS the cell must show the
  documented rendering, and a changed expression fails until both are updated.

The docker compose table (header `| compose variable | default | meaning |`)
is checked the same way against the `${NAME:-default}` / `${NAME:?message}`
substitutions of docker-compose.yml. No row may name a variable nothing
reads, and every variable set in .env.example must have a row.

The checks are plain functions over text, so the tests at the bottom can feed
them deliberately wrong tables and settings. Nothing here touches a database.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = ROOT / "docs" / "operations.md"
SETTINGS = ROOT / "config" / "settings.py"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

REFERENCE_HEADER = ("variable", "default", "meaning")
COMPOSE_HEADER = ("compose variable", "default", "meaning")

# Defaults that are expressions rather than literals: the expression as
# `ast.unparse` writes it, and the code span the table shows for it. When the
# code's expression changes, this test fails until the row and this map agree
# again. An expression not listed here only needs a non-empty default cell.
EXPRESSION_DEFAULTS: dict[str, tuple[str, str]] = {
    "TALLY_DATA_DIR": ("str(BASE_DIR / 'var')", "var/"),
    "ALLOWED_HOSTS": ("['localhost', '127.0.0.1', '[::1]'] if DEBUG else []", "localhost,127.0.0.1,[::1]"),
    "DELIVERY_ALLOW_PRIVATE_NETWORKS": ("DEBUG", "DEBUG"),
    "PROMETHEUS_MULTIPROC_DIR": ("str(DATA_DIR / 'metrics')", "$TALLY_DATA_DIR/metrics"),
}

# django-environ's methods whose default is the third positional argument
# (the second is `cast`); for the others it is the second.
_CAST_FIRST = {"list", "tuple", "dict", "__call__"}
_NOT_READS = {"read_env", "smart_cast", "parse_value", "get_value", "escape_proxy", "prefix"}
_SKIP_DIRS = {"tests", "bench", "migrations", "staticfiles", "var", "node_modules", "__pycache__"}


@dataclass(frozen=True)
class Read:
    """One place the code reads a variable, with its default."""

    name: str
    kind: str  # "literal", "expression" or "required"
    value: Any  # the literal's value, or the expression's source
    written: str  # the default as written in the code
    origin: str  # file:line

    @property
    def display(self) -> str:
        if self.kind == "required":
            return "no default (required)"
        if self.kind == "expression":
            return f"the expression {self.value}"
        return _display(self.value, self.written)


@dataclass(frozen=True)
class Row:
    name: str
    default: str
    line: int


# --- Reading the code ----------------------------------------------------------------------------


def _display(value: Any, written: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return written
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value) if value else "empty"
    if value is None or value == "":
        return "empty"
    return str(value)


def _default_of(node: ast.AST, source: str) -> tuple[str, Any, str]:
    written = ast.get_source_segment(source, node) or ast.unparse(node)
    try:
        return "literal", ast.literal_eval(node), written
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return "expression", ast.unparse(node), written


def settings_reads(source: str, filename: str = "config/settings.py") -> tuple[list[Read], list[str]]:
    """Every `env.<cast>("NAME", ...)` / `env("NAME", ...)` call; and problems (names that are not literals)."""
    reads: list[Read] = []
    problems: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "env":
            method = "__call__"
        elif (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "env"
            and func.attr not in _NOT_READS
        ):
            method = func.attr
        else:
            continue
        origin = f"{filename}:{node.lineno}"
        if not node.args or not (isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            problems.append(f"{origin}: an env call whose variable name is not a string literal cannot be checked")
            continue
        name = node.args[0].value
        default: ast.AST | None = next((k.value for k in node.keywords if k.arg == "default"), None)
        position = 2 if method in _CAST_FIRST else 1
        if default is None and len(node.args) > position:
            default = node.args[position]
        if default is None:
            reads.append(Read(name, "required", None, "", origin))
        else:
            kind, value, written = _default_of(default, source)
            reads.append(Read(name, kind, value, written, origin))
    return reads, problems


def _is_os_environ(node: ast.AST, bare: bool) -> bool:
    """`os.environ`, or a bare `environ` in a module that did `from os import environ`."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    ) or (bare and isinstance(node, ast.Name) and node.id == "environ")


def environ_reads(source: str, filename: str) -> list[Read]:
    """os.environ.get / os.getenv / os.environ[...] reads / "NAME" in os.environ, with their defaults."""
    reads: list[Read] = []

    def add(name_node: ast.AST, default: ast.AST | None, line: int) -> None:
        if not (isinstance(name_node, ast.Constant) and isinstance(name_node.value, str)):
            return
        origin = f"{filename}:{line}"
        if default is None:
            reads.append(Read(name_node.value, "required", None, "", origin))
        else:
            kind, value, written = _default_of(default, source)
            reads.append(Read(name_node.value, kind, value, written, origin))

    tree = ast.parse(source)
    # A bare `environ` is os.environ only if imported so (gunicorn's hooks get a WSGI `environ` argument).
    bare = any(
        isinstance(node, ast.ImportFrom) and node.module == "os" and any(a.name == "environ" for a in node.names)
        for node in ast.walk(tree)
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            is_get = isinstance(func, ast.Attribute) and func.attr == "get" and _is_os_environ(func.value, bare)
            is_getenv = (
                isinstance(func, ast.Attribute)
                and func.attr == "getenv"
                and isinstance(func.value, ast.Name)
                and func.value.id == "os"
            )
            if is_get or is_getenv:
                default = node.args[1] if len(node.args) > 1 else None
                default = next((k.value for k in node.keywords if k.arg == "default"), default)
                # A missing default is None: the variable is optional, not required.
                add(node.args[0], default if default is not None else ast.Constant(None), node.lineno)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_os_environ(node.value, bare):
            add(node.slice, None, node.lineno)
        elif (
            isinstance(node, ast.Compare)
            and len(node.ops) == 1
            and isinstance(node.ops[0], ast.In | ast.NotIn)
            and _is_os_environ(node.comparators[0], bare)
        ):
            add(node.left, ast.Constant(None), node.lineno)
    return reads


def python_sources(root: Path = ROOT) -> Iterable[tuple[str, str]]:
    """(relative path, text) of Tally's own Python: its modules (no tests, benchmarks, migrations or virtualenv)
    and the Python scripts under scripts/ (such as the container's health check)."""
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(".") and d not in _SKIP_DIRS)
        for file in sorted(files):
            path = Path(directory) / file
            if file.endswith(".py"):
                yield str(path.relative_to(root)), path.read_text(encoding="utf-8")
            elif path.parent == root / "scripts":
                text = path.read_text(encoding="utf-8", errors="replace")
                if text.startswith("#!") and "python" in text.splitlines()[0]:
                    yield str(path.relative_to(root)), text


def code_reads(root: Path = ROOT) -> tuple[list[Read], list[str]]:
    """Every read of the environment in Tally's Python code: settings, gunicorn, any module."""
    reads, problems = settings_reads((root / "config" / "settings.py").read_text(encoding="utf-8"))
    for relative, text in python_sources(root):
        reads += environ_reads(text, relative)
    return reads, problems


_SHELL_VAR = re.compile(r"(?<!\$)\$\{?([A-Z][A-Z0-9_]*)")


def shell_names(root: Path = ROOT) -> set[str]:
    """Variables the scripts under scripts/ read (`$NAME`, `${NAME:-...}`)."""
    names: set[str] = set()
    for path in sorted((root / "scripts").iterdir()):
        if path.is_file():
            names |= set(_SHELL_VAR.findall(path.read_text(encoding="utf-8", errors="replace")))
    return names


def _substitutions(text: str) -> Iterable[tuple[str, str, str]]:
    """(name, operator, default as written) of each `${...}` in a line, nested ones included; `$$` is a `$`."""
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
            continue
        if not text.startswith("${", i):
            i += 1
            continue
        depth, j = 1, i + 2
        while j < len(text) and depth:
            if text.startswith("$$", j):
                j += 2
                continue
            if text.startswith("${", j):
                depth, j = depth + 1, j + 2
                continue
            depth -= text[j] == "}"
            j += 1
        inner = text[i + 2 : j - 1] if depth == 0 else text[i + 2 :]
        match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?(.*)$", inner, re.DOTALL)
        if match:
            name, operator, rest = match.group(1), match.group(2) or "", match.group(3)
            yield name, operator, rest
            yield from _substitutions(rest)
        i = j


def compose_reads(text: str, filename: str = "docker-compose.yml") -> list[Read]:
    """`${NAME}`, `${NAME:-default}` and `${NAME:?message}` substitutions of a compose file, nested ones too."""
    reads = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        for name, operator, rest in _substitutions(line):
            origin = f"{filename}:{number}"
            if operator.endswith("?"):
                reads.append(Read(name, "required", None, "", origin))
            elif operator.endswith("-"):
                reads.append(Read(name, "literal", rest, rest, origin))
            else:
                reads.append(Read(name, "literal", "", "", origin))
    return reads


# --- Reading the docs ----------------------------------------------------------------------------


def _cells(line: str) -> list[str]:
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", body)]


def doc_rows(markdown: str, header: tuple[str, ...]) -> tuple[list[Row], list[str]]:
    """The rows of every table whose header is `header`; and problems (rows without exactly one variable)."""
    rows: list[Row] = []
    problems: list[str] = []
    lines = markdown.splitlines()
    inside = False
    for number, line in enumerate(lines, start=1):
        if not line.lstrip().startswith("|"):
            inside = False
            continue
        cells = _cells(line)
        if not inside:
            inside = tuple(cell.lower() for cell in cells) == header
            continue
        if all(re.fullmatch(r":?-+:?", cell) for cell in cells):
            continue  # the separator row
        names = re.findall(r"`([^`]*)`", cells[0])
        if len(names) != 1 or not re.fullmatch(r"[A-Z][A-Z0-9_]*", names[0]):
            problems.append(f"docs/operations.md:{number}: a row must name exactly one variable: {cells[0]!r}")
            continue
        rows.append(Row(names[0], cells[1] if len(cells) > 1 else "", number))
    return rows, problems


# --- Comparing -----------------------------------------------------------------------------------


def _first_token(cell: str) -> str:
    """The default a cell starts with: its leading code span, or else its first word."""
    text = cell.strip()
    if text.startswith("`"):
        match = re.match(r"`([^`]*)`", text)
        return match.group(1) if match else ""
    word = re.match(r"[\w-]+", text)
    return word.group(0).lower() if word else ""


def _matches(token: str, read: Read) -> bool:
    value = read.value
    if isinstance(value, bool):
        return token.lower() == ("true" if value else "false")
    if isinstance(value, int | float):
        try:
            return float(token) == float(value)
        except ValueError:
            return False
    return token == _display(value, read.written)


def default_problems(reads: list[Read], rows: list[Row], *, table: str = "docs/operations.md") -> list[str]:
    """A problem, naming the variable, for every read without a row or whose row's default is not the code's."""
    problems: list[str] = []
    by_name: dict[str, list[Read]] = {}
    for read in reads:
        by_name.setdefault(read.name, []).append(read)
    documented: dict[str, Row] = {}
    for row in rows:
        if row.name in documented:
            problems.append(f"{row.name}: {table} has two rows for it (lines {documented[row.name].line}, {row.line})")
        documented.setdefault(row.name, row)
    for name, its_reads in sorted(by_name.items()):
        places = ", ".join(read.origin for read in its_reads)
        found = documented.get(name)
        if found is None:
            defaults = "; ".join(read.display for read in its_reads)
            problems.append(f"{name}: read at {places} (default: {defaults}) but {table} has no row for it")
            continue
        row = found
        cell = row.default.strip()
        if cell in ("", "-", "—"):
            problems.append(f"{name}: {table}:{row.line} leaves the default empty; the code reads it at {places}")
            continue
        spans = re.findall(r"`([^`]*)`", cell)
        token = _first_token(cell)
        distinct = {(read.kind, repr(read.value)) for read in its_reads}
        for read in its_reads:
            if read.kind == "required":
                if "required" not in cell.lower():
                    problems.append(
                        f"{name}: {read.origin} reads it without a default, but {table}:{row.line} does not say "
                        f"'required' (default cell: {cell!r})"
                    )
            elif read.kind == "literal":
                if len(distinct) == 1:
                    ok = _matches(token, read)
                else:
                    ok = any(_matches(span, read) for span in spans) or (
                        read.display == "empty" and "empty" in cell.lower()
                    )
                if not ok:
                    problems.append(
                        f"{name}: {table}:{row.line} gives the default as {cell!r}, "
                        f"but {read.origin} has {read.display}"
                    )
            elif name in EXPRESSION_DEFAULTS:
                expression, shown = EXPRESSION_DEFAULTS[name]
                if read.value != expression:
                    problems.append(
                        f"{name}: the default at {read.origin} is now the expression {read.value} (documented: "
                        f"{expression}); correct {table}:{row.line}, then EXPRESSION_DEFAULTS in tests/test_docs.py"
                    )
                elif shown not in spans:
                    problems.append(
                        f"{name}: {table}:{row.line} should show the default of {read.value} as `{shown}` "
                        f"(default cell: {cell!r})"
                    )
    return problems


def stale_rows(rows: list[Row], known: set[str], *, where: str) -> list[str]:
    return [
        f"{row.name}: docs/operations.md:{row.line} documents it, but nothing in {where} reads it"
        for row in rows
        if row.name not in known
    ]


def env_example_problems(text: str, documented: set[str], reads: list[Read]) -> list[str]:
    """Every variable .env.example sets has a row; none is set empty where empty differs from unset."""
    problems = []
    empty_ok = {r.name for r in reads if r.kind == "required" or (r.kind == "literal" and r.display == "empty")}
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.match(r"\s*(?:#\s*)?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if not match:
            continue
        name, value = match.groups()
        if name not in documented:
            problems.append(f"{name}: .env.example:{number} sets it, but docs/operations.md has no row for it")
        elif not value.strip() and not line.lstrip().startswith("#") and name not in empty_ok:
            problems.append(
                f"{name}: .env.example:{number} sets it empty, which is not the same as leaving it out "
                "(an empty number fails, an empty boolean is false): comment the line out instead"
            )
    return problems


# --- The real files ------------------------------------------------------------------------------


def _operations() -> str:
    return OPERATIONS.read_text(encoding="utf-8")


def test_every_variable_the_code_reads_has_a_row_with_its_default() -> None:
    reads, problems = code_reads()
    rows, row_problems = doc_rows(_operations(), REFERENCE_HEADER)
    assert rows, "docs/operations.md has no table headed | variable | default | meaning |"
    problems += row_problems + default_problems(reads, rows)
    assert not problems, "docs/operations.md's configuration reference is out of date:\n" + "\n".join(problems)


def test_gunicorn_settings_are_covered() -> None:
    text = (ROOT / "config" / "gunicorn.py").read_text(encoding="utf-8")
    reads = environ_reads(text, "config/gunicorn.py")
    assert {"HOST", "PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS"} <= {read.name for read in reads}
    rows, _ = doc_rows(_operations(), REFERENCE_HEADER)
    problems = default_problems(reads, rows)
    assert not problems, "\n".join(problems)


def test_every_row_names_a_variable_that_is_read() -> None:
    reads, _ = code_reads()
    rows, _ = doc_rows(_operations(), REFERENCE_HEADER)
    known = {read.name for read in reads} | shell_names()
    problems = stale_rows(rows, known, where="Tally's Python code or scripts/")
    assert not problems, "\n".join(problems)


def test_docker_compose_variables_have_rows_with_their_defaults() -> None:
    reads = compose_reads(COMPOSE.read_text(encoding="utf-8"))
    rows, row_problems = doc_rows(_operations(), COMPOSE_HEADER)
    assert rows, "docs/operations.md has no table headed | compose variable | default | meaning |"
    problems = row_problems + default_problems(reads, rows)
    problems += stale_rows(rows, {read.name for read in reads}, where="docker-compose.yml")
    assert not problems, "\n".join(problems)


def test_env_example_sets_only_documented_variables() -> None:
    reads, _ = code_reads()
    markdown = _operations()
    documented = {row.name for row in doc_rows(markdown, REFERENCE_HEADER)[0]}
    documented |= {row.name for row in doc_rows(markdown, COMPOSE_HEADER)[0]}
    compose = compose_reads(COMPOSE.read_text(encoding="utf-8"))
    problems = env_example_problems(ENV_EXAMPLE.read_text(encoding="utf-8"), documented, reads + compose)
    assert not problems, "\n".join(problems)


# --- The checker itself, against deliberately wrong input ----------------------------------------

FAKE_SETTINGS = """
import environ
env = environ.Env()
DEBUG = env.bool("DEBUG", default=False)
A = env.int("A", default=5)
B = env.bool("B", default=True)
C = env.list("C", cast=int, default=[1, 2])
if DEBUG:
    D = env.str("D", default="dev-only")
else:
    D = env.str("D")
E = env.str("E", default="")
F = env.float("F", default=2.0)
G = env.bool("G", default=DEBUG)
H = env("H", cast=int, default=3)
env.read_env("somewhere/.env")
"""

GOOD_TABLE = """
| variable | default | meaning |
| --- | --- | --- |
| `DEBUG` | `false` | development mode |
| `A` | `5` | a number |
| `B` | `true` (`make run`: `false`) | a flag |
| `C` | `1,2` | a list |
| `D` | required; with `DEBUG`: `dev-only` | a secret |
| `E` | empty: nothing | a string |
| `F` | `2.0` | a float |
| `G` | the value of `DEBUG` | an expression |
| `H` | `3` | a plain env() call |
"""

WRONG_TABLE = """
| variable | default | meaning |
| --- | --- | --- |
| `DEBUG` | `false` | development mode |
| `A` | `6` | wrong number |
| `B` | `false` | wrong flag |
| `C` | `1,3` | wrong list |
| `D` | `dev-only` | not said to be required |
| `E` | `x` | not empty |
| `F` | `2.5` | wrong float |
| `H` | | empty cell |
| `STALE` | `1` | nothing reads it |
"""


def _problems(settings_text: str, table: str) -> list[str]:
    reads, problems = settings_reads(settings_text, "fake.py")
    rows, row_problems = doc_rows(table, REFERENCE_HEADER)
    return problems + row_problems + default_problems(reads, rows)


def test_checker_accepts_a_correct_table() -> None:
    reads, _ = settings_reads(FAKE_SETTINGS, "fake.py")
    assert {read.name for read in reads} == {"DEBUG", "A", "B", "C", "D", "E", "F", "G", "H"}
    assert _problems(FAKE_SETTINGS, GOOD_TABLE) == []


def test_checker_names_each_wrong_or_missing_row() -> None:
    problems = _problems(FAKE_SETTINGS, WRONG_TABLE)
    for name in ["A", "B", "C", "D", "E", "F", "G", "H"]:
        assert [p for p in problems if p.startswith(f"{name}: ")], f"no problem reported for {name}: {problems}"
    assert not [p for p in problems if p.startswith("DEBUG: ")]
    assert any(p.startswith("G: ") and "has no row" in p for p in problems)
    assert any(p.startswith("A: ") and "has 5" in p for p in problems)
    reads, _ = settings_reads(FAKE_SETTINGS, "fake.py")
    rows, _ = doc_rows(WRONG_TABLE, REFERENCE_HEADER)
    assert [p.split(":")[0] for p in stale_rows(rows, {r.name for r in reads}, where="fake.py")] == ["STALE"]


def test_a_changed_default_in_the_real_settings_fails_naming_it() -> None:
    real = SETTINGS.read_text(encoding="utf-8")
    changed = real.replace('env.int("EVENT_RETENTION_DAYS", default=90)', 'env.int("EVENT_RETENTION_DAYS", default=91)')
    assert changed != real, "config/settings.py no longer reads EVENT_RETENTION_DAYS as this test expects"
    rows, _ = doc_rows(_operations(), REFERENCE_HEADER)
    problems = default_problems(settings_reads(changed)[0], rows)
    assert len(problems) == 1, problems
    assert problems[0].startswith("EVENT_RETENTION_DAYS: ")
    assert "91" in problems[0]


def test_a_new_variable_in_the_real_settings_fails_naming_it() -> None:
    real = SETTINGS.read_text(encoding="utf-8")
    added = real + '\nSOMETHING_NEW: int = env.int("SOMETHING_NEW_SECONDS", default=7)\n'
    rows, _ = doc_rows(_operations(), REFERENCE_HEADER)
    problems = default_problems(settings_reads(added)[0], rows)
    assert problems, "a variable without a row went unnoticed"
    assert all(p.startswith("SOMETHING_NEW_SECONDS: ") for p in problems), problems


def test_a_changed_expression_default_fails_naming_it() -> None:
    real = SETTINGS.read_text(encoding="utf-8")
    changed = real.replace(
        '"DELIVERY_ALLOW_PRIVATE_NETWORKS", default=DEBUG', '"DELIVERY_ALLOW_PRIVATE_NETWORKS", default=True'
    )
    changed = changed.replace('str(DATA_DIR / "metrics")', 'str(DATA_DIR / "prometheus")')
    assert changed.count("default=True") > real.count("default=True")
    rows, _ = doc_rows(_operations(), REFERENCE_HEADER)
    problems = default_problems(settings_reads(changed)[0], rows)
    assert sorted(p.split(":")[0] for p in problems) == ["DELIVERY_ALLOW_PRIVATE_NETWORKS", "PROMETHEUS_MULTIPROC_DIR"]


def test_a_wrong_row_in_the_real_table_fails_naming_it() -> None:
    markdown = _operations()
    rows, _ = doc_rows(markdown, REFERENCE_HEADER)
    row = next(r for r in rows if r.name == "DELIVERY_LEASE_SECONDS")
    lines = markdown.splitlines()
    lines[row.line - 1] = lines[row.line - 1].replace("`180`", "`120`", 1)
    deleted = next(r for r in rows if r.name == "ALERT_RETENTION_DAYS")
    del lines[deleted.line - 1]
    wrong_rows, _ = doc_rows("\n".join(lines), REFERENCE_HEADER)
    reads, _ = code_reads()
    problems = default_problems(reads, wrong_rows)
    assert sorted(p.split(":")[0] for p in problems) == ["ALERT_RETENTION_DAYS", "DELIVERY_LEASE_SECONDS"], problems


def test_environ_reads_and_their_defaults() -> None:
    source = (
        "import os\n"
        "a = os.environ.get('HOST', '0.0.0.0')\n"
        "b = int(os.environ.get('WORKERS', '2'))\n"
        "c = os.environ['NEEDED']\n"
        "d = os.getenv('OPTIONAL')\n"
        "os.environ['WRITTEN'] = 'x'\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings')\n"
        "def access(environ):\n"
        "    return environ.get('PATH_INFO')\n"
    )
    reads = {read.name: read for read in environ_reads(source, "fake.py")}
    assert set(reads) == {"HOST", "WORKERS", "NEEDED", "OPTIONAL"}
    assert reads["NEEDED"].kind == "required"
    assert reads["WORKERS"].display == "2"
    assert reads["OPTIONAL"].display == "empty"
    table = (
        "| variable | default | meaning |\n| --- | --- | --- |\n| `HOST` | `127.0.0.1` | x |\n| `WORKERS` | `2` | x |\n"
    )
    problems = default_problems(list(reads.values()), doc_rows(table, REFERENCE_HEADER)[0])
    assert sorted(p.split(":")[0] for p in problems) == ["HOST", "NEEDED", "OPTIONAL"]


def test_compose_reads() -> None:
    text = (
        "x:\n  A: ${A:-false}\n  B: ${B:?set B}\n  C: ${C}\n  # D: ${D:-1}\n  test: celery@$$HOSTNAME ${E:-4}\n"
        "  U: ${U:-postgres://u:${P:?set P}@db/u}\n  cmd: 'rm -rf \"$${F:?}\"/*'\n"
    )
    reads = {read.name: read for read in compose_reads(text)}
    assert set(reads) == {"A", "B", "C", "E", "U", "P"}
    assert reads["U"].display == "postgres://u:${P:?set P}@db/u"
    assert reads["P"].kind == "required"
    assert reads["A"].display == "false"
    assert reads["B"].kind == "required"
    assert reads["C"].display == "empty"


def test_env_example_problems() -> None:
    reads, _ = settings_reads(FAKE_SETTINGS, "fake.py")
    text = "A=5\nA=\nE=\n# B=true\nUNKNOWN=1\n"
    problems = env_example_problems(text, {"A", "B", "E"}, reads)
    assert [p.split(":")[0] for p in problems] == ["A", "UNKNOWN"]
