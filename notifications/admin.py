"""Admin for alerts and their Telegram messages."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from notifications.models import Alert, Message


class SentStateFilter(admin.SimpleListFilter):
    title = "sent state"
    parameter_name = "sent"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(Message.Status.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Alert]) -> QuerySet[Alert]:
        if self.value():
            return queryset.filter(messages__status=self.value()).distinct()
        return queryset


class MessageInline(admin.TabularInline[Message, Alert]):
    model = Message
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "kind",
        "chat_id",
        "status",
        "attempt_count",
        "next_attempt_at",
        "sent_at",
        "last_error",
    )

    def has_add_permission(self, request: HttpRequest, obj: Alert | None = None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin[Alert]):
    list_display = ["title", "severity", "count", "first_seen_at", "last_seen_at", "closed", "sent"]
    list_filter = ["severity", SentStateFilter, "closed"]
    search_fields = ["title", "fingerprint"]
    date_hierarchy = "first_seen_at"
    inlines = [MessageInline]
    fields = readonly_fields = (
        "fingerprint",
        "severity",
        "title",
        "pretty_details",
        "link",
        "count",
        "first_seen_at",
        "last_seen_at",
        "closed",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Alert]:
        return super().get_queryset(request).prefetch_related("messages")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="sent")
    def sent(self, obj: Alert) -> str:
        return ", ".join(sorted({m.status for m in obj.messages.all()})) or "-"

    @admin.display(description="details")
    def pretty_details(self, obj: Alert) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.details, indent=2, ensure_ascii=False))

    @admin.display(description="admin link")
    def link(self, obj: Alert) -> str:
        return format_html('<a href="{}">{}</a>', obj.admin_url, obj.admin_url) if obj.admin_url else "-"


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin[Message]):
    list_display = ["alert", "kind", "chat_id", "status", "attempt_count", "next_attempt_at", "sent_at"]
    list_filter = ["status", "kind"]
    search_fields = ["text", "last_error"]
    list_select_related = ["alert"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False
