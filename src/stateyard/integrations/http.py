"""Outbound HTTP that cannot be turned against the network it runs in.

Every TCP connection, including each redirect hop, goes through :class:`GuardedBackend`: the
host is resolved once, each address is classified, and the socket is opened to an address
that passed the check (so a second DNS answer cannot swap in an internal address). Loopback,
private, link-local (cloud metadata), shared, multicast and reserved ranges are refused unless
``STATEYARD_HTTP_ALLOW`` names them by CIDR or host name. Redirects are followed here, one hop
at a time, at most :data:`MAX_REDIRECTS` times.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx
import msgspec

from stateyard.config import Settings
from stateyard.core.errors import FieldError, ProblemError, invalid

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Resolves (host, port) to the addresses to try; injectable so tests need no DNS.
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

MAX_REDIRECTS = 5
MAX_RESPONSE_BYTES = 5 * 1024 * 1024
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 60.0
SCHEMES = ("http", "https")

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
#: Ranges no outbound request may reach unless allowed, most specific first, with the reason shown.
REFUSED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "unspecified"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "carrier-grade NAT"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "reserved"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "reserved"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),
)
REFUSED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("::/96"), "reserved"),  # IPv4-compatible (deprecated)
    (_V6("64:ff9b:1::/48"), "private"),  # local-use NAT64
    (_V6("100::/64"), "reserved"),  # discard-only
    (_V6("2001::/23"), "reserved"),  # IETF protocol assignments, Teredo
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("fc00::/7"), "private"),  # unique local
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "private"),  # site-local (deprecated)
    (_V6("ff00::/8"), "multicast"),
)
_GLOBAL_UNICAST_V6 = _V6("2000::/3")
_NAT64 = _V6("64:ff9b::/96")
_SIX_TO_FOUR = _V6("2002::/16")


def embedded_v4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return address.sixtofour
    return None


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` is off limits (``"loopback"``, ``"private"``, ...), or None for a public address."""
    inner = embedded_v4(address)
    if inner is not None:
        return refusal(inner)
    if isinstance(address, ipaddress.IPv4Address):
        return next((reason for net, reason in REFUSED_V4 if address in net), None)
    reason = next((reason for net, reason in REFUSED_V6 if address in net), None)
    if reason is None and address not in _GLOBAL_UNICAST_V6:
        return "reserved"
    return reason


