"""POST /api/v1/webhooks/<source_slug>/ — the intake endpoint."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import JsonRenderer, JsonWhateverAccepted
from common.errors import PayloadTooLarge, ServiceUnavailable
from webhooks.authentication import SourceAuthentication
from webhooks.guards import SourceIpPermission, SourceRateThrottle
from webhooks.intake import IntakeOutcome, intake_handle, intake_outcome_count
from webhooks.intake_sql import SourceChanged
from webhooks.metrics import INTAKE_SECONDS
from webhooks.models import Event, Source
from webhooks.schema import INTAKE_BODY
from webhooks.selectors import source_forget, source_get_active, source_is_current
from webhooks.services import DUPLICATE

SourceCheck = inline_serializer("SourceCheck", {"status": serializers.CharField(), "source": serializers.CharField()})
IntakeAnswer = inline_serializer(
    "IntakeAnswer",
    {
        "event_id": serializers.CharField(),
        "status": serializers.ChoiceField(
            choices=[
                Event.Status.ACCEPTED.value,
                Event.Status.PROCESSING.value,
                DUPLICATE,
                Event.Status.IGNORED.value,
                Event.Status.PAUSED.value,
            ]
        ),
    },
)
ErrorAnswer = OpenApiResponse(
    description="Too large (413) or not JSON (415).",
    response=inline_serializer("IntakeError", {"error": serializers.CharField(), "detail": serializers.CharField()}),
)


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"The body may be at most {settings.WEBHOOK_MAX_BODY_BYTES} bytes.")


# Answers that depend on the source's row: given from a cached source, they
# are checked against the database first (webhooks.selectors).
_SOURCE_REFUSALS = (
    exceptions.NotAuthenticated,
    exceptions.AuthenticationFailed,
    exceptions.PermissionDenied,
    exceptions.Throttled,
)
# A request starts over with the source read again at most this many times.
_FRESH_TRIES = 2


class _StartOver(Exception):
    """The cached source was stale and nothing was written: handle the request again."""


class WebhookView(APIView):
    """Receives one webhook. Checks run cheapest first: source, size, type, auth, IP, rate."""

    authentication_classes = [SourceAuthentication]
    permission_classes = [SourceIpPermission]
    throttle_classes = [SourceRateThrottle]
    parser_classes: list[Any] = []  # the raw body is signed, so it is read as bytes
    renderer_classes = [JsonRenderer]
    content_negotiation_class = JsonWhateverAccepted
    source: Source | None = None
    source_cached = False  # the source came from this process' cache and may be stale
    fresh_tries = 0  # how many times the request started over with the source read again
    outcome: IntakeOutcome | None = None

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        while True:
            try:
                response = super().dispatch(request, *args, **kwargs)
                break
            except _StartOver:
                source_forget(slug=kwargs["source_slug"])
                self.fresh_tries += 1
                self.outcome = None
        if request.method == "POST":
            INTAKE_SECONDS.observe(time.perf_counter() - started)
        return response

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, SourceChanged):
            if self.fresh_tries < _FRESH_TRIES:
                raise _StartOver from exc
            exc = ServiceUnavailable("The source changed while this request was handled; send it again.")
        elif self.source_cached and isinstance(exc, _SOURCE_REFUSALS) and self._source_changed():
            raise _StartOver from exc
        return super().handle_exception(exc)

    def _source_changed(self) -> bool:
        """Whether the cached source is stale; when the database cannot say, the refusal stands."""
        try:
            return self.source is not None and not source_is_current(self.source)
        except DatabaseError:
            return False

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # The first try of a POST may take the source from the cache; a start-over reads it again.
        self.source_cached = request.method == "POST" and self.fresh_tries == 0
        self.source = source_get_active(slug=kwargs["source_slug"], cached=self.source_cached)
        if self.source is None:
            raise exceptions.NotFound("No active source with this slug.", code="unknown_source")
        if request.method == "POST":
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.WEBHOOK_MAX_BODY_BYTES:
                raise _too_large()
            media_type = request.content_type.split(";")[0].strip().lower()
            if media_type != "application/json":
                raise exceptions.UnsupportedMediaType(
                    media_type or "(none)", detail="Send the body as application/json."
                )
        super().initial(request, *args, **kwargs)

    def perform_authentication(self, request: Request) -> None:
        # PYBOSSA checks the URL with a bare GET when it is saved and needs a
        # 200: a GET without credentials learns only that the source exists.
        # A GET that carries credentials has them checked, so an owner who
        # saves a URL with a wrong `?token=` is told so then, not by every
        # webhook failing later.
        if request.method == "POST" or SourceAuthentication.carries_credentials(request):
            request.user  # noqa: B018 - evaluating it runs the authenticators

    @extend_schema(
        operation_id="webhooks_check",
        summary="Check a webhook URL (PYBOSSA does this when its owner saves the URL)",
        description=(
            "Answers 200 for an active source. Credentials are optional here, but checked when given: "
            "a wrong `?token=` (or `Authorization`) answers 401, so a wrong URL is refused when it is saved."
        ),
        responses={200: SourceCheck},
        auth=[],
    )
    def get(self, request: Request, source_slug: str) -> Response:
        return Response({"status": "ok", "source": source_slug})

    @extend_schema(
        operation_id="webhooks_receive",
        summary="Receive one webhook from a platform",
        description=(
            "The body is a native envelope, or for PYBOSSA sources the body PYBOSSA sends. New events answer "
            "202 (`accepted`, `ignored` for unknown types, `paused` while the source is paused); the same "
            "idempotency key again answers 200 `duplicate` and changes nothing. A PYBOSSA source answers 200 "
            "to all of these (and to `processing`), since PYBOSSA counts any other status as a failure. The "
            "answer is JSON whatever `Accept` asks; the trailing slash is optional."
        ),
        parameters=[
            OpenApiParameter("webhook-id", str, OpenApiParameter.HEADER, description="Standard Webhooks message id."),
            OpenApiParameter(
                "webhook-timestamp", int, OpenApiParameter.HEADER, description="Unix seconds (standard auth)."
            ),
        ],
        request={"application/json": INTAKE_BODY},
        responses={200: IntakeAnswer, 202: IntakeAnswer, 413: ErrorAnswer, 415: ErrorAnswer},
    )
    def post(self, request: Request, source_slug: str) -> Response:
        assert self.source is not None
        body = request.body
        if len(body) > settings.WEBHOOK_MAX_BODY_BYTES:
            raise _too_large()
        self.outcome = intake_handle(
            source=self.source,
            body=body,
            header_id=request.headers.get("webhook-id"),
            query=request.query_params,
            source_cached=self.source_cached,
        )
        if self.outcome.error:
            # The error body is built where every API error's is (common.errors).
            raise exceptions.ValidationError(self.outcome.detail)
        return Response(
            {"event_id": str(self.outcome.event_id), "status": self.outcome.status}, status=self.outcome.http_status
        )

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method == "POST" and self.source is not None:
            outcome = self.outcome
            if response.status_code >= 400 and isinstance(response.data, dict) and "error" in response.data:
                # Refusals answered before post() ran (auth, IP, rate, size, type) or out of it count by their code.
                outcome = IntakeOutcome(http_status=response.status_code, error=response.data["error"])
            if outcome is not None:
                intake_outcome_count(source=self.source, outcome=outcome)
        return response
