"""Sources: creating one, changing its settings, rotating its secret or token."""

from __future__ import annotations

import ipaddress
import secrets
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_slug
from django.db import transaction
from django.utils import timezone

from common.db import save_changed
from common.standard_webhooks import generate_secret, is_valid_secret
from webhooks.models import Source


class SourceConfigError(ValueError):
    """A source cannot be created or changed as asked; the message says why."""


def source_validate_networks(cidrs: list[str], *, field: str) -> list[str]:
    cleaned = []
    for cidr in cidrs:
        try:
            cleaned.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except ValueError:
            raise SourceConfigError(f"{field}: {cidr!r} is not an IP address or CIDR range.") from None
    return cleaned


@transaction.atomic
def source_create(
    *,
    slug: str,
    kind: str = Source.Kind.NATIVE,
    auth_mode: str | None = None,
    secret: str | None = None,
    token: str | None = None,
    allowed_ips: list[str] | None = None,
    denied_ips: list[str] | None = None,
    rate_limit_per_minute: int | None = None,
    pybossa_url: str = "",
    pybossa_api_key: str = "",
) -> Source:
    """Create a source; a missing secret or token is generated (read it back from the source)."""
    try:
        validate_slug(slug)
    except ValidationError:
        raise SourceConfigError("The slug may hold only letters, digits, hyphens and underscores.") from None
    if Source.objects.filter(slug=slug).exists():
        raise SourceConfigError(f"A source with slug {slug!r} already exists.")
    if kind not in Source.Kind.values:
        raise SourceConfigError(f"kind must be one of {', '.join(Source.Kind.values)}.")
    if auth_mode is None:
        # PYBOSSA can only store a URL, so it cannot sign.
        auth_mode = Source.AuthMode.TOKEN if kind == Source.Kind.PYBOSSA else Source.AuthMode.STANDARD
    if auth_mode not in Source.AuthMode.values:
        raise SourceConfigError(f"auth must be one of {', '.join(Source.AuthMode.values)}.")
    allowed = source_validate_networks(allowed_ips or [], field="allowed IPs")
    denied = source_validate_networks(denied_ips or [], field="denied IPs")
    if auth_mode == Source.AuthMode.NONE and not allowed:
        raise SourceConfigError("auth 'none' needs an IP allow-list (--allowed-ips).")
    if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
        raise SourceConfigError("The rate limit must be at least 1 request per minute.")
    if secret is not None and not is_valid_secret(secret):
        raise SourceConfigError("The secret must be whsec_ followed by base64.")
    if token is not None and len(token) < 16:
        raise SourceConfigError("The token must be at least 16 characters.")
    check_pybossa_url(pybossa_url)
    return Source.objects.create(
        slug=slug,
        name=slug,
        kind=kind,
        auth_mode=auth_mode,
        secret=(secret or generate_secret()) if auth_mode == Source.AuthMode.STANDARD else "",
        token=(token or secrets.token_urlsafe(32)) if auth_mode == Source.AuthMode.TOKEN else "",
        allowed_ips=allowed,
        denied_ips=denied,
        rate_limit_per_minute=rate_limit_per_minute,
        pybossa_url=pybossa_url,
        pybossa_api_key=pybossa_api_key,
    )


def check_pybossa_url(url: str) -> None:
    if url:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            raise SourceConfigError(f"{url!r} is not an http(s) URL.") from None


@transaction.atomic
def source_update(
    *,
    source: Source,
    name: str | None = None,
    active: bool | None = None,
    allowed_ips: list[str] | None = None,
    denied_ips: list[str] | None = None,
    rate_limit_per_minute: int | None = None,
    clear_rate_limit: bool = False,
    pass_ratio: Decimal | None = None,
    pybossa_url: str | None = None,
) -> Source:
    """Change the given settings (None leaves one as it is), checked as at creation.

    Only the named columns are written, on the locked row, so a concurrent
    pause or secret rotation is never undone by a stale copy.
    """
    locked = Source.objects.select_for_update().get(pk=source.pk)
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = name
    if active is not None:
        changes["active"] = active
    if allowed_ips is not None:
        changes["allowed_ips"] = source_validate_networks(allowed_ips, field="allowed IPs")
    if denied_ips is not None:
        changes["denied_ips"] = source_validate_networks(denied_ips, field="denied IPs")
    if locked.auth_mode == Source.AuthMode.NONE and not changes.get("allowed_ips", locked.allowed_ips):
        raise SourceConfigError("auth 'none' needs an IP allow-list.")
    if rate_limit_per_minute is not None:
        if rate_limit_per_minute < 1:
            raise SourceConfigError("The rate limit must be at least 1 request per minute.")
        changes["rate_limit_per_minute"] = rate_limit_per_minute
    elif clear_rate_limit:
        changes["rate_limit_per_minute"] = None
    if pass_ratio is not None:
        changes["pass_ratio"] = pass_ratio
    if pybossa_url is not None:
        check_pybossa_url(pybossa_url)
        changes["pybossa_url"] = pybossa_url
    save_changed(locked, changes)
    return locked


@transaction.atomic
def source_rotate_credential(*, source: Source, new: str | None, grace: timedelta) -> str:
    """A new signing secret (standard auth) or token (token auth); the old one still works until `grace` ends."""
    locked = Source.objects.select_for_update().get(pk=source.pk)
    if locked.auth_mode == Source.AuthMode.STANDARD:
        if new is not None and not is_valid_secret(new):
            raise SourceConfigError("The secret must be whsec_ followed by base64.")
        new = new or generate_secret()
        locked.previous_secret, locked.secret = locked.secret, new
    elif locked.auth_mode == Source.AuthMode.TOKEN:
        if new is not None and len(new) < 16:
            raise SourceConfigError("The token must be at least 16 characters.")
        new = new or secrets.token_urlsafe(32)
        locked.previous_token, locked.token = locked.token, new
    else:
        raise SourceConfigError("A source with auth 'none' has no secret or token to rotate.")
    locked.previous_expires_at = timezone.now() + grace
    locked.save(
        update_fields=["secret", "previous_secret", "token", "previous_token", "previous_expires_at", "updated_at"]
    )
    return new
