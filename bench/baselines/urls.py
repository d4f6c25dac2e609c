"""The plain DRF baseline's routes: the webhook at Tally's path (so the same requests do), and /healthz."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from .views import PlainWebhookView


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("healthz", healthz),
    path("api/v1/webhooks/<slug:source_slug>/", PlainWebhookView.as_view()),
]
