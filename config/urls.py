"""URL routes."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from common.api import JsonAnswer, no_such_url
from common.health import readyz
from common.metrics import metrics_view
from deliveries.api import DeliveryViewSet, DestinationViewSet
from results.api import ResultViewSet, SummaryViewSet
from webhooks.api import EventViewSet, SourceViewSet
from webhooks.intake_api import WebhookView


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonAnswer({"status": "ok"})


handler400 = "common.api.bad_request"
handler403 = "common.api.permission_denied"
handler404 = "common.api.not_found"
handler500 = "common.errors.server_error"

router = SimpleRouter()
router.register("sources", SourceViewSet, basename="source")
router.register("destinations", DestinationViewSet, basename="destination")
router.register("summaries", SummaryViewSet, basename="summary")
router.register("results", ResultViewSet, basename="result")
router.register("events", EventViewSet, basename="event")
router.register("deliveries", DeliveryViewSet, basename="delivery")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz),
    path("readyz", readyz),
    path("metrics", metrics_view),
    path("progress/", include("progress.urls")),
    # PYBOSSA and hand-written clients post to the URL as typed: the trailing slash is optional.
    re_path(r"^api/v1/webhooks/(?P<source_slug>[-a-zA-Z0-9_]+)/?$", WebhookView.as_view(), name="webhook"),
    # A user id may hold any character, `/` included: everything after the source is the id.
    re_path(
        r"^api/v1/summaries/(?P<source>[-a-zA-Z0-9_]{1,64})/(?P<user_id>.+)/$",
        SummaryViewSet.as_view({"get": "retrieve_by_user"}),
        name="summary-detail",
    ),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Last: whatever matched nothing above answers a JSON 404 (an HTML page in development otherwise).
    re_path(r"^(?P<path>.*)$", no_such_url),
]
