"""Scenario authoring (issue 18), each feature through the CLI against a real local server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from servers import Behaviour, ScriptedServer, ehlo

from probe.session.machine import DRIPPING


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_env_values_are_shown_and_secrets_are_masked(cli, tmp_path: Path):
    scenario = _write(
        tmp_path,
        "name: env\nvars:\n  domain: ${env:MAIL_DOMAIN}\n  token: ${secret:TOKEN}\n"
        "  helo: ${env:HELO_NAME:-client.example.test}\n"
        "steps:\n  - ehlo: ${helo}\n  - mail: probe@${domain}\n  - send: XTOKEN ${token}\n"
        "  - quit\n",
    )
    # The server echoes the domain in its greeting, as real ones echo their own name.
    behaviour = Behaviour(
        greeting=b"220 mx.example.test ESMTP\r\n", replies={"EHLO": ehlo("PIPELINING")}
    )
    env = {"MAIL_DOMAIN": "example.test", "TOKEN": "s3cr3t-t0ken"}
    with ScriptedServer(behaviour) as server:
        result = cli("run", str(scenario), server.target, "-v", "--format", "json", env=env)
        sent = b"".join(server.received)
    assert result.code in (0, 1), result.stdout + result.stderr
    assert b"XTOKEN s3cr3t-t0ken" in sent and b"EHLO client.example.test" in sent
    steps = json.loads(result.stdout)["results"][0]["steps"]
    commands = [s["command"] for s in steps]
    assert "MAIL FROM:<probe@example.test>" in commands
    assert "XTOKEN ****" in commands
    assert "s3cr3t-t0ken" not in result.stdout + result.stderr
    greeting = steps[0]["reply"]["lines"][0]
    assert greeting == "220 mx.example.test ESMTP"  # not "mx.**** ESMTP"


class _Capture:
    """An aiosmtpd handler that keeps every message's data as it arrived."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(envelope.original_content)
        return "250 OK"


@pytest.fixture
def capturing_server():
    from aiosmtpd.controller import Controller

    from probe.demo import free_port

    handler = _Capture()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"127.0.0.1:{port}", handler
    finally:
        controller.stop()


def _message_scenario(tmp_path: Path, data: str) -> Path:
    return _write(
        tmp_path,
        "name: file body\nsteps:\n  - ehlo: client.example.test\n  - mail: probe@example.test\n"
        f"  - rcpt: postmaster@example.test\n  - data: {data}\n  - quit\n",
    )


def test_a_message_file_arrives_byte_for_byte(cli, tmp_path: Path, capturing_server):
    target, handler = capturing_server
    # CRLF line ends, a line that starts with a dot, a lone "." line, 8-bit text: all must arrive
    # exactly as in the file (dot-stuffed on the wire, unstuffed by the server).
    message = (
        b"Subject: from a file\r\n\r\n.starts with a dot\r\n.\r\n${not_a_variable}\r\n"
        b"caf\xc3\xa9\r\n"
    )
    (tmp_path / "msgs").mkdir()
    (tmp_path / "msgs" / "msg.eml").write_bytes(message)
    scenario = _message_scenario(tmp_path, "{file: msgs/msg.eml}")
    result = cli("run", str(scenario), target, "-v")
    assert result.code == 0, result.stdout + result.stderr
    assert handler.messages == [message]
    assert "bare" not in result.stdout  # CRLF only: nothing to say about line ends


def test_a_hangup_in_the_message_data_delivers_nothing_and_a_new_session_follows(
    cli, tmp_path: Path, capturing_server
):
    target, handler = capturing_server
    scenario = _write(
        tmp_path,
        "name: hangup\nsteps:\n  - ehlo: client.example.test\n  - mail: probe@example.test\n"
        "  - rcpt: postmaster@example.test\n"
        '  - data: {body: "Subject: unfinished\\n\\nno final dot", hangup: true}\n'
        "  - connect\n  - ehlo: client.example.test\n  - quit\n",
    )
    result = cli("run", str(scenario), target, "--format", "json")
    assert result.code == 0, result.stdout + result.stderr
    assert handler.messages == []
    steps = json.loads(result.stdout)["results"][0]["steps"]
    data = steps[4]
    assert [e["sent"] for e in data["exchanges"]] == [
        "DATA\r\n",
        "Subject: unfinished\r\n\r\nno final dot\r\n",
    ]
    assert data["exchanges"][1]["reply"] is None
    assert data["findings"][-1]["message"].startswith("hung up after 37 octets of message data")
    assert [(s["kind"], s["verdict"]) for s in steps[5:]] == [
        ("connect", "pass"), ("ehlo", "pass"), ("quit", "pass"),
    ]  # fmt: skip


