"""An interactive console with a running site.

``python -m netobj`` starts a background site (its loop in a daemon thread) and a Python
console where ``site`` and ``netobj`` are defined. Remote calls return Vars; ``.wait()``
blocks the console until they are bound::

    >>> c = site.take("netobj://127.0.0.1:41233/...").wait()
    >>> c.get().wait()
    100
"""

from __future__ import annotations

import code
import sys
from typing import Any

import netobj


def banner(site: netobj.Site) -> str:
    return (
        f"netobj {netobj.__version__} console - site {site.id} listening on {site.address}\n"
        "Names: site, netobj. Remote calls return Vars: use var.wait(timeout=...).\n"
        "Example: c = site.take(TICKET).wait(); c.get().wait()"
    )


def run(host: str = "127.0.0.1", port: int = 0, namespace: dict[str, Any] | None = None) -> None:
    site = netobj.Site.background(host=host, port=port)
    ns: dict[str, Any] = {"site": site, "netobj": netobj, "__name__": "__console__"}
    ns.update(namespace or {})
    try:
        code.InteractiveConsole(ns).interact(banner=banner(site), exitmsg="closing the site")
    finally:
        site.close()
        sys.stdout.flush()
