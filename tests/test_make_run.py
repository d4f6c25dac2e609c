"""`make run` on a fresh data directory: serves the demo source and the README's curl example works."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from functools import partial

import pytest

from tests.servers import BIN, ROOT, answers_ok, free_port, start_process
from tests.support.processes import poll


@pytest.mark.slow
def test_make_run_serves_the_demo_source_and_the_readme_curl_example(tmp_path):
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS"}
    }
    env.update(TALLY_DATA_DIR=str(tmp_path), PORT=str(port))
    run = start_process("make run", ["make", "run", f"PORT={port}"], env=env, log=tmp_path / "run.log")
    try:
        demo = f"http://127.0.0.1:{port}/api/v1/webhooks/demo/"
        run.wait_for(partial(answers_ok, demo), timeout=120, interval=0.5, what="make run to serve the demo source")

        output = run.output()
        assert (tmp_path / "postgres" / "PG_VERSION").exists(), (
            "no DATABASE_URL: an embedded PostgreSQL in the data folder"
        )
        postmaster = int((tmp_path / "postgres" / "postmaster.pid").read_text().split()[0])
        assert re.search(r"^token: \S+$", output, re.M)
        post, read = re.findall(r"^  (curl .+)$", output, re.M)[:2]

        posted = subprocess.run(post, shell=True, capture_output=True, text=True, timeout=30, check=True)
        assert '"status":"accepted"' in posted.stdout.replace(" ", "")
        summary = subprocess.run(read, shell=True, capture_output=True, text=True, timeout=30, check=True)
        assert '"units_completed":1' in summary.stdout.replace(" ", "")
        assert '"score_total":"8.00"' in summary.stdout.replace(" ", "")
        # The README's next commands, in a shell where nothing was exported.
        shell = {k: v for k, v in env.items() if k not in {"PORT"}}
        manage = [str(BIN / "python"), "manage.py"]
        created = subprocess.run(
            [*manage, "create_source", "my-lms"], cwd=ROOT, env=shell, capture_output=True, text=True, timeout=60
        )
        assert created.returncode == 0, created.stderr
        assert re.search(r"^secret: whsec_\S+$", created.stdout, re.M)
        # As the README prints it: the shipped example, no --base-url, no PORT in this shell
        # (make run remembered its port in the data folder's .env).
        sent = subprocess.run(
            [*manage, "send_webhook", "my-lms", "examples/event.json"],
            cwd=ROOT,
            env=shell,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
        assert "accepted" in sent.stdout
        # The README's progress commands, in a shell that has PORT.
        block = _readme_block("$TALLY/progress/create")
        shown = subprocess.run(
            block,
            shell=True,
            executable="/bin/bash",
            env={**shell, "PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert f"http://127.0.0.1:{port}/progress/show?jobid=demo" in shown.stdout
        lines = [json.loads(line) for line in shown.stdout.splitlines() if line.startswith("{")]
        assert len(lines) == 2, f"each JSON answer ends its line: {shown.stdout!r}"
        source_token = re.search(r"^token: (\S+)$", output, re.M).group(1)
        time.sleep(1)  # let the access log line of the POST be written
        leaks = [
            line
            for line in run.output().splitlines()
            if source_token in line and not line.startswith(("token: ", "  curl "))
        ]
        assert leaks == [], "the source token reached the logs"
        # On the embedded PostgreSQL, from another shell: a rejected body raises an alert, and the rebuild checks.
        bad = subprocess.run(
            post.replace('"score": 8', '"score": "eight"'), shell=True, capture_output=True, text=True, timeout=30
        )
        assert '"validation_error"' in bad.stdout, bad.stdout
        alerts = subprocess.run(
            [*manage, "shell", "-v", "0", "-c", "from notifications.models import Alert; print(Alert.objects.count())"],
            cwd=ROOT,
            env=shell,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert alerts.stdout.strip() == "1", alerts.stderr
        checked = subprocess.run(
            [*manage, "rebuild_summaries", "--check"], cwd=ROOT, env=shell, capture_output=True, text=True, timeout=60
        )
        assert checked.returncode == 0, checked.stderr
        assert "drifted: 0" in checked.stdout
        # Beat's sweeper runs every few seconds: its lines must not bury the printed credentials.
        served_at = run.output().index("Tally is serving on")
        time.sleep(12)
        noise = [
            line
            for line in run.output()[served_at:].splitlines()
            if "Sending due task" in line or "succeeded in" in line or "] received" in line
        ]
        assert noise == [], noise[:3]
        # A second `make run` on the same data folder refuses, and leaves the first one (and its database) serving.
        second = subprocess.run(
            ["make", "run", f"PORT={free_port()}"], env=env, capture_output=True, text=True, timeout=60
        )
        assert second.returncode != 0
        assert "already serving" in second.stderr, second.stderr
        assert answers_ok(demo)
        assert _alive(postmaster)
    finally:
        stopped = run.stop(sig=signal.SIGINT, timeout=30)
    assert stopped, "make run did not stop on Ctrl-C"
    assert run.group_ended(timeout=30), "Ctrl-C left processes behind"
    # The server has shut down once pg_ctl returns; its process may take a moment more to be reaped.
    assert poll(lambda: not _alive(postmaster), timeout=10), "Ctrl-C left the embedded PostgreSQL running"

    # A second `make run` keeps the credentials: the commands printed the first time still work.
    again = start_process("make run", ["make", "run", f"PORT={port}"], env=env, log=tmp_path / "run2.log")
    try:
        again.wait_for(partial(answers_ok, demo), timeout=120, interval=0.5, what="make run to serve again")
        assert re.findall(r"^  (curl .+)$", again.output(), re.M)[1] == read
        summary = subprocess.run(read, shell=True, capture_output=True, text=True, timeout=30, check=True)
        assert '"units_completed":1' in summary.stdout.replace(" ", ""), summary.stdout
    finally:
        assert again.stop(sig=signal.SIGINT, timeout=30)
    assert again.group_ended(timeout=30)
    assert not (tmp_path / "postgres" / "postmaster.pid").exists(), "the embedded PostgreSQL stopped cleanly"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _readme_block(marker: str) -> str:
    """The README's shell block that holds `marker`."""
    text = (ROOT / "README.md").read_text()
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        if marker in block:
            return block
    raise AssertionError(f"no README block with {marker}")


def test_make_run_installs_only_what_tally_runs_on(tmp_path):
    # A dry run with a venv that does not exist yet: the commands `make run` would run on a fresh clone.
    planned = subprocess.run(
        ["make", "-n", "-B", "run", f"VENV={tmp_path / 'venv'}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout

    installs = [line for line in planned.splitlines() if " install " in line]
    assert installs
    assert all(line.endswith("-r requirements.txt") for line in installs), installs
    assert "requirements-dev.txt" not in planned, "playwright, mypy and py-spy are for tests, not for serving"
