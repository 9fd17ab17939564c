"""pytest plugin: scenario files collected and played as tests, in the style of Tavern.

    pytest --smtp-target 127.0.0.1:2525 --smtp-var domain=example.test scenarios/
    pytest --smtp-target '127.0.0.1:2525 domain=a.test' --smtp-targets targets.txt scenarios/

Each scenario file (``*.yaml``/``*.yml`` whose top level is a mapping with ``steps``) is played
against each target (``--smtp-target``, and each entry of ``--smtp-targets FILE``, a targets file
as ``smtp-probe run --targets`` reads it) by the runner of ``smtp-probe run``, with its options
(``--smtp-`` and the same name). A target may carry variables of its own (``TARGET
KEY=VALUE...``), which beat ``--smtp-var``. Each step is a test item (``FILE::SCENARIO[TARGET]::
STEP``): the session is played once, by the first of them to run, and each reports its step's
verdict: pass -> passed; warn -> passed, with an ``SmtpProbeWarning`` at the step's line; fail and
error -> failed, the message being the step's exchange under its server's line; skip -> skipped
with the reason. pytest's ``--junitxml`` names them as ``smtp-probe run --junit`` names steps
(``basic › rcpt <postmaster@example.test>``). A file that fails validation is a collection error
listing its ``file:line:col: message`` problems. A variable that no collected scenario declares
is an ``SmtpProbeVariableWarning``.

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
from pathlib import Path
from typing import Any

import pytest

from probe.cli import _non_negative_seconds, _port, _positive_int, seconds
from probe.codes import PROFILES
from probe.record import field, record

SUFFIXES = (".yaml", ".yml")
_SNIFF_BYTES = 256 * 1024  # the loader refuses larger files; the sniff reads no more than this
_STEPS_LINE = re.compile(r"^steps[ \t]*:", re.MULTILINE)
_CONTROL = re.compile("[\x00-\x1f\x7f]")
CONCURRENCY = 8  # sessions at once, with --smtp-all-mx (`smtp-probe run --concurrency`)


class SmtpProbeWarning(UserWarning):
    """A step judged `warn`: a SHOULD broken, a code only a looser document allows, a
    response-time warning threshold passed."""


class SmtpProbeVariableWarning(UserWarning):
    """A variable (--smtp-var, one given with a target, from --smtp-var-file or SMTP_PROBE_VAR_*)
    that no collected scenario declares."""


class ProbeFailed(Exception):
    """A step failed or errored (or stands for a server that could not be probed); the message is
    its exchange and findings under its server's line."""


