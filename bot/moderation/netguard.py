"""Refusing links that would make the bot, or a provider on the bot's behalf, fetch from a
private or internal address (server-side request forgery).

Members hand the bot URLs that something will fetch: LoRA links go to the provider as
`loras[].path` (fal and Replicate download them from inside their own networks), and the bot
itself reads CivitAI's models API and Discord's CDN. A link to `169.254.169.254`, `localhost`
or a `10.x` address would turn either into a probe of somebody's internal network.

`check_public_url(url)` is the rule for any link that leaves for a server we do not run:

- Absolute http(s), and unambiguous: no user info (`a@b`), no backslashes, whitespace or
  control characters, no percent-escapes in the host. URL parsers disagree about those, so the
  host checked here might not be the host that gets fetched.
- The host is normalised as URL parsers do before they connect: IDNA/UTS-46 (full-width
  `１２７.０.０.１` is 127.0.0.1), lower case, one trailing dot dropped; labels of 1-63 letters,
  digits, `-` or `_`.
- A literal IP must be globally routable (`is_global`, and not multicast, reserved or
  unspecified): `[::1]`, and every IPv4 spelling `inet_aton` reads (`2130706433`,
  `0x7f.0.0.1`, `0177.0.0.1`, `127.1`). An IPv4-mapped IPv6 address is judged as its IPv4
  address; NAT64, 6to4 and Teredo addresses must be public and carry a public IPv4 address. A
  host whose last label is a number (or 0x-hex) is an IPv4 address to WHATWG parsers, so one
  `inet_aton` can't read is refused rather than looked up as a name.
- A name must sit under a real ICANN public suffix with a label of its own (the snapshot
  bundled with `publicsuffixlist`, which never downloads at run time). That refuses
  single-label names (`localhost`, `fileserver`) and made-up suffixes (`.internal`, `.local`,
  `.lan`, `.corp`, `.home`, `.intranet`, `.test`, `.example`, `.invalid`, `.alt`); the
  special-use names that are on the list (`.arpa`, so `home.arpa`, and `.onion`) are refused
  by name, as are `.localhost` and `.internal` in case a future list adds them.
- The name is then resolved (getaddrinfo off the event loop, at most `RESOLVE_TIMEOUT_S`) and
  refused if ANY address is not public, so `127.0.0.1.nip.io`-style names are caught. A name
  that does not resolve here, or not in time, passes: the provider resolves it, not us. (The
  test machine has no DNS at all; a failed look-up there takes under a millisecond.) Callers
  keep the resolver as a seam (`resolver=`) so tests can answer for names.

Left to the fetching side: a name whose DNS answer changes after our look-up (DNS rebinding),
and a public server that redirects the provider inward. Where the bot itself follows
redirects it does so by hand with `guarded_get`: every hop is checked again by the caller's
rule, at most `MAX_REDIRECTS` of them, and credentials are not carried to another origin.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import itertools
import logging
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import idna
import yarl
from publicsuffixlist import PublicSuffixList

from bot.errors import InvalidRequest
from bot.i18n import N_, _

log = logging.getLogger(__name__)

RESOLVE_TIMEOUT_S = 2.0
MAX_REDIRECTS = 3
# (host, port) → the addresses it resolves to; raises OSError when it does not resolve.
Resolver = Callable[[str, int], Awaitable[list[str]]]
# Vets the URL about to be fetched (hop 0 is the one given, then each redirect); raises to stop.
HopCheck = Callable[[yarl.URL, int], Awaitable[None]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Origin = tuple[str, str, int]  # scheme, host, port

_AMBIGUOUS = re.compile(r"[\\\s\x00-\x1f\x7f]")
_LABEL = re.compile(r"^[a-z0-9_-]{1,63}$")
_NUMERIC = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
# Special-use names (RFC 6761, 6762, 7686, 8375, 9476) and common private suffixes; most are
# not on the public suffix list anyway.
_SPECIAL_SUFFIXES = frozenset(
    {"localhost", "local", "internal", "arpa", "onion", "test", "invalid", "example", "alt"}
    | {"home", "lan", "corp", "intranet", "private"}
)
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_ADDRESS_KINDS = (  # shown with `_`
    ("is_loopback", N_("{address} is a loopback address")),
    ("is_link_local", N_("{address} is a link-local address")),
    ("is_private", N_("{address} is a private-network address")),
    ("is_multicast", N_("{address} is a multicast address")),
    ("is_unspecified", N_("{address} is an unspecified address")),
    ("is_reserved", N_("{address} is a reserved address")),
)


class NotPublic(InvalidRequest):
    """A link the bot must not fetch or hand on: its host is, or may be, internal."""


class RedirectRefused(InvalidRequest):
    """A redirect the bot will not follow (too many hops, or an unreadable Location)."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, through the OS resolver in a worker thread."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@functools.cache
