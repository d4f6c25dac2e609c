"""The deployment files: docker-compose.yml, the Dockerfile and nginx.conf.

No container engine runs here, so the files are read for what must hold of
them, and the commands the containers would run (gunicorn, the Celery
workers, beat, migrate, and their health checks) are run for real from the
compose file, against the test database and a Redis of the test's own.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import yaml
from django.conf import settings
from django.core.management import get_commands

from deliveries.outbox import FIRST_QUEUE, RETRY_QUEUE
from tests.servers import BIN, ROOT, Process, RedisServer, answers_ok, database_url, free_port, start_process
from webhooks.guards import client_ip

COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
NGINX_CONF = (ROOT / "nginx" / "nginx.conf").read_text()

# Services whose health check is off, and why (each also says so in a comment).
CHECK_DISABLED = {
    "migrate": "a one-shot: it exits when done",
    "telegram-bot": "no port and no trace of its polling loop to check",
}
# What the image keeps in /app/var (TALLY_DATA_DIR): a temporary folder here.
IMAGE_DATA_DIR = "/app/var"
# The processes sharing prometheus-client's multiprocess folder.
METRICS_SERVICES = ("migrate", "web", "worker", "worker-retry", "beat")
SECRET_NAMES = re.compile(r"SECRET|PASSWORD|TOKEN|_KEYS?$")


# --- compose's own rules, as far as these files use them ---


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, nested."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
        elif text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 1)
            out.append(_braced(text[i + 2 : end], env))
            i = end + 1
        elif match := re.match(r"[A-Za-z_]\w*", text[i + 1 :]):
            out.append(env.get(match.group(), ""))
            i += 1 + match.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    for j in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return j
    raise ValueError(f"unclosed ${{ in {text!r}")


def _braced(body: str, env: Mapping[str, str]) -> str:
    match = re.fullmatch(r"([A-Za-z_]\w*)(?:(:?[-?+])(.*))?", body, re.S)
    assert match, f"not a compose variable: ${{{body}}}"
    name, operator, argument = match.groups()
    value = env.get(name)
    if operator is None:
        return value or ""
    present = bool(value) if operator.startswith(":") else value is not None
    if operator.endswith("-"):
        return value if present and value is not None else interpolate(argument, env)
    if operator.endswith("?"):
        if not present or value is None:
            raise KeyError(f"{name}: {interpolate(argument, env)}")
        return value
    return interpolate(argument, env) if present else ""


def seconds(duration: str) -> float:
    """A compose duration such as 30s, 1m30s or 500ms."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def dockerfile_instructions(name: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.split(None, 1)[:1] == [name]]


def image_cmd() -> list[str]:
    cmd = yaml.safe_load(dockerfile_instructions("CMD")[-1])  # the exec form is a JSON array
    assert isinstance(cmd, list)
    return cmd


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in dockerfile_instructions("ENV"):
        for pair in shlex.split(instruction):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def is_project_image(service: dict[str, Any]) -> bool:
    return "build" in service


def command_of(service: dict[str, Any]) -> list[str]:
    """What the service's container runs: its command, or the image's CMD."""
    return list(service.get("command") or image_cmd())


def celery_subcommand(argv: list[str]) -> str:
    """`worker` of `celery -A config --quiet worker ...`; empty for another program."""
    if argv[:3] != ["celery", "-A", "config"]:
        return ""
    return next(word for word in argv[3:] if not word.startswith("-"))


def worker_queues(argv: list[str]) -> set[str]:
    return set(argv[argv.index("-Q") + 1].split(","))


def service_block(name: str) -> str:
    """The service's lines in docker-compose.yml, comments included."""
    services = COMPOSE_TEXT[COMPOSE_TEXT.index("\nservices:\n") :]
    match = re.search(rf"^  {re.escape(name)}:\n(.*?)(?=^  [\w-]+:\n|^\S)", services, re.M | re.S)
    assert match, name
    return match.group(1)


# --- the files ---


def test_every_service_has_a_health_check_and_a_restart_policy():
    for name, service in SERVICES.items():
        assert service.get("restart") in {"unless-stopped", "always", "on-failure", "no"}, name
        check = service.get("healthcheck")
        assert check, f"{name} has no health check"
        if check.get("disable"):
            assert name in CHECK_DISABLED, f"{name}: health check disabled"
            lines = service_block(name).splitlines()
            above = lines[[line.strip() for line in lines].index("healthcheck:") - 1]
            assert above.strip().startswith("#"), f"{name}: say (just above it) why its health check is off"
            continue
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name
        assert seconds(check["timeout"]) <= seconds(check["interval"]), name
        assert check["retries"] >= 1, name
    assert SERVICES["migrate"]["restart"] == "no"
    assert {"postgres", "redis", "web", "worker", "worker-retry", "beat", "nginx"} <= SERVICES.keys()