def test_steps_after_a_hangup_wait_for_a_connect(cli, tmp_path: Path):
    scenario = _write(
        tmp_path,
        "name: hangup\nsteps:\n  - mail: a@b.test\n  - rcpt: c@b.test\n"
        "  - data: {raw: 'Subject: x\\r\\n', hangup: true}\n  - noop\n",
    )
    with ScriptedServer(Behaviour()) as server:
        result = cli("run", str(scenario), server.target, "--format", "json")
    steps = json.loads(result.stdout)["results"][0]["steps"]
    assert (steps[-1]["verdict"], steps[-1]["reason"]) == (
        "skip",
        "the probe hung up in the message data (hangup: true)",
    )


def test_a_dripped_line_goes_out_one_octet_at_a_time(cli, tmp_path: Path):
    scenario = _write(tmp_path, "name: drip\nsteps:\n  - send: {line: NOOP, drip: 0.2}\n  - quit\n")
    with ScriptedServer(Behaviour()) as server:
        result = cli("run", str(scenario), server.target, "--format", "json")
        received = list(server.received)
    assert result.code == 0, result.stdout + result.stderr
    assert b"NOOP\r\n" in received
    step = json.loads(result.stdout)["results"][0]["steps"][1]
    assert (step["command"], step["verdict"]) == ("NOOP", "pass")
    assert step["elapsed_ms"] >= 5 * 200


def test_a_reply_before_a_dripped_line_is_complete_is_unsolicited(cli, tmp_path: Path):
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)

    def eager() -> None:
        # A server that answers at the first octet, without waiting for the CRLF.
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(30)
            conn.sendall(b"220 eager.test ESMTP\r\n")
            got = conn.recv(1)
            conn.sendall(b"250 early\r\n")
            while not got.endswith(b"\n"):
                got += conn.recv(1)
            conn.sendall(b"250 ok\r\n")
            while conn.recv(1024):
                pass

    thread = threading.Thread(target=eager, daemon=True)
    thread.start()
    scenario = _write(tmp_path, "name: drip\nsteps:\n  - send: {line: NOOP, drip: 0.2}\n")
    target = f"127.0.0.1:{listener.getsockname()[1]}"
    result = cli("run", str(scenario), target, "--format", "json")
    thread.join(10)
    listener.close()
    step = json.loads(result.stdout)["results"][0]["steps"][1]
    messages = [f["message"] for f in step["findings"]]
    assert any(DRIPPING in m and "250 early" in m for m in messages), messages


def test_bare_lf_in_a_message_file_is_sent_as_crlf_and_said(cli, tmp_path: Path, capturing_server):
    target, handler = capturing_server
    (tmp_path / "unix.eml").write_bytes(b"Subject: unix\n\nline one\nline two\n")
    scenario = _message_scenario(tmp_path, "{file: unix.eml}")
    result = cli("run", str(scenario), target, "--format", "json")
    assert result.code == 0, result.stdout + result.stderr
    assert handler.messages == [b"Subject: unix\r\n\r\nline one\r\nline two\r\n"]
    data = next(s for s in json.loads(result.stdout)["results"][0]["steps"] if s["kind"] == "data")
    notes = [f["message"] for f in data["findings"] if f["verdict"] == "info"]
    assert notes == [
        "the message file unix.eml has 4 bare LF line end(s); they were sent as CRLF, as SMTP "
        "requires"
    ]
    assert data["verdict"] == "pass"


