"""Command-line mistakes get one line and a hint, from the command they were made in."""

from __future__ import annotations

import pytest
from conftest import BASIC


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["run", str(BASIC), "127.0.0.1:9", "--timeout", "-1"],
            "smtp-probe run: argument --timeout: must be between 0 and 86400 seconds: '-1' "
            "(see: smtp-probe run --help)",
        ),
        (
            ["run", str(BASIC), "--bogus"],
            "smtp-probe run: unrecognized arguments: --bogus (see: smtp-probe run --help)",
        ),
        (["--bogus"], "smtp-probe: unrecognized arguments: --bogus (see: smtp-probe --help)"),
        (
            ["run", str(BASIC), "127.0.0.1:9", "--concurrency", "-3"],
            "smtp-probe run: argument --concurrency: not a positive whole number: '-3' "
            "(see: smtp-probe run --help)",
        ),
    ],
    ids=["negative-timeout", "unknown-run-option", "unknown-top-option", "negative-count"],
)
def test_a_usage_error_is_one_line_with_a_hint(cli, args, line):
    result = cli(*args, timeout=30)
    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [line]


def test_minus_4_is_still_the_ipv4_flag(cli):
    result = cli("run", str(BASIC), "127.0.0.1:9", "-4", "--dry-run", "--var", "domain=x",
                 timeout=30)  # fmt: skip
    assert result.code == 0, result.stderr
    assert "nothing was sent" in result.stdout


def test_every_option_has_help_and_names_its_default():
    import argparse

    from probe.cli import build_parser

    parser = build_parser()
    for name, command in parser.commands.items():  # type: ignore[attr-defined]
        for action in command._actions:
            if not action.option_strings or "-h" in action.option_strings:
                continue
            assert action.help, (name, action.option_strings)
            if action.default not in (None, False, [], argparse.SUPPRESS):
                assert "default" in action.help, (name, action.option_strings, action.help)


def test_a_command_built_alone_is_the_command_built_with_the_others():
    """A run builds only its own command's parser (cold start): it must be the same parser."""
    from probe.cli import COMMANDS, build_parser

    def shape(parser):
        return [
            (a.option_strings, a.dest, a.nargs, a.default, a.help, a.type, a.choices)
            for a in parser._actions
        ]

    full = build_parser()
    assert list(full.commands) == list(COMMANDS)  # type: ignore[attr-defined]
    for name in COMMANDS:
        alone = build_parser(name)
        assert list(alone.commands) == [name]  # type: ignore[attr-defined]
        mine, theirs = alone.commands[name], full.commands[name]  # type: ignore[attr-defined]
        assert shape(mine) == shape(theirs), name
        assert mine.format_help() == theirs.format_help()


def test_run_help_ends_with_examples_and_where_the_scenarios_are(cli):
    result = cli("run", "--help", timeout=30)
    assert result.code == 0
    tail = result.stdout.strip().splitlines()[-7:]
    assert tail[0] == "examples:"
    assert sum(line.startswith("  smtp-probe run ") for line in tail) == 3
    assert "bundled scenarios" in result.stdout


def test_localhost_reaches_a_loopback_server_without_asking_dns(cli, aiosmtpd_server: str):
    # RFC 6761 §6.3: localhost is loopback; no DNS server is configured or asked here.
    port = aiosmtpd_server.rsplit(":", 1)[1]
    result = cli("run", str(BASIC), f"localhost:{port}", "--var", "domain=example.test",
                 "--no-report", "--nameserver", "127.0.0.1:9", "--dns-timeout", "0.5",
                 timeout=60)  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"PASS  basic -> localhost:{port} (127.0.0.1:{port})")
    plan = cli("resolve", "localhost", "--nameserver", "127.0.0.1:9", "--dns-timeout", "0.5",
               timeout=30)  # fmt: skip
    assert plan.code == 0, plan.stdout + plan.stderr
    assert "127.0.0.1" in plan.stdout and "no MX lookup" in plan.stdout


def test_the_format_choices_are_the_reporters():
    from probe.cli import OUTPUT_FORMATS
    from probe.report.formats import FORMATS

    assert set(OUTPUT_FORMATS) == {*FORMATS, "jsonl"}
