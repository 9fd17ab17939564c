"""Command line: parse arguments, call one layer, print, exit with a documented code.

Exit codes: 0 every server passed; 1 some check failed; 2 bad invocation or bad scenario (nothing
was sent); 3 some target could not be probed and nothing failed; 4 internal error.
Imports are lazy so that --help and --version start fast.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERNAL = 0, 1, 2, 3, 4
PROFILES = ("rfc5321", "standards", "permissive")  # kept in step with probe.codes.PROFILES


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="smtp-probe",
        description="Play scripted SMTP sessions against mail servers and judge every reply "
        "against the reply codes the SMTP documents allow.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.commands = sub.choices  # type: ignore[attr-defined]

    run = sub.add_parser(
        "run",
        help="play a scenario (file or folder) against targets",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=RUN_EXAMPLES,
    )
    run.add_argument(
        "scenario",
        type=Path,
        help="scenario file, a folder of them, or a bundled scenario's name (smtp-probe list)",
    )
    run.add_argument(
        "targets", nargs="*", metavar="TARGET", help="DOMAIN, HOST[:PORT], IP[:PORT], [IPv6]:PORT"
    )
    run.add_argument(
        "--targets",
        dest="targets_file",
        type=Path,
        metavar="FILE",
        help="read targets from FILE, one a line, # comments",
    )
    run.add_argument(
        "--dry-run", action="store_true", help="print the resolution plan and send nothing"
    )
    _add_run_options(run)
    _add_dns_options(run)

    resolve = sub.add_parser("resolve", help="show which mail servers a domain would be probed on")
    resolve.add_argument("targets", nargs="+", metavar="TARGET")
    resolve.add_argument("--port", type=_port, default=25, help="default port (25)")
    _add_dns_options(resolve)

    sub.add_parser("list", help="the bundled scenarios, with what each checks")
    demo = sub.add_parser("demo", help="start a local aiosmtpd server and run basic.yaml on it")
    _add_output_options(demo)
    _add_judging_options(demo)

    validate = sub.add_parser("validate", help="check scenario files without sending anything")
    validate.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO")
    validate.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a variable's value, as run takes it (repeatable; others stand in as placeholders)",
    )

    codes = sub.add_parser("codes", help="show the reply-code table with its sources")
    codes.add_argument("verb", nargs="?", metavar="COMMAND", help="e.g. RCPT, DATA, greeting")

    explain = sub.add_parser("explain", help="what a reply code means and who may send it")
    explain.add_argument("code", metavar="CODE")

    sub.add_parser("schema", help="print the JSON Schema of scenario files")
    return parser


def _add_dns_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all-mx", action="store_true", help="probe every MX host, not just the first")
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
    p.add_argument("--tls-verify", action="store_true", help="verify certificates on STARTTLS")
    p.add_argument(
        "--settle",
        type=_non_negative_seconds,
        metavar="S",
        help="length of the quiet windows that catch unsolicited replies (after the greeting, "
        "before the final dot, after QUIT, before a step with settle:); default: twice the "
        "median round trip, at most 0.1 s",
    )


def _add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format", choices=("text", "json"), default="text", help="stdout format (default text)"
    )
    p.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports"),
        metavar="DIR",
        help="where the JSON report is written (default ./reports)",
    )
    p.add_argument("--no-report", action="store_true", help="do not write the JSON report file")
    p.add_argument("-v", "--verbose", action="store_true", help="show passing steps too")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a scenario variable (repeatable; default: the scenario's vars:)",
    )
    p.add_argument("--port", type=_port, default=25, help="default port (25)")
    p.add_argument(
        "--concurrency",
        type=_positive_int,
        default=8,
        metavar="N",
        help="sessions at once (default 8)",
    )
    _add_output_options(p)
    _add_judging_options(p)


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


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}")
    return int(text)


def _vars(pairs: list[str]) -> dict[str, str]:
    from probe.wire import no_wire_form

    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--var {pair!r}: expected KEY=VALUE")
        unsendable = no_wire_form(value)
        if unsendable is not None:
            shown = pair.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
            raise UsageError(f"--var {shown}: the value {unsendable}; it cannot be sent")
        out[key.strip()] = value
    return out


PROBLEMS_SHOWN = 50  # problem lines printed at most; the rest are counted
NAMES_SHOWN = 10  # variable names listed in one line at most; the rest are counted
LINE_MAX = 300  # characters of one problem line, at most


def print_problems(problems: Sequence[object]) -> None:
    """One line per problem, each cut at LINE_MAX characters, the first PROBLEMS_SHOWN of them:
    a file with a thousand typos gets a readable answer, not a megabyte."""
    for problem in problems[:PROBLEMS_SHOWN]:
        line = str(problem)
        print(line if len(line) <= LINE_MAX else line[: LINE_MAX - 1] + "…", file=sys.stderr)
    if len(problems) > PROBLEMS_SHOWN:
        print(f"… and {len(problems) - PROBLEMS_SHOWN} more problems", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    from probe.errors import ScenarioError  # small: no YAML, no asyncio

    for stream in (sys.stdout, sys.stderr):
        # Reports quote RFC sections (§) and server text: on a non-UTF-8 terminal, escape what
        # it cannot show rather than fail half-way through a report.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    raw = list(sys.argv[1:] if argv is None else argv)
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
        }[args.command]
        return handler(args)
    except UsageError as exc:
        print(f"smtp-probe: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ScenarioError as exc:  # one line per problem: file:line:column: message
        print_problems(exc.problems)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("smtp-probe: interrupted", file=sys.stderr)
        return EXIT_UNREACHABLE
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # the promise: never a bare traceback
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
    from probe.scenario import ScenarioError, load_path

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
    from probe.inputfile import InputFileError, read_bounded, shown
    from probe.targets import TargetError, parse_target

    texts = [(t, "") for t in args.targets]
    if getattr(args, "targets_file", None) is not None:
        path = args.targets_file
        limit = 1024 * 1024
        try:
            data = read_bounded(path, limit)
            if len(data) > limit:
                raise InputFileError(f"is over {limit // 1024} KiB; a targets file is one per line")
            lines = data.decode("utf-8").splitlines()
        except InputFileError as exc:
            raise UsageError(f"{shown(path)}: cannot read targets: {exc}") from None
        except UnicodeDecodeError as exc:
            raise UsageError(
                f"{shown(path)}: cannot read targets: not UTF-8 ({exc.reason})"
            ) from None
        for number, line in enumerate(lines, 1):
            text = line.split("#", 1)[0].strip()
            if text:
                texts.append((text, f"{path}:{number}: "))
    if not texts:
        raise UsageError("no targets: give TARGET... or --targets FILE")
    targets = []
    for text, where in texts:
        try:
            targets.append(parse_target(text, args.port))
        except TargetError as exc:
            raise UsageError(f"{where}bad target {exc}") from None
    return targets


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
        )
    except ResolveConfigError as exc:
        raise UsageError(str(exc)) from None


def _cmd_run(args: argparse.Namespace) -> int:
    overrides = _vars(args.var)
    targets = _targets(args)
    config = _resolver_config(args)
    scenarios = _load_scenarios([args.scenario])
    return _play(args, scenarios, targets, overrides, config)


def _cmd_resolve(args: argparse.Namespace) -> int:
    import asyncio

    from probe.resolve import DnsCache, PlanKind, plan_targets, render_plan

    targets = _targets(args)
    config = _resolver_config(args)
    plans = asyncio.run(plan_targets(targets, config, DnsCache.from_config(config)))
    for plan in plans:
        sys.stdout.write(render_plan(plan, all_mx=args.all_mx).rstrip("\n") + "\n")
    unusable = any(p.kind in (PlanKind.ERROR, PlanKind.NULL_MX) for p in plans)
    return EXIT_UNREACHABLE if unusable else EXIT_OK


def _play(
    args: argparse.Namespace,
    scenarios: list[Any],
    targets: list[Any],
    overrides: dict[str, str],
    config: Any,
) -> int:
    import asyncio

    from probe.report import json_report, text
    from probe.report.files import ReportWriteError, report_name, write_atomic
    from probe.report.redact import Redactor
    from probe.resolve import DnsCache, plan_targets, render_plan
    from probe.scenario import ScenarioError
    from probe.session.machine import RunOptions
    from probe.session.orchestrate import make_plan, run_plan
    from probe.session.timeouts import Timeouts

    options = RunOptions(
        profile=args.profile,
        strict=args.strict,
        timeouts=Timeouts(args.timeouts, args.timeout),
        connect_timeout=args.connect_timeout,
        session_deadline=args.deadline or Timeouts(args.timeouts).default_deadline,
        max_reply_bytes=args.max_reply_bytes,
        max_reply_lines=args.max_reply_lines,
        tls_verify=args.tls_verify,
        settle=args.settle,
    )
    all_mx = getattr(args, "all_mx", False)
    dry_run = getattr(args, "dry_run", False)
    if not args.no_report and not dry_run:
        _check_report_dir(args.report_dir)

    async def main() -> Any:
        # Resolve, then bind (so `domain` can come from the target), then play: a bad scenario
        # or variable stops the run before any SMTP byte is sent.
        plans = await plan_targets(targets, config, DnsCache.from_config(config))
        return plans, make_plan(scenarios, plans, overrides, os.environ, all_mx)

    try:
        plans, plan = asyncio.run(main())
    except ScenarioError as exc:
        print_problems(exc.problems)
        return EXIT_USAGE
    if dry_run:
        for target_plan in plans:
            sys.stdout.write(render_plan(target_plan, all_mx=all_mx).rstrip("\n") + "\n")
        names = ", ".join(s.name for s in scenarios)
        print(f"dry run: would play {names} in {len(plan.jobs)} session(s); nothing was sent")
        return EXIT_OK
    run = run_plan(plan, options, getattr(args, "concurrency", 8))
    redact = Redactor(plan.secrets)
    report_json = json_report.render(run, redact)
    if args.format == "json":
        sys.stdout.write(report_json)
    else:
        sys.stdout.write(text.render(run, redact, verbose=args.verbose))
    sys.stdout.flush()
    if not args.no_report:
        name = report_name(run.started_at, scenarios[0].name if len(scenarios) == 1 else "run")
        try:
            path = write_atomic(args.report_dir, name, report_json)
        except ReportWriteError as exc:
            print(f"smtp-probe: {exc}", file=sys.stderr)
            return EXIT_USAGE if run.exit_code == EXIT_OK else run.exit_code
        print(f"report: {path}", file=sys.stderr)
    return run.exit_code


def _check_report_dir(directory: Path) -> None:
    """Fail before sending anything when the report could not be written."""
    target = directory if directory.exists() else directory.parent
    while not target.exists() and target != target.parent:
        target = target.parent
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--report-dir {directory}: not a directory")
    if not os.access(target, os.W_OK | os.X_OK):
        raise UsageError(f"--report-dir {directory}: not writable")


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
    print(f"\n(in {Path(scenarios[0].path).parent}; run one by name: smtp-probe run basic TARGET)")
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    # Loading and binding, as `run` does before it connects: syntax, keys, types, variables,
    # expectations, expansion. Values not given (--var, ${env:...} secrets) stand in as
    # placeholders, so a file can be checked without them.
    from probe.scenario import bind

    overrides = _vars(args.var)

    def check(scenario: Any) -> None:
        values = {k: v for k, v in overrides.items() if k in scenario.variables}
        bind(scenario, values, os.environ, placeholders=True)

    for scenario in _load_scenarios(args.scenarios, check):
        missing = [
            n for n, v in scenario.variables.items() if v.default is None and n not in overrides
        ]
        needs = " ".join(f"{m}=..." for m in missing[:NAMES_SHOWN])
        if len(missing) > NAMES_SHOWN:
            needs += f" … ({len(missing) - NAMES_SHOWN} more)"
        needs = f" (needs --var {needs})" if missing else ""
        count = len(scenario.steps)
        print(f"{scenario.path}: ok, {count} step{'' if count == 1 else 's'}{needs}")
    return EXIT_OK


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

    if not (args.code.isdigit() and len(args.code) == 3):
        raise UsageError(f"explain: {args.code!r} is not a three-digit reply code")
    sys.stdout.write(render_explain(load_table(), int(args.code)))
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    import json

    from probe.scenario.schema import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
