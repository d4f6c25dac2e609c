"""Error bodies of the API: always {"error": <stable code>, "detail": <for people>}."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common.api import JsonAnswer
from common.signals import database_error


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "payload_too_large"


logger = logging.getLogger(__name__)


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service could not complete the request; try again."
    default_code = "service_unavailable"


def error_code(exc: exceptions.APIException) -> str:
    """The stable machine-readable code of an API exception."""
    if isinstance(exc, exceptions.ValidationError):
        return "validation_error"
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DatabaseError):
        # The transaction was rolled back: nothing is half-stored, and the
        # caller may simply try again.
        view = type(context.get("view")).__name__
        logger.exception("database error", extra={"view": view})
        # Robust: the answer never depends on a receiver (notifications raises the alert).
        database_error.send_robust(sender=None, view=view, exception=exc)
        exc = ServiceUnavailable(
            "Tally could not reach its database; nothing was stored. Try again.", code="database_error"
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException):
        code = error_code(exc)
        detail: Any = exc.detail
        if isinstance(exc, exceptions.ValidationError) and not isinstance(detail, dict):
            detail = {"non_field_errors": detail if isinstance(detail, list) else [detail]}
    else:
        # Django's Http404 and PermissionDenied, converted by DRF.
        code = "not_found" if response.status_code == 404 else "permission_denied"
        detail = response.data.get("detail", "")
    response.data = {"error": code, "detail": detail}
    return response


def server_error(request: HttpRequest) -> JsonResponse:
    """Unexpected errors answer in the API's error shape, never an HTML page."""
    detail = "An unexpected error occurred; it has been logged."
    return JsonAnswer({"error": "server_error", "detail": detail}, status=500)
