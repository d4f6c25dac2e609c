"""Pieces every API view shares: cursor pagination, the error body, JSON answers for Django's own errors."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    """Opaque cursors over a stable order (a unique column last), so pages never repeat or skip a row."""

    ordering: Any = ("-id",)
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"


class RotateSerializer(serializers.Serializer[Any]):
    """Rotate a signing secret; the old one stays valid for `grace_seconds`."""

    secret = serializers.RegexField(
        r"^whsec_[A-Za-z0-9+/=]+$", required=False, max_length=200, help_text="Default: generated."
    )
    grace_seconds = serializers.IntegerField(min_value=0, max_value=30 * 86400, default=86400)


NewSecret = inline_serializer("NewSecret", {"secret": serializers.CharField(help_text="Shown once.")})


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Unknown URLs answer in the API's error shape, not with an HTML page."""
    return JsonResponse({"error": "not_found", "detail": "No such resource."}, status=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"error": "bad_request", "detail": "The request could not be understood."}, status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"error": "permission_denied", "detail": "Not allowed."}, status=403)
