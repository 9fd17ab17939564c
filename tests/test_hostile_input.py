"""Hostile input, round two: what a scenario file and a server together could do to a run.

Each test goes through the CLI entry point: exit code, a one-line message, no traceback, bounded
time."""

from __future__ import annotations

import time
from pathlib import Path

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
