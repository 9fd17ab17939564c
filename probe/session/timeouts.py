"""How long the client waits for each kind of reply: RFC 5321 §4.5.3.2's figures, or short ones.

The RFC gives a client's minimum per phase (a server may take that long and still be correct);
the default `short` profile waits 30 s for every reply, which suits interactive and CI use but
can call a slow, conformant server late. `--timeouts rfc` waits what the RFC allows.
"""

from __future__ import annotations

from enum import StrEnum

from probe.record import record


class Phase(StrEnum):
    """What the client is waiting for; each phase has its own timeout."""

    GREETING = "greeting"
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA_INIT = "DATA initiation"
    DATA_BLOCK = "data block"
    DATA_END = "DATA termination"
    COMMAND = "command"  # every other command: RFC 5321 names no figure
    TLS = "TLS handshake"


@record(frozen=True, slots=True)
class RfcFigure:
    seconds: float
    section: str


# RFC 5321 §4.5.3.2.1-7. Commands with no figure of their own get the server timeout (§4.5.3.2.7:
# a server waits at least 5 minutes for the next command, so a client waiting as long for a
# reply is not unreasonable).
RFC_FIGURES: dict[Phase, RfcFigure] = {
    Phase.GREETING: RfcFigure(300.0, "RFC 5321 §4.5.3.2.1"),
    Phase.MAIL: RfcFigure(300.0, "RFC 5321 §4.5.3.2.2"),
    Phase.RCPT: RfcFigure(300.0, "RFC 5321 §4.5.3.2.3"),
    Phase.DATA_INIT: RfcFigure(120.0, "RFC 5321 §4.5.3.2.4"),
    Phase.DATA_BLOCK: RfcFigure(180.0, "RFC 5321 §4.5.3.2.5"),
    Phase.DATA_END: RfcFigure(600.0, "RFC 5321 §4.5.3.2.6"),
    Phase.COMMAND: RfcFigure(300.0, "RFC 5321 §4.5.3.2.7 (server timeout)"),
    Phase.TLS: RfcFigure(300.0, "RFC 5321 §4.5.3.2.7 (server timeout)"),
}

SHORT = 30.0
PROFILES = ("short", "rfc")

# Which phase a command's reply belongs to (by code-table name).
_COMMAND_PHASE = {"MAIL": Phase.MAIL, "RCPT": Phase.RCPT, "DATA": Phase.DATA_INIT}


def phase_of(command: str) -> Phase:
    return _COMMAND_PHASE.get(command, Phase.COMMAND)


@record(frozen=True, slots=True)
class Timeouts:
    """Seconds per phase: `profile` ("short" or "rfc"), or `override` for every phase."""

    profile: str = "short"
    override: float | None = None

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown timeout profile {self.profile!r}")

    @property
    def default_deadline(self) -> float:
        """The whole session's limit unless --deadline says otherwise: 5 min for the short
        profile; an hour for rfc, which lets a whole session take the RFC's figures."""
        return 3600.0 if self.profile == "rfc" else 300.0

    def limit(self, phase: Phase, step_timeout: float | None = None) -> float:
        """A step's own `timeout:` first, then --timeout, then the profile's figure."""
        if step_timeout is not None:
            return step_timeout
        if self.override is not None:
            return self.override
        return RFC_FIGURES[phase].seconds if self.profile == "rfc" else SHORT

    def describe(self, phase: Phase, waited: float) -> str:
        """The phase and the RFC's figure, for a timeout message: so a user can tell "slower
        than my budget" from "slower than the RFC allows"."""
        figure = RFC_FIGURES[phase]
        minutes = f"{figure.seconds / 60:g} min"
        if waited >= figure.seconds:
            return f"{phase} phase; longer than the {minutes} of {figure.section}"
        return f"{phase} phase; {figure.section} allows the server {minutes}"
