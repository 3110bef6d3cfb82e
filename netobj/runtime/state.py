"""Who this site is and where it is in its life: shared by every runtime part.

One :class:`SiteState` per site, handed to each part at construction (as trio's Runner hands
its collaborators around). It holds no behaviour beyond making fresh keys.
"""

from __future__ import annotations

import threading
from base64 import urlsafe_b64encode
from collections.abc import Callable


def new_id(entropy: Callable[[int], bytes]) -> str:
    """128 random bits, url-safe base64 without padding (22 characters)."""
    return urlsafe_b64encode(entropy(16)).rstrip(b"=").decode("ascii")


class SiteState:
    """The site's identity (``id``, ``address`` once listening) and lifetime flags.

    ``closing``: aclose has begun (cached state held here goes home). ``closed``: no new
    work is accepted. ``lock`` guards the tables that any thread may touch (exports, tickets,
    variable and port exports)."""

    __slots__ = ("address", "closed", "closing", "entropy", "id", "lock")

    def __init__(self, entropy: Callable[[int], bytes]) -> None:
        self.entropy = entropy
        self.id = new_id(entropy)
        self.address = ""
        self.closing = False
        self.closed = False
        self.lock = threading.RLock()

    def new_id(self) -> str:
        return new_id(self.entropy)
