"""Destinations: creating one, changing its settings, rotating its signing secret."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from common.db import save_changed
from common.standard_webhooks import generate_secret, is_valid_secret
from deliveries.models import Destination
from deliveries.ssrf import UnsafeDestination, url_check
from webhooks.models import Source

TIMEOUT_RANGE = (1, 60)
MAX_ATTEMPTS_RANGE = (1, 50)


class DestinationConfigError(ValueError):
    """A destination cannot be created or changed as asked; the message says why."""


URL_MAX_LENGTH = 2000  # Destination.url
INVALID_URL = "Enter a valid http(s) URL, e.g. https://hr.acme.example/tally."


def check_url(url: str) -> None:
    """A URL pushes may go to: http(s) with a host and a valid port, and (unless allowed) not into a private network.

    Host names without a dot (a service on an internal network) are allowed
    here, as the network guard decides where pushes may go.
    """
    if len(url) > URL_MAX_LENGTH:
        raise DestinationConfigError(f"The URL may be at most {URL_MAX_LENGTH} characters.")
    try:
        urlsplit(url).port  # noqa: B018 - reading it checks it: urlsplit checks brackets, .port the number
        url_check(url)
    except UnsafeDestination as exc:
        if isinstance(exc.__context__, socket.gaierror):  # the guard looked the host up and found nothing
            host = urlsplit(url).hostname
            raise DestinationConfigError(f"Could not resolve host {host}: check the URL's host name.") from None
        raise DestinationConfigError(str(exc)) from None
    except ValueError:  # `https://[::1` (an unclosed bracket), a port beyond 65535
        raise DestinationConfigError(f"Not a valid URL: {url!r}. {INVALID_URL}") from None


def _check_ranges(*, timeout_seconds: int | None, max_attempts: int | None) -> None:
    if max_attempts is not None and not MAX_ATTEMPTS_RANGE[0] <= max_attempts <= MAX_ATTEMPTS_RANGE[1]:
        raise DestinationConfigError("max attempts must be between 1 and 50.")
    if timeout_seconds is not None and not TIMEOUT_RANGE[0] <= timeout_seconds <= TIMEOUT_RANGE[1]:
        raise DestinationConfigError("timeout seconds must be between 1 and 60.")


def check_headers(headers: dict[str, str]) -> None:
    for key, value in headers.items():
        text = f"{key}: {value}"
        if "\r" in text or "\n" in text or not key.strip():
            raise DestinationConfigError(f"Header {key!r} must be one line with a name.")
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            raise DestinationConfigError(f"Header {key!r} must be plain ASCII/Latin-1 text.") from None


def _sources(source_slugs: Sequence[str]) -> list[Source]:
    if not source_slugs:
        raise DestinationConfigError("Name at least one source.")
    sources = list(Source.objects.filter(slug__in=source_slugs))
    unknown = sorted(set(source_slugs) - {s.slug for s in sources})
    if unknown:
        raise DestinationConfigError(f"No source {', '.join(unknown)}.")
    return sources


def check_secret(secret: str | None) -> None:
    if secret is not None and not is_valid_secret(secret):
        raise DestinationConfigError("The secret must be whsec_ followed by base64.")


@transaction.atomic
def destination_create(
    *,
    name: str,
    url: str,
    source_slugs: Sequence[str],
    secret: str | None = None,
    max_attempts: int = 10,
    timeout_seconds: int = 10,
    headers: dict[str, str] | None = None,
) -> Destination:
    if not name.strip():
        raise DestinationConfigError("The name may not be blank.")
    if Destination.objects.filter(name=name).exists():
        raise DestinationConfigError(f"A destination named {name!r} already exists.")
    check_url(url)
    check_secret(secret)
    _check_ranges(timeout_seconds=timeout_seconds, max_attempts=max_attempts)
    check_headers(headers or {})
    sources = _sources(source_slugs)
    destination = Destination.objects.create(
        name=name,
        url=url,
        secret=secret or generate_secret(),
        max_attempts=max_attempts,
        timeout_seconds=timeout_seconds,
        headers=headers or {},  # type: ignore[misc]  # an encrypted JSON field
    )
    destination.sources.set(sources)
    return destination


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
    """Change the given settings (None leaves one as it is), checked as at creation.

    Only the named columns are written, on the locked row, so a concurrent
    disable or secret rotation is never undone by a stale copy.
    """
    changes: dict[str, object] = {}
    if url is not None:
        check_url(url)
        changes["url"] = url
    _check_ranges(timeout_seconds=timeout_seconds, max_attempts=max_attempts)
    if timeout_seconds is not None:
        changes["timeout_seconds"] = timeout_seconds
    if max_attempts is not None:
        changes["max_attempts"] = max_attempts
    if headers is not None:
        check_headers(headers)
        changes["headers"] = headers
    if active is not None:
        changes["active"] = active
    locked = Destination.objects.select_for_update().get(pk=destination.pk)
    save_changed(locked, changes)
    if source_slugs is not None:
        locked.sources.set(_sources(source_slugs))
    return locked


@transaction.atomic
def destination_rotate_secret(*, destination: Destination, secret: str | None, grace: timedelta) -> str:
    """Sign with a new secret; pushes carry a signature with the old one too until `grace` has passed."""
    check_secret(secret)
    locked = Destination.objects.select_for_update().get(pk=destination.pk)
    new = secret or generate_secret()
    locked.previous_secret, locked.previous_secret_expires_at = locked.secret, timezone.now() + grace
    locked.secret = new
    locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return new
