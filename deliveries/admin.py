"""Admin for destinations, deliveries and their attempts."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from deliveries.forms import DestinationAdminForm
from deliveries.health import destination_disable, destination_enable
from deliveries.models import Attempt, Delivery, Destination
from deliveries.replay import REPLAYABLE, deliveries_replay


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin[Destination]):
    form = DestinationAdminForm
    list_display = [
        "name",
        "url",
        "active",
        "disabled_at",
        "consecutive_failures",
        "last_success_at",
        "max_attempts",
        "timeout_seconds",
    ]
    list_filter = ["active", ("disabled_at", admin.EmptyFieldListFilter), "sources"]
    search_fields = ["name", "url"]
    filter_horizontal = ["sources"]
    readonly_fields = ["disabled_at", "disabled_reason", "consecutive_failures", "failing_since", "last_success_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["enable", "disable", "replay_failed"]

    @admin.action(description="Enable: send waiting deliveries now")
    def enable(self, request: HttpRequest, queryset: QuerySet[Destination]) -> None:
        for destination in queryset:
            destination_enable(destination=destination)
        messages.success(request, f"Enabled {queryset.count()} destination(s).")

    @admin.action(description="Disable: hold deliveries")
    def disable(self, request: HttpRequest, queryset: QuerySet[Destination]) -> None:
        for destination in queryset:
            destination_disable(destination=destination, reason=f"Disabled by {request.user} in the admin.")
        messages.success(request, f"Disabled {queryset.count()} destination(s).")

    @admin.action(description="Replay all failed and dead deliveries")
    def replay_failed(self, request: HttpRequest, queryset: QuerySet[Destination]) -> None:
        failed = Delivery.objects.filter(destination__in=queryset, status__in=REPLAYABLE)
        queued = deliveries_replay(deliveries=failed)
        messages.success(request, f"Queued {queued} replay(s).")


class AttemptInline(admin.TabularInline[Attempt, Delivery]):
    model = Attempt
    extra = 0
    can_delete = False
    ordering = ["-number"]
    fields = readonly_fields = (
        "number",
        "version",
        "started_at",
        "duration_ms",
        "status_code",
        "level",
        "error",
        "response_excerpt",
    )

    def has_add_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin[Delivery]):
    list_display = [
        "webhook_id",
        "destination",
        "source",
        "user_id",
        "version",
        "status",
        "rerun",
        "attempt_count",
        "next_attempt_at",
        "short_error",
    ]
    list_filter = ["status", "destination", "rerun", "kind"]
    search_fields = ["user_id", "=request_id"]
    list_select_related = ["destination", "source"]
    show_full_result_count = False
    inlines = [AttemptInline]
    actions = ["replay_selected"]
    fields = readonly_fields = (
        "destination",
        "source",
        "user_id",
        "kind",
        "version",
        "status",
        "rerun",
        "attempt_count",
        "next_attempt_at",
        "lease_expires_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
        "request_id",
        "pretty_snapshot",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="last error")
    def short_error(self, obj: Delivery) -> str:
        return obj.last_error[:80]

    @admin.display(description="snapshot")
    def pretty_snapshot(self, obj: Delivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.snapshot, indent=2, ensure_ascii=False))

    @admin.action(description="Replay selected (push the current summary again, rerun)")
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        queued = deliveries_replay(deliveries=queryset)
        messages.success(request, f"Queued {queued} replay(s).")


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin[Attempt]):
    list_display = ["delivery", "number", "started_at", "duration_ms", "status_code", "level", "error"]
    list_filter = ["level", "status_code", "delivery__destination"]
    list_select_related = ["delivery"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Attempt | None = None) -> bool:
        return False
