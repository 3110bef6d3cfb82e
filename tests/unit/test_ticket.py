from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import netobj
from netobj.ticket import ID_LENGTH, format_ticket, parse_ticket

SID = "A" * ID_LENGTH
KEY = "b-_9" * 6


def test_round_trip() -> None:
    text = format_ticket("127.0.0.1:4000", SID, KEY)
    assert text == f"netobj://127.0.0.1:4000/{SID}/{KEY}"
    t = parse_ticket(text)
    assert (t.host, t.port, t.site_id, t.key, t.address) == (
        "127.0.0.1", 4000, SID, KEY, "127.0.0.1:4000")
    assert parse_ticket(f"  {text}\n") == t  # pasted from a terminal
    assert parse_ticket(f"netobj://[::1]:5/{SID}/{KEY}").host == "[::1]"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"http://h:1/{SID}/{KEY}", "scheme"),
        (f"netobj:/h:1/{SID}/{KEY}", "scheme"),
        ("netobj://h:1", "missing its SITE_ID and KEY"),
        (f"netobj://h:1/{SID}", "missing its KEY"),
        (f"netobj://h:1/{SID}/", "missing its KEY"),
        (f"netobj://h:1/{SID}/{KEY}/x", "extra"),
        (f"netobj://h/{SID}/{KEY}", "HOST:PORT"),
        (f"netobj://:1/{SID}/{KEY}", "HOST:PORT"),
        (f"netobj://h:0/{SID}/{KEY}", "port"),
        (f"netobj://h:70000/{SID}/{KEY}", "port"),
        (f"netobj://h:x/{SID}/{KEY}", "port"),
        (f"netobj://h_b!:1/{SID}/{KEY}", "host"),
        (f"netobj://h:1/short/{KEY}", "site id 'short' is too short"),
        (f"netobj://h:1/{SID}/short", "key 'short' is too short"),
        (f"netobj://h:1/{SID}/{'k' * 21}=", "key has characters"),
        (f"netobj://h:1/{SID}/{KEY}é", "non-ASCII"),
        ("", "scheme"),
    ],
)
def test_malformed_tickets_say_which_part(text: str, message: str) -> None:
    with pytest.raises(netobj.TicketError, match=message):
        parse_ticket(text)


def test_not_a_string() -> None:
    with pytest.raises(netobj.TicketError, match="str"):
        parse_ticket(b"netobj://")


@given(st.text(max_size=80))
def test_arbitrary_text_parses_or_raises_ticket_error(text: str) -> None:
    try:
        parse_ticket(text)
    except netobj.TicketError:
        pass


async def test_site_take_refuses_malformed_ticket(site: netobj.Site) -> None:
    with pytest.raises(netobj.TicketError, match="scheme"):
        site.take("pyro://nope")
