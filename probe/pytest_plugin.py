"""pytest plugin: scenario files collected and played as tests, in the style of Tavern.

    pytest --smtp-target 127.0.0.1:2525 --smtp-var domain=example.test scenarios/
    pytest --smtp-target '127.0.0.1:2525 domain=a.test' --smtp-targets targets.txt scenarios/

Each scenario file (``*.yaml``/``*.yml`` whose top level is a mapping with ``steps``) becomes one
test item per target (``--smtp-target``, and each entry of ``--smtp-targets FILE``, a targets file
as ``smtp-probe run --targets`` reads it), played with the same machinery as ``smtp-probe run``.
A target may carry variables of its own (``TARGET KEY=VALUE...``), which beat ``--smtp-var``.
Server verdicts map to pytest outcomes: pass -> passed; pass with warnings -> passed, each warning
emitted as an ``SmtpProbeWarning`` at its step's line; fail and error -> failed, the message being
the text report of that server; no-mail (null MX) -> skipped. A file that fails validation is a
collection error listing its ``file:line:col: message`` problems. A variable that no collected
scenario declares is an ``SmtpProbeVariableWarning``.

Without ``--smtp-target`` or ``--smtp-targets`` the plugin does nothing at all: no YAML file is
even opened, so ordinary test runs are never disturbed. Registered through the ``pytest11`` entry
point as ``smtp_probe``.
"""

from __future__ import annotations

import asyncio
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from probe.cli import _positive_int, seconds
from probe.codes import PROFILES

SUFFIXES = (".yaml", ".yml")
_SNIFF_BYTES = 256 * 1024  # the loader refuses larger files; the sniff reads no more than this
_STEPS_LINE = re.compile(r"^steps[ \t]*:", re.MULTILINE)


class SmtpProbeWarning(UserWarning):
    """A step judged `warn`: the server answered with a code only a looser document allows."""


class SmtpProbeVariableWarning(UserWarning):
    """A variable (--smtp-var, or one given with a target) that no collected scenario declares."""


class ProbeFailed(Exception):
    """The server's verdict was fail or error; the message is its text report."""


@dataclass
class _State:
    entries: list[Any]  # probe.targetsfile.TargetEntry: a target and its own variables
    overrides: dict[str, str]
    options: Any  # probe.session.machine.RunOptions
    resolver: Any  # probe.resolve.ResolverConfig
    dane: bool = False  # --smtp-dane: TLSA lookups before each session
    scenarios: dict[str, Any] = field(default_factory=dict)  # the collected ones, by path
    plans: dict[str, Any] | None = None  # target text -> TargetPlan, resolved once per session


