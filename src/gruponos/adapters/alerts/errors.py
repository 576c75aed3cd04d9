"""Which channel failures are worth a retry."""

from __future__ import annotations

import socket


def unresolvable(exc: BaseException) -> bool:
    """The host name does not resolve (a configuration error, not a passing fault): anywhere
    in the exception's chain, as httpx wraps the resolver's error."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
