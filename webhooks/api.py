"""POST /api/v1/webhooks/<source_slug>/ — the intake endpoint."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import django_filters
from django.conf import settings
from django.core.validators import URLValidator
from django.db import DatabaseError
from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import request_token
from accounts.permissions import IsStaffToken, StaffOrReadOnly
from common.api import Cursor, NewCredential, RotateSerializer
from common.errors import PayloadTooLarge
from common.filters import UtcDateTimeFilter
from notifications.models import Alert
from notifications.services import admin_link, alert_raise
from webhooks.adapters import PayloadInvalid
from webhooks.authentication import SourceAuthentication
from webhooks.counters import intake_count
from webhooks.guards import SourceIpPermission, SourceRateThrottle
from webhooks.metrics import EVENTS, INTAKE_SECONDS
from webhooks.models import Event, Source
from webhooks.schema import INTAKE_BODY
from webhooks.selectors import source_get_active
from webhooks.services import InvalidJson, event_receive, event_reject, source_pause, source_resume
from webhooks.sources import SourceConfigError, source_create, source_rotate_credential, source_update

logger = logging.getLogger(__name__)

HTTP_URL = URLValidator(schemes=["http", "https"])

SourceCheck = inline_serializer("SourceCheck", {"status": serializers.CharField(), "source": serializers.CharField()})
IntakeAnswer = inline_serializer(
    "IntakeAnswer",
    {
        "event_id": serializers.CharField(),
        "status": serializers.ChoiceField(choices=["accepted", "processing", "duplicate", "ignored", "paused"]),
    },
)
ErrorAnswer = OpenApiResponse(
    description="Too large (413) or not JSON (415).",
    response=inline_serializer("IntakeError", {"error": serializers.CharField(), "detail": serializers.CharField()}),
)


class WebhookView(APIView):
    """Receives one webhook. Checks run cheapest first: source, size, type, auth, IP, rate."""

    authentication_classes = [SourceAuthentication]
    permission_classes = [SourceIpPermission]
    throttle_classes = [SourceRateThrottle]
    parser_classes: list[Any] = []  # the raw body is signed, so it is read as bytes
    source: Source | None = None
    outcome: str | None = None

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        response = super().dispatch(request, *args, **kwargs)
        if request.method == "POST":
            INTAKE_SECONDS.observe(time.perf_counter() - started)
        return response

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

    @extend_schema(
        operation_id="webhooks_check",
        summary="Check a webhook URL (PYBOSSA does this when its owner saves the URL)",
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
            "idempotency key again answers 200 `duplicate` and changes nothing."
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
            raise PayloadTooLarge(f"The body may be at most {settings.WEBHOOK_MAX_BODY_BYTES} bytes.")
        header_id = request.headers.get("webhook-id")
        try:
            result = event_receive(source=self.source, body=body, header_id=header_id, query=request.query_params)
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
            # Neither waits on the database: both are written off the request path.
            intake_count(source_id=self.source.pk, outcome=self.outcome)
            EVENTS.labels(source=self.source.slug, outcome=self.outcome).inc()
        return response


# --- Sources and events (the management API) --------------------------------------------------------


class SourceSerializer(serializers.ModelSerializer[Source]):
    allowed_ips = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=1000)
    denied_ips = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=1000)
    url = serializers.SerializerMethodField(help_text="Where the platform posts its webhooks.")
    pybossa_url = serializers.URLField(required=False, allow_blank=True, max_length=200, validators=[HTTP_URL])

    class Meta:
        model = Source
        fields = [
            "slug",
            "name",
            "kind",
            "auth_mode",
            "url",
            "active",
            "paused",
            "allowed_ips",
            "denied_ips",
            "rate_limit_per_minute",
            "pass_ratio",
            "pybossa_url",
            "previous_expires_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["slug", "kind", "auth_mode", "paused", "previous_expires_at"]

    def get_url(self, obj: Source) -> str:
        return f"/api/v1/webhooks/{obj.slug}/"


class ClientSourceSerializer(serializers.ModelSerializer[Source]):
    """What a client token may know of a source its destination receives: not the platform's settings."""

    class Meta:
        model = Source
        fields = ["slug", "name", "kind", "active", "paused"]


class SourceCreateSerializer(serializers.Serializer[Any]):
    slug = serializers.SlugField(max_length=64)
    kind = serializers.ChoiceField(choices=Source.Kind.choices, default=Source.Kind.NATIVE)
    auth_mode = serializers.ChoiceField(
        choices=Source.AuthMode.choices, required=False, help_text="Default: standard (token for pybossa)."
    )
    secret = serializers.CharField(required=False, write_only=True, max_length=200, help_text="Default: generated.")
    token = serializers.CharField(
        required=False, write_only=True, min_length=16, max_length=200, help_text="Default: generated."
    )
    allowed_ips = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=1000)
    denied_ips = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=1000)
    rate_limit_per_minute = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)
    pybossa_url = serializers.URLField(
        required=False, default="", allow_blank=True, max_length=200, validators=[HTTP_URL]
    )
    pybossa_api_key = serializers.CharField(
        required=False, default="", allow_blank=True, write_only=True, max_length=200
    )


class CreatedSourceSerializer(SourceSerializer):
    """The answer to a create: the source and, this once, its secret or token."""

    secret = serializers.CharField(required=False, help_text="Shown once (standard auth).")
    token = serializers.CharField(required=False, help_text="Shown once (token auth).")

    class Meta(SourceSerializer.Meta):
        fields = [*SourceSerializer.Meta.fields, "secret", "token"]


class SourceFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Source.Kind.choices)
    active = django_filters.BooleanFilter()
    paused = django_filters.BooleanFilter()

    class Meta:
        model = Source
        fields: list[str] = []


def _source_view(many: bool) -> PolymorphicProxySerializer:
    """A staff token reads the whole source; a client token its public part (anyOf in the schema)."""
    return PolymorphicProxySerializer(
        component_name="SourceView",
        serializers=[SourceSerializer, ClientSourceSerializer],
        resource_type_field_name=None,
        many=many,
    )


@extend_schema_view(
    list=extend_schema(responses=_source_view(True)), retrieve=extend_schema(responses=_source_view(False))
)
class SourceViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet[Source]
):
    """Platforms that send webhooks. Staff manage them; a client token reads those its destination receives."""

    permission_classes = [StaffOrReadOnly]
    serializer_class = SourceSerializer
    pagination_class = Cursor
    filterset_class = SourceFilter
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]{1,64}"

    def get_serializer_class(self) -> type[serializers.ModelSerializer[Source]]:
        token = request_token(self.request)
        return ClientSourceSerializer if token is not None and not token.is_staff else SourceSerializer

    def get_queryset(self) -> QuerySet[Source]:
        token = request_token(self.request)
        if token is not None and not token.is_staff:
            # Another destination's source is not there at all for this token (404, not 403).
            return Source.objects.filter(destinations=token.destination_id)
        return Source.objects.all()

    @extend_schema(request=SourceCreateSerializer, responses={201: CreatedSourceSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        checked = SourceCreateSerializer(data=request.data)
        checked.is_valid(raise_exception=True)
        try:
            source = source_create(**checked.validated_data)
        except SourceConfigError as exc:
            raise exceptions.ValidationError({"non_field_errors": [str(exc)]}) from None
        body = dict(SourceSerializer(source).data)
        body.update({"secret": source.secret, "token": source.token})
        return Response({k: v for k, v in body.items() if v != "" or k not in ("secret", "token")}, status=201)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        source = self.get_object()
        checked = SourceSerializer(source, data=request.data, partial=True)
        checked.is_valid(raise_exception=True)
        data = checked.validated_data
        try:
            source_update(
                source=source,
                name=data.get("name"),
                active=data.get("active"),
                allowed_ips=data.get("allowed_ips"),
                denied_ips=data.get("denied_ips"),
                rate_limit_per_minute=data.get("rate_limit_per_minute"),
                clear_rate_limit="rate_limit_per_minute" in data and data["rate_limit_per_minute"] is None,
                pass_ratio=data.get("pass_ratio"),
                pybossa_url=data.get("pybossa_url"),
            )
        except SourceConfigError as exc:
            raise exceptions.ValidationError({"non_field_errors": [str(exc)]}) from None
        return Response(SourceSerializer(Source.objects.get(pk=source.pk)).data)

    @extend_schema(request=None, responses=SourceSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, slug: str) -> Response:
        """Store webhooks without applying them until the source is resumed."""
        source_pause(source=self.get_object())
        return Response(SourceSerializer(Source.objects.get(slug=slug)).data)

    @extend_schema(request=None, responses=SourceSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, slug: str) -> Response:
        """Apply the stored webhooks, then new ones as they come."""
        source_resume(source=self.get_object())
        return Response(SourceSerializer(Source.objects.get(slug=slug)).data)

    @extend_schema(request=RotateSerializer, responses=NewCredential)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, slug: str) -> Response:
        """A new signing secret (or token, for token auth), shown once; the old one works `grace_seconds` more."""
        source = self.get_object()
        checked = RotateSerializer(data=request.data)
        checked.is_valid(raise_exception=True)
        kind = "token" if source.auth_mode == Source.AuthMode.TOKEN else "secret"
        try:
            new = source_rotate_credential(
                source=source,
                new=checked.validated_data.get(kind),
                grace=timedelta(seconds=checked.validated_data["grace_seconds"]),
            )
        except SourceConfigError as exc:
            raise exceptions.ValidationError({"non_field_errors": [str(exc)]}) from None
        return Response({kind: new})


class EventSerializer(serializers.ModelSerializer[Event]):
    source = serializers.CharField(source="source.slug")  # type: ignore[assignment]
    error_detail = serializers.JSONField(read_only=True, help_text="For rejected events: what was wrong (or null).")

    class Meta:
        model = Event
        fields = [
            "id",
            "source",
            "idempotency_key",
            "type",
            "status",
            "error_code",
            "error_detail",
            "received_at",
            "processed_at",
        ]


class EventDetailSerializer(EventSerializer):
    class Meta(EventSerializer.Meta):
        fields = [*EventSerializer.Meta.fields, "body"]


class EventFilter(django_filters.FilterSet):
    source = django_filters.CharFilter(field_name="source__slug")
    status = django_filters.ChoiceFilter(choices=Event.Status.choices)
    type = django_filters.CharFilter()
    since = UtcDateTimeFilter(field_name="received_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="received_at", lookup_expr="lt")

    class Meta:
        model = Event
        fields: list[str] = []


class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Event]):
    """Received webhooks with their status and error, newest first (staff tokens)."""

    permission_classes = [IsStaffToken]
    pagination_class = Cursor
    filterset_class = EventFilter
    queryset = Event.objects.select_related("source")
    lookup_value_regex = r"\d{1,18}"

    def get_serializer_class(self) -> type[EventSerializer]:
        return EventDetailSerializer if self.action == "retrieve" else EventSerializer
