"""Read API for summaries and results: staff see every source, a client token its destination's."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import request_token
from common.api import Cursor
from common.filters import UtcDateTimeFilter
from results.models import Result, Summary
from results.selectors import result_list, summary_get, summary_list


class UserSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(source="user_id")
    email = serializers.CharField(source="user_email")
    name = serializers.CharField(source="user_name")


class SummarySerializer(serializers.ModelSerializer[Summary]):
    source = serializers.CharField(source="source.slug", help_text="The source's slug.")  # type: ignore[assignment]
    user = UserSerializer(source="*")

    class Meta:
        model = Summary
        fields = [
            "source",
            "user",
            "organization",
            "units_completed",
            "units_passed",
            "score_total",
            "max_score_total",
            "percent",
            "first_activity_at",
            "last_activity_at",
            "version",
            "updated_at",
        ]


class ResultSerializer(serializers.ModelSerializer[Result]):
    source = serializers.CharField(source="source.slug", help_text="The source's slug.")  # type: ignore[assignment]
    counts = serializers.BooleanField(source="is_counted", read_only=True, help_text="False once the unit was reset.")

    class Meta:
        model = Result
        fields = [
            "source",
            "user_id",
            "unit_id",
            "title",
            "course_id",
            "score",
            "max_score",
            "passed",
            "attempt",
            "completed_at",
            "counts",
            "updated_at",
        ]


class ChangedSince(django_filters.FilterSet):
    """`source`, `user` and `updated_since` (ISO 8601 with a zone), shared by summaries and results."""

    source = django_filters.CharFilter(field_name="source__slug", help_text="A source's slug.")
    user = django_filters.CharFilter(field_name="user_id", help_text="A user id, exactly.")
    updated_since = UtcDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="Only rows changed at or after this time."
    )


class SummaryFilter(ChangedSince):
    class Meta:
        model = Summary
        fields: list[str] = []


class ResultFilter(ChangedSince):
    class Meta:
        model = Result
        fields: list[str] = []


class ChangeCursor(Cursor):
    """Oldest change first: a client keeps the last cursor and asks again for what changed since."""

    ordering = ("updated_at", "id")


class SummaryViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Summary]):
    """Summaries per (source, user); erased users are left out."""

    serializer_class = SummarySerializer
    pagination_class = ChangeCursor
    filterset_class = SummaryFilter

    def get_queryset(self) -> QuerySet[Summary]:
        return summary_list(reader=request_token(self.request))

    @extend_schema(operation_id="summaries_retrieve", responses=SummarySerializer)
    def retrieve_by_user(self, request: Request, source: str, user_id: str) -> Response:
        """One user's summary; the user id may hold any character, `/` included (percent-encode it)."""
        summary = summary_get(source=source, user_id=user_id, reader=request_token(request))
        if summary is None:
            raise exceptions.NotFound("No summary for this source and user.", code="not_found")
        return Response(SummarySerializer(summary).data)


class ResultViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Result]):
    """Each user's current result per unit of work, as it counts in the summary."""

    serializer_class = ResultSerializer
    pagination_class = ChangeCursor
    filterset_class = ResultFilter

    def get_queryset(self) -> QuerySet[Result]:
        return result_list(reader=request_token(self.request))
