"""Deliveries API: list, and replay one or many (staff tokens)."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deliveries.models import Delivery
from deliveries.services import deliveries_filter, deliveries_replay


class IsStaffToken(BasePermission):
    message = "This needs a staff token."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(getattr(request.user, "is_staff", False))


class DeliverySerializer(serializers.ModelSerializer[Delivery]):
    id = serializers.CharField(source="webhook_id")
    destination = serializers.CharField(source="destination.name")
    source = serializers.CharField(source="source.slug")  # type: ignore[assignment]

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


class DeliveryFilters(serializers.Serializer[dict[str, Any]]):
    status = serializers.ChoiceField(choices=Delivery.Status.choices, required=False)
    destination = serializers.CharField(required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


def _filters(data: Any) -> dict[str, Any]:
    filters = DeliveryFilters(data=data)
    filters.is_valid(raise_exception=True)
    return dict(filters.validated_data)


def _delivery_pk(value: str) -> int:
    """Accept the public id (dlv_<pk>_<version>) or the bare primary key."""
    raw = value.removeprefix("dlv_").split("_")[0]
    if not raw.isdigit():
        raise exceptions.NotFound("No such delivery.", code="not_found")
    return int(raw)


class DeliveryCursor(CursorPagination):
    ordering = "-id"
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"


class DeliveryListView(ListAPIView[Delivery]):
    """GET /api/v1/deliveries/?status=&destination=&since=&until= (newest first)."""

    permission_classes = [IsStaffToken]
    serializer_class = DeliverySerializer
    pagination_class = DeliveryCursor

    def get_queryset(self) -> Any:
        return deliveries_filter(**_filters(self.request.query_params)).select_related("destination", "source")


class DeliveryRetryView(APIView):
    """POST /api/v1/deliveries/<id>/retry/ — push that user's current summary again, marked rerun."""

    permission_classes = [IsStaffToken]

    def post(self, request: Request, delivery_id: str) -> Response:
        deliveries = Delivery.objects.filter(pk=_delivery_pk(delivery_id))
        if not deliveries.exists():
            raise exceptions.NotFound("No such delivery.", code="not_found")
        queued = deliveries_replay(deliveries=deliveries)
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)


class DeliveryBulkRetryView(APIView):
    """POST /api/v1/deliveries/retry/ with filters status, destination, since, until (JSON or query)."""

    permission_classes = [IsStaffToken]

    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) and request.data else request.query_params
        filters = _filters(data)
        if not filters:
            raise exceptions.ValidationError(
                {"non_field_errors": ["Give at least one filter (status, destination, since, until)."]}
            )
        queued = deliveries_replay(deliveries=deliveries_filter(**filters))
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)
