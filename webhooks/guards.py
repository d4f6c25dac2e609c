"""Per-source guards: IP allow/deny lists (a permission) and a rate limit (a throttle)."""

from __future__ import annotations

import ipaddress
import logging
import time
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework import permissions, throttling
from rest_framework.request import Request

from webhooks.authentication import request_source
from webhooks.models import Source

logger = logging.getLogger(__name__)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=256)
def parse_networks(cidrs: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def client_ip(request: Request) -> str:
    """The caller's address: REMOTE_ADDR, or the X-Forwarded-For entry our own proxies added."""
    proxies: int = settings.TRUSTED_PROXY_COUNT
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR") or "")
    if proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return str(request.META.get("REMOTE_ADDR") or "")


def ip_in(ip: str, cidrs: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in parse_networks(tuple(cidrs)))


class SourceIpPermission(permissions.BasePermission):
    message = "Requests from this address are not accepted for this source."
    code = "ip_not_allowed"

    def has_permission(self, request: Request, view: Any) -> bool:
        source = request_source(request)
        ip = client_ip(request)
        if source.denied_ips and ip_in(ip, source.denied_ips):
            return False
        if source.allowed_ips:
            return ip_in(ip, source.allowed_ips)
        # `none` auth is only ever allowed together with an allow-list.
        return source.auth_mode != Source.AuthMode.NONE


class SourceRateThrottle(throttling.BaseThrottle):
    """A fixed one-minute window per source for webhooks (POSTs), counted in the shared cache."""

    def allow_request(self, request: Request, view: Any) -> bool:
        source = request_source(request)
        limit = source.rate_limit_per_minute
        # A GET (PYBOSSA's URL check, anybody's probe) must not use up the platform's webhooks.
        if not limit or request.method != "POST":
            return True
        now = time.time()
        window = int(now // 60)
        key = f"webhooks:rate:{source.pk}:{window}"
        self._wait = (window + 1) * 60 - now
        try:
            cache.add(key, 0, timeout=120)
            try:
                count = cache.incr(key)
            except ValueError:
                # The key expired between add and incr: this is the window's first hit.
                cache.add(key, 1, timeout=120)
                count = 1
        except Exception:
            # Without the shared counter, accept rather than lose webhooks;
            # nginx still limits per client address.
            logger.warning("rate limit counter unavailable; request allowed", extra={"source": source.slug})
            return True
        return count <= limit

    def wait(self) -> float:
        return max(1.0, self._wait)
