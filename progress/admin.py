"""Admin for progress jobs: who reported what, with a link to the live page."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from progress.models import Job, Worker


class WorkerInline(admin.TabularInline[Worker, Job]):
    model = Worker
    fields = readonly_fields = ("workid", "current", "total", "text", "ok", "updated")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    list_display = ["jobid", "description", "created", "maxage", "worker_count", "live_page"]
    search_fields = ["jobid", "description"]
    readonly_fields = ["jobid", "created", "live_page"]
    fields = ["jobid", "description", "maxage", "created", "live_page"]
    inlines = [WorkerInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        return super().get_queryset(request).annotate(worker_count=Count("workers"))

    @admin.display(description="workers", ordering="worker_count")
    def worker_count(self, obj: Job) -> int:
        return int(getattr(obj, "worker_count", 0))

    @admin.display(description="live page")
    def live_page(self, obj: Job) -> str:
        query = urlencode({"jobid": obj.jobid})
        return format_html(
            '<a href="{}?{}">bars</a> · <a href="{}?{}">PNG</a>',
            reverse("progress-show"),
            query,
            reverse("progress-render"),
            query,
        )
