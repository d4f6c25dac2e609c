"""`make run` on a fresh data directory: serves the demo source and the README's curl example works."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from functools import partial

import pytest

from tests.servers import BIN, ROOT, answers_ok, free_port, start_process


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
        manage = [str(BIN / "python"), "manage.py"]
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
            for line in run.output().splitlines()
            if source_token in line and not line.startswith(("token: ", "  curl "))
        ]
        assert leaks == [], "the source token reached the logs"
    finally:
        stopped = run.stop(sig=signal.SIGINT, timeout=30)
    assert stopped, "make run did not stop on Ctrl-C"
    assert run.group_ended(timeout=30), "Ctrl-C left processes behind"
