"""Sources: creating one, changing its settings, rotating its secret or token."""

from __future__ import annotations

import ipaddress
import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_slug
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from common.db import save_changed
from common.standard_webhooks import generate_secret, is_valid_secret
from webhooks.models import Source


class SourceConfigError(ValueError):
    """A source cannot be created or changed as asked; the message says why.

    `field` names the setting at fault (the model's field name, such as
    `allowed_ips`): the API answers under it, a command names its own flag.
    The message itself names neither, so it reads right for both.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


SLUG_MAX_LENGTH = Source._meta.get_field("slug").max_length or 64
NAME_MAX_LENGTH = Source._meta.get_field("name").max_length or 200
ANALYSIS_MAX_LENGTH = Source._meta.get_field("pybossa_analysis").max_length or 255


def source_validate_networks(cidrs: list[str], *, field: str) -> list[str]:
    cleaned = []
    for cidr in cidrs:
        try:
            cleaned.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except ValueError:
            raise SourceConfigError(f"{cidr!r} is not an IP address or CIDR range.", field=field) from None
    return cleaned


def analysis_module_allowed(path: str) -> bool:
    """Whether a dotted path lies in a module (or package) that settings.PYBOSSA_ANALYSIS_MODULES lists."""
    module = path.rpartition(".")[0]
    return any(module == allowed or module.startswith(f"{allowed}.") for allowed in settings.PYBOSSA_ANALYSIS_MODULES)


def source_validate_analysis(*, analysis: str, quorum: int | None) -> None:
    """A PYBOSSA analysis is `majority`, `quorum` (with a quorum of 1 or more), or a dotted path to a callable.

    The callable is imported now, so a typo is refused when the source is
    saved rather than when its first task comes.
    """
    if len(analysis) > ANALYSIS_MAX_LENGTH:
        raise SourceConfigError(
            f"The analysis may be at most {ANALYSIS_MAX_LENGTH} characters.", field="pybossa_analysis"
        )
    if analysis == Source.Analysis.QUORUM:
        if quorum is None or quorum < 1:
            raise SourceConfigError(
                "The quorum analysis needs a quorum: how many task runs must give the same answer (1 or more).",
                field="pybossa_quorum",
            )
    elif quorum is not None:
        raise SourceConfigError("A quorum applies only to the quorum analysis.", field="pybossa_quorum")
    if analysis in Source.Analysis.values:
        return
    if "." not in analysis:
        raise SourceConfigError(
            f"The analysis must be majority, quorum, or the dotted path of a Python callable; {analysis!r} is none.",
            field="pybossa_analysis",
        )
    if not analysis_module_allowed(analysis):
        allowed = ", ".join(settings.PYBOSSA_ANALYSIS_MODULES) or "none"
        raise SourceConfigError(
            f"The analysis {analysis!r} is not in a module PYBOSSA_ANALYSIS_MODULES allows (allowed: {allowed}).",
            field="pybossa_analysis",
        )
    try:
        target = import_string(analysis)
    except ImportError as exc:
        raise SourceConfigError(f"The analysis {analysis!r} does not import: {exc}", field="pybossa_analysis") from None
    except Exception as exc:  # the module itself failed to load
        raise SourceConfigError(
            f"The analysis {analysis!r} does not import: {type(exc).__name__}: {exc}", field="pybossa_analysis"
        ) from None
    if not callable(target):
        raise SourceConfigError(f"The analysis {analysis!r} is not callable.", field="pybossa_analysis")


def _check_pass_ratio(pass_ratio: Decimal) -> None:
    if not Decimal(0) <= pass_ratio <= Decimal(1):
        raise SourceConfigError("The pass ratio must be between 0 and 1.", field="pass_ratio")


def source_check_credentials(*, kind: str, auth_mode: str | None, secret: str | None, token: str | None) -> None:
    """Refuse a secret or token the source's auth would never read: given, it is meant, so dropping it is a mistake.

    `create_source` and `POST /api/v1/sources/` check what they were given with
    this; `source_create` itself keeps only the credential its auth reads.
    """
    if auth_mode is None:
        auth_mode = Source.AuthMode.TOKEN if kind == Source.Kind.PYBOSSA else Source.AuthMode.STANDARD
    if secret is not None and auth_mode != Source.AuthMode.STANDARD:
        raise SourceConfigError(
            f"A signing secret applies only to standard auth; this source's auth is {auth_mode}.", field="secret"
        )
    if token is not None and auth_mode != Source.AuthMode.TOKEN:
        raise SourceConfigError(
            f"A token applies only to token auth; this source's auth is {auth_mode}.", field="token"
        )


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
    name: str | None = None,
    pass_ratio: Decimal | None = None,
    pybossa_analysis: str = Source.Analysis.MAJORITY,
    pybossa_quorum: int | None = None,
) -> Source:
    """Create a source; a missing secret or token is generated (read it back from the source)."""
    if len(slug) > SLUG_MAX_LENGTH:
        raise SourceConfigError(
            f"The slug may be at most {SLUG_MAX_LENGTH} characters (it has {len(slug)}).", field="slug"
        )
    try:
        validate_slug(slug)
    except ValidationError:
        raise SourceConfigError(
            "The slug may hold only letters, digits, hyphens and underscores.", field="slug"
        ) from None
    if Source.objects.filter(slug=slug).exists():
        raise SourceConfigError(f"A source with slug {slug!r} already exists.", field="slug")
    if name is not None and len(name) > NAME_MAX_LENGTH:
        raise SourceConfigError(f"The name may be at most {NAME_MAX_LENGTH} characters.", field="name")
    if kind not in Source.Kind.values:
        raise SourceConfigError(f"The kind must be one of {', '.join(Source.Kind.values)}.", field="kind")
    if auth_mode is None:
        # PYBOSSA can only store a URL, so it cannot sign.
        auth_mode = Source.AuthMode.TOKEN if kind == Source.Kind.PYBOSSA else Source.AuthMode.STANDARD
    if auth_mode not in Source.AuthMode.values:
        raise SourceConfigError(f"The auth must be one of {', '.join(Source.AuthMode.values)}.", field="auth_mode")
    allowed = source_validate_networks(allowed_ips or [], field="allowed_ips")
    denied = source_validate_networks(denied_ips or [], field="denied_ips")
    if auth_mode == Source.AuthMode.NONE and not allowed:
        raise SourceConfigError("Auth 'none' needs an IP allow-list.", field="allowed_ips")
    if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
        raise SourceConfigError("The rate limit must be at least 1 request per minute.", field="rate_limit_per_minute")
    if secret is not None and not is_valid_secret(secret):
        raise SourceConfigError("The secret must be whsec_ followed by base64.", field="secret")
    if token is not None and len(token) < 16:
        raise SourceConfigError("The token must be at least 16 characters.", field="token")
    if pass_ratio is not None:
        _check_pass_ratio(pass_ratio)
    check_pybossa_url(pybossa_url)
    if kind == Source.Kind.PYBOSSA:
        if not pybossa_url:
            raise SourceConfigError("A PYBOSSA source needs the URL of its PYBOSSA server.", field="pybossa_url")
        source_validate_analysis(analysis=pybossa_analysis, quorum=pybossa_quorum)
    elif pybossa_analysis != Source.Analysis.MAJORITY or pybossa_quorum is not None:
        field = "pybossa_quorum" if pybossa_quorum is not None else "pybossa_analysis"
        raise SourceConfigError("Only PYBOSSA sources have an analysis.", field=field)
    return Source.objects.create(
        slug=slug,
        name=slug if name is None else name,
        pass_ratio=Decimal("0.5") if pass_ratio is None else pass_ratio,
        pybossa_analysis=pybossa_analysis,
        pybossa_quorum=pybossa_quorum,
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
            raise SourceConfigError(f"{url!r} is not an http(s) URL.", field="pybossa_url") from None


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
    pybossa_analysis: str | None = None,
    pybossa_quorum: int | None = None,
    clear_pybossa_quorum: bool = False,
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
    if name is not None and len(name) > NAME_MAX_LENGTH:
        raise SourceConfigError(f"The name may be at most {NAME_MAX_LENGTH} characters.", field="name")
    if allowed_ips is not None:
        changes["allowed_ips"] = source_validate_networks(allowed_ips, field="allowed_ips")
    if denied_ips is not None:
        changes["denied_ips"] = source_validate_networks(denied_ips, field="denied_ips")
    if locked.auth_mode == Source.AuthMode.NONE and not changes.get("allowed_ips", locked.allowed_ips):
        raise SourceConfigError("Auth 'none' needs an IP allow-list.", field="allowed_ips")
    if rate_limit_per_minute is not None:
        if rate_limit_per_minute < 1:
            raise SourceConfigError(
                "The rate limit must be at least 1 request per minute.", field="rate_limit_per_minute"
            )
        changes["rate_limit_per_minute"] = rate_limit_per_minute
    elif clear_rate_limit:
        changes["rate_limit_per_minute"] = None
    if pass_ratio is not None:
        _check_pass_ratio(pass_ratio)
        changes["pass_ratio"] = pass_ratio
    if pybossa_url is not None:
        check_pybossa_url(pybossa_url)
        if locked.kind == Source.Kind.PYBOSSA and not pybossa_url:
            raise SourceConfigError("A PYBOSSA source needs the URL of its PYBOSSA server.", field="pybossa_url")
        changes["pybossa_url"] = pybossa_url
    if pybossa_analysis is not None or pybossa_quorum is not None or clear_pybossa_quorum:
        analysis = locked.pybossa_analysis if pybossa_analysis is None else pybossa_analysis
        quorum = None if clear_pybossa_quorum else (locked.pybossa_quorum if pybossa_quorum is None else pybossa_quorum)
        if analysis != Source.Analysis.QUORUM and pybossa_quorum is None:
            quorum = None  # leaving the quorum analysis leaves its quorum
        if locked.kind != Source.Kind.PYBOSSA and (analysis != Source.Analysis.MAJORITY or quorum is not None):
            raise SourceConfigError("Only PYBOSSA sources have an analysis.", field="pybossa_analysis")
        source_validate_analysis(analysis=analysis, quorum=quorum)
        changes["pybossa_analysis"], changes["pybossa_quorum"] = analysis, quorum
    save_changed(locked, changes)
    return locked


@transaction.atomic
def source_rotate_credential(*, source: Source, new: str | None, grace: timedelta) -> str:
    """A new signing secret (standard auth) or token (token auth); the old one still works until `grace` ends."""
    locked = Source.objects.select_for_update().get(pk=source.pk)
    if locked.auth_mode == Source.AuthMode.STANDARD:
        if new is not None and not is_valid_secret(new):
            raise SourceConfigError("The secret must be whsec_ followed by base64.", field="secret")
        new = new or generate_secret()
        locked.previous_secret, locked.secret = locked.secret, new
    elif locked.auth_mode == Source.AuthMode.TOKEN:
        if new is not None and len(new) < 16:
            raise SourceConfigError("The token must be at least 16 characters.", field="token")
        new = new or secrets.token_urlsafe(32)
        locked.previous_token, locked.token = locked.token, new
    else:
        raise SourceConfigError("A source with auth 'none' has no secret or token to rotate.")
    locked.previous_expires_at = timezone.now() + grace
    locked.save(
        update_fields=["secret", "previous_secret", "token", "previous_token", "previous_expires_at", "updated_at"]
    )
    return new