_STATE = pytest.StashKey[_State]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "smtp-probe", "smtp-probe scenarios (active only with --smtp-target or --smtp-targets)"
    )
    group.addoption(
        "--smtp-target",
        action="append",
        default=[],
        metavar="'TARGET [KEY=VALUE...]'",
        help="play scenario YAML files against TARGET: DOMAIN, HOST[:PORT], IP[:PORT], "
        "[IPv6]:PORT, optionally followed by variables for this target only, which beat "
        "--smtp-var (repeatable). Without a target no YAML file is collected.",
    )
    group.addoption(
        "--smtp-targets",
        action="append",
        default=[],
        metavar="FILE",
        help="read targets from FILE as `smtp-probe run --targets` does: one a line with its "
        "KEY=VALUE variables, or a YAML list of {target: ..., vars: {...}} (repeatable)",
    )
    group.addoption(
        "--smtp-var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="scenario variable, for every target (repeatable)",
    )
    group.addoption(
        "--smtp-profile", choices=PROFILES, default="rfc5321", help="documents that count"
    )
    group.addoption("--smtp-strict", action="store_true", help="treat warnings as failures")
    group.addoption(
        "--smtp-nameserver",
        action="append",
        default=[],
        metavar="IP[:PORT]",
        help="resolve targets with this DNS server instead of the system's (repeatable)",
    )
    group.addoption(
        "--smtp-resolve",
        action="append",
        default=[],
        metavar="NAME:IP",
        help="use IP for NAME, as curl's --resolve does (repeatable)",
    )
    group.addoption(
        "--smtp-timeout",
        type=seconds,
        metavar="S",
        help="one reply timeout for every phase (default: --smtp-timeouts)",
    )
    group.addoption(
        "--smtp-timeouts",
        choices=("short", "rfc"),
        default="short",
        help="reply timeouts per phase: short (30 s each) or rfc (RFC 5321 §4.5.3.2)",
    )
    # TLS, as `smtp-probe run` has it (README "Running it").
    group.addoption(
        "--smtp-tls-verify",
        action="store_true",
        help="certificate problems (chain, name) fail instead of warn",
    )
    group.addoption(
        "--smtp-cafile",
        metavar="FILE",
        help="trust these CA certificates (PEM) instead of the system's",
    )
    group.addoption(
        "--smtp-cert-days",
        type=_positive_int,
        metavar="N",
        help="warn when a certificate in the chain expires within N days",
    )
    group.addoption(
        "--smtp-cert-days-critical",
        type=_positive_int,
        metavar="N",
        help="fail when a certificate in the chain expires within N days",
    )
    group.addoption(
        "--smtp-dane",
        action="store_true",
        help="look up each host's TLSA records (RFC 7672) and match them against its TLS chain; "
        "only records the resolver vouches for with the AD bit (DNSSEC) count",
    )
    group.addoption(
        "--smtp-tls",
        choices=("implicit",),
        help="implicit: TLS from the first byte (RFC 8314, port 465 by default; also "
        "smtps://HOST[:PORT] targets)",
    )


