"""The plain DRF + ORM baseline: one webhook as a straightforward DRF project would take it in.

The same native `test.completed` envelope as Tally's intake, validated by a
nested `Serializer` built per request, the source looked up by slug, then in
one transaction `Event.objects.create(...)` (Tally's own model and table) and
the user's subtotal row (Tally's `Summary`) upserted with `update_or_create`
and `F()` increments. It answers 202 with the event id.

What it leaves out, on purpose: the source's credentials (no token or
signature check), IP rules and rate limits, per-unit results with the
latest-wins rule, the percent, the summary's push (outbox) and the counters.
It is the ceiling a plain implementation of "store the event, bump the
user's totals" reaches on the same server settings.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.shortcuts import get_object_or_404
from django.utils import timezone
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from results.models import Summary
from webhooks.models import Event, Source


class UserSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(max_length=255)
    email = serializers.EmailField(required=False, allow_blank=True, max_length=320)
    name = serializers.CharField(required=False, allow_blank=True, max_length=300)


class TestSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(max_length=255)
    title = serializers.CharField(required=False, allow_blank=True, max_length=500)
    course_id = serializers.CharField(required=False, allow_blank=True, max_length=255)


class CompletionSerializer(serializers.Serializer[Any]):
    user = UserSerializer()
    organization = serializers.CharField(required=False, allow_blank=True, max_length=255)
    test = TestSerializer()
    score = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    max_score = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    passed = serializers.BooleanField()
    attempt = serializers.IntegerField(min_value=1)
    completed_at = serializers.DateTimeField()


class EnvelopeSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(max_length=255)
    type = serializers.ChoiceField(choices=["test.completed"])
    occurred_at = serializers.DateTimeField()
    data = CompletionSerializer()  # type: ignore[assignment] # the field; DRF moves it off the class


class PlainWebhookView(APIView):
    def post(self, request: Request, source_slug: str) -> Response:
        raw = request.body.decode()  # kept as Tally keeps it; read before request.data
        source = get_object_or_404(Source, slug=source_slug, active=True)
        envelope = EnvelopeSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        event, data = envelope.validated_data, envelope.validated_data["data"]
        user, now = data["user"], timezone.now()
        try:
            with transaction.atomic():
                stored = Event.objects.create(
                    source=source,
                    idempotency_key=event["id"],
                    type=event["type"],
                    status=Event.Status.ACCEPTED,
                    body=raw,
                    received_at=now,
                    processed_at=now,
                )
                Summary.objects.update_or_create(
                    source=source,
                    user_id=user["id"],
                    defaults={
                        "user_email": user.get("email", ""),
                        "user_name": user.get("name", ""),
                        "organization": data.get("organization", ""),
                        "units_completed": F("units_completed") + 1,
                        "units_passed": F("units_passed") + int(data["passed"]),
                        "score_total": F("score_total") + data["score"],
                        "max_score_total": F("max_score_total") + data["max_score"],
                        "last_activity_at": data["completed_at"],
                        "version": F("version") + 1,
                        "updated_at": now,
                    },
                    create_defaults={
                        "user_email": user.get("email", ""),
                        "user_name": user.get("name", ""),
                        "organization": data.get("organization", ""),
                        "units_completed": 1,
                        "units_passed": int(data["passed"]),
                        "score_total": data["score"],
                        "max_score_total": data["max_score"],
                        "first_activity_at": data["completed_at"],
                        "last_activity_at": data["completed_at"],
                        "version": 1,
                        "updated_at": now,
                    },
                )
        except IntegrityError:
            return Response({"status": "duplicate"}, status=status.HTTP_200_OK)
        return Response({"event_id": str(stored.pk), "status": "accepted"}, status=status.HTTP_202_ACCEPTED)
