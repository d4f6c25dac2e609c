"""Admin for results and summaries (read-only: they are derived from events)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from results.models import Result, Summary


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Result)
class ResultAdmin(ReadOnlyAdmin):
    list_display = [
        "source",
        "user_id",
        "unit_id",
        "title",
        "score",
        "max_score",
        "passed",
        "attempt",
        "is_counted",
        "completed_at",
    ]
    list_filter = ["source", "is_counted", "passed"]
    search_fields = ["user_id", "unit_id", "title"]
    list_select_related = ["source"]
    show_full_result_count = False


@admin.register(Summary)
class SummaryAdmin(ReadOnlyAdmin):
    list_display = [
        "source",
        "user_id",
        "user_email",
        "units_completed",
        "units_passed",
        "score_total",
        "max_score_total",
        "percent",
        "version",
        "updated_at",
    ]
    list_filter = ["source", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["user_id", "user_email", "user_name"]
    list_select_related = ["source"]
    show_full_result_count = False
