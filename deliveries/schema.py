"""The push a destination receives, described as an OpenAPI webhook."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, OpenApiWebhook, extend_schema
from rest_framework import serializers


class PushUserSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    email = serializers.CharField(allow_blank=True, required=False, help_text="Absent in user.deleted pushes.")
    name = serializers.CharField(allow_blank=True, required=False)


class PushSummarySerializer(serializers.Serializer[Any]):
    units_completed = serializers.IntegerField()
    units_passed = serializers.IntegerField()
    score_total = serializers.CharField(help_text="Decimal as a string, two places.")
    max_score_total = serializers.CharField()
    percent = serializers.CharField()
    first_activity_at = serializers.DateTimeField(allow_null=True)
    last_activity_at = serializers.DateTimeField(allow_null=True)


class PushResultSerializer(serializers.Serializer[Any]):
    unit_id = serializers.CharField()
    title = serializers.CharField(allow_blank=True)
    score = serializers.CharField()
    max_score = serializers.CharField()
    passed = serializers.BooleanField()
    completed_at = serializers.DateTimeField()


class PushDataSerializer(serializers.Serializer[Any]):
    source = serializers.CharField(help_text="The source's slug.")  # type: ignore[assignment]
    user = PushUserSerializer()
    version = serializers.IntegerField(help_text="Rises with every change: discard a push older than one you have.")
    summary = PushSummarySerializer(required=False, help_text="Absent in user.deleted pushes.")
    results = PushResultSerializer(many=True, required=False)


class PushSerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=["user.summary.updated", "user.deleted"])
    id = serializers.CharField(help_text="dlv_<row>_<version>, equal to the webhook-id header.")
    timestamp = serializers.DateTimeField()
    rerun = serializers.BooleanField(help_text="True when an operator replayed it.")
    data = PushDataSerializer()  # type: ignore[assignment]


summary_push = OpenApiWebhook(
    name="userSummaryUpdated",
    decorator=extend_schema(
        summary="A user's summary changed (or the user was erased)",
        description=(
            "POSTed to each destination's URL, signed with Standard Webhooks headers made with the "
            "destination's secret; verify with the `standardwebhooks` library. Answer 2xx. Timeouts, 408, 425, "
            "429 and 5xx are retried with backoff (Retry-After is honoured); 410 disables the destination; "
            "other 4xx fail the delivery."
        ),
        parameters=[
            OpenApiParameter("webhook-id", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("webhook-timestamp", int, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("webhook-signature", str, OpenApiParameter.HEADER, required=True),
        ],
        request=PushSerializer,
        responses={
            200: OpenApiResponse(description="Received (any 2xx)."),
            410: OpenApiResponse(description="Gone: Tally disables the destination."),
        },
    ),
)
