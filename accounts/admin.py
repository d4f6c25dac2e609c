from __future__ import annotations

from django.contrib import admin

from accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ["name", "key_prefix", "is_staff", "destination", "active", "created_at"]
    list_select_related = ["destination"]
    list_filter = ["is_staff", "active"]
    search_fields = ["name", "key_prefix"]
    readonly_fields = ["key_prefix", "key_hash", "created_at"]
