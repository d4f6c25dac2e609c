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


def _public_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, if all of them are public; UnsafeDestination otherwise."""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise UnsafeDestination(f"Cannot resolve {host}: {exc}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        if _blocked(address):
            raise UnsafeDestination(
                f"{host} resolves to {address}, a private, loopback or link-local address "
                "(set DELIVERY_ALLOW_PRIVATE_NETWORKS to allow it)."
            )
    return [str(address) for address in addresses]


def url_check(url: str, *, resolve: bool = True) -> None:
    """Raise UnsafeDestination unless every address the URL's host resolves to is public.

    Checked when a destination is saved and before each push; the push then
    connects only to an address checked at connect time (`pinned_address`),
    so a DNS answer that flips to a private address in between (rebinding)
    is refused as well.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UnsafeDestination("The URL must be http(s) with a host.")
    if settings.DELIVERY_ALLOW_PRIVATE_NETWORKS:
        return
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:
        if not resolve:
            return
    _public_addresses(parts.hostname, parts.port or 443)


def pinned_address(host: str, port: int) -> str:
    """The address to connect to for `host`: resolved now and checked, so the socket goes where the check looked."""
    if settings.DELIVERY_ALLOW_PRIVATE_NETWORKS:
        return host
    return _public_addresses(host, port)[0]