def pytest_configure(config: pytest.Config) -> None:
    texts = config.getoption("smtp_target", None)
    files = config.getoption("smtp_targets", None)
    if not texts and not files:
        return
    from probe.session.machine import RunOptions
    from probe.session.timeouts import Timeouts
    from probe.targets import DEFAULT_PORT, SMTPS_PORT
    from probe.targetsfile import TargetsFileError, parse_line, parse_var, read_targets_file

    implicit = config.getoption("smtp_tls", None) == "implicit"
    port = SMTPS_PORT if implicit else DEFAULT_PORT
    entries = []
    try:
        for text in texts or ():
            entry = parse_line(text, "--smtp-target", port)
            if entry is None:
                raise pytest.UsageError(f"--smtp-target {text!r}: no target")
            entries.append(entry)
        for name in files or ():
            entries += read_targets_file(Path(name), port)
    except TargetsFileError as exc:
        raise pytest.UsageError("\n".join(exc.problems)) from None
    if not entries:
        raise pytest.UsageError(f"--smtp-targets: no targets in {', '.join(files)}")
    unique: dict[str, Any] = {}
    for entry in entries:  # a target given twice (with the same variables) is played once
        unique.setdefault(entry.label, entry)
    entries = list(unique.values())
    overrides: dict[str, str] = {}
    for pair in config.getoption("smtp_var"):
        try:
            key, value = parse_var(pair, "--smtp-var")
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        overrides[key] = value
    from probe.cli import UsageError, check_cafile

    cafile = config.getoption("smtp_cafile", None)
    try:
        check_cafile(cafile)
    except UsageError as exc:  # "--cafile FILE: no such file", as the CLI says it
        raise pytest.UsageError(str(exc).replace("--cafile", "--smtp-cafile", 1)) from None
    options = RunOptions(
        profile=config.getoption("smtp_profile"),
        strict=config.getoption("smtp_strict"),
        timeouts=Timeouts(config.getoption("smtp_timeouts"), config.getoption("smtp_timeout")),
        tls_verify=config.getoption("smtp_tls_verify", False),
        cafile=cafile,
        cert_days=config.getoption("smtp_cert_days", None),
        cert_days_critical=config.getoption("smtp_cert_days_critical", None),
        implicit_tls=implicit,
    )
    from probe.resolve import ResolveConfigError, ResolverConfig

    resolves = config.getoption("smtp_resolve")
    try:
        resolver = ResolverConfig.from_options(config.getoption("smtp_nameserver"))
    except ResolveConfigError as exc:
        raise pytest.UsageError(f"--smtp-nameserver: {exc}") from None
    try:
        resolver = ResolverConfig.from_options(config.getoption("smtp_nameserver"), resolves)
    except ResolveConfigError as exc:  # "--resolve 'x': expected NAME:IP", as the CLI says it
        raise pytest.UsageError(f"--smtp-resolve {str(exc).removeprefix('--resolve ')}") from None
    dane = bool(config.getoption("smtp_dane", False))
    config.stash[_STATE] = _State(entries, overrides, options, resolver, dane=dane)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    if _STATE not in parent.config.stash:
        return None
    if file_path.suffix.lower() not in SUFFIXES or not _looks_like_scenario(file_path):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselect: a --smtp-var typo is caught anyway
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A variable no collected scenario declares is a warning, as in `smtp-probe run`."""
    from probe.targetsfile import unused_variables

    state = config.stash.get(_STATE, None)
    if state is None or not any(isinstance(item, ScenarioItem) for item in items):
        return
    scenarios = list(state.scenarios.values())
    found = [
        ("--smtp-var", line)
        for line in unused_variables(scenarios, state.overrides, "--smtp-var", (), "collected")
    ]
    for entry in state.entries:
        given = [(entry.where, entry.variables)]
        found += [
            (entry.where, line) for line in unused_variables(scenarios, {}, "", given, "collected")
        ]
    for where, line in found:
        # At the targets file's line when there is one (pytest's summary shows the place).
        file, _, number = where.rpartition(":")
        place = (file, int(number)) if number.isdigit() else (where, 0)
        try:
            warnings.warn_explicit(SmtpProbeVariableWarning(line), None, *place)
        except SmtpProbeVariableWarning:  # -W error: the run stops, as a bad option does
            raise pytest.UsageError(line) from None


def _looks_like_scenario(path: Path) -> bool:
    """A top-level mapping with a `steps` key. A file YAML cannot parse counts when a line
    starts with `steps:`, so that a broken scenario is reported rather than silently ignored."""
    import yaml
    from yaml.nodes import MappingNode, ScalarNode

    try:
        with path.open("rb") as handle:
            data = handle.read(_SNIFF_BYTES + 1)
    except OSError:
        return False
    text = data.decode("utf-8", errors="replace")
    if len(data) > _SNIFF_BYTES:
        return bool(_STEPS_LINE.search(text))  # the loader will say it is too large
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return bool(_STEPS_LINE.search(text))
    return isinstance(node, MappingNode) and any(
        isinstance(key, ScalarNode) and key.value == "steps" for key, _ in node.value
    )


class ScenarioFile(pytest.File):
    """One scenario file: validated at collection, one item per --smtp-target."""

    def collect(self) -> Iterator[ScenarioItem]:
        from probe.scenario import load_scenario

        state = self.config.stash[_STATE]
        scenario = load_scenario(self._shown_path())
        state.scenarios[str(self.path)] = scenario
        for entry in state.entries:
            yield ScenarioItem.from_parent(
                self, name=f"{scenario.name}[{entry.label}]", scenario=scenario, entry=entry
            )

    def _shown_path(self) -> Path:
        """Relative to where pytest was started when possible, as `smtp-probe run` shows it."""
        start = self.config.invocation_params.dir
        if Path.cwd() == start and self.path.is_relative_to(start):
            return self.path.relative_to(start)
        return self.path

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> Any:
        from probe.scenario import ScenarioError

        if isinstance(excinfo.value, ScenarioError):
            return "\n".join(str(problem) for problem in excinfo.value.problems)
        return super().repr_failure(excinfo)


class ScenarioItem(pytest.Item):
    """One scenario against one target."""

    def __init__(self, *, scenario: Any, entry: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.entry = entry  # probe.targetsfile.TargetEntry
        self.target = entry.target

    def runtest(self) -> None:
        from probe.report import text
        from probe.report.redact import Redactor
        from probe.results import Verdict
        from probe.session.orchestrate import look_up_dane, make_plan, run_plan

        state = self.config.stash[_STATE]
        target_plan = self._target_plan(state)
        # make_plan gives the scenario the variables it declares (the others are for other
        # scenarios; undeclared ones are warned about across the session), the target's first.
        own = [self.entry.variables]
        plan = make_plan([self.scenario], [target_plan], state.overrides, os.environ, False, own)
        if state.dane:
            asyncio.run(look_up_dane(plan, state.resolver))
        run = run_plan(plan, state.options, 1)
        if run.interrupted:  # Ctrl-C or SIGTERM reached execute()'s handlers: stop the session
            raise KeyboardInterrupt
        redact = Redactor(plan.secrets)
        report = text.render(run, redact, verbose=self.config.get_verbosity() >= 2)
        verdicts = {result.verdict for result in run.results}
        if verdicts & {Verdict.FAIL, Verdict.ERROR}:
            raise ProbeFailed(report.rstrip("\n"))
        if verdicts <= {Verdict.NO_MAIL, Verdict.NO_SERVICE}:
            pytest.skip("no-mail: " + "; ".join(redact(r.reason) for r in run.results))
        self.add_report_section("call", "smtp-probe", report)
        for result in run.results:
            prefix = f"{result.scenario} -> {result.target}"
            warnings_seen = result.details.get("warnings")
            for warning in warnings_seen if isinstance(warnings_seen, list | tuple) else ():
                _warn(f"{prefix}: {redact(str(warning))}", result.scenario_path, 1)
            for step in result.steps:
                for finding in step.findings:
                    if finding.verdict is Verdict.WARN:
                        message = f"{prefix}: {step.label}: {redact(finding.message)}"
                        if finding.expected and finding.expected not in finding.message:
                            message += f" (expected {finding.expected})"
                        if finding.source:
                            message += f" [{finding.source}]"
                        _warn(message, *_file_line(step.position, result.scenario_path))

    def _target_plan(self, state: _State) -> Any:
        """Every target resolved once per session, together (the CLI's one lookup per run)."""
        if state.plans is None:
            from probe.resolve import DnsCache, plan_targets

            config = state.resolver
            targets = list({e.target.text: e.target for e in state.entries}.values())
            plans = asyncio.run(plan_targets(targets, config, DnsCache.from_config(config)))
            state.plans = {p.target.text: p for p in plans}
        return state.plans[self.target.text]

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from probe.scenario import ScenarioError

        if isinstance(excinfo.value, ProbeFailed):
            return str(excinfo.value)
        if isinstance(excinfo.value, SmtpProbeWarning):  # -W error: the report is a section
            return f"SmtpProbeWarning: {excinfo.value}"
        if isinstance(excinfo.value, ScenarioError):  # binding: a variable with no value
            lines = (str(problem) for problem in excinfo.value.problems)
            return "\n".join(line.replace("give --var ", "give --smtp-var ") for line in lines)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.scenario.name} -> {self.entry.label}"


def _file_line(position: str, default_file: str) -> tuple[str, int]:
    """`file:line:col` -> (file, line); the scenario file and line 1 when there is none."""
    parts = position.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return parts[0], int(parts[1])
    return default_file, 1


def _warn(message: str, filename: str, lineno: int) -> None:
    # At the step's own line: pytest's warnings summary then shows the scenario line.
    warnings.warn_explicit(message, SmtpProbeWarning, filename, lineno)
