"""``python -m netobj [--host H] [--port P]``: an interactive console with a running site."""

from __future__ import annotations

import argparse

from netobj import repl


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m netobj", description=repl.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    repl.run(args.host, args.port)


if __name__ == "__main__":
    main()
