"""Standard Webhooks signing and verification (https://www.standardwebhooks.com/).

One implementation for both directions: intake verifies what platforms send,
deliveries sign what Tally pushes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from functools import lru_cache

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


class SignatureError(Exception):
    """Verification failed; `code` is stable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


@lru_cache(maxsize=1024)
def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("A signing secret is whsec_ followed by base64.") from exc
    if not key:
        raise ValueError("A signing secret may not be empty.")
    return key


def is_valid_secret(secret: str) -> bool:
    try:
        secret_key(secret)
    except ValueError:
        return False
    return secret.startswith(SECRET_PREFIX)


def _signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one secret."""
    digest = _signature(secret_key(secret), msg_id, str(timestamp), body)
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(*, signing_secrets: Sequence[str], msg_id: str, body: bytes) -> dict[str, str]:
    """webhook-id, webhook-timestamp (now) and webhook-signature: one signature per secret, any of them verifies."""
    timestamp = int(time.time())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id=msg_id, timestamp=timestamp, body=body) for s in signing_secrets),
    }


def verify(
    secrets_: list[str],
    *,
    msg_id: str | None,
    timestamp: str | None,
    signature_header: str | None,
    body: bytes,
    now: float,
    tolerance: int,
) -> None:
    """Accept if any v1 signature in the header matches any of our secrets."""
    if not msg_id or not timestamp or not signature_header:
        raise SignatureError(
            "missing_signature_headers", "webhook-id, webhook-timestamp and webhook-signature are required."
        )
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError("bad_timestamp", "webhook-timestamp must be whole seconds since the epoch.") from None
    if sent_at < now - tolerance:
        raise SignatureError("timestamp_too_old", f"webhook-timestamp is more than {tolerance} s old.")
    if sent_at > now + tolerance:
        raise SignatureError("timestamp_in_future", f"webhook-timestamp is more than {tolerance} s ahead.")
    offered: list[bytes] = []
    for item in signature_header.split():
        version, _, value = item.partition(",")
        if version != "v1":
            continue
        try:
            offered.append(base64.b64decode(value, validate=True))
        except binascii.Error:
            continue
    for secret in secrets_:
        expected = _signature(secret_key(secret), msg_id, timestamp, body)
        # Compare against every offered signature, so timing does not reveal
        # which one (if any) matched.
        if any([hmac.compare_digest(expected, candidate) for candidate in offered]):
            return
    raise SignatureError("bad_signature", "No signature matches this source's secret.")
