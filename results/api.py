"""Read API for summaries."""

from __future__ import annotations

from typing import Any

from django.utils.dateparse import parse_datetime
from rest_framework import exceptions, serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import request_token
from results.models import Summary
from results.selectors import summary_get, summary_list


class SummarySerializer(serializers.ModelSerializer[Summary]):
    source = serializers.CharField(source="source.slug")  # type: ignore[assignment]
    user = serializers.SerializerMethodField()

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

    def get_user(self, obj: Summary) -> dict[str, str]:
        return {"id": obj.user_id, "email": obj.user_email, "name": obj.user_name}


class SummaryCursor(CursorPagination):
    ordering = ("updated_at", "id")
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"


class SummaryListView(ListAPIView[Summary]):
    """GET /api/v1/summaries/?source=&user=&updated_since= (oldest change first)."""

    serializer_class = SummarySerializer
    pagination_class = SummaryCursor

    def get_queryset(self) -> Any:
        params = self.request.query_params
        updated_since = None
        if params.get("updated_since"):
            updated_since = parse_datetime(params["updated_since"])
            if updated_since is None or updated_since.tzinfo is None:
                raise exceptions.ValidationError(
                    {"updated_since": ["Expected an ISO 8601 date-time with a time zone."]}
                )
        return summary_list(
            source=params.get("source"),
            user_id=params.get("user"),
            updated_since=updated_since,
            reader=request_token(self.request),
        )


class SummaryDetailView(APIView):
    """GET /api/v1/summaries/<source>/<user_id>/"""

    def get(self, request: Request, source: str, user_id: str) -> Response:
        summary = summary_get(source=source, user_id=user_id, reader=request_token(request))
        if summary is None:
            raise exceptions.NotFound("No summary for this source and user.", code="not_found")
        return Response(SummarySerializer(summary).data)
