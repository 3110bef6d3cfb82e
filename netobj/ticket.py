"""Tickets: ``netobj://HOST:PORT/SITE_ID/KEY``.

ASCII and URL-safe, so they survive files, e-mail and terminals. ``SITE_ID`` names the
incarnation of the offering site (fresh random id per process start) and ``KEY`` carries
128 random bits: it is both the name of the offer and the capability to take it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from netobj.errors import TicketError

SCHEME: Final = "netobj://"
#: Tickets of sites on the plain-TCP carrier (netobj.transport.tcp).
TCP_SCHEME: Final = "netobj+tcp://"
ID_CHARS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: base64url of 16 random bytes, unpadded.
ID_LENGTH: Final = 22
_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]+")
_HOST_RE: Final = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)")


@dataclass(frozen=True, slots=True)
class Ticket:
    host: str
    port: int
    site_id: str
    key: str
    carrier: str = "grpc"  # "grpc" (netobj://) or "tcp" (netobj+tcp://)

    @property
    def address(self) -> str:
        """The site's address as sites write it (``tcp:HOST:PORT`` on the TCP carrier)."""
        base = f"{self.host}:{self.port}"
        return f"tcp:{base}" if self.carrier == "tcp" else base

    def __str__(self) -> str:
        scheme = TCP_SCHEME if self.carrier == "tcp" else SCHEME
        return f"{scheme}{self.host}:{self.port}/{self.site_id}/{self.key}"


def format_ticket(address: str, site_id: str, key: str) -> str:
    carrier = "grpc"
    if address.startswith("tcp:"):
        carrier, address = "tcp", address[4:]
    host, _, port = address.rpartition(":")
    return str(Ticket(host, int(port), site_id, key, carrier))


def _check_id(value: str, what: str) -> None:
    if len(value) < ID_LENGTH:
        raise TicketError(
            f"ticket {what} {value!r} is too short: {len(value)} characters, expected at "
            f"least {ID_LENGTH}"
        )
    if not _ID_RE.fullmatch(value):
        raise TicketError(f"ticket {what} has characters outside [A-Za-z0-9_-]")


def parse_ticket(text: object) -> Ticket:
    """Parse a ticket; raises :class:`TicketError` naming the part that is wrong."""
    if not isinstance(text, str):
        raise TicketError(f"a ticket is a str, not {type(text).__name__}")
    text = text.strip()
    if not text.isascii():
        raise TicketError("ticket contains non-ASCII characters")
    if text.startswith(SCHEME):
        carrier, rest = "grpc", text[len(SCHEME):]
    elif text.startswith(TCP_SCHEME):
        carrier, rest = "tcp", text[len(TCP_SCHEME):]
    else:
        scheme = text.split("://", 1)[0] + "://" if "://" in text else text[:16]
        raise TicketError(f"ticket scheme must be {SCHEME!r} or {TCP_SCHEME!r}, got {scheme!r}")
    parts = rest.split("/")
    if len(parts) != 3:
        names = ["HOST:PORT", "SITE_ID", "KEY"]
        missing = names[len(parts) :] if len(parts) < 3 else []
        if missing:
            raise TicketError(f"ticket is missing its {' and '.join(missing)} part")
        raise TicketError("ticket has extra '/'-separated parts after KEY")
    hostport, site_id, key = parts
    host, sep, port_text = hostport.rpartition(":")
    if not sep or not host:
        raise TicketError(f"ticket address {hostport!r} is not HOST:PORT")
    if not _HOST_RE.fullmatch(host):
        raise TicketError(f"ticket host {host!r} is not a valid host name or address")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise TicketError(f"ticket port {port_text!r} is not a number from 1 to 65535")
    if not site_id:
        raise TicketError("ticket is missing its SITE_ID part")
    _check_id(site_id, "site id")
    if not key:
        raise TicketError("ticket is missing its KEY part")
    _check_id(key, "key")
    return Ticket(host, int(port_text), site_id, key, carrier)
