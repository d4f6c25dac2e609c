"""Sources (staff manage them; a client token reads its destination's) and received events (staff)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import django_filters
from django.core.validators import URLValidator
from django.db.models import QuerySet
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import request_token
from accounts.permissions import IsStaffToken, StaffOrReadOnly
from common.api import Cursor, NewCredential, RotateSerializer, config_error
from common.filters import UtcDateTimeFilter
from common.ids import ID_PATTERN
from webhooks.models import Event, Source
from webhooks.selectors import event_list, source_list
from webhooks.services import source_pause, source_resume
from webhooks.sources import (
    SourceConfigError,
    source_check_credentials,
    source_create,
    source_rotate_credential,
    source_update,
)

HTTP_URL = URLValidator(schemes=["http", "https"])


def _source_error(exc: SourceConfigError) -> ValidationError:
    """A service's refusal as the API's 400, under the field at fault when the service names one."""
    return ValidationError({exc.field: [str(exc)]}) if exc.field else config_error(exc)


class RefuseUnknownFields:
    """A body field the serializer does not know is a 400 naming it, never silently dropped (a typo, a wrong name)."""

    initial_data: Any
    fields: Any

    def _refuse_unknown(self, *, also_known: frozenset[str] = frozenset()) -> None:
        if not isinstance(self.initial_data, dict):
            return
        known = {name for name, field in self.fields.items() if not field.read_only} | also_known
        unknown = sorted(set(self.initial_data) - known)
        if unknown:
            raise ValidationError({name: ["Unknown field: this API has no such setting."] for name in unknown})


class SourceSerializer(RefuseUnknownFields, serializers.ModelSerializer[Source]):
    allowed_ips = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=1000)
    denied_ips = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=1000)
    url = serializers.SerializerMethodField(help_text="Where the platform posts its webhooks.")
    pybossa_url = serializers.URLField(required=False, allow_blank=True, max_length=200, validators=[HTTP_URL])
    pybossa_analysis = serializers.CharField(
        required=False,
        max_length=255,
        help_text="majority, quorum (with pybossa_quorum), or the dotted path of a Python callable.",
    )
    pybossa_quorum = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=1_000_000,
        help_text="With quorum: runs that must agree.",
    )

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
            "pybossa_analysis",
            "pybossa_quorum",
            "previous_expires_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["slug", "kind", "auth_mode", "paused", "previous_expires_at"]

    def get_url(self, obj: Source) -> str:
        return f"/api/v1/webhooks/{obj.slug}/"

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A PATCH may send back what it read: read-only fields are known, only names we never had are refused.
        self._refuse_unknown(also_known=frozenset(self.fields))
        return attrs


class ClientSourceSerializer(serializers.ModelSerializer[Source]):
    """What a client token may know of a source its destination receives: not the platform's settings."""

    class Meta:
        model = Source
        fields = ["slug", "name", "kind", "active", "paused"]


class SourceCreateSerializer(RefuseUnknownFields, serializers.Serializer[Any]):
    slug = serializers.SlugField(max_length=64)
    name = serializers.CharField(required=False, max_length=200, allow_blank=True, help_text="Default: the slug.")
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
    pass_ratio = serializers.DecimalField(
        max_digits=4, decimal_places=3, min_value=Decimal(0), max_value=Decimal(1), required=False,
        help_text="score/max_score at or above which a result passes when `passed` is absent. Default: 0.5.",
    )  # fmt: skip
    pybossa_analysis = serializers.CharField(
        required=False,
        default=Source.Analysis.MAJORITY,
        max_length=255,
        help_text="majority (default), quorum (with pybossa_quorum), or the dotted path of a Python callable.",
    )
    pybossa_quorum = serializers.IntegerField(
        required=False, min_value=1, max_value=1_000_000, help_text="With quorum: runs that must agree."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        self._refuse_unknown()
        return attrs


class CreatedSourceSerializer(SourceSerializer):
    """The answer to a create: the source and, this once, its secret or token."""

    secret = serializers.CharField(required=False, help_text="Shown once (standard auth).")
    token = serializers.CharField(required=False, help_text="Shown once (token auth).")

    class Meta(SourceSerializer.Meta):
        fields = [*SourceSerializer.Meta.fields, "secret", "token"]

    def to_representation(self, instance: Source) -> dict[str, Any]:
        body = dict(super().to_representation(instance))
        return {k: v for k, v in body.items() if v != "" or k not in ("secret", "token")}


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
        return source_list(reader=request_token(self.request))

    @extend_schema(request=SourceCreateSerializer, responses={201: CreatedSourceSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        checked = SourceCreateSerializer(data=request.data)
        checked.is_valid(raise_exception=True)
        data = checked.validated_data
        try:
            source_check_credentials(
                kind=data["kind"], auth_mode=data.get("auth_mode"), secret=data.get("secret"), token=data.get("token")
            )
            source = source_create(**data)
        except SourceConfigError as exc:
            raise _source_error(exc) from None
        return Response(CreatedSourceSerializer(source).data, status=201)

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
                pybossa_analysis=data.get("pybossa_analysis"),
                pybossa_quorum=data.get("pybossa_quorum"),
                clear_pybossa_quorum="pybossa_quorum" in data and data["pybossa_quorum"] is None,
            )
        except SourceConfigError as exc:
            raise _source_error(exc) from None
        source.refresh_from_db()
        return Response(SourceSerializer(source).data)

    @extend_schema(request=None, responses=SourceSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, slug: str) -> Response:
        """Store webhooks without applying them until the source is resumed."""
        source = self.get_object()
        source_pause(source=source)
        source.refresh_from_db()
        return Response(SourceSerializer(source).data)

    @extend_schema(request=None, responses=SourceSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, slug: str) -> Response:
        """Apply the stored webhooks, then new ones as they come."""
        source = self.get_object()
        source_resume(source=source)
        source.refresh_from_db()
        return Response(SourceSerializer(source).data)

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
            raise _source_error(exc) from None
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
    lookup_value_regex = ID_PATTERN

    def get_queryset(self) -> QuerySet[Event]:
        return event_list()

    def get_serializer_class(self) -> type[EventSerializer]:
        return EventDetailSerializer if self.action == "retrieve" else EventSerializer
