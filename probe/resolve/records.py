"""What a DNS lookup gives: records, or a failure with a code and a reason. No dnspython here:
a run whose targets are all addresses imports neither dnspython nor asyncio."""

from __future__ import annotations

from enum import StrEnum

from probe.record import record


class Failure(StrEnum):
    NXDOMAIN = "nxdomain"  # the name does not exist
    NODATA = "nodata"  # the name exists, without records of this type
    SERVFAIL = "servfail"  # every server answered with an error code (SERVFAIL, REFUSED, ...)
    UNREACHABLE = "unreachable"  # no server could be reached at all
    TIMEOUT = "timeout"  # no answer within the lifetime
    CONFIG = "config"  # no usable resolver configuration
    ERROR = "error"  # anything else dnspython reports

    @property
    def temporary(self) -> bool:
        """RFC 5321 §5.1: a temporary error means queue and retry, not bounce."""
        return self in (Failure.SERVFAIL, Failure.UNREACHABLE, Failure.TIMEOUT)


class DnsError(Exception):
    """A lookup that gave no records; `message` says why, in one line."""

    def __init__(self, code: Failure, name: str, rdtype: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.name = name
        self.rdtype = rdtype
        self.message = message


@record(frozen=True, slots=True)
class MxRecord:
    preference: int
    exchange: str  # lower case without the final dot; "." for the root (a null MX)


@record(frozen=True, slots=True)
class Lookup:
    """The outcome of one query: records, or an error."""

    name: str
    rdtype: str
    addresses: tuple[str, ...] = ()  # A / AAAA, in the order the server gave them
    mx: tuple[MxRecord, ...] = ()
    canonical: str | None = None  # the name `name` is an alias (CNAME) of, if it is one
    error: DnsError | None = None
