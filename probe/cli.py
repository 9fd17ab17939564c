"""Command line: parse arguments, call one layer, print, exit with a documented code.

Exit codes: 0 every server passed; 1 some check failed; 2 bad invocation or bad scenario (nothing
was sent); 3 some target could not be probed and nothing failed; 4 internal error.
Imports are lazy so that --help and --version start fast.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERNAL = 0, 1, 2, 3, 4
PROFILES = ("rfc5321", "standards", "permissive")  # kept in step with probe.codes.PROFILES
COMMANDS = (
    "run",
    "resolve",
    "list",
    "demo",
    "validate",
    "codes",
    "explain",
    "schema",
    "diff",
    "merge",
)


class UsageError(Exception):
    """Bad invocation: one line, exit 2."""


def _version() -> str:
    from probe import __version__

    return f"smtp-probe {__version__}"


RUN_EXAMPLES = """examples:
  smtp-probe run scenarios/basic.yaml mx.example.org --var domain=example.org
  smtp-probe run scenarios/ example.org --all-mx --format json
  smtp-probe run scenarios/syntax.yaml 127.0.0.1:2525 --strict --timeouts rfc

The bundled scenarios are in scenarios/ of the source tree (share/smtp-probe/scenarios where the
package is installed); `smtp-probe validate FILE` checks one without sending anything.
"""


class _Parser(argparse.ArgumentParser):
    """argparse with errors as one line and a hint, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see: {self.prog} --help)\n")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter for every add_argument, and each asks the terminal its size
        # (about a third of building the parser): ask once, with argparse's own rule.
        make: Any = self.formatter_class  # typeshed's protocol omits the width every one takes
        formatter: argparse.HelpFormatter = make(prog=self.prog, width=_help_width())
        return formatter


@functools.cache
def _help_width() -> int:
    import shutil

    return shutil.get_terminal_size().columns - 2


def _value_options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option of the parser and its subcommands that takes a value."""
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found |= _value_options(child)
        elif action.option_strings and action.nargs is None and action.const is None:
            # A value follows (flags such as --strict have nargs=0).
            found.update(o for o in action.option_strings if o.startswith("--"))
    return found


def _negative_values(argv: Sequence[str], options: set[str]) -> list[str]:
    """`--timeout -1` as `--timeout=-1`: with -4 and -6 among the options, argparse would take a
    negative number for an option and say "expected one argument" instead of what is wrong."""
    out: list[str] = []
    for token in argv:
        if out and out[-1] in options and re.fullmatch(r"-\d[\d.eE+-]*", token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with `only` the top level and that one command (what a run
    needs: building the other commands' options costs a cold start a few milliseconds)."""

    def wanted(name: str) -> bool:
        return only is None or only == name

    parser = _Parser(
        prog="smtp-probe",
        description="Play scripted SMTP sessions against mail servers and judge every reply "
        "against the reply codes the SMTP documents allow.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.commands = sub.choices  # type: ignore[attr-defined]

    if wanted("run"):
        _add_run_command(sub)
    if wanted("resolve"):
        resolve = sub.add_parser(
            "resolve", help="show which mail servers a domain would be probed on"
        )
        resolve.add_argument("targets", nargs="+", metavar="TARGET")
        resolve.add_argument("--port", type=_port, default=25, help="default port (25)")
        _add_dns_options(resolve)
    if wanted("list"):
        sub.add_parser("list", help="the bundled scenarios, with what each checks")
    if wanted("demo"):
        demo = sub.add_parser("demo", help="start a local aiosmtpd server and run basic.yaml on it")
        _add_output_options(demo)
        _add_judging_options(demo)
    if wanted("validate"):
        validate = sub.add_parser("validate", help="check scenario files without sending anything")
        validate.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO")
        validate.add_argument(
            "--var",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a variable's value, as run takes it (repeatable; others stand in as "
            "placeholders)",
        )
    if wanted("codes"):
        codes = sub.add_parser("codes", help="show the reply-code table with its sources")
        codes.add_argument("verb", nargs="?", metavar="COMMAND", help="e.g. RCPT, DATA, greeting")
    if wanted("explain"):
        explain = sub.add_parser(
            "explain",
            help="what a reply code (550) or an enhanced status code (5.7.1) means, and its "
            "sources",
        )
        explain.add_argument("code", metavar="CODE")
    if wanted("schema"):
        sub.add_parser("schema", help="print the JSON Schema of scenario files")
    if wanted("diff"):
        _add_ci_commands(sub)
    if wanted("merge"):
        merge = sub.add_parser(
            "merge", help="join the JSONL files of sharded runs (--shard) into one report"
        )
        merge.add_argument("files", nargs="+", type=Path, metavar="FILE")
        _add_output_options(merge)
    return parser


def _add_run_command(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="play a scenario (file or folder) against targets",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=RUN_EXAMPLES,
    )
    run.add_argument(
        "scenario",
        type=Path,
        help="scenario file, a folder of them, or a bundled scenario's name (smtp-probe list); "
        "more may follow before the targets (run basic relay smuggling mx.example.org): after the "
        "first, a word ending in .yaml or .yml, an existing folder or a bundled name is a "
        "scenario, and the first other word starts the targets (a target named like a bundled "
        "scenario takes its port: relay:25)",
    )
    run.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="DOMAIN, HOST[:PORT], IP[:PORT], [IPv6]:PORT (after any further scenarios)",
    )
    run.add_argument(
        "--targets",
        dest="targets_file",
        type=Path,
        metavar="FILE",
        help="read targets from FILE: one a line, each optionally followed by KEY=VALUE "
        "variables for that target only (# starts a comment); or, named *.yaml/*.yml or "
        "starting with '-', a YAML list of {target: ..., vars: {...}}",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print where each session would go and the steps it would play (variables bound); "
        "send nothing",
    )
    _add_run_options(run)
    _add_dns_options(run)


