"""Refuse destination URLs that point into private, loopback or link-local networks."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class UnsafeDestination(Exception):
    """The URL may not be used; the message says why."""


def _blocked(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def url_check(url: str, *, resolve: bool = True) -> None:
    """Raise UnsafeDestination unless every address the URL's host resolves to is public.

    Checked when a destination is saved and again before each push, so a DNS
    name that later points inside the network is caught too.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UnsafeDestination("The URL must be http(s) with a host.")
    if settings.DELIVERY_ALLOW_PRIVATE_NETWORKS:
        return
    host = parts.hostname
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if not resolve:
            return
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise UnsafeDestination(f"Cannot resolve {host}: {exc}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        if _blocked(address):
            raise UnsafeDestination(
                f"{host} resolves to {address}, a private, loopback or link-local address "
                "(set DELIVERY_ALLOW_PRIVATE_NETWORKS to allow it)."
            )