@record
class _State:
    entries: list[Any]  # probe.targetsfile.TargetEntry: a target and its own variables
    overrides: dict[str, str]  # --smtp-var over SMTP_PROBE_VAR_* over --smtp-var-file
    options: Any  # probe.session.machine.RunOptions
    resolver: Any  # probe.resolve.ResolverConfig
    limits: Any  # probe.thresholds.Thresholds
    all_mx: bool = False
    dane: bool = False  # --smtp-dane: TLSA lookups before each session
    # Where the overrides came from, for the warning about variables no collected scenario
    # declares: --smtp-var, the --smtp-var-file names and their variables, SMTP_PROBE_VAR_*.
    given: dict[str, str] = field(default_factory=dict)
    outside: tuple[list[str], dict[str, str], dict[str, str]] = ([], {}, {})
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
        "--smtp-port",
        type=_port,
        metavar="PORT",
        help="default port of the targets (default 25; 465 with --smtp-tls implicit)",
    )
    group.addoption(
        "--smtp-var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="scenario variable, for every target (repeatable); beats SMTP_PROBE_VAR_KEY "
        "environment variables, which beat --smtp-var-file",
    )
    group.addoption(
        "--smtp-var-file",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="scenario variables from FILE: KEY=VALUE lines, or a YAML mapping (*.yaml/*.yml) "
        "(repeatable; a later file beats an earlier one)",
    )
    # Judging, as `smtp-probe run` judges.
    group.addoption(
        "--smtp-profile",
        choices=PROFILES,
        default="rfc5321",
        help="documents that count (default rfc5321)",
    )
    group.addoption("--smtp-strict", action="store_true", help="treat warnings as failures")
    group.addoption(
        "--smtp-timeouts",
        choices=("short", "rfc"),
        default="short",
        help="reply timeouts per phase: short (the default: 30 s each) or rfc (RFC 5321 §4.5.3.2)",
    )
    group.addoption(
        "--smtp-timeout",
        type=seconds,
        metavar="S",
        help="one reply timeout for every phase (overrides --smtp-timeouts; a step's timeout: "
        "wins)",
    )
    group.addoption(
        "--smtp-connect-timeout",
        type=seconds,
        default=10.0,
        metavar="S",
        help="TCP connect timeout (default 10 s)",
    )
    group.addoption(
        "--smtp-deadline",
        type=seconds,
        metavar="S",
        help="whole-session limit (default 300 s, or 3600 s with --smtp-timeouts rfc)",
    )
    group.addoption(
        "--smtp-max-reply-bytes",
        type=_positive_int,
        default=64 * 1024,
        metavar="N",
        help="a longer reply ends the session with an error (default 65536)",
    )
    group.addoption(
        "--smtp-max-reply-lines",
        type=_positive_int,
        default=1000,
        metavar="N",
        help="a reply with more lines ends the session with an error (default 1000)",
    )
    group.addoption(
        "--smtp-settle",
        type=_non_negative_seconds,
        metavar="S",
        help="length of the quiet windows that catch unsolicited replies (default: twice the "
        "median round trip, at most 0.1 s)",
    )
    group.addoption(
        "--smtp-tls",
        choices=("implicit",),
        help="implicit: TLS from the first byte (RFC 8314, port 465; also smtps://HOST[:PORT])",
    )
    group.addoption(
        "--smtp-dane",
        action="store_true",
        help="look up each host's TLSA records (RFC 7672) and match them against its TLS chain; "
        "only records the resolver vouches for with the AD bit (DNSSEC) count",
    )
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
    for level, word, verdict in (("warn", "warning", "warn"), ("crit", "critical", "fail")):
        group.addoption(
            f"--smtp-{level}-ms",
            action="append",
            default=[],
            metavar="[PHASE=]MS",
            help=f"{word} response-time threshold in milliseconds: over it is a {verdict} "
            "finding; bare MS is the whole session, PHASE=MS one phase (greeting, ehlo, mail, "
            "rcpt, data, data-end, quit...); repeatable",
        )
    # Resolution, as `smtp-probe run` resolves.
    group.addoption(
        "--smtp-all-mx",
        action="store_true",
        help="probe every MX host of a domain, not just the first that accepts a connection",
    )
    group.addoption(
        "--smtp-no-mx",
        action="store_true",
        help="take every NAME target as a host: no MX lookup, its addresses from the system "
        "resolver (/etc/hosts, then DNS), as NAME:PORT does",
    )
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
        "--smtp-dns-timeout",
        type=seconds,
        default=5.0,
        metavar="S",
        help="per DNS query (default 5 s)",
    )
    group.addoption("--smtp-seed", type=int, help="shuffle equal MX preferences reproducibly")
    group.addoption("--smtp-ipv4", action="store_true", help="IPv4 addresses only")
    group.addoption("--smtp-ipv6", action="store_true", help="IPv6 addresses only")