def test_expand_fills_variables_in_a_message_file(cli, tmp_path: Path, capturing_server):
    target, handler = capturing_server
    (tmp_path / "t.eml").write_text("Subject: for ${who}\r\n\r\nhello ${who}\r\n")
    scenario = _write(
        tmp_path,
        "name: expand\nvars:\n  who: ops@example.test\nsteps:\n  - ehlo: c.example.test\n"
        "  - mail: probe@example.test\n  - rcpt: postmaster@example.test\n"
        "  - data: {file: t.eml, expand: true}\n  - quit\n",
    )
    result = cli("run", str(scenario), target)
    assert result.code == 0, result.stdout + result.stderr
    assert handler.messages == [b"Subject: for ops@example.test\r\n\r\nhello ops@example.test\r\n"]


def test_a_missing_message_file_is_refused_before_connecting(cli, tmp_path: Path):
    scenario = _message_scenario(tmp_path, "{file: nowhere.eml}")
    with ScriptedServer(Behaviour()) as server:
        result = cli("run", str(scenario), server.target)
        assert server.received == []
    assert result.code == 2
    assert result.stderr.splitlines()[0] == (
        f"{scenario}:6:18: message file {tmp_path / 'nowhere.eml'}: no such file"
    )


def test_an_undefined_variable_in_an_expanded_file_is_refused(cli, tmp_path: Path):
    (tmp_path / "t.eml").write_text("hello ${nobody}\n")
    scenario = _message_scenario(tmp_path, "{file: t.eml, expand: true}")
    result = cli("validate", str(scenario))
    assert result.code == 2
    assert (
        "message file" in result.stderr and "uses undefined variables: ${nobody}" in result.stderr
    )


def test_several_text_patterns_and_advertised_keywords_judge_one_reply(cli, tmp_path: Path):
    scenario = _write(
        tmp_path,
        "name: checks\nvars:\n  host: mx.example.test\nsteps:\n"
        "  - connect: {expect: {code: 220, text: ['^${host} ', 'ESMTP']}}\n"
        "  - ehlo: {domain: c.example.test, advertises: [SIZE, 8BITMIME], "
        "not_advertises: CHUNKING}\n"
        "  - ehlo: {domain: c.example.test, advertises: STARTTLS, level: should}\n"
        "  - ehlo: {domain: c.example.test, not_advertises: [pipelining], level: info}\n"
        "  - quit\n",
    )
    behaviour = Behaviour(
        greeting=b"220 mx.example.test ESMTP ready\r\n",
        replies={"EHLO": ehlo("PIPELINING", "SIZE 1000", "8BITMIME")},
    )
    with ScriptedServer(behaviour) as server:
        result = cli("run", str(scenario), server.target, "--format", "json")
    assert result.code == 0, result.stdout + result.stderr  # a should is a warning, info a note
    steps = json.loads(result.stdout)["results"][0]["steps"]
    assert [s["verdict"] for s in steps] == ["pass", "pass", "warn", "pass", "pass"]
    assert steps[2]["reason"] == "expected advertising STARTTLS (should): STARTTLS not advertised"
    info = [f["message"] for f in steps[3]["findings"] if f["verdict"] == "info"]
    assert info == ["expected not advertising PIPELINING (info): PIPELINING advertised"]


def test_a_second_text_pattern_that_fails_is_named(cli, tmp_path: Path):
    scenario = _write(
        tmp_path,
        "name: t\nsteps:\n  - connect: {expect: {text: [ESMTP, '(?i)postfix']}}\n  - quit\n",
    )
    with ScriptedServer(Behaviour(greeting=b"220 mx.example.test ESMTP\r\n")) as server:
        result = cli("run", str(scenario), server.target, "--format", "json")
    assert result.code == 1
    connect = json.loads(result.stdout)["results"][0]["steps"][0]
    assert connect["reason"] == (
        "expected text matching /ESMTP/, text matching /(?i)postfix/ (must): reply text does not "
        "match /(?i)postfix/"
    )


def test_a_variable_in_a_pattern_is_matched_literally(cli, tmp_path: Path):
    # "a.b" as a regex would match "axb"; as a variable's value it must match only "a.b".
    scenario = _write(
        tmp_path,
        "name: t\nvars:\n  host: a.b\nsteps:\n  - connect: {expect: {text: '^${host}'}}\n"
        "  - quit\n",
    )
    with ScriptedServer(Behaviour(greeting=b"220 axb ESMTP\r\n")) as server:
        result = cli("run", str(scenario), server.target)
    assert result.code == 1, result.stdout
    assert "reply text does not match" in result.stdout


