"""How reporters show what went over the wire: one line, control bytes made visible."""

from __future__ import annotations

from probe.protocol.reply import printable
from probe.results import Exchange


def sent_text(exchange: Exchange) -> str:
    """The command as sent, without its final CRLF; any other CR, LF, NUL or 8-bit byte shown
    as \\xHH (a raw step's bare LF must be visible). Message data is summarised."""
    if exchange.command == "DATA-END":
        source = f" from {exchange.streamed.file}" if exchange.streamed is not None else ""
        return f"<message data{source}, {exchange.size} bytes>"
    data = exchange.sent
    if data.endswith(b"\r\n"):
        data = data[:-2]
    return printable(data)
