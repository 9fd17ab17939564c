"""`--shard I/N`: which targets one of N machines probes.

A target belongs to shard I when a stable hash of its server falls there: the most preferred MX
host for a domain (the first name in order among the lowest preference, so the random order of
equal preferences does not move it), the host for `NAME:PORT`, the address for an IP target. All
sessions to one server stay in one shard, so its per-host limit holds across machines, and
every target lands in exactly one shard.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from probe.record import record

if TYPE_CHECKING:
    from probe.resolve import TargetPlan


@record(frozen=True, slots=True)
class Shard:
    index: int  # 0-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, plan: TargetPlan) -> bool:
        return stable_hash(server_key(plan)) % self.count == self.index


def parse_shard(text: str) -> Shard:
    """`I/N` with 0 <= I < N (Kubernetes' JOB_COMPLETION_INDEX counts from 0); ValueError."""
    index, sep, count = text.partition("/")
    if not (sep and index.isdigit() and count.isdigit() and 0 <= int(index) < int(count)):
        raise ValueError(f"--shard {text!r}: expected I/N with 0 <= I < N, as in 0/4")
    return Shard(int(index), int(count))


def server_key(plan: TargetPlan) -> str:
    """The server a target's sessions go to, as a name that is the same on every machine."""
    if plan.target.is_address:  # the address as the plan wrote it (::1, not 0:0::1)
        return (plan.hosts[0].name if plan.hosts else plan.target.host).lower()
    preferences = [h.preference for h in plan.hosts if h.preference is not None]
    if preferences:
        best = min(preferences)
        return min(h.name for h in plan.hosts if h.preference == best).lower()
    return plan.target.host.lower().rstrip(".")


def stable_hash(key: str) -> int:
    """The same on every machine and Python (unlike hash(), which is salted per process)."""
    return zlib.crc32(key.encode("utf-8", "surrogateescape"))
