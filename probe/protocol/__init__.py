"""Protocol core: bytes in, replies out, no sockets (h11 style)."""

from probe.protocol.ehlo import Capabilities, parse_ehlo
from probe.protocol.encode import EscapeError, decode_escapes, encode_command, encode_data
from probe.protocol.enhanced import (
    ENHANCED_PROBLEM_KINDS,
    EnhancedCode,
    EnhancedParse,
    check_enhanced,
    parse_enhanced,
)
from probe.protocol.reader import (
    NEED_DATA,
    PROBLEM_KINDS,
    CapExceeded,
    Closed,
    NeedData,
    ReaderEvent,
    ReplyReader,
)
from probe.protocol.reply import Reply, ReplyLine, Severity, SyntaxProblem

__all__ = [
    "ENHANCED_PROBLEM_KINDS",
    "NEED_DATA",
    "PROBLEM_KINDS",
    "CapExceeded",
    "Capabilities",
    "Closed",
    "EnhancedCode",
    "EnhancedParse",
    "EscapeError",
    "NeedData",
    "ReaderEvent",
    "Reply",
    "ReplyLine",
    "ReplyReader",
    "Severity",
    "SyntaxProblem",
    "check_enhanced",
    "decode_escapes",
    "encode_command",
    "encode_data",
    "parse_ehlo",
    "parse_enhanced",
]