def pytest_configure(config: pytest.Config) -> None:
    texts = config.getoption("smtp_target", None)
    files = config.getoption("smtp_targets", None)
    if not texts and not files:
        return
    option = config.getoption
    from probe.inputfile import shown
    from probe.session.machine import RunOptions
    from probe.session.timeouts import Timeouts
    from probe.targets import DEFAULT_PORT, SMTPS_PORT
    from probe.targetsfile import TargetsFileError, parse_line, parse_var, read_targets_file

    implicit = option("smtp_tls") == "implicit"
    port = option("smtp_port") or (SMTPS_PORT if implicit else DEFAULT_PORT)
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
    given: dict[str, str] = {}
    for pair in option("smtp_var"):
        try:
            key, value = parse_var(pair, "--smtp-var")
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        given[key] = value
    from_files, from_env = _outside_variables(option("smtp_var_file"))
    timeouts = Timeouts(option("smtp_timeouts"), option("smtp_timeout"))
    from probe.cli import UsageError, check_cafile

    try:
        check_cafile(option("smtp_cafile"))
    except UsageError as exc:  # "--cafile FILE: no such file", as the CLI says it
        raise pytest.UsageError(str(exc).replace("--cafile", "--smtp-cafile", 1)) from None
    # As `smtp-probe run` builds them (probe.cli._play), from the same defaults.
    options = RunOptions(
        profile=option("smtp_profile"),
        strict=option("smtp_strict"),
        timeouts=timeouts,
        connect_timeout=option("smtp_connect_timeout"),
        session_deadline=option("smtp_deadline") or timeouts.default_deadline,
        max_reply_bytes=option("smtp_max_reply_bytes"),
        max_reply_lines=option("smtp_max_reply_lines"),
        tls_verify=option("smtp_tls_verify"),
        cafile=option("smtp_cafile"),
        cert_days=option("smtp_cert_days"),
        cert_days_critical=option("smtp_cert_days_critical"),
        implicit_tls=implicit,
        settle=option("smtp_settle"),
    )
    config.stash[_STATE] = _State(
        entries,
        {**from_files, **from_env, **given},  # README "Variables from files"
        options,
        _resolver_config(config),
        _thresholds(option("smtp_warn_ms"), option("smtp_crit_ms")),
        all_mx=option("smtp_all_mx"),
        dane=bool(option("smtp_dane")),
        given=given,
        outside=([shown(path) for path in option("smtp_var_file")], from_files, from_env),
    )
    config.pluginmanager.register(_JunitNames(config), "smtp-probe-junit-names")


def _outside_variables(files: list[Path]) -> tuple[dict[str, str], dict[str, str]]:
    """The variables of --smtp-var-file files and of SMTP_PROBE_VAR_* environment variables."""
    from probe.varfile import VarFileError, from_environment, read_var_files

    try:
        return read_var_files(files), from_environment(os.environ)
    except VarFileError as exc:
        raise pytest.UsageError("\n".join(exc.problems)) from None


def _resolver_config(config: pytest.Config) -> Any:
    from probe.resolve import ResolveConfigError, ResolverConfig

    class PluginResolverConfig(ResolverConfig):
        """Messages name the plugin's options ("excluded by --smtp-ipv4")."""

        @property
        def family_flag(self) -> str | None:
            flag = super().family_flag
            return None if flag is None else f"--smtp-ipv{flag[1:]}"

    option = config.getoption
    if option("smtp_ipv4") and option("smtp_ipv6"):
        raise pytest.UsageError("--smtp-ipv4 and --smtp-ipv6 exclude each other")
    try:
        return PluginResolverConfig.from_options(
            option("smtp_nameserver"),
            option("smtp_resolve"),
            timeout=option("smtp_dns_timeout"),
            ipv4=option("smtp_ipv4"),
            ipv6=option("smtp_ipv6"),
            seed=option("smtp_seed"),
            mx=not option("smtp_no_mx"),
        )
    except ResolveConfigError as exc:  # "--resolve 'x': expected NAME:IP", as the CLI says it
        message = str(exc)
        if message.startswith("--resolve "):
            raise pytest.UsageError("--smtp-" + message[2:]) from None
        raise pytest.UsageError(f"--smtp-nameserver: {message}") from None


