"""A session's step results: recording each step's verdict and headline, amending the step before
when something arrives after its reply, and the server's verdict at the end."""

from __future__ import annotations

from probe.asserter import step_verdict
from probe.protocol.reply import Reply
from probe.results import Exchange, Finding, StepResult, Verdict, headline, worst
from probe.scenario.model import Step
from probe.session.state import EndKind


class StepLog:
    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.results: list[StepResult] = []

    def record(self, step: Step, exchanges: list[Exchange], findings: list[Finding]) -> None:
        verdict, reason = self._judged(findings)
        why = step.expect.why if step.expect else ""
        if step.expect_end and not why:
            why = step.expect_end.why
        self.results.append(
            StepResult(
                label=step.label,
                kind=step.kind.value,
                position=_place(step),
                verdict=verdict,
                exchanges=exchanges,
                findings=findings,
                why=why,
                reason=reason,
            )
        )

    def skip(
        self, step: Step, reason: str, under_way: bool = False, applicable: bool = True
    ) -> None:
        """A step not run, and why; `under_way`: cut off while running (an error, not a skip)."""
        self.results.append(
            StepResult(
                label=step.label,
                kind=step.kind.value,
                position=_place(step),
                verdict=Verdict.ERROR if under_way else Verdict.SKIP,
                findings=[Finding(Verdict.ERROR, reason)] if under_way else [],
                reason=reason,
                applicable=applicable,
            )
        )

    def last_judged(self) -> StepResult | None:
        return next((r for r in reversed(self.results) if r.verdict is not Verdict.SKIP), None)

    def amend_last(self, findings: list[Finding], exchanges: list[Exchange]) -> bool:
        """Add what was seen after the last judged step's reply to that step; False if there is
        no such step."""
        previous = self.last_judged()
        if previous is None:
            return False
        previous.findings += findings
        previous.exchanges += exchanges
        previous.verdict, previous.reason = self._judged(previous.findings)
        return True

    def overall(self, greeting: Reply | None) -> tuple[Verdict, str]:
        """The server's verdict and headline."""
        overall = worst([s.verdict for s in self.results])
        if overall is Verdict.WARN or overall is Verdict.SKIP:
            overall = Verdict.PASS
        reason = ""
        first_bad = next((s for s in self.results if s.verdict is overall), None)
        if overall in (Verdict.FAIL, Verdict.ERROR) and first_bad is not None:
            reason = f"{first_bad.label}: {first_bad.reason}"
        unplayed = [
            s
            for s in self.results
            if s.verdict is Verdict.SKIP and s.reason != EndKind.QUIT.value and s.applicable
        ]
        if greeting is not None and greeting.code == 554 and overall is not Verdict.FAIL:
            # RFC 5321 §3.1: a 554 greeting refuses service; with 503s and a 221 after it, that is
            # a correct refusal, not a failure, and nothing could be probed.
            return Verdict.NO_SERVICE, f"no service (554): {greeting.display_lines[0]}"
        if overall is Verdict.PASS and unplayed:
            # The server ended the session early (a 421, a close): what was judged passed, but
            # the scenario was not played through, so the server was not fully probed.
            return Verdict.ERROR, f"{len(unplayed)} step(s) not run: {unplayed[0].reason}"
        return overall, reason

    def _judged(self, findings: list[Finding]) -> tuple[Verdict, str]:
        if not findings:
            return Verdict.PASS, ""  # a clean pass (what step_verdict and headline say of none)
        top = headline(findings, self.strict)
        return step_verdict(findings, self.strict), top.message if top is not None else ""


# A step's place in words (file:line:column), made once per step and kept by the step's identity
# (each entry holds its step, so an id is never reused while it is here).
_PLACES: dict[int, tuple[Step, str]] = {}


def _place(step: Step) -> str:
    kept = _PLACES.get(id(step))
    if kept is not None and kept[0] is step:
        return kept[1]
    place = str(step.position) if step.position else ""
    if len(_PLACES) >= 4096:
        _PLACES.clear()
    _PLACES[id(step)] = (step, place)
    return place
