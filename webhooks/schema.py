"""How the webhook intake appears in the OpenAPI schema: its auth, its payload fields, its body."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from webhooks.adapters.native import (
    EnvelopeSerializer,
    TestCompletedSerializer,
    TestResetSerializer,
    UserDeletedSerializer,
)
from webhooks.adapters.pybossa import PybossaBodySerializer


class SourceAuthScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "webhooks.authentication.SourceAuthentication"
    name = ["WebhookSignature", "SourceToken", "SourceTokenQuery"]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "webhook-signature",
                "description": "Standard Webhooks: `v1,<base64 HMAC-SHA256 of id.timestamp.body>` with the "
                "source's whsec_ secret, beside `webhook-id` and `webhook-timestamp` (±300 s). Several "
                "space-separated signatures are allowed while a secret is rotated.",
            },
            {"type": "http", "scheme": "bearer", "description": "The source's token (token auth)."},
            {"type": "apiKey", "in": "query", "name": "token", "description": "The source's token, for PYBOSSA."},
        ]


class _PayloadFieldSchema(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    """The intake's strict payload fields, as JSON Schema."""

    schema: dict[str, Any] = {}

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return dict(self.schema)


class TextFieldSchema(_PayloadFieldSchema):  # type: ignore[no-untyped-call]
    target_class = "webhooks.adapters.fields.TextField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        text = {"type": "string", "maxLength": self.target.max_length}
        if self.target.required:
            text["minLength"] = 1
        if self.target.coerce_int:
            return {
                "anyOf": [text, {"type": "integer"}],
                "description": "A string (an integer is taken as its digits).",
            }
        return text


class ScoreFieldSchema(_PayloadFieldSchema):  # type: ignore[no-untyped-call]
    target_class = "webhooks.adapters.fields.ScoreField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        # max_score must round to at least 0.01; score may be 0.
        return {
            "type": "number",
            "minimum": 0.01 if self.target.positive else 0,
            "maximum": 9999999999.99,
            "description": "Rounded half-up to hundredths.",
        }


class WholeNumberFieldSchema(_PayloadFieldSchema):  # type: ignore[no-untyped-call]
    target_class = "webhooks.adapters.fields.WholeNumberField"
    schema = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}


class PositiveIntegerFieldSchema(_PayloadFieldSchema):  # type: ignore[no-untyped-call]
    target_class = "webhooks.adapters.fields.PositiveIntegerField"
    schema = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}


class StrictBooleanFieldSchema(_PayloadFieldSchema):  # type: ignore[no-untyped-call]
    target_class = "webhooks.adapters.fields.StrictBooleanField"
    schema = {"type": "boolean"}


class TimestampFieldSchema(_PayloadFieldSchema):  # type: ignore[no-untyped-call]
    target_class = "webhooks.adapters.fields.TimestampField"
    schema = {"type": "string", "format": "date-time", "description": "ISO 8601; without an offset, UTC."}


# --- The intake's request body, from the serializers that validate it --------------------------------


def _envelope(name: str, event_type: str, data: type[serializers.Serializer[Any]]) -> type[EnvelopeSerializer]:
    """A native envelope of one type, for the schema (validation picks `data`'s serializer by `type`)."""
    fields = {
        "type": serializers.ChoiceField(choices=[event_type]),
        "data": data(),
        "__doc__": f"A native `{event_type}` event.",
    }
    return type(name, (EnvelopeSerializer,), fields)


INTAKE_BODY = PolymorphicProxySerializer(
    component_name="WebhookBody",
    serializers=[
        _envelope("TestCompletedEvent", "test.completed", TestCompletedSerializer),
        _envelope("TestResetEvent", "test.reset", TestResetSerializer),
        _envelope("UserDeletedEvent", "user.deleted", UserDeletedSerializer),
        PybossaBodySerializer,
    ],
    resource_type_field_name=None,
)
