"""/progress/create, update, show and render: the MWA progress service's URLs and parameters."""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.views.decorators.clickjacking import xframe_options_exempt
from rest_framework import exceptions, parsers, serializers
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from progress.authentication import CanWrite, WriteTokenAuthentication
from progress.chart import chart_png_cached
from progress.models import ID_LENGTH, TEXT_LENGTH
from progress.selectors import JobState, format_age, format_number, format_percent, job_state
from progress.services import JobNotFound, job_create, worker_update

MAX_AGE_SECONDS = 2**31 - 1


class NumberField(serializers.FloatField):
    """A finite number of at least 0 (`nan` and `inf` are not numbers of work)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=0, **kwargs)

    def to_internal_value(self, data: Any) -> float:
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


class IdField(serializers.CharField):
    """An id kept exactly as sent: `" a "` and `"a"` are two jobs."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=ID_LENGTH, trim_whitespace=False, **kwargs)


class TextField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=TEXT_LENGTH, trim_whitespace=False, required=False, allow_blank=True, **kwargs)


class JobParams(serializers.Serializer[Any]):
    jobid = IdField()


class CreateParams(JobParams):
    desc = TextField(default="")
    maxage = serializers.IntegerField(min_value=1, max_value=MAX_AGE_SECONDS, required=False)


class UpdateParams(JobParams):
    workid = IdField()
    current = NumberField()
    total = NumberField()
    desc = TextField()
    ok = serializers.BooleanField(required=False, default=True)

    def validate_total(self, value: float) -> float:
        if value == 0:
            raise serializers.ValidationError("Ensure this value is greater than 0.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["current"] > attrs["total"]:
            raise serializers.ValidationError({"current": ["Ensure this value is at most total."]})
        return attrs


class ShowParams(JobParams):
    format = serializers.ChoiceField(choices=["html", "json"], required=False, default="html")


class JsonOnly(BaseContentNegotiation):
    """Always JSON: `format` is the progress service's own parameter, not DRF's renderer switch."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class ProgressView(APIView):
    """GET or POST; parameters in the query string or a form body (a form value wins)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    parser_classes = [parsers.FormParser, parsers.MultiPartParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonOnly
    params_class: type[JobParams] = JobParams

    def params(self, request: Request) -> dict[str, Any]:
        given = {key: request.query_params.get(key) for key in request.query_params}
        given.update({key: request.data.get(key) for key in request.data})
        checked = self.params_class(data=given)
        checked.is_valid(raise_exception=True)
        return dict(checked.validated_data)

    def get(self, request: Request) -> HttpResponse:
        return self.handle(request, self.params(request))

    def post(self, request: Request) -> HttpResponse:
        return self.get(request)

    def handle(self, request: Request, params: dict[str, Any]) -> HttpResponse:
        raise NotImplementedError


def state_or_404(jobid: str) -> JobState:
    state = job_state(jobid=jobid)
    if state is None:
        raise exceptions.NotFound(f"No progress job {jobid!r}.", code="unknown_job")
    return state


class CreateView(ProgressView):
    """Create a job, or reset an existing one."""

    authentication_classes = [WriteTokenAuthentication]
    permission_classes = [CanWrite]
    params_class = CreateParams

    def handle(self, request: Request, params: dict[str, Any]) -> Response:
        job, created = job_create(jobid=params["jobid"], description=params["desc"], maxage=params.get("maxage"))
        return Response({"jobid": job.jobid, "status": "created" if created else "reset"})


class UpdateView(ProgressView):
    """One worker's report: current of total, its text, and whether it is ok."""

    authentication_classes = [WriteTokenAuthentication]
    permission_classes = [CanWrite]
    params_class = UpdateParams

    def handle(self, request: Request, params: dict[str, Any]) -> Response:
        try:
            worker = worker_update(
                jobid=params["jobid"],
                workid=params["workid"],
                current=params["current"],
                total=params["total"],
                text=params.get("desc"),
                ok=params["ok"],
            )
        except JobNotFound:
            raise exceptions.NotFound(
                f"No progress job {params['jobid']!r}; create it first.", code="unknown_job"
            ) from None
        return Response({"jobid": params["jobid"], "workid": worker.workid, "percent": worker.percent})


def state_json(state: JobState) -> dict[str, Any]:
    """The job as the page's script and other programs read it."""
    job = state.job
    return {
        "jobid": job.jobid,
        "desc": job.description,
        "created": job.created,
        "maxage": job.maxage,
        "expires_at": state.expires_at,
        "headline": state.headline,
        "percent": round(state.percent, 2),
        "percent_text": format_percent(state.percent),
        "workers": [
            {
                "workid": worker.workid,
                "current": worker.current,
                "total": worker.total,
                "percent": round(worker.percent, 2),
                "percent_text": format_percent(worker.percent),
                "count_text": f"{format_number(worker.current)}/{format_number(worker.total)}",
                "desc": worker.text,
                "ok": worker.ok,
                "updated": worker.updated,
                "age_seconds": round(state.age_seconds(worker), 1),
                "age_text": format_age(state.age_seconds(worker)),
            }
            for worker in state.workers
        ],
    }


class ShowView(ProgressView):
    """The live page (HTML that refreshes itself), or with format=json the same state as JSON."""

    params_class = ShowParams

    def handle(self, request: Request, params: dict[str, Any]) -> HttpResponse:
        state = state_or_404(params["jobid"])
        data = state_json(state)
        if params["format"] == "json":
            response: HttpResponse = Response(data)
            response["Cache-Control"] = "no-store"
            return response
        nonce = secrets.token_urlsafe(16)
        html = render_to_string(
            "progress/show.html",
            {"state": state, "data": data, "nonce": nonce, "refresh_ms": settings.PROGRESS_REFRESH_SECONDS * 1000},
        )
        response = HttpResponse(html, content_type="text/html; charset=utf-8")
        # Self-contained by construction: the browser may load nothing but this page and its JSON.
        response["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
        )
        response["Cache-Control"] = "no-store"
        return response


class RenderView(ProgressView):
    """The chart as a PNG, redrawn only when what it shows has changed."""

    params_class = JobParams

    def handle(self, request: Request, params: dict[str, Any]) -> HttpResponse:
        state = state_or_404(params["jobid"])
        png = chart_png_cached(state)
        response = HttpResponse(png, content_type="image/png")
        response["Cache-Control"] = f"max-age={settings.PROGRESS_RENDER_CACHE_SECONDS}"
        return response


create = CreateView.as_view()
update = UpdateView.as_view()
show = xframe_options_exempt(ShowView.as_view())
render = RenderView.as_view()