# ---- captures and conditions -----------------------------------------------------------------

SIZE_SCENARIO = """\
name: size
steps:
  - ehlo: {domain: c.example.test, save: {limit: SIZE}}
  - mail: {from: probe@example.test, params: "SIZE=${limit}1", when: {saved: limit}}
  - rset
  - mail: {from: probe@example.test, when: {not_advertised: SIZE}, name: plain mail}
  - quit
"""


def test_a_saved_ehlo_parameter_reaches_a_later_command(cli, tmp_path: Path):
    scenario = _write(tmp_path, SIZE_SCENARIO)
    behaviour = Behaviour(replies={"EHLO": ehlo("PIPELINING", "SIZE 1000")})
    with ScriptedServer(behaviour) as server:
        result = cli("run", str(scenario), server.target, "--format", "json")
        sent = b"".join(server.received)
    assert result.code == 0, result.stdout + result.stderr
    assert b"MAIL FROM:<probe@example.test> SIZE=10001\r\n" in sent
    steps = json.loads(result.stdout)["results"][0]["steps"]
    assert steps[1]["name"] == "ehlo c.example.test"
    assert "saved limit = 1000" in [f["message"] for f in steps[1]["findings"]]
    assert steps[2]["command"] == "MAIL FROM:<probe@example.test> SIZE=10001"
    plain = next(s for s in steps if s["name"] == "plain mail")
    assert plain["verdict"] == "skip"
    assert plain["reason"] == (
        "not applicable: the server advertised SIZE (when: not advertised SIZE)"
    )


def test_without_the_saved_value_its_steps_are_not_applicable(cli, tmp_path: Path):
    scenario = _write(tmp_path, SIZE_SCENARIO)
    with ScriptedServer(Behaviour(replies={"EHLO": ehlo("PIPELINING")})) as server:
        result = cli("run", str(scenario), server.target, "--format", "json")
        sent = b"".join(server.received)
    assert result.code == 0, result.stdout + result.stderr
    assert b"SIZE=" not in sent
    steps = json.loads(result.stdout)["results"][0]["steps"]
    assert steps[2]["verdict"] == "skip"
    assert steps[2]["reason"] == ("not applicable: nothing was saved as limit (when: saved limit)")
    assert next(s for s in steps if s["name"] == "plain mail")["verdict"] == "pass"


def test_a_value_saved_from_reply_text_is_used_later(cli, tmp_path: Path):
    scenario = _write(
        tmp_path,
        "name: queue\nsteps:\n  - ehlo: c.example.test\n  - mail: probe@example.test\n"
        "  - rcpt: postmaster@example.test\n"
        "  - data: {body: hello, save: {queue_id: {text: 'queued as ([A-Z0-9]+)'}}}\n"
        "  - send: XTRACE ${queue_id}\n  - quit\n",
    )
    behaviour = Behaviour(data_end=b"250 2.0.0 Ok: queued as 4F2A9C\r\n")
    with ScriptedServer(behaviour) as server:
        result = cli("run", str(scenario), server.target)
        sent = b"".join(server.received)
    assert b"XTRACE 4F2A9C\r\n" in sent, sent
    assert result.code in (0, 1), result.stdout


