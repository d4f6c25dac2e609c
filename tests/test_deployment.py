"""Properties of the deployment files that no container engine here can run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_nginx_limits_attempts_on_the_admin_login():
    conf = (ROOT / "nginx" / "nginx.conf").read_text()

    zone = re.search(r"limit_req_zone \$binary_remote_addr zone=admin_login:\S+ rate=(\d+)r/m;", conf)
    block = re.search(r"location = /admin/login/ \{(.*?)\}", conf, re.S)
    assert zone is not None
    assert int(zone.group(1)) <= 30
    assert block is not None
    assert "limit_req zone=admin_login" in block.group(1)
