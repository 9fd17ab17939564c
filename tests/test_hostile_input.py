"""Hostile input, round two: what a scenario file and a server together could do to a run.

Each test goes through the CLI entry point: exit code, a one-line message, no traceback, bounded
time."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from servers import Behaviour, ScriptedServer


def test_a_catastrophic_pattern_against_a_hostile_reply_is_matched_in_linear_time(
    cli, tmp_path: Path
):
    # With a backtracking engine, (a+)+$ against forty a's and a "!" takes longer than the age
    # of the universe and no signal or deadline could stop it. RE2 answers at once.
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        'name: s\nsteps:\n  - connect: {expect: {code: 220, text: "(a+)+$"}}\n  - quit\n',
        encoding="utf-8",
    )
    greeting = b"220 " + b"a" * 40 + b"!\r\n"
    with ScriptedServer(Behaviour(greeting=greeting)) as server:
        started = time.monotonic()
        result = cli("run", str(scenario), server.target, "--no-report", "--format", "json",
                     "--deadline", "5", timeout=20)  # fmt: skip
        took = time.monotonic() - started
    assert "Traceback" not in result.stdout + result.stderr
    assert took < 10
    connect = result.json()["results"][0]["steps"][0]
    assert connect["verdict"] == "fail"  # the text does not end in a's: unmet, judged
    assert "reply text does not match" in connect["reason"]


def test_a_pattern_re2_cannot_run_is_refused_before_anything_is_sent(cli, tmp_path: Path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        'name: s\nsteps:\n  - connect: {expect: {code: 220, text: "(a)\\\\1"}}\n',
        encoding="utf-8",
    )
    with ScriptedServer(Behaviour()) as server:
        result = cli("run", str(scenario), server.target, "--no-report", timeout=20)
        connections = server.connections
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "backreferences cannot be matched in linear time" in lines[0]
    assert lines[0].startswith(f"{scenario}:3:41: bad regex in 'text'")
    assert connections == 0


def test_an_expansion_bomb_is_refused_by_validate_and_run_alike(cli, tmp_path: Path):
    # Nine levels of ten references in under a kilobyte: ten gigabytes if expanded.
    lines = ["name: bomb", "vars:", '  v0: "0123456789"']
    for level in range(1, 10):
        lines.append(f"  v{level}: '" + f"${{v{level - 1}}}" * 10 + "'")
    lines += ["steps:", "  - ehlo: ${v9}"]
    scenario = tmp_path / "bomb.yaml"
    scenario.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert scenario.stat().st_size < 1024
    # v7 is the first to pass the cap (10^8 characters); nothing bigger is ever built.
    expected = f"{scenario}:10:3: expands to more than 16 MiB (variables nested too deep?)"
    for command in (["validate", str(scenario)], ["run", str(scenario), "127.0.0.1:9"]):
        started = time.monotonic()
        result = cli(*command, timeout=30)
        assert time.monotonic() - started < 10
        assert result.code == 2, result.stdout + result.stderr
        assert result.stderr.strip().splitlines() == [expected]


# ---- text that has no wire form: refused before anything is sent -------------------------


def _refused_before_sending(cli, tmp_path: Path, scenario_text: str, *args: str, env=None):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(scenario_text, encoding="utf-8")
    with ScriptedServer(Behaviour()) as server:
        result = cli("run", str(scenario), server.target, *args, timeout=30, env=env)
        connections = server.connections
    assert result.code == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert connections == 0, "nothing may be sent for refused input"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return scenario, lines[0]


def test_a_lone_surrogate_in_the_file_is_refused_with_its_position(cli, tmp_path: Path):
    scenario, line = _refused_before_sending(
        cli, tmp_path, 'name: s\nsteps:\n  - ehlo: "a\\uD800b"\n'
    )
    assert line == (
        f"{scenario}:3:11: 'domain' holds U+D800, a lone surrogate with no UTF-8 form "
        "(offset 1): it cannot be sent"
    )


def test_a_var_that_is_not_utf8_is_refused_naming_the_var(cli, tmp_path: Path):
    import os
    import subprocess
    import sys

    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\nvars:\n  d:\nsteps:\n  - ehlo: ${d}\n", encoding="utf-8")
    with ScriptedServer(Behaviour()) as server:
        proc = subprocess.run(
            [sys.executable.encode(), b"-m", b"probe", b"run", str(scenario).encode(),
             server.target.encode(), b"--var", b"d=caf\xe9"],
            capture_output=True, cwd=tmp_path, env={**os.environ}, timeout=30,
        )  # fmt: skip
        connections = server.connections
    assert proc.returncode == 2 and connections == 0
    assert proc.stderr.decode().strip() == (
        "smtp-probe: --var d=caf\\xe9: the value is not valid UTF-8 (byte 0xE9 at offset 3); "
        "it cannot be sent"
    )


def test_an_environment_variable_that_is_not_utf8_is_refused_naming_it(cli, tmp_path: Path):
    import os
    import subprocess
    import sys

    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: s\nsteps:\n  - ehlo: a.test\n"
        "  - auth: {mechanism: PLAIN, username: u, password: '${env:PW}'}\n",
        encoding="utf-8",
    )
    env = {k.encode(): v.encode() for k, v in os.environ.items()} | {b"PW": b"p\xe9ss"}
    with ScriptedServer(Behaviour()) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "probe", "run", str(scenario), server.target, "--no-report"],
            capture_output=True, cwd=tmp_path, env=env, timeout=30,
        )  # fmt: skip
        connections = server.connections
    assert proc.returncode == 2 and connections == 0
    assert proc.stderr.decode().strip() == (
        f"{scenario}:4:5: environment variable 'PW' is not valid UTF-8 (byte 0xE9 at offset 1): "
        "it cannot be sent"
    )


def test_a_long_scenario_name_gives_a_short_safe_report_file_name(cli, tmp_path: Path):
    name = "a/b " * 100  # 400 characters, with path separators
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f'name: "{name}"\nsteps:\n  - ehlo: a.test\n  - quit\n', encoding="utf-8")
    with ScriptedServer(Behaviour()) as server:
        result = cli("run", str(scenario), server.target, "--report-dir", "reports", timeout=30)
    assert result.code == 0, result.stdout + result.stderr
    reports = list((tmp_path / "reports").iterdir())
    assert len(reports) == 1 and len(reports[0].name) < 120
    assert "/" not in reports[0].name[len("smtp-probe-") :]


# ---- special files and names: a clear line, never a hang --------------------------------------


def test_special_files_give_one_clear_line_each_and_never_hang(cli, tmp_path: Path):
    import os

    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    loop_a, loop_b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    odd = tmp_path / "new\nline\tname.yaml"
    odd.write_text("name: odd\nsteps: [noop\n", encoding="utf-8")
    started = time.monotonic()
    result = cli("validate", str(fifo), str(loop_a), "/dev/zero", str(odd), timeout=20)
    assert time.monotonic() - started < 10
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"{fifo}: is a FIFO (named pipe), not a regular file"
    assert lines[1] == f"{loop_a}: a loop of symbolic links"
    assert lines[2] == "/dev/zero: is a character device, not a regular file"
    assert lines[3].startswith(f"{tmp_path}/new\\nline\\tname.yaml:")  # escaped, one line
    assert len(lines) == 4
    targets = cli("run", "--targets", str(fifo), str(odd), timeout=20)
    assert targets.code == 2
    assert targets.stderr.strip() == (
        f"smtp-probe: {fifo}: cannot read targets: is a FIFO (named pipe), not a regular file"
    )


# ---- messages a person can read -----------------------------------------------------------------


def test_a_tab_in_a_reply_is_shown_escaped_and_tls_failures_name_the_reason():
    import errno
    import ssl

    from probe.protocol.reader import ReplyReader
    from probe.session.drivers.common import tls_error

    reader = ReplyReader()
    reader.receive_data(b"250 a\tb\r\n")
    reply = reader.next_event()
    assert reply.display_lines == ["250 a\\tb"]  # type: ignore[union-attr]
    reset = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    assert tls_error(reset) == "the server reset the connection during the handshake"
    # asyncio's word for a close in the middle of the handshake: the class, with no errno
    assert tls_error(ConnectionResetError()) == (
        "the server closed the connection during the handshake"
    )
    assert tls_error(ssl.SSLEOFError()) == "the server closed the connection during the handshake"
    wrong = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    assert tls_error(wrong) == "[SSL: WRONG_VERSION_NUMBER] wrong version number"


def test_a_file_with_many_names_and_typos_validates_fast_with_a_short_answer(cli, tmp_path: Path):
    lines = ["name: many", "vars:"] + [f"  v{i}: x{i}" for i in range(14000)] + ["steps:"]
    lines += [f"  - noop: ${{u{i}}}" for i in range(1000)]
    scenario = tmp_path / "many.yaml"
    scenario.write_text("\n".join(lines) + "\n", encoding="utf-8")
    started = time.monotonic()
    result = cli("validate", str(scenario), timeout=60)
    took = time.monotonic() - started
    assert result.code == 2
    assert len(result.stderr.encode()) < 10_000
    assert result.stderr.strip().splitlines()[-1] == "… and 950 more problems"
    assert took < 10  # the bound is in bench terms about 1 s; this only guards against seconds


def test_tabs_from_the_server_and_the_scenario_are_shown_as_backslash_t(cli, tmp_path: Path):
    # A raw TAB (or line break) shifts or splits what the text report shows: every line of it
    # is one line, with \t for a TAB, whoever put it there.
    scenario = tmp_path / "tabs.yaml"
    scenario.write_text(
        'name: "tab\\there"\n'
        "steps:\n"
        "  - connect\n"
        '  - noop: {name: "no\\top", expect: {code: 250, text: "^OK\\tx"}, why: "a\\tb"}\n'
        "  - quit\n",
        encoding="utf-8",
    )
    greeting = b"220 tab\there ESMTP\r\n"
    with ScriptedServer(
        Behaviour(greeting=greeting, replies={"NOOP": b"250 2.0.0 no\tway\r\n"})
    ) as server:
        result = cli("run", str(scenario), server.target, "--no-report", "--verbose", timeout=30)
    assert result.code == 1, result.stdout + result.stderr  # the text pattern is unmet
    assert "\t" not in result.stdout and "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("FAIL  tab\\there -> ")
    assert "        S: 220 tab\\there ESMTP" in lines
    assert "        S: 250 2.0.0 no\\tway" in lines
    assert any(line.startswith("  FAIL  no\\top  (") for line in lines)
    assert any("text matching /^OK\\tx/" in line for line in lines)


TLS_SCENARIO = "name: tls\nsteps:\n  - connect\n  - ehlo: probe.test\n  - starttls\n  - quit\n"


def _starttls_reasons(cli, tmp_path: Path, after_220, targets: int, code: int) -> list[str]:
    """The reason given for the starttls step of each session, through the CLI (one target: the
    blocking driver; two: the asyncio driver)."""
    import json

    from servers import ehlo, pause, sequence

    scenario = tmp_path / "tls.yaml"
    scenario.write_text(TLS_SCENARIO, encoding="utf-8")
    reply = sequence(b"220 2.0.0 go ahead\r\n", pause(0.05), after_220)
    behaviour = Behaviour(replies={"EHLO": ehlo("STARTTLS"), "STARTTLS": reply})
    with ScriptedServer(behaviour) as server:
        result = cli("run", str(scenario), *[server.target] * targets, "--no-report",
                     "--format", "json", "--timeout", "2", timeout=30)  # fmt: skip
    assert result.code == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    reasons = []
    for session in json.loads(result.stdout)["results"]:
        (step,) = [s for s in session["steps"] if s["kind"] == "starttls"]
        reasons.append(step["reason"])
    return reasons


@pytest.mark.parametrize("targets", [1, 2], ids=["blocking", "asyncio"])
def test_tls_failures_name_the_reason_in_words(cli, tmp_path: Path, targets: int):
    from servers import close, reset

    # A reset or a close is a warning on the step (no MUST covers a failed handshake), and the
    # session could not go on (exit 3); bytes that are not TLS records break the record layer's
    # grammar: a fail (exit 1). README "Verdicts".
    cases = {
        "the server reset the connection during the handshake": (reset(), 3),
        "the server closed the connection during the handshake": (close(), 3),
        "[SSL: WRONG_VERSION_NUMBER] wrong version number": (b"not TLS\r\n" * 20, 1),
    }
    for words, (after_220, code) in cases.items():
        reasons = _starttls_reasons(cli, tmp_path, after_220, targets, code)
        assert len(reasons) == targets
        assert all(r.startswith(f"TLS handshake failed: {words}") for r in reasons), reasons
        # No exception class names (ConnectionResetError, SSLEOFError, ...) in what users read.
        assert not any(re.search(r"\b[A-Z][A-Za-z]*(Error|Exception)\b", r) for r in reasons)


def test_counts_agree_with_their_nouns(cli, tmp_path: Path):
    scenario = tmp_path / "one.yaml"
    scenario.write_text("steps:\n  - noop\n", encoding="utf-8")
    assert cli("validate", str(scenario)).stdout == f"{scenario}: ok, 1 step\n"
    scenario.write_text("steps:\n  - noop\n  - quit\n", encoding="utf-8")
    assert cli("validate", str(scenario)).stdout == f"{scenario}: ok, 2 steps\n"
