"""Who may do what with an API token."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from accounts.authentication import request_token


class IsStaffToken(BasePermission):
    """Staff tokens only."""

    message = "This needs a staff token."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request_token(request)
        return token is not None and token.is_staff


class StaffOrReadOnly(BasePermission):
    """Client tokens read (their own destination's data, by the view's queryset); staff tokens also write."""

    message = "This needs a staff token."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request_token(request)
        return token is not None and (token.is_staff or request.method in SAFE_METHODS)