def _suffixes() -> PublicSuffixList:
    """Loaded on first use (about 50 ms); ICANN section only, unknown TLDs are not public."""
    return PublicSuffixList(only_icann=True, accept_unknown=False)


def _short(url: str) -> str:
    return url if len(url) <= 80 else url[:79] + "…"


def split_host(url: str) -> tuple[str, int]:
    """The normalised host and port `url` would connect to; NotPublic when it is not a link
    whose host can be told for sure."""
    shown = repr(_short(url))
    if _AMBIGUOUS.search(url):
        raise NotPublic(
            _(
                "{link} is not a link I can use: it has spaces, backslashes or control characters.",
                link=shown,
            )
        )
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise NotPublic(
            _("{link} is not a valid link (its host or port can't be read).", link=shown)
        ) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise NotPublic(_("{link} is not an http(s) link.", link=shown))
    return _normalise(parts.hostname, shown), port


def _normalise(host: str, shown: str) -> str:
    if ":" in host:  # an IPv6 literal; urlsplit took its brackets off
        return host
    if "%" in host:
        raise NotPublic(_("{link} has percent-escapes in its host name.", link=shown))
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise NotPublic(_("{link} does not have a valid host name.", link=shown)) from None
    host = host.lower()
    host = host[:-1] if host.endswith(".") else host
    if len(host) > 253 or not all(_LABEL.match(label) for label in host.split(".")):
        raise NotPublic(_("{link} does not have a valid host name.", link=shown))
    return host


def literal_ip(host: str) -> IPAddress | None:
    """The IP address a normalised host spells, None when it is a name."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise NotPublic(_("{host} is not a valid IPv6 address.", host=host)) from None
    if not _NUMERIC.match(host.rsplit(".", 1)[-1]):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        raise NotPublic(
            _("{host} is neither a valid IP address nor a domain name.", host=host)
        ) from None


def _carried(ip: IPAddress) -> list[IPAddress]:
    """`ip` and the IPv4 addresses inside it: an IPv4-mapped address is only its IPv4 one."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return [ip]
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    inside: list[IPAddress] = []
    if ip.sixtofour is not None:
        inside.append(ip.sixtofour)
    if ip.teredo is not None:
        inside.extend(ip.teredo)
    if ip in ipaddress.IPv6Network("64:ff9b::/96"):  # NAT64
        inside.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [*inside, ip]


def address_problem(ip: IPAddress) -> str | None:
    """Why `ip` is not a public address (e.g. "127.0.0.1 is a loopback address"), or None."""
    for address in _carried(ip):
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            return _("{address} has a zone index", address=address)
        for flag, kind in _ADDRESS_KINDS:
            if getattr(address, flag):
                return _(kind, address=address)
        if not address.is_global:
            return _("{address} is not a public address", address=address)
    return None


def name_problem(host: str) -> str | None:
    """Why the normalised name `host` is not a public DNS name, or None."""
    labels = host.split(".")
    if len(labels) < 2:
        return _("{host} is a single-label name, not a public domain name", host=host)
    if labels[-1] in _SPECIAL_SUFFIXES:
        return _("{host} is a local or special-use name, not a public domain name", host=host)
    if _suffixes().privatesuffix(host) is None:
        return _("{host} is not under a public domain suffix", host=host)
    return None


