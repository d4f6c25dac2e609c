"""Destinations (staff) and deliveries (staff: all; a client token: its destination's), with replays."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import django_filters
from django.core.validators import URLValidator
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import request_token
from accounts.permissions import IsStaffToken, StaffOrReadOnly
from common.api import Cursor, NewCredential, RotateSerializer, config_error
from common.filters import UtcDateTimeFilter
from common.ids import ID_PATTERN
from deliveries.destinations import (
    INVALID_URL,
    MAX_ATTEMPTS_RANGE,
    TIMEOUT_RANGE,
    URL_MAX_LENGTH,
    DestinationConfigError,
    destination_create,
    destination_rotate_secret,
    destination_update,
)
from deliveries.health import destination_disable, destination_enable
from deliveries.models import Delivery, Destination, delivery_pk
from deliveries.replay import REPLAYABLE, deliveries_replay, deliveries_replay_batches
from webhooks.models import Source

Queued = inline_serializer("Queued", {"queued": serializers.IntegerField()})


# --- Destinations ---------------------------------------------------------------------------------


class HttpUrlField(serializers.URLField):
    """An http(s) URL, checked once (DRF's URLField adds its own URL check beside any given one)."""

    default_error_messages = {"invalid": INVALID_URL}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        checks = [v for v in self.validators if not isinstance(v, URLValidator)]
        self.validators = [*checks, URLValidator(schemes=["http", "https"], message=INVALID_URL)]


class DestinationSerializer(serializers.ModelSerializer[Destination]):
    sources = serializers.SlugRelatedField(slug_field="slug", many=True, queryset=Source.objects.all())
    headers = serializers.DictField(
        child=serializers.CharField(), write_only=True, required=False, help_text="Static headers (write-only)."
    )
    secret = serializers.RegexField(
        r"^whsec_[A-Za-z0-9+/=]+$",
        write_only=True,
        required=False,
        max_length=200,
        help_text="whsec_… signing secret; generated when left out. Never shown again after creation.",
    )
    url = HttpUrlField(max_length=URL_MAX_LENGTH)
    timeout_seconds = serializers.IntegerField(min_value=TIMEOUT_RANGE[0], max_value=TIMEOUT_RANGE[1], default=10)
    max_attempts = serializers.IntegerField(
        min_value=MAX_ATTEMPTS_RANGE[0], max_value=MAX_ATTEMPTS_RANGE[1], default=10
    )

    class Meta:
        model = Destination
        fields = [
            "id",
            "name",
            "url",
            "sources",
            "secret",
            "headers",
            "active",
            "disabled_at",
            "disabled_reason",
            "timeout_seconds",
            "max_attempts",
            "consecutive_failures",
            "last_success_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "disabled_at",
            "disabled_reason",
            "consecutive_failures",
            "last_success_at",
            "created_at",
            "updated_at",
        ]


class CreatedDestinationSerializer(DestinationSerializer):
    """The answer to a create: the destination and, this once, its secret."""

    secret = serializers.CharField(help_text="Shown once: keep it to verify pushes.")  # type: ignore[assignment]


class DestinationFilter(django_filters.FilterSet):
    name = django_filters.CharFilter()
    active = django_filters.BooleanFilter()

    class Meta:
        model = Destination
        fields: list[str] = []


class DestinationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet[Destination]
):
    """Client companies' servers that receive summaries (staff tokens)."""

    permission_classes = [IsStaffToken]
    serializer_class = DestinationSerializer
    pagination_class = Cursor
    filterset_class = DestinationFilter
    queryset = Destination.objects.prefetch_related("sources")
    lookup_value_regex = ID_PATTERN

    @extend_schema(responses={201: CreatedDestinationSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        checked = DestinationSerializer(data=request.data)
        checked.is_valid(raise_exception=True)
        data = checked.validated_data
        try:
            destination = destination_create(
                name=data["name"],
                url=data["url"],
                source_slugs=[s.slug for s in data["sources"]],
                secret=data.get("secret"),
                max_attempts=data.get("max_attempts", 10),
                timeout_seconds=data.get("timeout_seconds", 10),
                headers=data.get("headers"),
            )
        except DestinationConfigError as exc:
            raise config_error(exc) from None
        if data.get("active") is False:
            destination_update(destination=destination, active=False)
        body = dict(DestinationSerializer(destination).data)
        body["secret"] = destination.secret
        return Response(body, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        destination = self.get_object()
        checked = DestinationSerializer(destination, data=request.data, partial=True)
        checked.is_valid(raise_exception=True)
        data = checked.validated_data
        if "name" in data or "secret" in data:
            raise exceptions.ValidationError(
                {"non_field_errors": ["The name cannot change, and the secret changes through rotate-secret/."]}
            )
        try:
            destination_update(
                destination=destination,
                url=data.get("url"),
                source_slugs=[s.slug for s in data["sources"]] if "sources" in data else None,
                timeout_seconds=data.get("timeout_seconds"),
                max_attempts=data.get("max_attempts"),
                headers=data.get("headers"),
                active=data.get("active"),
            )
        except DestinationConfigError as exc:
            raise config_error(exc) from None
        return Response(DestinationSerializer(Destination.objects.get(pk=destination.pk)).data)

    @extend_schema(request=None, responses=DestinationSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, pk: str) -> Response:
        """Push again; deliveries that waited while it was disabled go out now."""
        destination_enable(destination=self.get_object())
        return Response(DestinationSerializer(Destination.objects.get(pk=pk)).data)

    @extend_schema(request=None, responses=DestinationSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk: str) -> Response:
        """Stop pushing; deliveries wait until it is enabled."""
        destination_disable(destination=self.get_object(), reason="disabled through the API")
        return Response(DestinationSerializer(Destination.objects.get(pk=pk)).data)

    @extend_schema(request=RotateSerializer, responses=NewCredential)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str) -> Response:
        """A new signing secret, shown once; pushes carry a signature with the old one too during the grace."""
        checked = RotateSerializer(data=request.data)
        checked.is_valid(raise_exception=True)
        try:
            secret = destination_rotate_secret(
                destination=self.get_object(),
                secret=checked.validated_data.get("secret"),
                grace=timedelta(seconds=checked.validated_data["grace_seconds"]),
            )
        except DestinationConfigError as exc:
            raise config_error(exc) from None
        return Response({"secret": secret})


# --- Deliveries -----------------------------------------------------------------------------------


class DeliverySerializer(serializers.ModelSerializer[Delivery]):
    id = serializers.CharField(source="webhook_id", help_text="dlv_<row>_<version>, the push's webhook-id.")
    destination = serializers.CharField(source="destination.name")
    source = serializers.CharField(source="source.slug")  # type: ignore[assignment]
    # Clients read `attempts`, as they always have.
    attempts = serializers.IntegerField(source="attempt_count", min_value=0, max_value=2147483647, required=False)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "destination",
            "source",
            "user_id",
            "kind",
            "version",
            "status",
            "rerun",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
            "created_at",
            "updated_at",
        ]


class DeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Delivery.Status.choices)
    destination = django_filters.CharFilter(field_name="destination__name", help_text="A destination's name.")
    since = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Delivery
        fields: list[str] = []


