"""Pieces every API view shares: cursor pagination, the error body, JSON answers for Django's own errors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views import csrf
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ParseError, ValidationError
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request


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


class JsonRenderer(JSONRenderer):
    """DRF's JSON, ending with a newline, so answers printed by curl or a shell end their line."""

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        body: bytes = super().render(data, accepted_media_type, renderer_context)
        return body + b"\n" if body else body


class JsonAnswer(JsonResponse):
    """Django's JsonResponse, ending with a newline like every other answer of the API."""

    def __init__(self, data: Any, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.content = self.content + b"\n"


class JsonWhateverAccepted(BaseContentNegotiation):
    """Answer with the view's first renderer (JSON) whatever `Accept` (or a `format` parameter) asks for.

    Machine senders ask for what they happen to ask for: PYBOSSA posts its
    webhooks with `Accept: text/plain` and reads only the status code, so a
    406 there would lose every webhook.
    """

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        first = next(iter(renderers))
        return first, first.media_type


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
    return JsonAnswer({"error": "not_found", "detail": "No such resource."}, status=404)


@csrf_exempt  # nothing is changed here, and a refused POST must get this JSON 404, not a CSRF page
def no_such_url(request: HttpRequest, path: str = "") -> HttpResponse:
    """The last URL pattern: an unknown URL is a JSON 404, in development too, where Django would draw a page.

    A URL that lacks only its trailing slash is sent on to it when that is
    safe (GET, HEAD) and named in the 404 otherwise: a POST cannot follow a
    redirect without losing its body.
    """
    with_slash = request.path_info + "/"
    try:
        match = None if request.path_info.endswith("/") else resolve(with_slash)
    except Resolver404:
        match = None
    if match is not None and match.func is not no_such_url:
        if request.method in ("GET", "HEAD"):
            # As Django's CommonMiddleware builds it: the path escaped again (a user id may hold `?` or `#`).
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
        detail = f"No such resource. Did you mean {request.path}/ (with the trailing slash)?"
        return JsonAnswer({"error": "not_found", "detail": detail}, status=404)
    return not_found(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A refused CSRF check: JSON under /api/ (programs), Django's page elsewhere (people in the admin)."""
    if request.path_info.startswith("/api/"):
        detail = "This request needs a CSRF token; API clients authenticate with `Authorization: Bearer <token>`."
        return JsonAnswer({"error": "csrf_failed", "detail": detail}, status=403)
    return csrf.csrf_failure(request, reason)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonAnswer({"error": "bad_request", "detail": "The request could not be understood."}, status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonAnswer({"error": "permission_denied", "detail": "Not allowed."}, status=403)
