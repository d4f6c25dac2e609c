"""URL routes."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import path

from results.api import SummaryDetailView, SummaryListView
from webhooks.api import WebhookView


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


handler500 = "common.errors.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz),
    path("api/v1/webhooks/<slug:source_slug>/", WebhookView.as_view(), name="webhook"),
    path("api/v1/summaries/", SummaryListView.as_view(), name="summary-list"),
    path("api/v1/summaries/<slug:source>/<str:user_id>/", SummaryDetailView.as_view(), name="summary-detail"),
]