ReplayFilters = inline_serializer(
    "ReplayFilters",
    {
        "status": serializers.ChoiceField(choices=Delivery.Status.choices, required=False),
        "destination": serializers.CharField(required=False, help_text="A destination's name."),
        "since": serializers.DateTimeField(required=False),
        "until": serializers.DateTimeField(required=False),
    },
)


class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Delivery]):
    """Pushes to destinations, newest first; replays push the users' current summaries again, marked rerun."""

    permission_classes = [StaffOrReadOnly]
    serializer_class = DeliverySerializer
    pagination_class = Cursor
    filterset_class = DeliveryFilter
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[Delivery]:
        qs = Delivery.objects.select_related("destination", "source")
        token = request_token(self.request)
        if token is not None and not token.is_staff:
            qs = qs.filter(destination=token.destination_id)
        return qs

    def get_object(self) -> Delivery:
        pk = delivery_pk(self.kwargs["pk"])
        found = None if pk is None else self.get_queryset().filter(pk=pk).first()
        if found is None:
            raise exceptions.NotFound("No such delivery.", code="not_found")
        return found

    def _replay(self) -> Response:
        """Replay the delivery the URL names."""
        delivery = self.get_object()
        queued = deliveries_replay(deliveries=Delivery.objects.filter(pk=delivery.pk))
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)

    def _replay_matching(self, request: Request) -> Response:
        """Replay the failed and dead deliveries the request's filters select."""
        data = request.data if isinstance(request.data, dict) and request.data else request.query_params
        chosen = DeliveryFilter(data=data, queryset=self.get_queryset())
        if not chosen.is_valid():
            raise exceptions.ValidationError(chosen.errors)
        if not any(chosen.form.cleaned_data.get(name) not in (None, "") for name in chosen.filters):
            raise exceptions.ValidationError(
                {"non_field_errors": ["Give at least one filter (status, destination, since, until)."]}
            )
        if chosen.form.cleaned_data.get("status") not in (None, "", *REPLAYABLE):
            raise exceptions.ValidationError({"status": ["Only failed and dead deliveries are replayed."]})
        _, queued = deliveries_replay_batches(deliveries=chosen.qs)
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: Queued})
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, pk: str) -> Response:
        """Push this delivery's user's current summary again, marked rerun."""
        return self._replay()

    @extend_schema(request=None, responses={202: Queued}, deprecated=True)
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        """Deprecated: the old name of replay/, which does the same."""
        return self._replay()

    @extend_schema(operation_id="deliveries_replay_many", request=ReplayFilters, responses={202: Queued}, filters=False)
    @action(detail=False, methods=["post"], url_path="replay", filterset_class=None, pagination_class=None)
    def replay_many(self, request: Request) -> Response:
        """Replay the failed and dead deliveries matching status, destination, since, until (JSON body or query)."""
        return self._replay_matching(request)

    @extend_schema(
        operation_id="deliveries_retry_many",
        request=ReplayFilters,
        responses={202: Queued},
        filters=False,
        deprecated=True,
    )
    @action(detail=False, methods=["post"], url_path="retry", filterset_class=None, pagination_class=None)
    def retry_many(self, request: Request) -> Response:
        """Deprecated: the old name of replay/, which does the same."""
        return self._replay_matching(request)
