"""The optional write token of progress jobs (`PROGRESS_WRITE_TOKEN`)."""

from __future__ import annotations

import hmac

from django.conf import settings
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request
from rest_framework.views import APIView

WRITER = "progress-writer"


def _presented(request: Request) -> str | None:
    """`token=` in the query or form (as MWA clients send it), else `Authorization: Bearer`."""
    token = request.query_params.get("token") or request.data.get("token")
    if token:
        return str(token)
    header = authentication.get_authorization_header(request).split()
    if len(header) == 2 and header[0].lower() == b"bearer":
        return header[1].decode(errors="replace")
    return None


class WriteTokenAuthentication(authentication.BaseAuthentication):
    """Checks the write token in constant time when one is configured."""

    def authenticate(self, request: Request) -> tuple[None, str] | None:
        expected = settings.PROGRESS_WRITE_TOKEN
        if not expected:
            return None
        presented = _presented(request)
        if presented is None:
            return None
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            raise exceptions.AuthenticationFailed("Wrong token for progress updates.", code="bad_token")
        return None, WRITER

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="progress"'


class CanWrite(permissions.BasePermission):
    """Open unless PROGRESS_WRITE_TOKEN is set; then the token is needed."""

    message = "This Tally needs token= to create or update progress jobs."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return not settings.PROGRESS_WRITE_TOKEN or request.auth == WRITER
