"""One handler per step kind, found through one table. A handler is a generator: it plays one
step through the session's helpers (which yield the driver's actions) and records its result.

Adding a step kind means one module here and one row below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from probe.scenario.model import Step, StepKind
from probe.session.handlers import auth, bdat, command, connect, data, idle, pipeline, starttls

if TYPE_CHECKING:
    from probe.session.machine import Play, Session

Handler = Callable[[Step, "Session"], "Play[None]"]

HANDLERS: dict[StepKind, Handler] = {
    StepKind.CONNECT: connect.play,
    StepKind.EHLO: command.play,
    StepKind.HELO: command.play,
    StepKind.MAIL: command.play,
    StepKind.RCPT: command.play,
    StepKind.RSET: command.play,
    StepKind.VRFY: command.play,
    StepKind.EXPN: command.play,
    StepKind.HELP: command.play,
    StepKind.NOOP: command.play,
    StepKind.QUIT: command.play,
    StepKind.SEND: command.play,
    StepKind.DATA: data.play,
    StepKind.PIPELINE: pipeline.play,
    StepKind.STARTTLS: starttls.play,
    StepKind.AUTH: auth.play,
    StepKind.BDAT: bdat.play,
    StepKind.IDLE: idle.play,
}
