"""Looking up API tokens."""

from __future__ import annotations

from accounts.models import ApiToken
from accounts.services import token_hash


def api_token_get_active(*, raw: str) -> ApiToken | None:
    # The lookup is by digest: equal digests are a unique-index hit, so no
    # comparison of secret material happens in Python.
    return ApiToken.objects.filter(key_hash=token_hash(raw), active=True).first()


def destination_id_by_name(*, name: str) -> int | None:
    """The id of the destination with this name, through the token's foreign key (accounts sits below deliveries)."""
    destinations = ApiToken.destination.field.remote_field.model._default_manager
    return destinations.filter(name=name).values_list("pk", flat=True).first()
