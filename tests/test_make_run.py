"""`make run` on a fresh data directory: serves the demo source and the README's curl example works."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_make_run_serves_the_demo_source_and_the_readme_curl_example(tmp_path):
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS"}
    }
    env.update(TALLY_DATA_DIR=str(tmp_path), PORT=str(port))
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                if requests.get(f"http://127.0.0.1:{port}/api/v1/webhooks/demo/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("make run did not serve within 120 s:\n" + log.read_text())

        output = log.read_text()
        assert (tmp_path / "tally.sqlite3").exists(), "no DATABASE_URL: SQLite in the data directory"
        assert re.search(r"^token: \S+$", output, re.M)
        post, read = re.findall(r"^  (curl .+)$", output, re.M)[:2]

        posted = subprocess.run(post, shell=True, capture_output=True, text=True, timeout=30, check=True)
        assert '"status":"accepted"' in posted.stdout.replace(" ", "")
        summary = subprocess.run(read, shell=True, capture_output=True, text=True, timeout=30, check=True)
        assert '"units_completed":1' in summary.stdout.replace(" ", "")
        assert '"score_total":"8.00"' in summary.stdout.replace(" ", "")
        # The README's next commands, in a shell where nothing was exported.
        shell = {k: v for k, v in env.items() if k not in {"PORT"}}
        manage = [str(ROOT / ".venv" / "bin" / "python"), "manage.py"]
        created = subprocess.run(
            [*manage, "create_source", "my-lms"], cwd=ROOT, env=shell, capture_output=True, text=True, timeout=60
        )
        assert created.returncode == 0, created.stderr
        assert re.search(r"^secret: whsec_\S+$", created.stdout, re.M)
        event = tmp_path / "event.json"
        event.write_text(
            '{"id": "evt_readme", "type": "test.completed", "occurred_at": "2026-11-22T10:00:00Z", "data": '
            '{"user": {"id": "u-7"}, "test": {"id": "t-1"}, "score": 1, "max_score": 2}}'
        )
        sent = subprocess.run(
            [*manage, "send_webhook", "my-lms", str(event), "--base-url", f"http://127.0.0.1:{port}"],
            cwd=ROOT,
            env=shell,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
        assert "accepted" in sent.stdout
        source_token = re.search(r"^token: (\S+)$", output, re.M).group(1)
        time.sleep(1)  # let the access log line of the POST be written
        leaks = [
            line
            for line in log.read_text().splitlines()
            if source_token in line and not line.startswith(("token: ", "  curl "))
        ]
        assert leaks == [], "the source token reached the logs"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("make run did not stop on Ctrl-C")
    deadline = time.monotonic() + 30
    while group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_alive(proc.pid), "Ctrl-C left processes behind"
