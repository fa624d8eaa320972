"""Fetching a web page safely: http(s) only, public addresses only (unless allowed), at most
five redirects, a size cap while reading, a deadline, and HTML only."""

import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from qa.core.errors import BackendError, InputError, QAError

MAX_REDIRECTS = 5
HTML_TYPES = ("text/html", "application/xhtml+xml")
USER_AGENT = "qa/0.1 (question answering over a folder of documents)"
ALLOW_HINT = "set QA_ALLOW_PRIVATE_URLS=1 to allow it"


@dataclass(frozen=True)
class Fetched:
    """A page as the server sent it: the address asked for, where it ended up, its bytes."""

    url: str
    final_url: str
    content: bytes


def public(address: str) -> bool:
    """Whether an IP address is on the public internet: not loopback, private, link-local,
    multicast, reserved, unspecified or shared (carrier-grade NAT)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def check_addresses(host: str, addresses: list[str]) -> None:
    """Refuse `host` if any of the addresses it resolves to is not public."""
    for address in addresses:
        if not public(address):
            shown = host if host == address else f"{host} ({address})"
            raise InputError(f"{shown} resolves to a private address; {ALLOW_HINT}")


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (an address stands for itself), in the resolver's
    order; one clear line if it resolves to none."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BackendError(f"the name {host} cannot be resolved ({exc})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend, checking the address rule when it connects: the name is
    resolved here, every address it resolves to is checked, and the connection goes to one
    of the addresses checked, not to a second lookup. So a redirect hop is checked like the
    first request, and a name cannot resolve to a public address for the check and to a
    private one for the connection (DNS rebinding). What remains: the resolver itself (no
    timeout of ours), and TLS names checked against the name, not the address, as usual."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, *args: Any, **kwargs: Any
    ) -> httpcore.NetworkStream:
        addresses = resolve(host, port)
        if not self.allow_private:
            check_addresses(host, addresses)
        failure: Exception = BackendError(f"the name {host} resolves to no address")
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, *args, **kwargs)
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over a GuardedBackend; no proxy from the environment, since the
    address checked must be the one connected to."""

    def __init__(self, allow_private: bool) -> None:
        super().__init__(trust_env=False)
        # httpx builds its httpcore pool without a way to pass a network backend
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=GuardedBackend(allow_private),
        )


def web_address(url: str) -> httpx.URL:
    """The address as given, without its #fragment; only whole http(s) addresses."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise InputError(f"{url} is not a web address ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InputError(f"{url} is not an http:// or https:// address; qa fetches only those")
    return parsed.copy_with(fragment=None)


def fetch(url: str, timeout: float, max_bytes: int, allow_private: bool = False) -> Fetched:
    """The page at `url`, following up to five redirects, each checked like the first.

    Every refusal or failure is a QAError whose message starts with the address."""
    first = web_address(url)
    current, deadline = first, time.monotonic() + timeout
    headers = {"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml;q=0.9"}
    transport = GuardedTransport(allow_private)
    try:
        with httpx.Client(transport=transport, timeout=timeout, headers=headers) as client:
            for _ in range(MAX_REDIRECTS + 1):
                with client.stream("GET", current) as response:
                    if not response.is_redirect:
                        content = _read_page(response, max_bytes, deadline, timeout)
                        return Fetched(str(first), str(current), content)
                    location = response.headers.get("location", "")
                current = web_address(str(current.join(location)))
    except QAError as exc:
        via = f"redirected to {current}: " if current != first else ""
        raise type(exc)(f"{first}: {via}{exc}") from None
    except httpx.TimeoutException:
        raise BackendError(f"{first}: no answer within {timeout:g} s (QA_WEB_TIMEOUT)") from None
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise BackendError(f"{first}: the page could not be fetched ({reason})") from None
    raise InputError(f"{first}: it redirects more than {MAX_REDIRECTS} times")


def _read_page(response: httpx.Response, max_bytes: int, deadline: float, timeout: float) -> bytes:
    """The body of an HTML answer, read until `max_bytes` or the deadline and no further."""
    if response.status_code >= 400:
        error = BackendError if response.status_code >= 500 else InputError
        raise error(f"the server answered {response.status_code} {response.reason_phrase}")
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in HTML_TYPES:
        said = f"it is {kind}" if kind else "the server did not say what it is (no Content-Type)"
        raise InputError(f"{said}, not a web page (qa adds text/html pages)")
    too_large = InputError(
        f"the page is larger than {max_bytes / 2**20:.3g} MB (QA_MAX_FILE_MB); nothing was saved"
    )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    parts, size = [], 0
    for part in response.iter_bytes():  # decompressed: a small gzip cannot unpack to gigabytes
        size += len(part)
        if size > max_bytes:
            raise too_large
        if time.monotonic() > deadline:
            raise BackendError(f"the page took longer than {timeout:g} s (QA_WEB_TIMEOUT)")
        parts.append(part)
    return b"".join(parts)