def test_every_image_is_pinned_to_an_exact_release():
    # PostgreSQL releases are major.minor; the others major.minor.patch.
    exact = {"postgres": r"\d+\.\d+"}
    images = [service["image"] for service in SERVICES.values() if not is_project_image(service)]
    images += [line.split()[0] for line in dockerfile_instructions("FROM")]
    assert len(images) >= 4
    for image in images:
        name, _, tag = image.partition(":")
        version = exact.get(name, r"\d+\.\d+\.\d+")
        assert re.fullmatch(rf"{version}(-[a-z0-9.]+)*(@sha256:[0-9a-f]{{64}})?", tag), f"{image} is not pinned"


def test_project_services_run_programs_that_exist_in_the_project():
    def check(argv: list[str], where: str) -> None:
        program = argv[0]
        if program == "sh":
            assert argv[1] == "-c", where
            for part in re.split(r"&&|;", argv[2]):
                words = shlex.split(part)
                check(words[1:] if words[0] == "exec" else words, where)
        elif program == "python":
            assert (BIN / "python").exists()
            if argv[1] == "manage.py":
                assert argv[2] in get_commands(), f"{where}: no manage.py {argv[2]}"
            else:
                assert (ROOT / argv[1]).is_file(), f"{where}: no {argv[1]}"
        elif program == "celery":
            assert (BIN / "celery").exists()
            assert celery_subcommand(argv) in {"worker", "beat", "inspect"}, where
        elif program == "gunicorn":
            assert (BIN / "gunicorn").exists()
            assert argv[1] == "config.wsgi", where
            assert (ROOT / argv[argv.index("-c") + 1]).is_file(), where
        else:
            assert shutil.which(program), f"{where}: no {program}"

    for name, service in SERVICES.items():
        if not is_project_image(service):
            continue
        check(command_of(service), name)
        test = service["healthcheck"].get("test")
        if test:
            check(test[1:] if test[0] == "CMD" else shlex.split(test[1].split(">")[0]), f"{name} health check")
    assert command_of(SERVICES["web"])[0] == "gunicorn"
    assert "HEALTHCHECK" in DOCKERFILE
    assert "scripts/healthcheck-web" in dockerfile_instructions("HEALTHCHECK")[0]


def test_the_image_runs_as_a_user_that_is_not_root():
    users = dockerfile_instructions("USER")
    assert users
    assert users[-1].strip() not in {"root", "0", "0:0"}
    assert DOCKERFILE.index("USER ") < DOCKERFILE.index("\nCMD ")


def test_the_workers_consume_every_queue_tally_sends_to_and_retries_have_their_own():
    consumed: dict[str, set[str]] = {}
    for name, service in SERVICES.items():
        argv = command_of(service)
        if celery_subcommand(argv) == "worker":
            consumed[name] = worker_queues(argv)
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert set().union(*consumed.values()) >= {"celery", FIRST_QUEUE, RETRY_QUEUE, *routed}
    assert consumed["worker-retry"] == {RETRY_QUEUE}
    assert RETRY_QUEUE not in consumed["worker"]


class OnlySecretsSet(dict[str, str]):
    """The environment compose would see with every secret set (to VALUE) and nothing else."""

    VALUE = "from-the-environment"

    def get(self, key: str, default: Any = None) -> Any:
        return self.VALUE if SECRET_NAMES.search(key) else default


