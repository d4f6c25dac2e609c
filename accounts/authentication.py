"""DRF authentication with `Authorization: Bearer <token>`."""

from __future__ import annotations

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import ApiToken
from accounts.selectors import api_token_get_active


def request_token(request: Request) -> ApiToken | None:
    """The API token a request was authenticated with."""
    return request.auth if isinstance(request.auth, ApiToken) else None


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiToken, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.", code="bad_token")
        token = api_token_get_active(raw=header[1].decode(errors="replace"))
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or inactive token.", code="bad_token")
        return token, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
