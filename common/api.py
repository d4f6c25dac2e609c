"""Pieces every API view shares: cursor pagination, the error body, JSON answers for Django's own errors."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ParseError, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser


class Cursor(CursorPagination):
    """Opaque cursors over a stable order (a unique column last), so pages never repeat or skip a row."""

    ordering: Any = ("-id",)
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        # DRF puts a cursor's position into a filter as it stands: a forged
        # one (a word where a time or a number belongs) is an invalid cursor.
        try:
            return super().paginate_queryset(queryset, request, view)
        except (ValueError, TypeError, OverflowError, DjangoValidationError, DataError):
            raise NotFound(self.invalid_cursor_message, code="not_found") from None


class JsonParser(JSONParser):
    """DRF's JSON parser, with absurdly deep nesting a parse error rather than a crash."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


def config_error(exc: ValueError) -> ValidationError:
    """A service's refusal of a configuration (its message says why) as the API's 400."""
    return ValidationError({"non_field_errors": [str(exc)]})


class RotateSerializer(serializers.Serializer[Any]):
    """Rotate a signing secret (or a source's token); the old one stays valid for `grace_seconds`."""

    secret = serializers.RegexField(
        r"^whsec_[A-Za-z0-9+/=]+$", required=False, max_length=200, help_text="Default: generated."
    )
    token = serializers.CharField(
        required=False, min_length=16, max_length=200, help_text="For token-auth sources. Default: generated."
    )
    grace_seconds = serializers.IntegerField(min_value=0, max_value=30 * 86400, default=86400)


NewCredential = inline_serializer(
    "NewCredential",
    {
        "secret": serializers.CharField(required=False, help_text="The new signing secret, shown once."),
        "token": serializers.CharField(required=False, help_text="A token-auth source's new token, shown once."),
    },
)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Unknown URLs answer in the API's error shape, not with an HTML page."""
    return JsonResponse({"error": "not_found", "detail": "No such resource."}, status=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"error": "bad_request", "detail": "The request could not be understood."}, status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"error": "permission_denied", "detail": "Not allowed."}, status=403)