def test_secrets_come_only_from_the_environment():
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            value = str(value)
            if SECRET_NAMES.search(key):
                # ${NAME}, ${NAME:-} or ${NAME:?message}: no value of its own.
                assert re.fullmatch(rf"\$\{{{key}(:?-|:?\?[^}}]*)?\}}", value), f"{name}: {key}={value}"
            # With only the secrets set, a URL's password can only be one of them.
            resolved = interpolate(value, OnlySecretsSet())
            for password in re.findall(r"://[^/\s:@]*:([^/\s@]*)@", resolved):
                assert password == OnlySecretsSet.VALUE, f"{name}: a password written into {key}"
    for key in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS"):
        with pytest.raises(KeyError, match=key):
            interpolate(SERVICES["web"]["environment"][key], {})
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        interpolate(SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"], {})
    assert not any(SECRET_NAMES.search(key) for key in image_env())
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored
    assert ".git" in ignored


def test_all_processes_of_the_host_share_one_in_memory_metrics_folder():
    path = SERVICES["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    for name in METRICS_SERVICES:
        service = SERVICES[name]
        assert service["environment"]["PROMETHEUS_MULTIPROC_DIR"] == path, name
        assert f"metrics:{path}" in service["volumes"], name
        if name != "migrate":
            assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
    # tmpfs: empty when the host's services start from none running, so counts of
    # processes that are gone never linger; nothing deletes files under live processes.
    options = COMPOSE["volumes"]["metrics"]["driver_opts"]
    assert options["type"] == "tmpfs"
    assert "uid=10001" in options["o"], "writable by the image's user"
    assert "rm " not in " ".join(command_of(SERVICES["migrate"]))


# --- nginx ---


def nginx_directives() -> str:
    """nginx.conf without its comments."""
    return re.sub(r"#[^\n]*", "", NGINX_CONF)


def nginx_block(conf: str, head: str) -> str:
    start = conf.index(head + " {") + len(head) + 2
    depth, i = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(conf[i], 0)
        i += 1
    return conf[start : i - 1]


def test_nginx_limits_attempts_on_the_admin_login():
    conf = (ROOT / "nginx" / "nginx.conf").read_text()

    zone = re.search(r"limit_req_zone \$binary_remote_addr zone=admin_login:\S+ rate=(\d+)r/m;", conf)
    block = re.search(r"location = /admin/login/ \{(.*?)\}", conf, re.S)
    assert zone is not None
    assert int(zone.group(1)) <= 30
    assert block is not None
    assert "limit_req zone=admin_login" in block.group(1)


def test_nginx_passes_the_caller_the_scheme_and_the_request_id_to_every_location():
    conf = nginx_directives()
    server = nginx_block(conf, "server")
    for header in (
        "Host $http_host",
        "X-Forwarded-For $proxy_add_x_forwarded_for",
        "X-Forwarded-Proto $scheme",
        "X-Request-ID $request_id",
    ):
        assert f"proxy_set_header {header};" in server
    # A location with a proxy_set_header of its own would drop all of these.
    for location in re.findall(r"location [^{]+\{[^{}]*\}", server):
        assert "proxy_set_header" not in location, location
        if "proxy_pass" in location:
            assert "proxy_pass http://tally_web;" in location


def test_nginx_limits_how_often_one_address_may_ask_readyz():
    conf = nginx_directives()

    block = re.search(r"location = /readyz \{([^{}]*)\}", nginx_block(conf, "server"))
    assert block is not None
    assert "limit_req zone=probes" in block.group(1)
    assert re.search(r"limit_req_zone \$binary_remote_addr zone=probes:\S+ rate=\d+r/s;", conf)


def test_nginx_does_not_serve_metrics_at_the_public_edge():
    server = nginx_block(nginx_directives(), "server")

    block = re.search(r"location = /metrics \{([^{}]*)\}", server)
    assert block is not None
    assert "return 404" in block.group(1)
    assert "proxy_pass" not in block.group(1)


def test_nginx_limits_body_size_and_request_rate_with_webhooks_bodies_left_for_tally_to_refuse():
    conf = nginx_directives()
    assert re.search(r"^\s*client_max_body_size 1m;", nginx_block(conf, "http"), re.M)
    webhooks = nginx_block(conf, "location /api/v1/webhooks/")
    size = re.search(r"client_max_body_size (\d+)k;", webhooks)
    assert size
    # Above Tally's own limit, so Tally answers an oversized webhook itself.
    assert int(size.group(1)) * 1024 > settings.WEBHOOK_MAX_BODY_BYTES
    assert re.search(r"limit_req zone=webhooks burst=\d+", webhooks)
    assert re.search(r"limit_req_zone \$binary_remote_addr zone=webhooks:\S+ rate=\d+r/s;", conf)
    assert "limit_req_status 429;" in conf


def test_tally_takes_the_address_nginx_appends_and_not_one_the_caller_wrote(settings):
    # nginx is one proxy that appends the address it sees to whatever the
    # caller sent (X-Forwarded-For $proxy_add_x_forwarded_for).
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in nginx_directives()
    settings.TRUSTED_PROXY_COUNT = int(interpolate(SERVICES["web"]["environment"]["TRUSTED_PROXY_COUNT"], {}))
    request: Any = SimpleNamespace(META={"REMOTE_ADDR": "172.18.0.5", "HTTP_X_FORWARDED_FOR": "10.9.9.9, 203.0.113.7"})

    assert settings.TRUSTED_PROXY_COUNT == 1
    assert client_ip(request) == "203.0.113.7"


def test_nginx_accepts_its_configuration(tmp_path):
    nginx = os.environ.get("NGINX_BIN") or shutil.which("nginx")
    if not nginx:
        pytest.skip("no nginx binary here (set NGINX_BIN=/path/to/nginx to check the syntax)")
    version = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=True).stderr
    numbers = tuple(int(n) for n in re.findall(r"nginx/(\d+)\.(\d+)\.(\d+)", version)[0])
    conf = NGINX_CONF.replace("/var/log/nginx/", f"{tmp_path}/").replace("/var/run/", f"{tmp_path}/")
    conf = re.sub(r"^user \w+;", "", conf, flags=re.M)  # the image's user, not this machine's
    # Temporary files where this build would not find its compiled-in folders.
    temp = "".join(
        f"    {kind}_temp_path {tmp_path}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = conf.replace("http {\n", "http {\n" + temp, 1)
    mime_types = Path(nginx).resolve().parent.parent.parent / "etc" / "nginx" / "mime.types"
    if not Path("/etc/nginx/mime.types").exists() and mime_types.exists():
        conf = conf.replace("/etc/nginx/mime.types", str(mime_types))
    if numbers < (1, 27, 3):
        # No `resolve` before 1.27.3, and no Docker DNS here to resolve `web`.
        conf = conf.replace("server web:8000 resolve;", "server 127.0.0.1:8000;")
    (tmp_path / "nginx.conf").write_text(conf)

    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(tmp_path / "nginx.conf")],
        env={key: value for key, value in os.environ.items() if key != "NGINX"},  # nginx's own: inherited sockets
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr


# --- the commands, run for real ---


class Host:
    """The compose file's Tally containers as processes on this machine.

    Environment as compose builds it: the image's ENV, then the service's
    `environment:` interpolated with what .env would hold. /app is this
    checkout and /app/var a temporary folder.
    """

    def __init__(self, tmp_path: Path, broker: RedisServer) -> None:
        self.tmp_path = tmp_path
        self.var = tmp_path / "var"
        (self.var / "metrics").mkdir(parents=True)
        (tmp_path / "run").mkdir()
        # What .env and the shell would give compose.
        self.dotenv = {
            "SECRET_KEY": os.environ["SECRET_KEY"],
            "FIELD_ENCRYPTION_KEYS": os.environ["FIELD_ENCRYPTION_KEYS"],
            "POSTGRES_PASSWORD": "not-used-by-the-test-database",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker.url,
            "REDIS_URL": os.environ.get("REDIS_URL", ""),
            "WORKER_CONCURRENCY": "1",
            "RETRY_WORKER_CONCURRENCY": "1",
        }
        self.started: list[Process] = []

    def local(self, value: str) -> str:
        return value.replace(IMAGE_DATA_DIR, str(self.var))

    def env(self, service: str, hostname: str, **extra: str) -> dict[str, str]:
        env = {
            "PATH": f"{BIN}:{os.environ['PATH']}",
            "HOME": os.environ.get("HOME", str(self.tmp_path)),
            # gunicorn's control socket: one of this test's own, not ~/.gunicorn's.
            "XDG_RUNTIME_DIR": str(self.tmp_path / "run"),
            "HOSTNAME": hostname,
        }
        env.update({key: self.local(value) for key, value in image_env().items()})
        for key, value in SERVICES[service]["environment"].items():
            env[key] = self.local(interpolate(str(value), self.dotenv))
        env.update(extra)
        return env

    def argv(self, words: list[str]) -> list[str]:
        words = [self.local(interpolate(word, self.dotenv)) for word in words]
        program = BIN / words[0]
        return [str(program) if program.exists() else words[0], *words[1:]]

    def start(self, service: str, env: dict[str, str], *extra: str) -> Process:
        name = env["HOSTNAME"]
        argv = [*self.argv(command_of(SERVICES[service])), *extra]
        started = start_process(name, argv, env=env, log=self.tmp_path / f"{name}.log")
        self.started.append(started)
        return started

    def run(self, service: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """Run a one-shot service's command to its end."""
        argv = self.argv(command_of(SERVICES[service]))
        return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    def healthcheck(self, service: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """The service's health check, run as the engine runs it in the container."""
        check = SERVICES[service]["healthcheck"]
        kind, *words = check["test"]
        argv = self.argv(words) if kind == "CMD" else ["sh", "-c", interpolate(words[0], self.dotenv)]
        return subprocess.run(
            argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds(check["timeout"])
        )

    def stop_all(self) -> None:
        """Stop every process group started (SIGTERM, then SIGKILL); fail if any process outlived that."""
        for process in self.started:
            process.stop()
        left = []
        for process in self.started:
            if not process.group_ended(timeout=10):
                left.append(process.name)
                process.kill()
        assert not left, f"processes outlived their stop: {left}"


@pytest.fixture
def host(transactional_db: None, tmp_path: Path) -> Iterator[Host]:
    broker = RedisServer()
    broker.start()
    started = Host(tmp_path, broker)
    try:
        yield started
    finally:
        try:
            started.stop_all()
        finally:
            broker.stop()


@pytest.mark.slow
def test_gunicorn_from_the_image_cmd_answers_healthz_and_readyz_and_passes_the_web_health_check(host):
    port = free_port()
    env = host.env("web", "tally-web-1", PORT=str(port), HOST="127.0.0.1", WEB_CONCURRENCY="1")
    web = host.start("web", env)
    base = f"http://127.0.0.1:{port}"

    web.wait_for(partial(answers_ok, f"{base}/healthz"), timeout=30, what="gunicorn to answer /healthz")
    ready = requests.get(f"{base}/readyz", timeout=10)

    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}
    check = host.healthcheck("web", env)
    assert check.returncode == 0, check.stderr
    assert web.running()


@pytest.mark.slow
def test_the_celery_workers_from_the_compose_commands_pass_their_health_checks(host):
    # In its container a worker's node is celery@<container hostname>; here
    # each gets a hostname of its own, as each container would.
    envs = {service: host.env(service, f"tally-{service}-1") for service in ("worker", "worker-retry")}
    workers = {service: host.start(service, env, f"--hostname={env['HOSTNAME']}") for service, env in envs.items()}
    for service, worker in workers.items():
        worker.wait_for_line("ready.", timeout=60, what=f"{service} to start")

    nodes = ",".join(f"celery@{env['HOSTNAME']}" for env in envs.values())

    def inspect(method: str) -> dict[str, Any]:
        """What the nodes answer to `celery inspect <method>`, asked as an operator on the host would."""
        argv = [str(BIN / "celery"), "-A", "config", "inspect", method, "-d", nodes, "-j", "-t", "10"]
        result = subprocess.run(argv, cwd=ROOT, env=envs["worker"], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr
        return dict(json.loads(result.stdout))

    with ThreadPoolExecutor() as pool:
        checks = {service: pool.submit(host.healthcheck, service, envs[service]) for service in workers}
        queues, stats = pool.submit(inspect, "active_queues"), pool.submit(inspect, "stats")
        for service, worker in workers.items():
            node = f"celery@{envs[service]['HOSTNAME']}"
            check = checks[service].result()
            assert check.returncode == 0, check.stdout + check.stderr
            consumed = {queue["name"] for queue in queues.result()[node]}
            assert consumed == worker_queues(command_of(SERVICES[service]))
            # ${WORKER_CONCURRENCY:-4} and ${RETRY_WORKER_CONCURRENCY:-2}, as .env set them.
            assert stats.result()[node]["pool"]["max-concurrency"] == 1
            assert worker.running()


@pytest.mark.slow
def test_beat_from_the_compose_command_sends_due_tasks_stays_up_and_passes_its_liveness_check(host):
    # Beat's per-task lines are quiet by default (CELERY_TASK_LOG_LEVEL); this test reads them.
    env = host.env("beat", "tally-beat-1", CELERY_TASK_LOG_LEVEL="INFO")
    beat = host.start("beat", env, f"--hostname={env['HOSTNAME']}")
    # Connected to the broker's control exchange (before that, a ping waits out its -t).
    beat.wait_for_line("beat pidbox: Connected", timeout=30, what="beat to start")

    def passes() -> bool:
        return host.healthcheck("beat", env).returncode == 0

    beat.wait_for(passes, timeout=30, interval=0.5, what="beat to answer its health check")
    beat.wait_for_line("Sending due task", timeout=30, what="beat to send a due task")

    assert passes()
    assert beat.running()
    assert list(host.var.glob("celerybeat-schedule*"))  # --schedule=/app/var/...: the data folder


@pytest.mark.slow
def test_migrate_one_shot_migrates_and_leaves_the_metrics_of_running_processes_alone(host):
    live = host.var / "metrics" / "counter_web-4242.db"
    live.write_bytes(b"\0" * 16)
    env = host.env("migrate", "tally-migrate-1")

    result = host.run("migrate", env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert live.exists(), "a later `up` re-runs migrate beside running processes"
    assert "Operations to perform" in result.stdout