def _add_dns_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all-mx", action="store_true", help="probe every MX host, not just the first")
    p.add_argument(
        "--all-addresses",
        action="store_true",
        help="probe every address (A and AAAA) of every MX host, each in a session of its own",
    )
    p.add_argument(
        "--no-mx",
        action="store_true",
        help="take every NAME as a host: no MX lookup, its addresses from the system resolver "
        "(/etc/hosts, then DNS), as NAME:PORT does",
    )
    p.add_argument(
        "--nameserver",
        action="append",
        default=[],
        metavar="IP[:PORT]",
        help="ask this DNS server instead of the system's (repeatable)",
    )
    p.add_argument(
        "--resolve",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME:IP",
        help="use IP for NAME, as curl does (repeatable)",
    )
    p.add_argument(
        "--dns-timeout", type=seconds, default=5.0, metavar="S", help="per DNS query (default 5 s)"
    )
    p.add_argument("--seed", type=int, help="shuffle equal MX preferences reproducibly")
    family = p.add_mutually_exclusive_group()
    family.add_argument("-4", dest="ipv4", action="store_true", help="IPv4 addresses only")
    family.add_argument("-6", dest="ipv6", action="store_true", help="IPv6 addresses only")


def _add_judging_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default="rfc5321",
        help="documents that count (default rfc5321)",
    )
    p.add_argument("--strict", action="store_true", help="treat warnings as failures")
    p.add_argument(
        "--timeouts",
        choices=("short", "rfc"),
        default="short",
        help="reply timeouts per phase: short (default: 30 s for every reply, for interactive "
        "and CI use) or rfc (RFC 5321 §4.5.3.2: greeting, MAIL, RCPT 5 min, DATA 2 min, data "
        "block 3 min, end of data 10 min, other commands 5 min)",
    )
    p.add_argument(
        "--timeout",
        type=seconds,
        metavar="S",
        help="one reply timeout for every phase (overrides --timeouts; a step's timeout: wins)",
    )
    p.add_argument(
        "--connect-timeout",
        type=seconds,
        default=10.0,
        metavar="S",
        help="TCP connect timeout (default 10 s)",
    )
    p.add_argument(
        "--deadline",
        type=seconds,
        metavar="S",
        help="whole-session limit (s); default 300, or 3600 with --timeouts rfc",
    )
    p.add_argument(
        "--max-reply-bytes",
        type=_positive_int,
        default=64 * 1024,
        metavar="N",
        help="a longer reply ends the session with an error (default 65536)",
    )
    p.add_argument(
        "--max-reply-lines",
        type=_positive_int,
        default=1000,
        metavar="N",
        help="a reply with more lines ends the session with an error (default 1000)",
    )
    p.add_argument(
        "--tls-verify",
        action="store_true",
        help="certificate problems (chain, name) fail instead of warn",
    )
    p.add_argument(
        "--cafile", metavar="FILE", help="trust these CA certificates (PEM) instead of the system's"
    )
    p.add_argument(
        "--cert-days",
        type=_positive_int,
        metavar="N",
        help="warn when a certificate in the chain expires within N days",
    )
    p.add_argument(
        "--cert-days-critical",
        type=_positive_int,
        metavar="N",
        help="fail when a certificate in the chain expires within N days",
    )
    p.add_argument(
        "--dane",
        action="store_true",
        help="look up each host's TLSA records (_PORT._tcp.HOST, RFC 7672) and match them against "
        "its TLS chain; only records the resolver vouches for with the AD bit (DNSSEC) count",
    )
    p.add_argument(
        "--tls",
        choices=("implicit",),
        help="implicit: TLS from the first byte (RFC 8314, port 465; also smtps://HOST[:PORT])",
    )
    p.add_argument(
        "--settle",
        type=_non_negative_seconds,
        metavar="S",
        help="length of the quiet windows that catch unsolicited replies (after the greeting, "
        "before the final dot, after QUIT, before a step with settle:); default: twice the "
        "median round trip, at most 0.1 s",
    )


# probe.report.formats.FORMATS and jsonl, named here so that building the parser (--version,
# --help) imports no reporter; tests/test_cli_errors.py checks the two agree.
OUTPUT_FORMATS = ("text", "json", "jsonl", "markdown", "tap", "nagios")


def _add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=OUTPUT_FORMATS,
        default="text",
        help="stdout format (default text); jsonl: one result a line as each session ends, then "
        "a summary line, holding nothing in memory",
    )
    p.add_argument(
        "--output", type=Path, metavar="FILE", help="write the --format output to FILE, not stdout"
    )
    p.add_argument(
        "--report-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the JSON report into DIR (default: ./reports when the current folder is a "
        "checkout of smtp-probe; elsewhere no file is written)",
    )
    p.add_argument("--no-report", action="store_true", help="do not write the JSON report file")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show passing steps too, and the EHLO and TLS lines of passing servers",
    )


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a scenario variable (repeatable; default: the scenario's vars:); one that "
        "no scenario declares gets a warning",
    )
    p.add_argument(
        "--port", type=_port, default=None, help="default port (25; 465 with --tls implicit)"
    )
    p.add_argument(
        "--concurrency",
        type=_positive_int,
        default=8,
        metavar="N",
        help="sessions at once (default 8): a bound on open sockets",
    )
    p.add_argument(
        "--per-host",
        type=_positive_int,
        default=2,
        metavar="N",
        help="sessions at once against one server (address and port; default 2)",
    )
    p.add_argument(
        "--rate", type=_positive_float, metavar="R", help="at most R new sessions per second"
    )
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="probe only the targets whose server (MX host, or address) hashes to shard I of N "
        "(0 <= I < N); smtp-probe merge joins the shards' --format jsonl files",
    )
    _add_output_options(p)
    _add_judging_options(p)
    _add_ci_options(p)


