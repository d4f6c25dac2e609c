"""DRF authentication of a webhook by its source's auth mode."""

from __future__ import annotations

import hmac
import time

from django.conf import settings
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from common import standard_webhooks
from webhooks.models import Source


def request_source(request: Request) -> Source:
    """The source the webhook view resolved before authentication runs."""
    source: Source = request.parser_context["view"].source
    return source


class SourceAuthentication(authentication.BaseAuthentication):
    """Standard Webhooks signature, shared token, or none, as the source says.

    Returns (source, None): the authenticated party is the source itself.
    """

    def authenticate(self, request: Request) -> tuple[Source, None]:
        source = request_source(request)
        if source.auth_mode == Source.AuthMode.STANDARD:
            self._check_signature(request, source)
        elif source.auth_mode == Source.AuthMode.TOKEN:
            self._check_token(request, source)
        return source, None

    @staticmethod
    def carries_credentials(request: Request) -> bool:
        """Whether the request brings credentials of its source's kind: a token (token auth) or a signature."""
        source = request_source(request)
        if source.auth_mode == Source.AuthMode.TOKEN:
            bearer = [part.lower() for part in authentication.get_authorization_header(request).split()[:1]] == [
                b"bearer"
            ]
            return bool(request.query_params.get("token")) or bearer
        if source.auth_mode == Source.AuthMode.STANDARD:
            return bool(request.headers.get("webhook-signature"))
        return False

    def authenticate_header(self, request: Request) -> str:
        source = request_source(request)
        return 'Bearer realm="tally"' if source.auth_mode == Source.AuthMode.TOKEN else 'Webhook realm="tally"'

    @staticmethod
    def _check_signature(request: Request, source: Source) -> None:
        try:
            standard_webhooks.verify(
                source.verifying_secrets,
                msg_id=request.headers.get("webhook-id"),
                timestamp=request.headers.get("webhook-timestamp"),
                signature_header=request.headers.get("webhook-signature"),
                body=request.body,
                now=time.time(),
                tolerance=settings.WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS,
            )
        except standard_webhooks.SignatureError as exc:
            raise exceptions.AuthenticationFailed(str(exc), code=exc.code) from None

    @staticmethod
    def _check_token(request: Request, source: Source) -> None:
        header = authentication.get_authorization_header(request).split()
        if len(header) == 2 and header[0].lower() == b"bearer":
            given = header[1]
        else:
            given = request.query_params.get("token", "").encode()
        if not given:
            raise exceptions.AuthenticationFailed(
                "Send the source token as `Authorization: Bearer <token>` or `?token=<token>`.",
                code="missing_token",
            )
        # Every accepted token is compared, so the time taken does not tell which one matched.
        matches = [hmac.compare_digest(given, token.encode()) for token in source.accepted_tokens]
        if not any(matches):
            raise exceptions.AuthenticationFailed("Invalid token.", code="bad_token")
