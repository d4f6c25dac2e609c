"""POST /api/v1/webhooks/<source_slug>/ — the intake endpoint."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import PayloadTooLarge
from notifications.models import Alert
from notifications.services import admin_link, alert_raise
from webhooks.adapters import PayloadInvalid
from webhooks.authentication import SourceAuthentication
from webhooks.guards import SourceIpPermission, SourceRateThrottle
from webhooks.models import Source
from webhooks.selectors import source_get_active
from webhooks.services import InvalidJson, event_receive, event_reject, intake_count

logger = logging.getLogger(__name__)


class WebhookView(APIView):
    """Receives one webhook. Checks run cheapest first: source, size, type, auth, IP, rate."""

    authentication_classes = [SourceAuthentication]
    permission_classes = [SourceIpPermission]
    throttle_classes = [SourceRateThrottle]
    parser_classes: list[Any] = []  # the raw body is signed, so it is read as bytes
    source: Source | None = None
    outcome: str | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.source = source_get_active(slug=kwargs["source_slug"])
        if self.source is None:
            raise exceptions.NotFound("No active source with this slug.", code="unknown_source")
        if request.method == "POST":
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.WEBHOOK_MAX_BODY_BYTES:
                raise PayloadTooLarge(f"The body may be at most {settings.WEBHOOK_MAX_BODY_BYTES} bytes.")
            media_type = request.content_type.split(";")[0].strip().lower()
            if media_type != "application/json":
                raise exceptions.UnsupportedMediaType(
                    media_type or "(none)", detail="Send the body as application/json."
                )
        super().initial(request, *args, **kwargs)

    def perform_authentication(self, request: Request) -> None:
        # PYBOSSA checks the URL with a bare GET when it is saved: only
        # existence is revealed there, so GET needs no credentials.
        if request.method == "POST":
            request.user  # noqa: B018 - evaluating it runs the authenticators

    def get(self, request: Request, source_slug: str) -> Response:
        return Response({"status": "ok", "source": source_slug})

    def post(self, request: Request, source_slug: str) -> Response:
        assert self.source is not None
        body = request.body
        if len(body) > settings.WEBHOOK_MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The body may be at most {settings.WEBHOOK_MAX_BODY_BYTES} bytes.")
        header_id = request.headers.get("webhook-id")
        try:
            result = event_receive(source=self.source, body=body, header_id=header_id)
        except InvalidJson as exc:
            detail = {"body": [f"Not valid JSON: {exc}"]}
            self._reject(body, header_id, "validation_error", detail)
            raise exceptions.ValidationError(detail) from None
        except PayloadInvalid as exc:
            self._reject(body, header_id, "validation_error", exc.detail)
            raise exceptions.ValidationError(exc.detail) from None
        self.outcome = result.status
        code = status.HTTP_200_OK if result.status == "duplicate" else status.HTTP_202_ACCEPTED
        return Response({"event_id": str(result.event_id), "status": result.status}, status=code)

    def _reject(self, body: bytes, header_id: str | None, code: str, detail: Any) -> None:
        assert self.source is not None
        try:
            event = event_reject(source=self.source, body=body, header_id=header_id, code=code, detail=detail)
        except DatabaseError:
            logger.exception("could not record a rejected webhook", extra={"source": self.source.slug})
            return
        fields = ", ".join(detail) if isinstance(detail, dict) else str(detail)
        alert_raise(
            fingerprint=f"rejected:{self.source.slug}:{code}",
            severity=Alert.Severity.WARNING,
            title=f"{self.source.slug} sent a webhook Tally rejected ({code})",
            details={"source": self.source.slug, "event": event.pk, "error": fields},
            admin_url=admin_link(event),
        )

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400 and isinstance(response.data, dict) and "error" in response.data:
            self.outcome = f"rejected:{response.data['error']}"
        if self.source is not None and self.outcome is not None and request.method == "POST":
            try:
                intake_count(source_id=self.source.pk, outcome=self.outcome)
            except DatabaseError:
                logger.exception("could not count a webhook", extra={"source": self.source.slug})
        return response