def normalized(address: IPAddress) -> IPAddress:
    """IPv4-mapped IPv6 addresses (``::ffff:127.0.0.1``) as the IPv4 address they are."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _host_key(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


class AllowList:
    """Networks (``10.0.0.0/8``, ``127.0.0.1``) and host names exempt from the refusal."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.hosts: set[str] = set()
        for entry in entries:
            text = entry.strip()
            if not text:
                continue
            try:
                self.networks.append(ipaddress.ip_network(text.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            host = _host_key(text)
            if not host or any(ch in host for ch in "/:@ ") or not all(part for part in host.split(".")):
                raise ValueError(f"STATEYARD_HTTP_ALLOW: '{entry}' is neither a CIDR nor a host name")
            self.hosts.add(host)

    def allows_host(self, host: str) -> bool:
        return _host_key(host) in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        address = normalized(address)
        return any(address.version == net.version and address in net for net in self.networks)


class OutboundRefused(Exception):
    """Every address ``host`` resolved to is off limits."""

    def __init__(self, host: str, refused: list[tuple[IPAddress, str]]) -> None:
        self.host = host
        self.refused = refused
        shown = ", ".join(f"{address} ({reason})" for address, reason in refused)
        super().__init__(f"'{host}' resolves only to refused addresses: {shown}")


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    """The host's addresses in the system resolver's order; a literal address is used as it is."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:  # gaierror, a name IDNA cannot encode, ...
        raise httpcore.ConnectError(f"cannot resolve '{host}': {exc}") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def checked_addresses(host: str, addresses: list[IPAddress], allow: AllowList) -> list[IPAddress]:
    """The addresses of ``host`` that may be reached; raises :class:`OutboundRefused` if none may."""
    if allow.allows_host(host):
        return addresses
    permitted: list[IPAddress] = []
    refused: list[tuple[IPAddress, str]] = []
    for address in addresses:
        reason = refusal(address)
        if reason is None or allow.allows_address(address):
            permitted.append(address)
        else:
            refused.append((address, reason))
    if not permitted:
        raise OutboundRefused(host, refused)
    return permitted


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses that passed :func:`checked_addresses`."""

    def __init__(
        self,
        allow: AllowList,
        resolve: Resolver = system_resolve,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow = allow
        self.resolve = resolve
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self.resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving '{host}' timed out") from None
        if not addresses:
            raise httpcore.ConnectError(f"'{host}' has no address")
        error: Exception | None = None
        for address in checked_addresses(host, addresses, self.allow):
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("outbound HTTP does not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose every connection is guarded."""

    def __init__(self, backend: GuardedBackend, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx has no option for the network backend: replace the pool it built with one that has ours.
        self._pool = httpcore.AsyncConnectionPool(ssl_context=ssl_context, network_backend=backend)


class HttpResult(msgspec.Struct):
    status: int
    headers: dict[str, str]
    body: Any
    url: str


def _problem(status: int, code: str, title: str, detail: str, **extensions: Any) -> ProblemError:
    return ProblemError(status, code, title, detail, **extensions)


def _refused_problem(exc: OutboundRefused, url: str) -> ProblemError:
    first_address, first_reason = exc.refused[0]
    detail = (
        f"Outbound HTTP to {exc.host} is refused: it resolves to {first_address} ({first_reason}). "
        "Allow it with STATEYARD_HTTP_ALLOW (a CIDR or a host name) if it is meant to be reached."
    )
    return ProblemError(
        422,
        "outbound-refused",
        "Outbound address refused",
        detail,
        errors=[FieldError("url", "refused_address", detail)],
        url=url,
        host=exc.host,
        addresses=[{"address": str(a), "reason": r} for a, r in exc.refused],
    )


def check_url(url: str, field: str = "url") -> httpx.URL:
    """An absolute http(s) URL, or a 422 naming ``field``."""
    try:
        parsed = httpx.URL(url)
        host = parsed.host  # decoding an IDNA host can fail too
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise invalid([FieldError(field, "invalid_url", f"not a URL: {exc}")]) from None
    if parsed.scheme not in SCHEMES:
        shown = parsed.scheme or "none"
        raise invalid([FieldError(field, "invalid_url", f"only http and https URLs are allowed (scheme: {shown})")])
    if not host:
        raise invalid([FieldError(field, "invalid_url", "the URL has no host")])
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise invalid([FieldError(field, "invalid_url", f"port {parsed.port} is out of range")])
    return parsed


def _body(response: httpx.Response, content: bytes) -> Any:
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            return msgspec.json.decode(content)
        except (msgspec.DecodeError, RecursionError):
            pass  # not usable as JSON: the text is still the answer
    if not content:
        return ""
    return content.decode(response.encoding or "utf-8", errors="replace")


class HttpClient:
    """Sends one request at a time through the guard and answers problems for every failure."""

    def __init__(self, settings: Settings, *, resolve: Resolver = system_resolve) -> None:
        self.allow = AllowList(settings.http_allow)
        self.resolve = resolve
        self._ssl_context: ssl.SSLContext | None = None

    def _ssl(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context(trust_env=False)
        return self._ssl_context

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, Any] | None = None,
        time_limit: float = DEFAULT_TIMEOUT,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> HttpResult:
        check_url(url)
        content: bytes | None = None
        if json is not None:
            try:
                content = msgspec.json.encode(json)
            except (msgspec.EncodeError, TypeError) as exc:
                raise invalid([FieldError("json", "invalid", f"cannot be sent as JSON: {exc}")]) from None
            headers = dict(headers or {})
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        transport = GuardedTransport(GuardedBackend(self.allow, self.resolve), self._ssl())
        current = url
        try:
            async with (
                asyncio.timeout(time_limit),
                httpx.AsyncClient(
                    transport=transport, trust_env=False, timeout=time_limit, follow_redirects=False
                ) as client,
            ):
                # httpx would replace the URL's own query with ``params``: add them to it instead.
                target = httpx.URL(url).copy_merge_params(params) if params else url
                request = client.build_request(method, target, headers=headers, content=content, data=data)
                for hop in range(MAX_REDIRECTS + 1):
                    current = str(request.url)
                    response = await client.send(request, stream=True)
                    try:
                        if response.next_request is None:
                            body = _body(response, await _read_capped(response, max_bytes, current))
                            return HttpResult(response.status_code, dict(response.headers), body, current)
                        if hop == MAX_REDIRECTS:
                            raise _problem(
                                502,
                                "too-many-redirects",
                                "Too many redirects",
                                f"{url} redirected more than {MAX_REDIRECTS} times.",
                                url=url,
                            )
                        request = response.next_request
                        try:
                            check_url(str(request.url))
                        except ProblemError as exc:
                            reason = exc.errors[0].message if exc.errors else exc.detail
                            raise _problem(
                                502,
                                "upstream-error",
                                "Bad redirect",
                                f"{current} redirected to a URL that is not followed ({reason}).",
                                url=current,
                            ) from None
                    finally:
                        await response.aclose()
        except OutboundRefused as exc:
            raise _refused_problem(exc, current) from None
        except (TimeoutError, httpx.TimeoutException):
            raise _problem(
                504,
                "upstream-timeout",
                "Upstream timeout",
                f"{current} did not answer within {time_limit:g} s.",
                url=current,
            ) from None
        except (httpx.ConnectError, OSError) as exc:
            raise _problem(
                502,
                "upstream-unreachable",
                "Upstream unreachable",
                f"Could not connect to {current}: {exc}",
                url=current,
            ) from None
        except (httpx.LocalProtocolError, httpx.InvalidURL) as exc:
            raise invalid([FieldError("headers", "invalid", f"the request cannot be sent: {exc}")]) from None
        except httpx.HTTPError as exc:
            raise _problem(
                502, "upstream-error", "Upstream error", f"{current} answered badly: {exc}", url=current
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover


async def _read_capped(response: httpx.Response, max_bytes: int, url: str) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(url, max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(url, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(url: str, max_bytes: int) -> ProblemError:
    return _problem(
        502,
        "upstream-too-large",
        "Response too large",
        f"{url} answered with more than {max_bytes // (1024 * 1024)} MB; the limit protects the server.",
        url=url,
        max_bytes=max_bytes,
    )
