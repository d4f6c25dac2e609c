"""/progress/create, update, show and render: the MWA progress service's URLs and parameters."""

from __future__ import annotations

import math
import secrets
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.views.decorators.clickjacking import xframe_options_exempt
from rest_framework import exceptions, parsers, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import JsonRenderer, JsonWhateverAccepted
from progress.authentication import CanWrite, WriteTokenAuthentication
from progress.chart import chart_png_cached
from progress.models import ID_LENGTH, TEXT_LENGTH
from progress.selectors import JobState, format_age, format_number, format_percent, job_state
from progress.services import job_create, worker_update

MAX_AGE_SECONDS = 2**31 - 1


def shown(value: Any) -> str:
    """A sent value quoted for an error message, cut short."""
    text = str(value)
    return repr(text if len(text) <= 40 else text[:40] + "…")


class NumberField(serializers.Field[float, Any, float, Any]):
    """Any finite number, as clients write it: `3`, `3.0`, `2.5e3`, `-1`.

    Drawing bounds it (above the total is full; a total of 0 or less is
    empty), so only what is not a number at all is refused: `nan`, `inf`
    and words.
    """

    default_error_messages = {
        "required": "This field is required: a number, such as 3 or 2.5.",
        "invalid": "A number is required, such as 3 or 2.5; got {value}.",
        "not_finite": "A finite number is required, such as 3 or 2.5; got {value}.",
    }

    def to_internal_value(self, data: Any) -> float:
        try:
            value = float(data)
        except (TypeError, ValueError):
            self.fail("invalid", value=shown(data))
        if not math.isfinite(value):
            self.fail("not_finite", value=shown(data))
        return value

    def to_representation(self, value: float) -> float:
        return value


class OkField(serializers.Field[bool, Any, bool, Any]):
    """`0` (and `0.0`, `false`, `no`, `off`, any case) is red; anything else is green: `1`, `2`, `True`, ``."""

    FALSE = frozenset({"false", "no", "off", "f", "n"})

    def to_internal_value(self, data: Any) -> bool:
        text = str(data).strip().lower()
        if text in self.FALSE:
            return False
        try:
            return float(text) != 0
        except ValueError:
            return True

    def to_representation(self, value: bool) -> bool:
        return value


class IdField(serializers.CharField):
    """An id kept exactly as sent: `" a "` and `"a"` are two jobs, and a long one is refused rather than cut."""

    def __init__(self, *, what: str, **kwargs: Any) -> None:
        super().__init__(
            max_length=ID_LENGTH,
            trim_whitespace=False,
            error_messages={
                "required": f"This field is required: {what}.",
                "blank": f"This field may not be blank: {what}.",
                "max_length": f"Ensure this field has no more than {ID_LENGTH} characters; an id is never cut.",
            },
            **kwargs,
        )


class TextField(serializers.CharField):
    """Text shown beside a bar or as a title: never refused, but cut to TEXT_LENGTH characters.

    What the database cannot store is dropped (NUL) or replaced (a lone
    surrogate becomes `?`) instead of refusing the whole report.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(trim_whitespace=False, required=False, allow_blank=True, **kwargs)
        self.validators = []

    def to_internal_value(self, data: Any) -> str:
        text = str(data).replace("\x00", "").encode("utf-8", "replace").decode()
        return super().to_internal_value(text)[:TEXT_LENGTH]


class JobParams(serializers.Serializer[Any]):
    jobid = IdField(what="the job's name")


class CreateParams(JobParams):
    desc = TextField(default="")
    maxage = serializers.IntegerField(min_value=1, max_value=MAX_AGE_SECONDS, required=False)


class UpdateParams(JobParams):
    workid = IdField(what="the worker's name")
    current = NumberField()
    total = NumberField()
    desc = TextField()
    ok = OkField(required=False, default=True)


class ShowParams(JobParams):
    format = serializers.ChoiceField(choices=["html", "json"], required=False, default="html")


class ProgressView(APIView):
    """GET or POST; parameters in the query string or a form body (a form value wins)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    parser_classes = [parsers.FormParser, parsers.MultiPartParser]
    # `format` is the progress service's own parameter, not DRF's renderer switch.
    renderer_classes = [JsonRenderer]
    content_negotiation_class = JsonWhateverAccepted
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
        raise exceptions.NotFound(
            f"No progress job {jobid!r}: nobody created it or reported to it, or it expired.", code="unknown_job"
        )
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
    """One worker's report: current of total, its text, and whether it is ok; kept whenever it can be drawn."""

    authentication_classes = [WriteTokenAuthentication]
    permission_classes = [CanWrite]
    params_class = UpdateParams

    def handle(self, request: Request, params: dict[str, Any]) -> Response:
        worker, job_created = worker_update(
            jobid=params["jobid"],
            workid=params["workid"],
            current=params["current"],
            total=params["total"],
            text=params.get("desc"),
            ok=params["ok"],
        )
        answer = {"jobid": params["jobid"], "workid": worker.workid, "percent": worker.percent}
        return Response({**answer, "job": "created"} if job_created else answer)


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