def seconds(text: str) -> float:
    """An argparse type: a positive number of seconds (shared with the pytest plugin)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds: {text!r}")
    return value


def _non_negative_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= 60:
        raise argparse.ArgumentTypeError(f"must be between 0 and 60 seconds: {text!r}")
    return value


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}")
    return int(text)


def _vars(pairs: list[str]) -> dict[str, str]:
    from probe.targetsfile import parse_var

    out: dict[str, str] = {}
    for pair in pairs:
        try:
            key, value = parse_var(pair)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        out[key] = value
    return out


PROBLEMS_SHOWN = 50  # problem lines printed at most; the rest are counted
NAMES_SHOWN = 10  # variable names listed in one line at most; the rest are counted
LINE_MAX = 300  # characters of one problem line, at most


def print_problems(problems: Sequence[object]) -> None:
    """One line per problem, each cut at LINE_MAX characters, the first PROBLEMS_SHOWN of them:
    a file with a thousand typos gets a readable answer, not a megabyte."""
    for problem in problems[:PROBLEMS_SHOWN]:
        print(_cut(str(problem)), file=sys.stderr)
    if len(problems) > PROBLEMS_SHOWN:
        print(f"… and {len(problems) - PROBLEMS_SHOWN} more problems", file=sys.stderr)


def _cut(line: str) -> str:
    return line if len(line) <= LINE_MAX else line[: LINE_MAX - 1] + "…"


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # Reports quote RFC sections (§) and server text: on a non-UTF-8 terminal, escape what
        # it cannot show rather than fail half-way through a report.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    raw = list(sys.argv[1:] if argv is None else argv)
    if _nagios_wanted(raw):
        return _as_plugin(raw)
    return _main(raw)


def _nagios_wanted(raw: Sequence[str]) -> bool:
    from itertools import pairwise

    return "--format=nagios" in raw or ("--format", "nagios") in pairwise(raw)


class _PluginExit(BaseException):
    """--format nagios: the run is over and its state (0-3) is the exit code."""

    def __init__(self, state: int) -> None:
        self.state = state


def _as_plugin(raw: list[str]) -> int:
    """--format nagios: whatever stops the run (a bad option, a bad scenario, an internal error)
    is UNKNOWN (3), with a status line that says why, never 2, which a monitoring system would
    read as CRITICAL."""
    said = _Said(sys.stderr)
    sys.stderr = said
    try:
        code = _main(raw)
    except _PluginExit as exc:
        return exc.state
    except SystemExit as exc:  # argparse: a bad option (--help and --version exit 0)
        code = exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if code == EXIT_OK:
            raise
    finally:
        sys.stderr = said.stream
    if code in (EXIT_USAGE, EXIT_INTERNAL):
        why = said.first_line().removeprefix("smtp-probe: ") or "bad invocation"
        print(f"SMTP-PROBE UNKNOWN - {why.replace('|', '/')}")
        sys.stdout.flush()
        return 3
    return code


class _Said:
    """stderr, keeping what was written to it (for the plugin's UNKNOWN line)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.text: list[str] = []

    def write(self, text: str) -> int:
        self.text.append(text)
        return int(self.stream.write(text))

    def first_line(self) -> str:
        return "".join(self.text).strip().split("\n")[0][:LINE_MAX]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _main(raw: list[str]) -> int:

    # Only the command given is built (all of them for --help, --version or a mistyped one).
    parser = build_parser(raw[0] if raw and raw[0] in COMMANDS else None)
    args, extra = parser.parse_known_args(_negative_values(raw, _value_options(parser)))
    if extra:
        # Unknown options belong to the command they were given to: its usage, not the top's.
        command = getattr(parser, "commands", {}).get(getattr(args, "command", None), parser)
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        handler = {
            "run": _cmd_run,
            "resolve": _cmd_resolve,
            "demo": _cmd_demo,
            "list": _cmd_list,
            "validate": _cmd_validate,
            "codes": _cmd_codes,
            "explain": _cmd_explain,
            "schema": _cmd_schema,
            "diff": _cmd_diff,
            "merge": _cmd_merge,
        }[args.command]
        return handler(args)
    except UsageError as exc:
        print(f"smtp-probe: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("smtp-probe: interrupted", file=sys.stderr)
        return EXIT_UNREACHABLE
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # the promise: never a bare traceback
        from probe.errors import ScenarioError  # imported here: --version needs none of it

        if isinstance(exc, ScenarioError):  # one line per problem: file:line:column: message
            print_problems(exc.problems)
            return EXIT_USAGE
        if os.environ.get("SMTP_PROBE_DEBUG"):
            raise
        print(
            f"smtp-probe: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in smtp-probe. Please report it with the command line and the "
            "scenario; set SMTP_PROBE_DEBUG=1 to see the traceback.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


# ---- commands --------------------------------------------------------------------------------


def _load_scenarios(paths: list[Path], check: Any = None) -> list[Any]:
    from probe.bundled import find_bundled
    from probe.scenario.cache import load_path
    from probe.scenario.errors import ScenarioError

    scenarios, problems = [], []
    for path in paths:
        if not path.exists() and not path.is_symlink():
            # A bare name (`basic`) is a bundled scenario when no such file is here.
            path = find_bundled(str(path)) or path
        try:
            scenarios += load_path(path, check)
        except ScenarioError as exc:
            problems += exc.problems
    if problems:
        raise ScenarioError(problems)
    return scenarios


def _targets(args: argparse.Namespace) -> list[Any]:
    """TargetEntry for each TARGET, then for each entry of --targets FILE (with its variables)."""
    from probe.targets import DEFAULT_PORT, SMTPS_PORT, TargetError, parse_target
    from probe.targetsfile import TargetEntry, TargetsFileError, read_targets_file

    entries = []
    port = args.port
    if port is None:
        port = SMTPS_PORT if getattr(args, "tls", None) == "implicit" else DEFAULT_PORT
    for text in args.targets:
        try:
            entries.append(TargetEntry(parse_target(text, port)))
        except TargetError as exc:
            raise UsageError(f"bad target {exc}") from None
    if str(getattr(args, "targets_file", None)) == "-":
        from probe.streaming import entries as stream_entries
        from probe.streaming import line_batches

        problems: list[str] = []
        name, batches = line_batches(None)
        for batch in stream_entries(name, batches, args.port, problems.append):
            entries += batch
        if problems:
            raise UsageError("\nsmtp-probe: ".join(_cut(p) for p in problems[:PROBLEMS_SHOWN]))
    elif getattr(args, "targets_file", None) is not None:
        try:
            entries += read_targets_file(args.targets_file, port)
        except TargetsFileError as exc:  # one line each, as many lines as problems
            shown = [_cut(problem) for problem in exc.problems[:PROBLEMS_SHOWN]]
            if len(exc.problems) > PROBLEMS_SHOWN:
                shown.append(f"… and {len(exc.problems) - PROBLEMS_SHOWN} more problems")
            raise UsageError("\nsmtp-probe: ".join(shown)) from None
    if not entries:
        raise UsageError("no targets: give TARGET... or --targets FILE")
    return entries


def _resolver_config(args: argparse.Namespace) -> Any:
    from probe.resolve import ResolveConfigError, ResolverConfig

    try:
        return ResolverConfig.from_options(
            args.nameserver,
            args.overrides,
            timeout=args.dns_timeout,
            ipv4=args.ipv4,
            ipv6=args.ipv6,
            seed=args.seed,
            mx=not args.no_mx,
        )
    except ResolveConfigError as exc:
        raise UsageError(str(exc)) from None


def _cmd_run(args: argparse.Namespace) -> int:
    from probe.targetsfile import unused_variables

    overrides = _vars(args.var)
    from_files, from_env = _outside_vars(args)
    more = _more_scenarios(args)
    if args.format == "jsonl" and not args.dry_run:
        return _stream(args, {**from_files, **from_env, **overrides}, more)
    entries = _targets(args)
    config = _resolver_config(args)
    scenarios = _load_scenarios([args.scenario, *more])
    given = [(entry.where, entry.variables) for entry in entries if entry.variables]
    _warn(
        unused_variables(
            scenarios,
            overrides,
            "--var",
            [*_outside_given(args, scenarios, from_files, from_env), *given],
        )
    )
    overrides = {**from_files, **from_env, **overrides}  # README "Variables from files"
    targets = [entry.target for entry in entries]
    target_vars = [entry.variables for entry in entries]
    return _play(args, scenarios, targets, overrides, config, target_vars)


def _more_scenarios(args: argparse.Namespace) -> list[Path]:
    """The scenarios given after the first one (`run basic relay smuggling TARGET`), taken off
    the front of args.targets: a word ending in .yaml or .yml, an existing folder, or a bundled
    scenario's name (when no such file is here); the first other word starts the targets."""
    from probe.bundled import find_bundled

    more: list[Path] = []
    while args.targets:
        word = args.targets[0]
        path = Path(word)
        if not (
            word.endswith((".yaml", ".yml"))
            or path.is_dir()
            or (not path.exists() and find_bundled(word) is not None)
        ):
            break
        more.append(path)
        args.targets.pop(0)
    return more


def _warn(lines: Sequence[str]) -> None:
    print_problems([f"smtp-probe: warning: {line}" for line in lines])


def _cmd_resolve(args: argparse.Namespace) -> int:
    import asyncio

    from probe.resolve import DnsCache, PlanKind, plan_targets, render_plan

    targets = [entry.target for entry in _targets(args)]
    config = _resolver_config(args)
    plans = asyncio.run(plan_targets(targets, config, DnsCache.from_config(config)))
    for plan in plans:
        text = render_plan(plan, all_mx=args.all_mx, all_addresses=args.all_addresses)
        sys.stdout.write(text.rstrip("\n") + "\n")
    unusable = any(p.kind in (PlanKind.ERROR, PlanKind.NULL_MX) for p in plans)
    return EXIT_UNREACHABLE if unusable else EXIT_OK


def _play(
    args: argparse.Namespace,
    scenarios: list[Any],
    targets: list[Any],
    overrides: dict[str, str],
    config: Any,
    target_vars: list[Any] | None = None,
) -> int:
    from probe.report.files import ReportWriteError, report_name, write_atomic
    from probe.report.redact import Redactor
    from probe.resolve import direct_plans, render_plan
    from probe.scenario import ScenarioError
    from probe.session.orchestrate import look_up_dane, make_plan, run_plan

    check_cafile(args.cafile)
    options = _run_options(args)
    shard = _shard(args)
    all_mx = getattr(args, "all_mx", False)
    all_addresses = getattr(args, "all_addresses", False)
    dry_run = getattr(args, "dry_run", False)
    report_dir = None if args.no_report else (args.report_dir or default_report_dir(Path.cwd()))
    if report_dir is not None and not dry_run:
        _check_report_dir(report_dir)
    if not dry_run:
        _check_ci_files(args)
    limits = _thresholds(args)
    baseline = None if dry_run else _load_baseline(args)

    # Resolve, then bind (so `domain` can come from the target), then play: a bad scenario or
    # variable stops the run before any SMTP byte is sent. Address targets need no event loop.
    plans = direct_plans(targets, config)
    if plans is None:
        import asyncio

        from probe.resolve import DnsCache, plan_targets

        plans = asyncio.run(plan_targets(targets, config, DnsCache.from_config(config)))
    if shard is not None:
        kept = [i for i, target_plan in enumerate(plans) if shard.holds(target_plan)]
        plans = [plans[i] for i in kept]
        target_vars = [target_vars[i] for i in kept] if target_vars is not None else None
    try:
        plan = make_plan(
            scenarios,
            plans,
            overrides,
            os.environ,
            all_mx,
            target_vars,
            all_addresses=all_addresses,
        )
    except ScenarioError as exc:
        print_problems(exc.problems)
        return EXIT_USAGE
    if getattr(args, "dane", False) and not dry_run:
        import asyncio

        asyncio.run(look_up_dane(plan, config))
    if dry_run:
        for target_plan in plans:
            text = render_plan(target_plan, all_mx=all_mx, all_addresses=all_addresses)
            sys.stdout.write(text.rstrip("\n") + "\n")
        from probe.report import dryrun

        sys.stdout.write(dryrun.render(plan, Redactor(plan.secrets)))
        names = ", ".join(s.name for s in scenarios)
        print(f"dry run: would play {names} in {len(plan.jobs)} session(s); nothing was sent")
        return EXIT_OK
    progress = _progress(args, len(plan.jobs))
    try:
        run = run_plan(plan, options, getattr(args, "concurrency", 8), _limits(args), progress)
    finally:
        if progress is not None:
            progress.close()
    from probe import thresholds

    thresholds.apply(run, limits)
    redact = Redactor(plan.secrets)
    report_json = _write_report(
        args, run, redact, with_json=report_dir is not None, thresholds=limits
    )
    written = _write_ci_files(args, run, redact)
    if report_dir is not None:
        name = report_name(run.started_at, scenarios[0].name if len(scenarios) == 1 else "run")
        try:
            path = write_atomic(report_dir, name, report_json)
            print(f"report: {path}", file=sys.stderr)
        except ReportWriteError as exc:
            print(f"smtp-probe: {exc}", file=sys.stderr)
            written = False
    if args.format == "nagios":  # the plugin convention: the state is the exit code
        from probe.report import nagios

        raise _PluginExit(nagios.state(run) if written else nagios.UNKNOWN)
    if not written:
        return EXIT_USAGE if run.exit_code == EXIT_OK else run.exit_code
    if baseline is not None:
        from probe.report import json_report

        return _against_baseline(args, baseline, json_report.to_dict(run, redact))
    return run.exit_code


# ---- outputs for CI and monitoring (README "CI and monitoring") --------------------------------
# Files written beside the stdout report; each is checked before anything is sent.


def _add_ci_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--var-file",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="scenario variables from FILE: KEY=VALUE lines, or a YAML mapping (*.yaml/*.yml); "
        "--var beats SMTP_PROBE_VAR_NAME environment variables, which beat the file "
        "(repeatable; a later file beats an earlier one)",
    )
    p.add_argument(
        "--junit",
        type=Path,
        metavar="FILE",
        help="also write JUnit XML to FILE: a testsuite per scenario and server, a testcase per "
        "step (for GitHub, GitLab, Jenkins)",
    )
    p.add_argument(
        "--summary",
        type=Path,
        metavar="FILE",
        help='also append the Markdown report to FILE (e.g. "$GITHUB_STEP_SUMMARY")',
    )
    p.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="also write one self-contained HTML report to FILE: servers x steps coloured by "
        "verdict, a click on a cell shows the exchange and its rule, a filter box",
    )
    p.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="compare with a stored JSON report: fail (exit 1) only on steps whose verdict got "
        "worse (new fails, new errors); list what improved",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress line on stderr (shown only when stderr is a terminal and the run has "
        "several sessions)",
    )
    for level, word, verdict in (("warn", "warning", "warn"), ("crit", "critical", "fail")):
        p.add_argument(
            f"--{level}-ms",
            action="append",
            default=[],
            metavar="[PHASE=]MS",
            help=f"{word} response-time threshold in milliseconds: over it is a {verdict} "
            "finding; bare MS is the whole session, PHASE=MS one phase (greeting, ehlo, mail, "
            "rcpt, data, data-end, quit...); repeatable",
        )


def _outside_vars(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str]]:
    """The variables of --var-file files and of SMTP_PROBE_VAR_* environment variables."""
    from probe.varfile import VarFileError, from_environment, read_var_files

    try:
        return read_var_files(getattr(args, "var_file", [])), from_environment(os.environ)
    except VarFileError as exc:
        shown = [_cut(problem) for problem in exc.problems[:PROBLEMS_SHOWN]]
        raise UsageError("\nsmtp-probe: ".join(shown)) from None


def _outside_given(
    args: argparse.Namespace,
    scenarios: list[Any],
    from_files: dict[str, str],
    from_env: dict[str, str],
) -> list[tuple[str, dict[str, str]]]:
    """Where each of those came from, for the warning about variables no scenario declares (an
    environment variable named in full)."""
    from probe.varfile import ENV_PREFIX

    files = getattr(args, "var_file", [])
    where = "--var-file " + ", ".join(str(path) for path in files)
    declared = {name for scenario in scenarios for name in scenario.variables}
    env = {f"{ENV_PREFIX}{k}": v for k, v in from_env.items() if k not in declared}
    return [(where, from_files), ("environment", env)]


def _add_ci_commands(sub: Any) -> None:
    diff = sub.add_parser(
        "diff",
        help="compare two JSON reports: what regressed (exit 1), what improved",
    )
    diff.add_argument("old", type=Path, metavar="OLD.json")
    diff.add_argument("new", type=Path, metavar="NEW.json")


def _cmd_diff(args: argparse.Namespace) -> int:
    from probe.baseline import BaselineError, compare, load_report
    from probe.inputfile import shown

    try:
        old, new = load_report(args.old), load_report(args.new)
    except BaselineError as exc:
        raise UsageError(str(exc)) from None
    comparison = compare(old, new, shown(args.old))
    sys.stdout.write(comparison.render())
    return comparison.exit_code


def _load_baseline(args: argparse.Namespace) -> Any:
    """The --baseline report, read before anything is sent."""
    if getattr(args, "baseline", None) is None:
        return None
    from probe.baseline import BaselineError, load_report

    try:
        return load_report(args.baseline)
    except BaselineError as exc:
        raise UsageError(f"--baseline: {exc}") from None


def _against_baseline(args: argparse.Namespace, baseline: Any, report: Any) -> int:
    """Print what changed since the baseline (stderr: stdout keeps its format); the exit code
    becomes 1 for a regression, else 0 (3 if the run was interrupted)."""
    from probe.baseline import compare
    from probe.inputfile import shown

    comparison = compare(baseline, report, shown(args.baseline))
    sys.stderr.write(comparison.render())
    if comparison.exit_code:
        return comparison.exit_code
    return EXIT_UNREACHABLE if report.get("interrupted") else EXIT_OK


def _progress(args: argparse.Namespace, total: int) -> Any:
    from probe.progress import Progress

    if Progress.wanted(total, sys.stderr, getattr(args, "quiet", False)):
        return Progress(total, sys.stderr)
    return None


def _thresholds(args: argparse.Namespace) -> Any:
    from probe.thresholds import ThresholdError, Thresholds

    try:
        return Thresholds.parse(getattr(args, "warn_ms", []), getattr(args, "crit_ms", []))
    except ThresholdError as exc:
        raise UsageError(str(exc)) from None


def _check_ci_files(args: argparse.Namespace) -> None:
    """Fail before sending anything when an output file could not be written."""
    for option in ("junit", "summary", "html"):
        path = getattr(args, option, None)
        if path is None:
            continue
        folder = path.parent if str(path.parent) else Path(".")
        if path.is_dir():
            raise UsageError(f"--{option} {path}: is a directory")
        if not folder.is_dir():
            raise UsageError(f"--{option} {path}: no such folder {folder}")
        if not os.access(folder, os.W_OK):
            raise UsageError(f"--{option} {path}: the folder is not writable")


def _write_ci_files(args: argparse.Namespace, run: Any, redact: Any) -> bool:
    """Write the files asked for; False (and a line on stderr) when one could not be written."""
    from probe.report.files import ReportWriteError, write_atomic

    outputs = []
    if getattr(args, "junit", None) is not None:
        from probe.report import junit

        outputs.append(("junit", args.junit, junit.render(run, redact)))
    if getattr(args, "html", None) is not None:
        from probe.report import html

        outputs.append(("html", args.html, html.render(run, redact)))
    ok = True
    if getattr(args, "summary", None) is not None:
        from probe.report import markdown

        try:  # appended, as GitHub's job summary file expects: steps before may have written
            with args.summary.open("a", encoding="utf-8", errors="backslashreplace") as handle:
                handle.write(markdown.render(run, redact))
        except OSError as exc:
            print(f"smtp-probe: --summary {args.summary}: {exc.strerror or exc}", file=sys.stderr)
            ok = False
    for option, path, text in outputs:
        try:
            write_atomic(path.parent, path.name, text)
        except ReportWriteError as exc:
            print(f"smtp-probe: --{option}: {exc}", file=sys.stderr)
            ok = False
    return ok


def _run_options(args: argparse.Namespace) -> Any:
    from probe.session.machine import RunOptions
    from probe.session.timeouts import Timeouts

    return RunOptions(
        profile=args.profile,
        strict=args.strict,
        timeouts=Timeouts(args.timeouts, args.timeout),
        connect_timeout=args.connect_timeout,
        session_deadline=args.deadline or Timeouts(args.timeouts).default_deadline,
        max_reply_bytes=args.max_reply_bytes,
        max_reply_lines=args.max_reply_lines,
        tls_verify=args.tls_verify,
        cafile=args.cafile,
        cert_days=args.cert_days,
        cert_days_critical=args.cert_days_critical,
        implicit_tls=args.tls == "implicit",
        settle=args.settle,
    )


def _limits(args: argparse.Namespace) -> Any:
    from probe.session.limits import DEFAULT_PER_HOST, Limits

    return Limits(
        concurrency=getattr(args, "concurrency", 8),
        per_host=getattr(args, "per_host", DEFAULT_PER_HOST),
        rate=getattr(args, "rate", None),
    )


def _shard(args: argparse.Namespace) -> Any:
    if getattr(args, "shard", None) is None:
        return None
    from probe.shard import parse_shard

    try:
        return parse_shard(args.shard)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _output(args: argparse.Namespace) -> Any:
    """Where --format output goes: --output FILE (checked before anything is sent) or stdout."""
    if getattr(args, "output", None) is None:
        return sys.stdout
    try:
        return args.output.open("w", encoding="utf-8", errors="backslashreplace")
    except OSError as exc:
        raise UsageError(f"--output {args.output}: cannot write ({exc.strerror})") from None


def _write_report(
    args: argparse.Namespace, run: Any, redact: Any, with_json: bool, thresholds: Any = None
) -> str:
    """The run in --format, to stdout or --output; returns the JSON report when asked for it
    (for --report-dir, --baseline) or when it is the format."""
    report_json = ""
    if args.format == "json" or with_json:
        from probe.report import json_report

        report_json = json_report.render(run, redact)
    if args.format == "json":
        body = report_json
    elif args.format == "jsonl":
        from probe.report import jsonl

        tally = jsonl.Tally(interrupted=run.interrupted)
        lines = []
        for index, result in enumerate(run.results):
            tally.add(result.verdict, jsonl.warnings_of(result))
            lines.append(jsonl.result_line([index], result, redact))
        lines.append(
            jsonl.summary_line(tally, run.profile, run.strict, run.started_at, run.duration)
        )
        body = "".join(lines)
    elif args.format == "text":
        from probe.report import text

        body = text.render(run, redact, verbose=getattr(args, "verbose", False))
    else:
        from probe.report import formats

        context = formats.Context(verbose=getattr(args, "verbose", False))
        if thresholds is not None:
            context = formats.Context(verbose=context.verbose, thresholds=thresholds)
        body = formats.render(args.format, run, redact, context)
    out = _output(args)
    try:
        out.write(body)
        out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    return report_json


def _stream(args: argparse.Namespace, overrides: dict[str, str], more: Sequence[Path] = ()) -> int:
    """run --format jsonl: targets read lazily, a line per result as each session ends."""
    from probe import streaming
    from probe.report import jsonl
    from probe.targetsfile import is_yaml, unused_variables

    scenarios = _load_scenarios([args.scenario, *more])
    _warn(unused_variables(scenarios, overrides, "--var"))
    config = _resolver_config(args)
    shard = _shard(args)
    given: list[Any] = []
    for text in args.targets:
        given += _targets(argparse.Namespace(targets=[text], port=args.port))
    path = args.targets_file
    if path is not None and str(path) != "-":
        try:
            head = path.open(encoding="utf-8", errors="replace").read(4096)
        except OSError as exc:
            raise UsageError(f"{path}: cannot read targets: {exc.strerror}") from None
        if is_yaml(path, head):  # the YAML form is read whole, as without --format jsonl
            given += _targets(argparse.Namespace(targets=[], targets_file=path, port=args.port))
            path = None
    line_problems: list[str] = []  # `-:LINE: what is wrong`: that line is skipped

    def problem(text: str) -> None:
        print(f"smtp-probe: {_cut(text)}", file=sys.stderr)

    def line_problem(text: str) -> None:
        line_problems.append(text)
        problem(text)

    source: Any = iter([given] if given else [])
    if path is not None:
        import itertools

        name, batches = streaming.line_batches(path)
        lazily = streaming.entries(name, batches, args.port, line_problem)
        source = itertools.chain(source, lazily)
    elif not given:
        raise UsageError("no targets: give TARGET... or --targets FILE")
    options = _run_options(args)
    out = _output(args)
    try:
        tally = streaming.run(
            source,
            scenarios,
            overrides,
            os.environ,
            config,
            options,
            _limits(args),
            jsonl.Writer(out),
            all_mx=args.all_mx,
            all_addresses=args.all_addresses,
            shard=shard,
            problem=problem,
            skipped=lambda: len({p.split(": ", 1)[0] for p in line_problems}),
        )
    finally:
        if out is not sys.stdout:
            out.close()
    if out is not sys.stdout:
        print(tally.closing(options.profile, options.strict), file=sys.stderr)
    return tally.exit_code


def _cmd_merge(args: argparse.Namespace) -> int:
    """The JSONL files of sharded runs as one report, in the order of the target list."""
    from probe.report import jsonl
    from probe.report.redact import Redactor
    from probe.results import RunResult

    try:
        shards = jsonl.read(args.files)
    except jsonl.ShardError as exc:
        raise UsageError(str(exc)) from None
    summaries = shards.summaries
    interrupted = any(s.get("interrupted") for s in summaries)
    skipped = sum(int(s.get("skipped_targets") or 0) for s in summaries)
    first = next((s for s in summaries if "profile" in s), {})
    run = RunResult(
        results=[jsonl.result_from_dict(r) for r in shards.results],
        profile=first.get("profile", "rfc5321"),
        strict=bool(first.get("strict", False)),
        started_at=min((s["started_at"] for s in summaries if "started_at" in s), default=""),
        duration=max((s.get("duration_ms", 0) for s in summaries), default=0) / 1000,
        interrupted=interrupted,
    )
    if args.format == "json":
        # The results exactly as the shards wrote them (not rebuilt), in list order.
        import json

        from probe.report import json_report

        document = json_report.to_dict(run, Redactor(()))
        document["results"] = [
            {k: v for k, v in r.items() if k not in ("record", "order")} for r in shards.results
        ]
        document["shards"] = len(summaries)
        out = _output(args)
        out.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        if out is not sys.stdout:
            out.close()
    else:
        _write_report(args, run, Redactor(()), with_json=False)
    code = run.exit_code
    return EXIT_USAGE if code == EXIT_OK and skipped else code


def default_report_dir(cwd: Path) -> Path | None:
    """./reports in a checkout of smtp-probe (its pyproject.toml names the project); None
    elsewhere, so that running the tool in any folder leaves no files behind."""
    try:
        pyproject = (cwd / "pyproject.toml").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return Path("reports") if re.search(r'(?m)^name = "smtp-probe"$', pyproject) else None


def _check_report_dir(directory: Path) -> None:
    """Fail before sending anything when the report could not be written: make the folder and
    write a file in it, since permission bits do not tell (root, read-only mounts, /proc)."""
    import tempfile

    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--report-dir {directory}: not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".tmp-check-"):
            pass
    except OSError as exc:
        raise UsageError(f"--report-dir {directory}: not writable ({exc.strerror})") from None


MAX_CAFILE = 16 * 1024 * 1024  # a system CA bundle is about 200 KiB


def check_cafile(path: str | None) -> None:
    """--cafile names a readable regular file holding PEM certificates: checked before anything
    is sent (a DNS query included), since every TLS session would otherwise be judged against no
    trust anchors at all."""
    from probe.inputfile import InputFileError, read_bounded, shown

    if path is None:
        return
    try:
        data = read_bounded(Path(path), MAX_CAFILE)
    except InputFileError as exc:
        raise UsageError(f"--cafile {shown(path)}: {exc}") from None
    if len(data) > MAX_CAFILE:
        raise UsageError(f"--cafile {shown(path)}: over {MAX_CAFILE // (1024 * 1024)} MiB")
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise UsageError(f"--cafile {shown(path)}: no PEM certificate (BEGIN CERTIFICATE) in it")


def _cmd_demo(args: argparse.Namespace) -> int:
    from probe.bundled import find_bundled
    from probe.demo import DemoUnavailable, demo_server
    from probe.targets import parse_target

    scenario_path = find_bundled("basic.yaml")
    if scenario_path is None:
        raise UsageError("cannot find the bundled scenarios/basic.yaml")
    scenarios = _load_scenarios([scenario_path])
    try:
        with demo_server() as (host, port):
            print(f"demo: aiosmtpd listening on {host}:{port}", file=sys.stderr)
            from probe.resolve import ResolverConfig

            target = parse_target(f"{host}:{port}")
            args.concurrency = 1
            config = ResolverConfig()  # the target is an address: nothing is looked up
            return _play(args, scenarios, [target], {"domain": "example.test"}, config)
    except DemoUnavailable as exc:
        raise UsageError(str(exc)) from None


def _cmd_list(args: argparse.Namespace) -> int:
    from probe.bundled import bundled

    scenarios = _load_scenarios(bundled()) if bundled() else []
    if not scenarios:
        raise UsageError("no bundled scenarios found in this installation")
    width = max(len(s.name) for s in scenarios)
    for scenario in scenarios:
        print(f"{scenario.name:<{width}}  {scenario.description}")
        for need in _needs(scenario):
            print(f"{'':<{width}}    {need}")
    print(f"\n(in {Path(scenarios[0].path).parent}; run one by name: smtp-probe run basic TARGET)")
    return EXIT_OK


def _needs(scenario: Any) -> list[str]:
    """What a scenario asks of the user (variables without defaults) and of the server (the EHLO
    keywords its steps require; where missing, those steps are skipped as not applicable)."""
    needs = []
    missing = [name for name, var in scenario.variables.items() if var.default is None]
    if missing:
        given = " ".join(f"--var {name}=..." for name in missing)
        note = " (a host-name target gives domain)" if "domain" in missing else ""
        needs.append(f"needs: {given}{note}")
    keywords = sorted(
        {k for step in scenario.steps for k in (*step.requires, *_member_requires(step))}
    )
    if keywords:
        needs.append(f"uses: {', '.join(keywords)} (steps skip where not advertised)")
    return needs


def _member_requires(step: Any) -> list[str]:
    return [k for member in step.steps for k in member.requires]


def _cmd_validate(args: argparse.Namespace) -> int:
    # Loading and binding, as `run` does before it connects: syntax, keys, types, variables,
    # expectations, expansion. Values not given (--var, ${env:...} secrets) stand in as
    # placeholders, so a file can be checked without them.
    from probe.scenario import bind
    from probe.targetsfile import unused_variables

    overrides = _vars(args.var)

    def check(scenario: Any) -> None:
        values = {k: v for k, v in overrides.items() if k in scenario.variables}
        bind(scenario, values, os.environ, placeholders=True)

    from probe.scenario import ScenarioError

    # Every file gets its line, good or bad: one broken file does not hide the others' results.
    # The problem lines share one budget (PROBLEMS_SHOWN), so a folder of broken files still
    # gets a readable answer.
    scenarios, failed = [], False
    budget, untold = PROBLEMS_SHOWN, 0

    def print_problems(problems: Sequence[object]) -> None:
        nonlocal budget, untold
        for problem in problems[:budget]:
            print(_cut(str(problem)), file=sys.stderr)
        untold += max(0, len(problems) - budget)
        budget = max(0, budget - len(problems))

    for path in args.scenarios:
        group = [path]
        if path.is_dir():
            group = sorted(p for p in path.iterdir() if p.suffix.lower() in (".yaml", ".yml"))
        loaded = []
        for file in group or [path]:
            try:
                loaded += _load_scenarios([file], check)
            except ScenarioError as exc:
                print_problems(exc.problems)
                failed = True
        if path.is_dir() and not failed:
            try:
                _load_scenarios([path])  # what only a folder can break: two scenarios, one name
            except ScenarioError as exc:
                print_problems(exc.problems)
                failed = True
        for scenario in loaded:
            missing = [
                n for n, v in scenario.variables.items() if v.default is None and n not in overrides
            ]
            needs = " ".join(f"{m}=..." for m in missing[:NAMES_SHOWN])
            if len(missing) > NAMES_SHOWN:
                needs += f" … ({len(missing) - NAMES_SHOWN} more)"
            needs = f" (needs --var {needs})" if missing else ""
            count = len(scenario.steps)
            print(f"{scenario.path}: ok, {count} step{'' if count == 1 else 's'}{needs}")
        scenarios += loaded
    if untold:
        print(f"… and {untold} more problems", file=sys.stderr)
    _warn(unused_variables(scenarios, overrides))
    return EXIT_USAGE if failed else EXIT_OK


def _cmd_codes(args: argparse.Namespace) -> int:
    from probe.codes import load_table, render_codes

    table = load_table()
    try:
        sys.stdout.write(render_codes(table, args.verb))
    except KeyError:
        raise UsageError(
            f"unknown command {args.verb!r}; known: {', '.join(table.commands)}"
        ) from None
    return EXIT_OK


def _cmd_explain(args: argparse.Namespace) -> int:
    from probe.codes import load_table, render_explain
    from probe.codes.enhanced import looks_enhanced, render_enhanced

    if looks_enhanced(args.code):
        sys.stdout.write(render_enhanced(args.code))
        return EXIT_OK
    if not (args.code.isdigit() and len(args.code) == 3):
        raise UsageError(
            f"explain: {args.code!r} is neither a three-digit reply code (550) nor an enhanced "
            "status code (5.7.1)"
        )
    sys.stdout.write(render_explain(load_table(), int(args.code)))
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    import json

    from probe.scenario.schema import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
