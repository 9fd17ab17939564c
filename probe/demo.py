"""`smtp-probe demo`: a real SMTP server (aiosmtpd, from PyPI) on a free loopback port, in-process.

aiosmtpd is an optional dependency (the `demo` extra) and is imported only here.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

LOOPBACK = "127.0.0.1"


class DemoUnavailable(Exception):
    """The demo server cannot start; the message says what to install or fix."""


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def demo_server(host: str = LOOPBACK) -> Iterator[tuple[str, int]]:
    try:
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Sink
    except ImportError:
        raise DemoUnavailable("the demo needs aiosmtpd: pip install 'smtp-probe[demo]'") from None
    port = free_port(host)
    controller = Controller(Sink(), hostname=host, port=port)
    try:
        controller.start()
    except Exception as exc:  # aiosmtpd raises several kinds; all mean "could not start"
        raise DemoUnavailable(f"could not start aiosmtpd on {host}:{port}: {exc}") from None
    try:
        yield host, port
    finally:
        controller.stop()