async def _resolved_problem(host: str, port: int, resolver: Resolver) -> str | None:
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            addresses = await resolver(host, port)
    except (OSError, TimeoutError, UnicodeError) as exc:
        # Not resolvable from here: whoever fetches it resolves it (and it passed the name rule).
        log.info("%s did not resolve here (%s); leaving it to the provider", host, exc)
        return None
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return _(
                "{host} resolves to {address!r}, which is not an IP address",
                host=host,
                address=address,
            )
        problem = address_problem(ip)
        if problem is not None:
            return _("{host} resolves to {problem}", host=host, problem=problem)
    return None


async def check_public_url(url: str, *, resolver: Resolver = system_resolver) -> None:
    """Raise NotPublic, naming the reason, unless `url` is an http(s) link to a public DNS
    name or a public IP address (the policy in the module docstring)."""
    host, port = split_host(url)
    ip = literal_ip(host)
    if ip is not None:
        problem = address_problem(ip)
    else:
        problem = name_problem(host) or await _resolved_problem(host, port, resolver)
    if problem is not None:
        raise NotPublic(
            _(
                "{link!r} points to a private/internal address ({problem}): links must lead to "
                "a public server.",
                link=_short(url),
                problem=problem,
            )
        )
    if "@" in urlsplit(url).netloc:  # parsers disagree about which `@` ends the user info
        raise NotPublic(
            _(
                "{link!r} carries a user name or password; give the plain link.",
                link=_short(url),
            )
        )


async def check_provider_link(
    ref: str, *, trusted: Collection[Origin] = (), resolver: Resolver = system_resolver
) -> None:
    """A reference a provider will fetch: CivitAI AIRs are names, not links (the provider
    looks them up at CivitAI); links on a `trusted` origin (the operator's configured CivitAI
    models API, whose download links are passed on) pass; anything else must be public."""
    if ref.startswith("urn:air:") or origin_of(ref) in trusted:
        return
    await check_public_url(ref, resolver=resolver)


def origin_of(url: str | yarl.URL) -> Origin | None:
    """(scheme, host, port) as aiohttp would connect, the default port filled in."""
    try:
        parsed = yarl.URL(url) if isinstance(url, str) else url
    except ValueError:
        return None
    if not parsed.absolute or not parsed.host or parsed.port is None:
        return None
    return (parsed.scheme.lower(), parsed.host.lower(), parsed.port)


@asynccontextmanager
async def guarded_get(
    session: aiohttp.ClientSession,
    url: str | yarl.URL,
    *,
    check: HopCheck,
    what: str = N_("The link"),  # shown with `_`
    max_redirects: int = MAX_REDIRECTS,
    **kwargs: Any,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """GET `url`, following redirects by hand so that `check` vets the URL given and every
    redirect target before anything is sent there; RedirectRefused past `max_redirects` hops.
    Authorization and cookies are not carried to another origin (aiohttp's own rule)."""
    target = yarl.URL(url) if isinstance(url, str) else url
    first_origin = target.origin()
    for hop in itertools.count():
        await check(target, hop)
        if target.origin() != first_origin and "headers" in kwargs:
            headers = kwargs["headers"] or {}
            kwargs["headers"] = {
                k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS
            }
        async with session.get(target, allow_redirects=False, **kwargs) as response:
            location = response.headers.get("Location")
            if response.status not in _REDIRECT_STATUSES or not location:
                yield response
                return
        if hop >= max_redirects:
            raise RedirectRefused(
                _(
                    "{what} redirected more than {most} times; I stopped following it.",
                    what=_(what),
                    most=max_redirects,
                )
            )
        try:
            target = target.join(yarl.URL(location))
        except ValueError:
            raise RedirectRefused(
                _("{what} redirected to an unreadable address.", what=_(what))
            ) from None
