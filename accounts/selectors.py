"""Looking up API tokens."""

from __future__ import annotations

from accounts.models import ApiToken
from accounts.services import token_hash


def api_token_get_active(*, raw: str) -> ApiToken | None:
    # The lookup is by digest: equal digests are a unique-index hit, so no
    # comparison of secret material happens in Python.
    return ApiToken.objects.filter(key_hash=token_hash(raw), active=True).first()
