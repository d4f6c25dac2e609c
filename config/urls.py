"""URL routes."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from deliveries.api import DeliveryBulkRetryView, DeliveryListView, DeliveryRetryView
from results.api import SummaryDetailView, SummaryListView
from webhooks.api import WebhookView


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


handler500 = "common.errors.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz),
    path("progress/", include("progress.urls")),
    path("api/v1/webhooks/<slug:source_slug>/", WebhookView.as_view(), name="webhook"),
    path("api/v1/summaries/", SummaryListView.as_view(), name="summary-list"),
    path("api/v1/deliveries/", DeliveryListView.as_view(), name="delivery-list"),
    path("api/v1/deliveries/retry/", DeliveryBulkRetryView.as_view(), name="delivery-bulk-retry"),
    path("api/v1/deliveries/<str:delivery_id>/retry/", DeliveryRetryView.as_view(), name="delivery-retry"),
    path("api/v1/summaries/<slug:source>/<str:user_id>/", SummaryDetailView.as_view(), name="summary-detail"),
]
