"""Refuse destination URLs that point into private, loopback or link-local networks."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class UnsafeDestination(Exception):
    """The URL may not be used; the message says why."""


NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo is not None:
        found.append(address.teredo[1])
    if address in NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _blocked(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Anything not globally routable: private, loopback, link-local, CGNAT (cloud metadata), reserved…"""
    if not address.is_global or address.is_multicast:
        return True
    return isinstance(address, ipaddress.IPv6Address) and any(_blocked(a) for a in _embedded(address))


def url_check(url: str, *, resolve: bool = True) -> None:
    """Raise UnsafeDestination unless every address the URL's host resolves to is public.

    Checked when a destination is saved and again before each push, so a DNS
    name that later points inside the network is caught too. (The HTTP client
    resolves the name again when it connects; a name whose answers flip between
    a public and a private address within that moment is not caught. Use
    address-based egress filtering as well where that matters.)
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
