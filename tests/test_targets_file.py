"""Per-target variables (`--targets FILE`, lines or YAML) and the unused-variable rule, through
the CLI against scripted servers on loopback that record every command line they receive."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BASIC, ROOT
from servers import Behaviour, ScriptedServer


@pytest.fixture
def two_servers() -> Iterator[tuple[ScriptedServer, ScriptedServer]]:
    with ScriptedServer(Behaviour()) as a, ScriptedServer(Behaviour()) as b:
        yield a, b


def _sent(server: ScriptedServer, verb: bytes) -> list[str]:
    """The command lines starting with `verb` the server received, without the CRLF; basic's
    second transaction (`MAIL FROM:<>`, `RCPT TO:<Postmaster>`) uses no variable: left out."""
    lines = [line.decode().rstrip("\r\n") for line in server.received if line.startswith(verb)]
    return [line for line in lines if line not in ("MAIL FROM:<>", "RCPT TO:<Postmaster>")]


def test_each_target_gets_its_own_variables_and_they_beat_var(cli, two_servers, tmp_path: Path):
    a, b = two_servers
    targets = tmp_path / "targets.txt"
    targets.write_text(
        "# mail servers, each with its own domain\n"
        f"{a.target} domain=a.example.test sender=ops@a.example.test\n"
        f"{b.target}   domain=b.example.test   # sender from --var\n"
    )
    result = cli(
        "run", str(BASIC), "--targets", str(targets), "--var", "sender=ci@global.test",
        "--no-report",
    )  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert _sent(a, b"MAIL") == ["MAIL FROM:<ops@a.example.test>"]
    assert _sent(a, b"RCPT") == ["RCPT TO:<postmaster@a.example.test>"]
    assert _sent(b, b"MAIL") == ["MAIL FROM:<ci@global.test>"]
    assert _sent(b, b"RCPT") == ["RCPT TO:<postmaster@b.example.test>"]


@pytest.mark.parametrize("name", ["targets.yaml", "targets.yml", "targets.list"])
def test_yaml_targets_file(cli, two_servers, tmp_path: Path, name: str):
    # Read as YAML for its name, or (targets.list) because its first entry starts with `-`.
    a, b = two_servers
    targets = tmp_path / name
    targets.write_text(
        "# mail servers\n"
        f"- target: {a.target}\n"
        "  vars:\n"
        "    domain: a.example.test\n"
        "    sender: 'ops #1@a.example.test'\n"  # a value with a space and a '#'
        f"- {{target: '{b.target}', vars: {{domain: b.example.test}}}}\n"
    )
    result = cli("run", str(BASIC), "--targets", str(targets), "--no-report")
    assert result.code == 0, result.stdout + result.stderr
    assert _sent(a, b"MAIL") == ["MAIL FROM:<ops #1@a.example.test>"]
    assert _sent(b, b"RCPT") == ["RCPT TO:<postmaster@b.example.test>"]


def test_the_same_server_twice_with_different_variables(cli, tmp_path: Path):
    with ScriptedServer(Behaviour()) as server:
        targets = tmp_path / "targets.txt"
        targets.write_text(f"{server.target} domain=a.test\n{server.target} domain=b.test\n")
        result = cli("run", str(BASIC), "--targets", str(targets), "--no-report")
    assert result.code == 0, result.stdout + result.stderr
    assert sorted(_sent(server, b"RCPT")) == [
        "RCPT TO:<postmaster@a.test>",
        "RCPT TO:<postmaster@b.test>",
    ]


def test_a_target_variable_beats_the_domain_of_the_target_name(cli, tmp_path: Path):
    # implicit.test has no MX: its A record (127.0.0.31) is the implicit MX. The name gives
    # `domain` unless its line says otherwise.
    import dns_server as z

    with z.dnsmasq_zone() as dns, ScriptedServer(Behaviour(), host=z.IMPLICIT_V4) as server:
        targets = tmp_path / "targets.txt"
        targets.write_text(f"{z.IMPLICIT} domain=override.test\n{z.IMPLICIT}\n")
        result = cli(
            "run", str(BASIC), "--targets", str(targets), "--port", str(server.port), "-4",
            "--nameserver", dns.nameserver, "--no-report",
        )  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    assert sorted(_sent(server, b"RCPT")) == [
        f"RCPT TO:<postmaster@{z.IMPLICIT}>",
        "RCPT TO:<postmaster@override.test>",
    ]


def test_dry_run_shows_each_target_with_its_variables_bound(cli, tmp_path: Path):
    targets = tmp_path / "targets.txt"
    targets.write_text("127.0.0.1:2525 domain=a.example.test sender=ops@a.example.test\n")
    result = cli("run", "basic", "--targets", str(targets), "--dry-run")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    header = (
        "basic -> 127.0.0.1:2525 (domain=a.example.test sender=ops@a.example.test): "
        "would connect to 127.0.0.1:2525"
    )
    assert header in lines
    assert "        C: MAIL FROM:<ops@a.example.test>" in lines
    assert "        C: RCPT TO:<postmaster@a.example.test>" in lines


def test_a_missing_value_names_the_target_that_lacks_it(cli, tmp_path: Path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("vars:\n  domain:\nsteps:\n  - ehlo: ${domain}\n")
    with ScriptedServer(Behaviour()) as server:
        targets = tmp_path / "targets.txt"
        targets.write_text(f"{server.target} domain=a.test\n127.0.0.2:2525\n")
        result = cli("run", str(scenario), "--targets", str(targets))
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"{scenario}:2:3: variable 'domain' has no value; give --var domain=VALUE "
        "(target 127.0.0.2:2525)"
    ]
    assert server.connections == 0


BAD_FILES = [
    ("t.txt", "127.0.0.1:1 domain=a.test\n127.0.0.1:2 domain\n", 2,
     "'domain' is not KEY=VALUE (one target a line, then its variables as KEY=VALUE)"),
    ("t.txt", "127.0.0.1:1 domain=a.test domain=b.test\n", 1, "variable 'domain' is given twice"),
    ("t.txt", "127.0.0.1:1 two.example.test\n", 1,
     "'two.example.test' is not KEY=VALUE (one target a line, then its variables as KEY=VALUE)"),
    ("t.txt", "\n127.0.0.1:1 1st=x\n", 2,
     "'1st' is not a variable name (letters, digits, '_' and '-', not starting with a digit or "
     "'-')"),
    ("t.yaml", "- target: 127.0.0.1:1\n  var: {domain: a.test}\n", 2,
     "unknown key 'var'; did you mean 'vars'?"),
    ("t.yaml", "- target: 127.0.0.1:1\n  vars:\n    size: 1000\n", 3,
     'vars: size is 1000 (a number), not a string; quote it: "1000"'),
    ("t.yaml", "- target: 127.0.0.1:1\n  vars:\n    domain:\n", 3,
     'vars: domain has no value; write "" for an empty one'),
    ("t.yaml", "- target: 127.0.0.1:1\n  vars: {domain: [a, b]}\n", 2,
     "vars: domain is a list, not a string"),
    ("t.yaml", '- target: 127.0.0.1:1\n  vars: {domain: "\\uD800"}\n', 2,
     "domain: the value holds U+D800, a lone surrogate with no UTF-8 form (offset 0); it cannot "
     "be sent"),
    ("t.yaml", "- target: 127.0.0.1:1\n  vars: {domain: a, domain: b}\n", 2,
     "variable 'domain' is given twice"),
    ("t.yaml", "- target: [::1]:25\n", 1,
     "YAML syntax error: expected the node content, but found ':' (while parsing a flow node); "
     'quote an [IPv6] target: target: "[::1]:25"'),
    ("t.yaml", "- target: 127.0.0.1:1\n- target: 127.0.0.1:2\n  vars: {helo: !include x}\n", 3,
     "unknown YAML tag '!include'; only YAML's core tags are read (!!str, !!int, !!float, "
     "!!bool, !!null, !!map, !!seq)"),
    ("t.yaml", "target: 127.0.0.1:1\n", 1,
     "expected a list of targets: `- target: HOST[:PORT]` and its `vars:`"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "line", "message"), BAD_FILES)
def test_a_bad_targets_file_is_one_line_with_file_and_line(
    cli, tmp_path: Path, name: str, text: str, line: int, message: str
):
    with ScriptedServer(Behaviour()) as server:
        targets = tmp_path / name
        # The first target is a live server: nothing may reach it.
        targets.write_text(text.replace("127.0.0.1:1", server.target))
        result = cli("run", str(BASIC), "--targets", str(targets), "--var", "domain=x.test")
    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"smtp-probe: {targets}:{line}: {message}"]
    assert server.connections == 0


def test_every_bad_line_is_listed(cli, tmp_path: Path):
    targets = tmp_path / "targets.txt"
    targets.write_text("127.0.0.1:1 a=1 a=2\n127.0.0.1:2\nnot-a-port:x\n")
    result = cli("run", str(BASIC), "--targets", str(targets), "--var", "domain=x.test")
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"smtp-probe: {targets}:1: variable 'a' is given twice",
        f"smtp-probe: {targets}:3: bad target 'not-a-port:x': port must be a number from 1 to "
        "65535",
    ]


# ---- the unused-variable rule: a warning everywhere, never a refusal ---------------------------


def test_an_unused_var_is_a_warning_in_a_single_file_run(cli):
    with ScriptedServer(Behaviour()) as server:
        result = cli(
            "run", str(BASIC), server.target, "--var", "domain=example.test",
            "--var", "host=secret-value", "--no-report",
        )  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "smtp-probe: warning: --var host=... is declared by no scenario (basic declares: "
        "domain, helo, recipient, sender)"
    ]
    assert "secret-value" not in result.stderr  # a value may be a password: never shown
    assert server.connections == 1


def test_an_unused_var_is_a_warning_in_a_folder_run(cli, tmp_path: Path):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for name in ("basic", "sequence"):
        (folder / f"{name}.yaml").write_text((ROOT / "scenarios" / f"{name}.yaml").read_text())
    with ScriptedServer(Behaviour()) as server:
        result = cli(
            "run", str(folder), server.target, "--var", "domain=example.test",
            "--var", "domian=x", "--no-report",
        )  # fmt: skip
    # Played (the server accepts RCPT without MAIL: sequence fails), not refused with exit 2.
    assert result.code == 1, result.stdout + result.stderr
    assert "PASS  basic -> " in result.stdout
    assert result.stderr.splitlines() == [
        "smtp-probe: warning: --var domian=... is declared by no scenario (basic declares: "
        "domain, helo, recipient, sender; sequence declares: domain, helo, recipient, sender); "
        "did you mean domain?"
    ]
    assert server.connections == 3  # both scenarios played (sequence has a second session)


def test_an_unused_target_variable_is_a_warning_naming_its_line(cli, tmp_path: Path):
    with ScriptedServer(Behaviour()) as server:
        targets = tmp_path / "targets.txt"
        targets.write_text(f"\n{server.target} domain=a.test sendr=ops@a.test\n")
        result = cli("run", str(BASIC), "--targets", str(targets), "--no-report")
    assert result.code == 0, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"smtp-probe: warning: {targets}:2: sendr=... is declared by no scenario (basic "
        "declares: domain, helo, recipient, sender); did you mean sender?"
    ]
    assert _sent(server, b"MAIL") == ["MAIL FROM:<probe@probe.smtp-probe.invalid>"]


def test_validate_warns_about_an_unused_var_too(cli):
    result = cli("validate", str(BASIC), "--var", "host=x")
    assert result.code == 0
    assert result.stderr.splitlines() == [
        "smtp-probe: warning: --var host=... is declared by no scenario (basic declares: "
        "domain, helo, recipient, sender)"
    ]