def _thresholds(warn: list[str], crit: list[str]) -> Any:
    from probe.thresholds import ThresholdError, Thresholds

    class PluginThresholds(Thresholds):
        """Findings name the plugin's options (`source: --smtp-warn-ms greeting=500`)."""

        def option(self, level: str, phase: str) -> str:
            return "--smtp-" + super().option(level, phase).removeprefix("--")

    try:
        return PluginThresholds.parse(warn, crit)
    except ThresholdError as exc:  # "--warn-ms 'x': ...": the CLI's words, the plugin's names
        raise pytest.UsageError(re.sub(r"--(warn|crit)-ms", r"--smtp-\1-ms", str(exc))) from None


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
    from probe.varfile import ENV_PREFIX

    state = config.stash.get(_STATE, None)
    if state is None or not any(isinstance(item, StepItem) for item in items):
        return
    scenarios = list(state.scenarios.values())
    declared = {name for scenario in scenarios for name in scenario.variables}
    files, from_files, from_env = state.outside
    given = [
        (f"--smtp-var-file {', '.join(files)}", from_files),
        # An environment variable is named in full, as `smtp-probe run` names it.
        ("environment", {ENV_PREFIX + k: v for k, v in from_env.items() if k not in declared}),
        *((entry.where, entry.variables) for entry in state.entries),
    ]
    found = [
        ("--smtp-var", line)
        for line in unused_variables(scenarios, state.given, "--smtp-var", (), "collected")
    ]
    for where, variables in given:
        found += [
            (where, line)
            for line in unused_variables(scenarios, {}, "", [(where, variables)], "collected")
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
    """One scenario file: validated at collection, a `ScenarioRun` per target."""

    def collect(self) -> Iterator[ScenarioRun]:
        from probe.scenario import load_scenario

        state = self.config.stash[_STATE]
        scenario = load_scenario(self._shown_path())
        state.scenarios[str(self.path)] = scenario
        for entry in state.entries:
            yield ScenarioRun.from_parent(
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


@record
class _Played:
    """A session played (one per MX host with --smtp-all-mx), or why it could not be."""

    results: list[Any] = field(default_factory=list)  # probe.results.ServerResult
    redact: Any = None  # probe.report.redact.Redactor
    report: str = ""  # the text report of the session(s)
    headers: list[str] = field(default_factory=list)  # each result's line in that report
    problems: str = ""  # the scenario could not be bound (a variable with no value)
    reported_by: str = ""  # the node id of the item that played it


class ScenarioRun(pytest.Collector):
    """One scenario against one target: a `StepItem` per step. The session is played once, by
    the first of them to run, and each reports its own step's verdict."""

    def __init__(self, *, scenario: Any, entry: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.entry = entry  # probe.targetsfile.TargetEntry
        self.target = entry.target
        self.selected = 0  # items of this run that pytest will run (after -k, -m, --lf...)
        self._played: _Played | None = None

    @property
    def classname(self) -> str:
        """The JUnit classname `smtp-probe run --junit` gives its steps: `SCENARIO -> TARGET`."""
        return f"{self.scenario.name} -> {self.target.text}"

    def collect(self) -> Iterator[StepItem]:
        from probe.thresholds import SESSION, SESSION_STEP

        state = self.config.stash[_STATE]
        labels = self._labels(state)
        if SESSION in state.limits.warn or SESSION in state.limits.crit:
            labels.append((SESSION_STEP, ""))  # the step thresholds.apply adds
        names: set[str] = set()
        for index, (label, position) in enumerate(labels):
            # One line in pytest's output whatever the label holds (a TAB or CR from a `name:`).
            shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", label)
            name, number = shown, 1
            while name in names:  # two steps alike: `noop`, `noop #2`
                number += 1
                name = f"{shown} #{number}"
            names.add(name)
            yield StepItem.from_parent(self, name=name, index=index, label=label, position=position)

    def _labels(self, state: _State) -> list[tuple[str, str]]:
        """Each step's label as the report will show it (variables bound as the run binds them,
        secrets masked), and its position. A variable with no value stays as written
        (`rcpt <postmaster@${domain}>`): the step that runs first says what is missing."""
        from probe.resolve import PlanKind, TargetPlan
        from probe.scenario import ScenarioError
        from probe.session.orchestrate import make_plan

        scenario, target = self.scenario, self.target
        # The run binds against the resolved target, whose `domain` is the target's name.
        domain = None if target.is_address else target.host
        stand_in = TargetPlan(target, PlanKind.DIRECT, domain, target.port)
        own = self.entry.variables
        given = {**state.overrides, **own}
        unset = {  # values are literal: "${domain}" is shown as it is
            name: f"${{{name}}}"
            for name, variable in scenario.variables.items()
            if variable.default is None and name not in given and not (name == "domain" and domain)
        }
        steps = scenario.steps
        try:
            overrides = {**unset, **state.overrides}
            plan = make_plan([scenario], [stand_in], overrides, os.environ, False, [own])
            steps = plan.jobs[0].bound.steps
        except ScenarioError:
            pass
        return [(step.label, str(step.position) if step.position else "") for step in steps]

    def played(self, item: StepItem) -> _Played:
        if self._played is None:
            self._played = self._play(item)
        return self._played

    def done(self) -> None:
        """One selected item has reported; the results go once every one has."""
        self.selected -= 1
        if self.selected == 0:
            self._played = None

    def _play(self, item: StepItem) -> _Played:
        from probe import thresholds
        from probe.report import text
        from probe.report.redact import Redactor
        from probe.results import RunResult
        from probe.scenario import ScenarioError
        from probe.session.orchestrate import make_plan, run_plan

        state = self.config.stash[_STATE]
        target_plan = self._target_plan(state)
        # make_plan gives the scenario the variables it declares (the others are for other
        # scenarios; undeclared ones are warned about across the session), the target's first.
        own = [self.entry.variables]
        try:
            plan = make_plan(
                [self.scenario], [target_plan], state.overrides, os.environ, state.all_mx, own
            )
        except ScenarioError as exc:  # a variable with no value: nothing is sent
            lines = (str(problem) for problem in exc.problems)
            problems = "\n".join(line.replace("give --var ", "give --smtp-var ") for line in lines)
            return _Played(problems=problems, reported_by=item.nodeid)
        # The CLI's runner: one session on the blocking driver; with --smtp-all-mx, one per MX
        # host, concurrently on the asyncio driver.
        if state.dane:
            import asyncio

            from probe.session.orchestrate import look_up_dane

            asyncio.run(look_up_dane(plan, state.resolver))
        run = run_plan(plan, state.options, CONCURRENCY)
        if run.interrupted:  # Ctrl-C or SIGTERM reached execute()'s handlers: stop the session
            raise KeyboardInterrupt
        thresholds.apply(run, state.limits)
        redact = Redactor(plan.secrets)
        verbose = self.config.get_verbosity() >= 2
        # Each result's own line (verdict, counts, time), to head the message of a failing step.
        headers = [
            text.render(RunResult([r], run.profile, run.strict, ""), redact).split("\n", 1)[0]
            for r in run.results
        ]
        report = text.render(run, redact, verbose=verbose)
        return _Played(run.results, redact, report, headers, reported_by=item.nodeid)

    def _target_plan(self, state: _State) -> Any:
        """Every target resolved once per session, together (the CLI's one lookup per run)."""
        if state.plans is None:
            from probe.resolve import DnsCache, plan_targets

            config = state.resolver
            targets = list({e.target.text: e.target for e in state.entries}.values())
            plans = asyncio.run(plan_targets(targets, config, DnsCache.from_config(config)))
            state.plans = {p.target.text: p for p in plans}
        return state.plans[self.target.text]


class StepItem(pytest.Item):
    """One step of a scenario against one target, reporting that step's verdict.

    pass -> passed; warn -> passed, with an `SmtpProbeWarning`; fail and error -> failed, the
    message being the step's exchange and findings under its server's line; skip (not applicable,
    not reached) -> skipped with the reason. A server that could not be probed (a DNS error, a
    session cut short) fails at the step it could not play; no-mail and no-service skip every step.
    """

    parent: ScenarioRun

    def __init__(self, *, index: int, label: str, position: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index
        self.label = label
        self.position = position
        # What pytest's --junitxml calls this test: what `smtp-probe run --junit` calls the step.
        self.junit_classname = self.parent.classname
        self.junit_name = f"{self.parent.scenario.name} › {label}"
        self.junit_message = ""  # a failure's headline, as `run --junit` gives it

    def runtest(self) -> None:
        run = self.parent
        try:
            played = run.played(self)
            self._report(played)
        finally:
            run.done()

    def _report(self, played: _Played) -> None:
        from probe.report.junit import case_name, suite_name

        if played.problems:
            if played.reported_by == self.nodeid:
                self.junit_message = played.problems.split("\n", 1)[0]
                raise ProbeFailed(played.problems)
            pytest.skip(f"not run: the scenario could not be bound (see {played.reported_by})")
        first = played.reported_by == self.nodeid
        if first:
            self.add_report_section("call", "smtp-probe", played.report)
        several = len(played.results) > 1
        failures, headlines, skips, ran = [], [], [], False
        for result, header in zip(played.results, played.headers, strict=True):
            if first:
                _server_warnings(result, played.redact, several)
            step = result.steps[self.index] if self.index < len(result.steps) else None
            if step is not None:
                self.junit_classname, self.junit_name = suite_name(result), case_name(result, step)
            outcome = _outcome(result, header, self.index, played.redact, several)
            if outcome.kind == "failed":
                failures.append(outcome.text)
                headlines.append(outcome.headline)
            elif outcome.kind == "skipped":
                skips.append(outcome.text)
            else:
                ran = True
        if failures:
            self.junit_message = "; ".join(headlines)
            raise ProbeFailed("\n\n".join(failures))
        if not ran:
            pytest.skip("; ".join(dict.fromkeys(skips)))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ProbeFailed):
            return str(excinfo.value)
        if isinstance(excinfo.value, SmtpProbeWarning):  # -W error: the report is a section
            return f"SmtpProbeWarning: {excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        _, line = _file_line(self.position, "")
        where = f"{self.parent.scenario.name} -> {self.parent.entry.label}"
        return self.path, line - 1 if self.position else None, f"{where} › {self.label}"


@record(frozen=True)
class _Outcome:
    kind: str  # "passed", "skipped" or "failed"
    text: str = ""  # why it was skipped; for a failure, the exchange under the server's line
    headline: str = ""  # a failure's first finding, as `run --junit` gives it


def _outcome(result: Any, header: str, index: int, redact: Any, several: bool) -> _Outcome:
    """This step of one result. A warning is emitted here, at the step's line."""
    from probe.report.text import step_transcript
    from probe.results import Verdict

    name = _session_name(result, several)
    if result.verdict in (Verdict.NO_MAIL, Verdict.NO_SERVICE):
        return _Outcome("skipped", f"{name}: {result.verdict}: {redact(result.reason)}")
    step = result.steps[index] if index < len(result.steps) else None
    if step is None:
        return _Outcome("skipped", f"{name}: not run: {redact(result.reason) or 'no result'}")
    verdict, headline = step.verdict, step.reason
    if verdict is Verdict.SKIP and index == _blamed(result):
        # What kept the server from being probed, at the first step it kept from running.
        verdict, headline = result.verdict, result.reason
    if verdict in (Verdict.FAIL, Verdict.ERROR):
        where = f"  ({step.position})" if step.position else ""
        lines = [header]
        if result.reason:
            lines.append(f"      {redact(result.reason)}")
        lines.append(f"  {str(step.verdict).upper():5} {step.label}{where}")
        lines += [f"        {line}" for line in step_transcript(step, redact)]
        prefix = f"{name}: " if several else ""
        return _Outcome("failed", "\n".join(lines), prefix + redact(headline))
    if verdict is Verdict.SKIP:
        return _Outcome(
            "skipped", f"{name}: {redact(step.reason)}" if several else redact(step.reason)
        )
    for finding in step.findings:
        if finding.verdict is Verdict.WARN:
            message = f"{name}: {step.label}: {redact(finding.message)}"
            if finding.expected and finding.expected not in finding.message:
                message += f" (expected {finding.expected})"
            if finding.source:
                message += f" [{finding.source}]"
            _warn(message, *_file_line(step.position, result.scenario_path))
    return _Outcome("passed")


def _blamed(result: Any) -> int | None:
    """For a result that failed or errored with no step failing (a DNS error, a session the
    server cut short): the step that stands for it, the first not played. None otherwise."""
    from probe.results import Verdict

    if result.verdict not in (Verdict.FAIL, Verdict.ERROR):
        return None
    if any(step.verdict in (Verdict.FAIL, Verdict.ERROR) for step in result.steps):
        return None
    unplayed = [i for i, s in enumerate(result.steps) if s.verdict is Verdict.SKIP and s.applicable]
    return unplayed[0] if unplayed else 0


def _session_name(result: Any, several: bool) -> str:
    """`SCENARIO -> TARGET`, and with several MX hosts the one this result is about."""
    name = f"{result.scenario} -> {result.target}"
    host = result.details.get("mx_host")
    if several and (host or result.address):
        name += f" ({', '.join(str(part) for part in (host, result.address) if part)})"
    return name


def _server_warnings(result: Any, redact: Any, several: bool) -> None:
    """A target's own warnings (an MX that is an IP literal...), at the scenario's first line."""
    found = result.details.get("warnings")
    for warning in found if isinstance(found, list | tuple) else ():
        _warn(f"{_session_name(result, several)}: {redact(str(warning))}", result.scenario_path, 1)


def _file_line(position: str, default_file: str) -> tuple[str, int]:
    """`file:line:col` -> (file, line); the scenario file and line 1 when there is none."""
    parts = position.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return parts[0], int(parts[1])
    return default_file, 1


def _warn(message: str, filename: str, lineno: int) -> None:
    # At the step's own line: pytest's warnings summary then shows the scenario line.
    warnings.warn_explicit(message, SmtpProbeWarning, filename, lineno)


def pytest_collection_finish(session: pytest.Session) -> None:
    """How many items of each ScenarioRun will run, so its results go when they have."""
    for item in session.items:
        if isinstance(item, StepItem):
            item.parent.selected += 1


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if isinstance(item, StepItem):  # carried to the xdist controller with the report
        report.smtp_probe_junit = [item.junit_classname, item.junit_name, item.junit_message]
        if report.skipped and isinstance(report.longrepr, tuple):
            # -rs names the step's line in the scenario, not the line of the plugin that skipped
            _, line = _file_line(item.position, "")
            report.longrepr = (str(item.path), line, report.longrepr[2])
    return report


class _JunitNames:
    """pytest's --junitxml names a test after its node id; a step is named as `smtp-probe run
    --junit` names it instead: testcase `basic › rcpt <postmaster@example.test>`, classname
    `basic -> TARGET` (what GitLab's and Jenkins's test pages list), and a failure's message is
    the step's headline (its text stays the whole message). The names are set on the writer's
    record of the test before the writer handles the report, as pytest's record_xml_attribute
    sets them (they survive); the message after, on the <failure> it wrote. Under pytest-xdist
    this runs where the file is written, from what the report carries."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Iterator[None]:
        names = getattr(report, "smtp_probe_junit", None)
        reporter = self._reporter(report) if names else None
        if names and reporter is not None:
            reporter.add_attribute("classname", names[0])
            reporter.add_attribute("name", names[1])
        result = yield
        if names and names[2] and reporter is not None and report.failed and report.when == "call":
            nodes = getattr(reporter, "nodes", [])
            failure = next((n for n in reversed(nodes) if n.tag == "failure"), None)
            if failure is not None:
                from probe.report.junit import xml_text

                failure.set("message", xml_text(names[2]))
        return result

    def _reporter(self, report: pytest.TestReport) -> Any:
        try:
            from _pytest.junitxml import xml_key
        except ImportError:  # a pytest without it: its own names stay
            return None
        xml = self.config.stash.get(xml_key, None)
        return None if xml is None else xml.node_reporter(report)
