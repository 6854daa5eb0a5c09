"""A local port something already listens on, for tests of refusals."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def taken_port() -> Iterator[int]:
    """A loopback port held by a listening socket for the block."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])
