"""Admin for sources, events and intake counters."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from webhooks.forms import SourceAdminForm
from webhooks.models import Event, IntakeCounter, Source
from webhooks.services import source_pause, source_resume


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin[Source]):
    form = SourceAdminForm
    list_display = ["slug", "name", "kind", "auth_mode", "active", "paused", "rate_limit_per_minute", "created_at"]
    list_filter = ["kind", "auth_mode", "active", "paused"]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["slug", "name", "kind", "active", "paused", "pass_ratio"]}),
        ("Authentication", {"fields": ["auth_mode", "secret", "previous_secret", "token", "previous_token",
                                       "previous_expires_at", "allowed_ips", "denied_ips", "rate_limit_per_minute"]}),
        ("PYBOSSA", {
            "fields": ["pybossa_url", "pybossa_api_key", "pybossa_analysis", "pybossa_quorum"],
            "description": "How a completed task's runs are analysed: majority, quorum (with a quorum), or the "
            "dotted path of a Python callable, checked when saved. See docs/pybossa.md.",
        }),
        ("Times", {"fields": ["created_at", "updated_at"]}),
    ]  # fmt: skip
    actions = ["pause", "resume"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.action(description="Pause: store webhooks, apply them later")
    def pause(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset:
            source_pause(source=source)
        messages.success(request, f"Paused {queryset.count()} source(s).")

    @admin.action(description="Resume: apply waiting webhooks")
    def resume(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset:
            source_resume(source=source)
        messages.success(request, f"Resumed {queryset.count()} source(s); waiting events are being applied.")


@admin.register(Event)
class EventAdmin(admin.ModelAdmin[Event]):
    list_display = ["id", "source", "idempotency_key", "type", "status", "error_code", "received_at"]
    list_filter = ["status", "source", "type", "error_code"]
    search_fields = ["idempotency_key", "type", "=request_id"]
    list_select_related = ["source"]
    date_hierarchy = "received_at"
    show_full_result_count = False
    fields = readonly_fields = (
        "source",
        "idempotency_key",
        "type",
        "status",
        "error_code",
        "pretty_error",
        "pretty_body",
        "received_at",
        "processed_at",
        "request_id",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False

    @admin.display(description="error detail")
    def pretty_error(self, obj: Event) -> str:
        if obj.error_detail is None:
            return "-"
        return format_html("<pre>{}</pre>", json.dumps(obj.error_detail, indent=2, ensure_ascii=False))

    @admin.display(description="body")
    def pretty_body(self, obj: Event) -> str:
        try:
            text = json.dumps(json.loads(obj.body), indent=2, ensure_ascii=False)
        except ValueError:
            text = obj.body or "(pruned)"
        return format_html("<pre>{}</pre>", text)


@admin.register(IntakeCounter)
class IntakeCounterAdmin(admin.ModelAdmin[IntakeCounter]):
    list_display = ["day", "source", "outcome", "count"]
    list_filter = ["source", "outcome", "day"]
    list_select_related = ["source"]
    date_hierarchy = "day"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: IntakeCounter | None = None) -> bool:
        return False
