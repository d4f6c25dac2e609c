"""Helpers for progress tests: the endpoints as a worker script calls them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client


@pytest.fixture
def call(client: Client) -> Callable[..., Any]:
    """GET /progress/<action> with query parameters, as `requests.get(url, params=...)` would."""

    def get(action: str, **params: Any) -> Any:
        return client.get(f"/progress/{action}", params)

    return get