def test_a_group_and_a_reused_block_carry_their_condition_and_place(cli, tmp_path: Path):
    scenario = _write(
        tmp_path,
        "name: reuse\n"
        "x-handshake: &handshake\n"
        "  - ehlo: c.example.test\n"
        "  - noop\n"
        "steps:\n"
        "  - use: handshake\n"
        "  - group:\n"
        "      - vrfy: postmaster\n"
        "      - expn: staff\n"
        "    when: {advertised: [VRFY-IS-NOT-A-KEYWORD]}\n"
        "  - *handshake\n"
        "  - quit\n",
    )
    with ScriptedServer(Behaviour(replies={"NOOP": b"500 no\r\n"})) as server:
        result = cli("run", str(scenario), server.target, "--format", "json")
        sent = b"".join(server.received)
    assert sent.count(b"EHLO c.example.test\r\n") == 2
    assert b"VRFY" not in sent and b"EXPN" not in sent
    steps = json.loads(result.stdout)["results"][0]["steps"]
    noops = [s for s in steps if s["kind"] == "noop"]
    # Defined on line 4, used on lines 6 and 11: a finding names both places.
    assert [n["position"] for n in noops] == [
        f"{scenario}:4:5 (used at 6:5)",
        f"{scenario}:4:5 (used at 11:5)",
    ]
    skipped = [s for s in steps if s["kind"] in ("vrfy", "expn")]
    assert [s["reason"] for s in skipped] == [
        "not applicable: the server did not advertise VRFY-IS-NOT-A-KEYWORD "
        "(when: advertised VRFY-IS-NOT-A-KEYWORD)"
    ] * 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("  - mail: {from: a@b.test, params: 'SIZE=${limit}'}\n"
         "  - ehlo: {domain: c.test, save: {limit: SIZE}}\n",
         "3:5: uses the saved value 'limit' before a step saves it (saved at line 4, column 35)"),
        ("  - use: handshak\n",
         "3:10: 'use: handshak' names no block; blocks are top-level x-NAME lists (handshake); "
         "did you mean 'handshake'?"),
        ("  - noop: {when: {saved: nothing}}\n",
         "3:5: 'when' tests 'nothing', which no step saves"),
        ("  - mail: {from: a@b.test, save: {limit: SIZE}}\n",
         "3:42: save limit: an EHLO keyword can be saved from an ehlo step only; elsewhere write "
         "{text: REGEX}"),
        ("  - noop: {when: {advertized: SIZE}}\n",
         "3:19: unknown condition 'advertized' in 'when'; did you mean 'advertised'?"),
        ("  - ehlo: {domain: c.test, save: {domain: SIZE}}\n",
         "3:35: 'domain' is a variable (vars:); a saved value needs a name of its own"),
        ("  - vrfy: {arg: x, expect: {same_as: nothing}}\n",
         "3:5: 'same_as' names 'nothing', which no step saves"),
        ("  - vrfy: {arg: x, expect: {same_as: known}}\n  - vrfy: {save: {known: {code: true}}}\n",
         "3:5: uses the saved value 'known' before a step saves it (saved at line 4, column 19)"),
        ("  - vrfy: {save: {known: {code: true}}}\n"
         "  - vrfy: {expect: {same_as: known, code: 250}}\n",
         "4:30: 'expect' takes 'code' or 'same_as', not both"),
        ("  - vrfy: {save: {known: {code: false}}}\n",
         "3:26: save known: write {code: true}"),
        ("  - data: {file: m.eml, hangup: true}\n",
         "3:33: 'hangup' applies to 'body' or 'raw' only"),
        ("  - vrfy: {save: {known: {cod: true}}}\n",
         "3:26: save known: write {text: REGEX}, {code: true} or {address: true} (one key)"),
    ],
)  # fmt: skip
def test_authoring_mistakes_are_one_line_each(cli, tmp_path: Path, body: str, message: str):
    (tmp_path / "m.eml").write_text("Subject: m\n\nm\n")
    scenario = _write(
        tmp_path,
        "name: m\nsteps:\n" + body + "vars: {domain: x.test}\nx-handshake:\n  - ehlo: c.test\n",
    )
    result = cli("validate", str(scenario))
    assert result.code == 2, result.stdout
    assert result.stderr.splitlines()[0] == f"{scenario}:{message}"


COMPARE = """\
name: compare
steps:
  - ehlo: c.example.test
  - vrfy: postmaster@example.test
    save: {known: {code: true}, known_text: {text: ".*"}}
  - vrfy: nosuchuser@example.test
    expect: {same_as: known, level: info}
    why: "VRFY postmaster got '${known} ${known_text}'"
  - quit
"""


def _replies(*replies: bytes):
    """An action that sends the next of `replies` each time it is played."""
    queue = list(replies)

    async def act(writer) -> None:
        writer.write(queue.pop(0))
        await writer.drain()

    return act


