"""How many sessions a run may hold open, per server and per second (probe.session.fleet)."""

from __future__ import annotations

from probe.record import record

DEFAULT_PER_HOST = 2


@record(frozen=True, slots=True)
class Limits:
    concurrency: int = 8  # sessions (so sockets) at once, overall
    per_host: int = DEFAULT_PER_HOST  # sessions at once against one server (address and port)
    rate: float | None = None  # new sessions per second, overall; None: no limit
