"""Changing a destination after it exists: its settings, and its signing secret."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from common.standard_webhooks import generate_secret, is_valid_secret
from deliveries.models import Destination
from deliveries.services import DestinationConfigError
from deliveries.ssrf import UnsafeDestination, url_check
from webhooks.models import Source


@transaction.atomic
def destination_update(
    *,
    destination: Destination,
    url: str | None = None,
    source_slugs: Sequence[str] | None = None,
    timeout_seconds: int | None = None,
    max_attempts: int | None = None,
    headers: dict[str, str] | None = None,
    active: bool | None = None,
) -> Destination:
    """Change the given settings (None leaves one as it is), checked as at creation."""
    if url is not None:
        try:
            url_check(url)
        except UnsafeDestination as exc:
            raise DestinationConfigError(str(exc)) from None
        destination.url = url
    if timeout_seconds is not None:
        destination.timeout_seconds = timeout_seconds
    if max_attempts is not None:
        destination.max_attempts = max_attempts
    if headers is not None:
        destination.headers = headers
    if active is not None:
        destination.active = active
    destination.save()
    if source_slugs is not None:
        sources = list(Source.objects.filter(slug__in=source_slugs))
        unknown = sorted(set(source_slugs) - {s.slug for s in sources})
        if unknown:
            raise DestinationConfigError(f"No source {', '.join(unknown)}.")
        if not sources:
            raise DestinationConfigError("Name at least one source.")
        destination.sources.set(sources)
    return destination


@transaction.atomic
def destination_rotate_secret(*, destination: Destination, secret: str | None, grace: timedelta) -> str:
    """Sign with a new secret; pushes carry a signature with the old one too until `grace` has passed."""
    if secret is not None and not is_valid_secret(secret):
        raise DestinationConfigError("The secret must be whsec_ followed by base64.")
    locked = Destination.objects.select_for_update().get(pk=destination.pk)
    new = secret or generate_secret()
    locked.previous_secret, locked.previous_secret_expires_at = locked.secret, timezone.now() + grace
    locked.secret = new
    locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return new