@pytest.mark.parametrize(
    ("second", "findings"),
    [
        (b"252 2.0.0 nosuchuser@example.test\r\n", []),
        (b"550 5.1.1 <nosuchuser@example.test>: User unknown\r\n",
         [("info", "expected the code saved as known (252) (info): got 550",
           "VRFY postmaster got '252 2.0.0 postmaster@example.test'")]),
    ],
)  # fmt: skip
def test_a_saved_reply_code_is_compared_with_a_later_reply(cli, tmp_path, second, findings):
    scenario = _write(tmp_path, COMPARE)
    first = b"252 2.0.0 postmaster@example.test\r\n"
    with ScriptedServer(Behaviour(replies={"VRFY": _replies(first, second)})) as server:
        result = cli("run", str(scenario), server.target, "--format", "json")
    assert result.code == 0, result.stdout + result.stderr
    steps = json.loads(result.stdout)["results"][0]["steps"]
    assert "saved known = 252" in [f["message"] for f in steps[2]["findings"]]
    compared = steps[3]
    assert compared["verdict"] == "pass"  # information costs nothing
    assert [(f["verdict"], f["message"], f["source"]) for f in compared["findings"]] == findings


def test_a_same_as_name_that_holds_no_code_is_an_error_of_the_step(cli, tmp_path: Path):
    scenario = _write(
        tmp_path,
        "name: c\nsteps:\n  - vrfy: {arg: a, save: {word: {text: '[a-z]+'}}}\n"
        "  - vrfy: {arg: b, expect: {same_as: word}}\n  - quit\n",
    )
    with ScriptedServer(Behaviour(replies={"VRFY": b"252 maybe\r\n"})) as server:
        result = cli("run", str(scenario), server.target, "--format", "json")
    steps = json.loads(result.stdout)["results"][0]["steps"]
    assert steps[2]["reason"] == (
        "with the saved values: same_as word: the saved value 'maybe' is not a reply code "
        "(save it with {code: true})"
    )


def test_validate_reports_every_file_even_when_one_fails(cli, tmp_path: Path):
    bad = _write(tmp_path, "name: bad\nsteps:\n  - mail: a@b.test\n      expect: 250\n", "a.yaml")
    good = _write(tmp_path, "name: good\nsteps:\n  - noop\n", "b.yaml")
    result = cli("validate", str(bad), str(good))
    assert result.code == 2
    assert result.stdout.splitlines() == [f"{good}: ok, 1 step"]
    assert result.stderr.splitlines() == [
        f"{bad}:4:13: YAML syntax error: mapping values are not allowed here; this key is "
        "indented too deep: a step's keys align with its kind ('- mail: a@b' then 'expect: 250' "
        "under 'mail')"
    ]


def test_dry_run_shows_conditions_and_saved_values(cli, tmp_path: Path):
    scenario = _write(tmp_path, SIZE_SCENARIO)
    result = cli("run", str(scenario), "127.0.0.1:9", "--dry-run")
    assert result.code == 0, result.stderr
    out = result.stdout
    assert "ehlo c.example.test   [saves limit = the parameters of SIZE in the EHLO reply]" in out
    assert (
        "mail <probe@example.test> SIZE=x1   [only when saved limit; bound again with the saved "
        "values when it plays]"
    ) in out


def test_upper_puts_a_variable_in_capitals(cli, tmp_path: Path):
    scenario = _write(
        tmp_path,
        "name: u\nvars: {domain: example.test}\nsteps:\n"
        "  - ehlo: c.test\n  - mail: a@c.test\n  - rcpt: POSTMASTER@${upper:domain}\n",
    )
    result = cli(
        "run", str(scenario), "127.0.0.1:9", "--dry-run", "--var", "domain=mX.Example.test"
    )
    assert result.code == 0, result.stderr
    assert "rcpt <POSTMASTER@MX.EXAMPLE.TEST>" in result.stdout
    bad = _write(tmp_path, "name: u\nsteps:\n  - rcpt: POSTMASTER@${upper:}\n")
    result = cli("validate", str(bad))
    assert result.code == 2
    assert "bad reference '${upper:}'; write ${upper:name}" in result.stderr.splitlines()[0]
    undefined = _write(tmp_path, "name: u\nsteps:\n  - rcpt: POSTMASTER@${upper:nowhere}\n")
    result = cli("validate", str(undefined))
    assert result.code == 2 and "nowhere" in result.stderr.splitlines()[0], result.stderr
