"""Issuing and checking API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction

from accounts.models import ApiToken

TOKEN_PREFIX = "tly_"  # noqa: S105 - a prefix, not a secret


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def api_token_create(
    *, name: str, is_staff: bool, destination_id: int | None = None, replace: bool = False
) -> tuple[ApiToken, str]:
    """Create a staff token, or a client token for one destination; return it with its one-time plain value."""
    if replace:
        ApiToken.objects.filter(name=name).delete()
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name, key_prefix=raw[:12], key_hash=token_hash(raw), is_staff=is_staff, destination_id=destination_id
    )
    return token, raw
