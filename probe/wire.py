"""Whether text has a wire form: SMTP sends bytes, and a string holding a lone surrogate (from a
YAML "\\uD800" escape, or a byte that was not UTF-8 in an argument or environment variable, which
Python keeps as U+DC80-U+DCFF) has none. Such text is refused before anything is sent."""

from __future__ import annotations


def no_wire_form(text: str) -> str | None:
    """Why `text` cannot be encoded as UTF-8 (one phrase), or None when it can."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        point = ord(char)
        if 0xDC80 <= point <= 0xDCFF:
            return f"is not valid UTF-8 (byte 0x{point - 0xDC00:02X} at offset {exc.start})"
        return f"holds U+{point:04X}, a lone surrogate with no UTF-8 form (offset {exc.start})"
    return None
