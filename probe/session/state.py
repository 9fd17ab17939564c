"""What the session machine knows of the server: connection, mode, transaction, capabilities.

The state follows the server's replies, not the script: an accepted EHLO/HELO/RSET ends the
transaction whoever asked for it, a 354 to any line puts the server in message-data mode, and only
a 221 to QUIT (or a 421) means the server is closing.
"""

from __future__ import annotations

from enum import Enum

from probe.asserter import SessionFacts
from probe.protocol.ehlo import parse_ehlo
from probe.protocol.reply import Reply
from probe.record import field, record
from probe.results import CertInfo, TlsInfo, TlsVerification


def _first(reply: Reply) -> str:
    lines = reply.display_lines
    return lines[0][:200] + (f" (+{len(lines) - 1} lines)" if len(lines) > 1 else "")


class Mode(Enum):
    """What the server is reading from us."""

    COMMANDS = "commands"
    MESSAGE = "message data"  # after a 354: every line is message text until <CRLF>.<CRLF>


class EndKind(Enum):
    """Why no further command can be sent on this connection."""

    NOT_CONNECTED = "not connected"
    QUIT = "after QUIT"  # 221 to QUIT: the expected end
    SHUTDOWN = "421"
    SERVER_CLOSED = "server closed"
    ABORTED = "aborted"  # we closed it: a reply went past a cap
    NO_REPLY = "no reply"  # a reply timed out: a late one would be taken for the next command's
    SEND_FAILED = "send failed"
    OUT_OF_SYNC = "out of sync"
    IN_MESSAGE = "in message data"  # a 354 came, and the script has no message data to send
    TLS_FAILED = "TLS failed"
    DEADLINE = "deadline"
    INTERRUPTED = "interrupted"
    HANGUP = "hung up"  # the scenario closed the connection (data with hangup: true)


@record(frozen=True, slots=True)
class Ended:
    kind: EndKind
    reason: str  # one line, shown as the reason of every step not run


DEADLINE_REACHED = "session deadline reached"
INTERRUPTED = "interrupted"


@record(slots=True)
class ServerModel:
    """The server as the client has observed it on one connection."""

    facts: SessionFacts = field(default_factory=SessionFacts)
    mode: Mode = Mode.COMMANDS
    ended: Ended | None = None
    tls: TlsInfo | None = None  # what the STARTTLS handshake negotiated

    @property
    def tls_version(self) -> str | None:
        return self.tls.version if self.tls is not None else None

    @property
    def usable(self) -> bool:
        return self.ended is None

    def end(self, kind: EndKind, reason: str) -> None:
        if self.ended is None:  # the first reason is the real one
            self.ended = Ended(kind, reason)

    def observe(self, command: str, reply: Reply) -> None:
        """Update the model from a reply to `command` (a code-table name)."""
        code = reply.code
        if code is None:
            return
        facts = self.facts
        ok = 200 <= code < 300
        if code == 421:
            self.end(EndKind.SHUTDOWN, f"the server shut down the session: {_first(reply)}")
        elif code == 354:
            # Whatever the line was (DATA, a raw line, a typo the server took for DATA): the
            # server now reads message data.
            self.mode = Mode.MESSAGE
        elif command == "DATA-END":
            self.mode = Mode.COMMANDS
            self._end_transaction()  # whatever the reply, the transaction is over
        elif command == "EHLO" and code == 250:
            facts.extensions = dict(parse_ehlo(reply).extensions)
            facts.authenticated = False  # RFC 4954 is silent: never assume AUTH survives EHLO
            self._end_transaction()
        elif command == "HELO" and ok:
            facts.extensions = {}
            facts.authenticated = False
            self._end_transaction()
        elif command == "AUTH" and code == 235:
            facts.authenticated = True
        elif command == "MAIL" and ok:
            facts.in_transaction = True
            facts.recipients = 0
        elif command == "RCPT" and ok and facts.in_transaction:
            facts.recipients += 1
        elif command == "RSET" and ok:
            self._end_transaction()
        elif command == "QUIT" and code == 221:
            self.end(EndKind.QUIT, "after QUIT")

    def end_transaction(self) -> None:
        """The transaction is over for a reason the reply alone does not say (a BDAT LAST)."""
        self._end_transaction()

    def _end_transaction(self) -> None:
        self.facts.in_transaction = False
        self.facts.recipients = 0

    def tls_started(
        self,
        version: str | None,
        cipher: str | None = None,
        mode: str = "starttls",
        chain: tuple[CertInfo, ...] = (),
        verification: TlsVerification | None = None,
    ) -> None:
        """RFC 3207 §4.2: the server forgets everything it learned from the client."""
        self.facts = SessionFacts(
            greeting_code=self.facts.greeting_code, tls_active=True, declared=self.facts.declared
        )
        self.mode = Mode.COMMANDS
        self.tls = TlsInfo(version, cipher, mode, chain, verification)
