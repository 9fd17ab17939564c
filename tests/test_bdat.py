"""The `bdat` step (CHUNKING, RFC 3030): how the message is cut, what goes on the wire, how the
replies are judged, and what the loader refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_machine import Clock, FakeServer, drive, machine, scenario

from probe.scenario import ScenarioError, load_scenario

EHLO = b"250-mx.test\r\n250 CHUNKING\r\n"


def _server(**replies: bytes) -> FakeServer:
    clock = Clock()
    return FakeServer(clock, replies={"EHLO": EHLO, **replies})


def _run(tmp_path: Path, steps: str, server: FakeServer):
    session = machine(scenario(tmp_path, steps), server.clock)
    return drive(session, server)


def test_chunks_then_the_rest_with_last(tmp_path):
    server = _server()
    steps = (
        "  - ehlo: c.test\n  - mail: a@b.test\n  - rcpt: p@c.test\n"
        '  - bdat: {body: "Subject: x\\n\\nhello\\n", chunks: [4, 0]}\n'
    )
    result = _run(tmp_path, steps, server)
    bdats = [sent for sent in server.sent if sent.startswith(b"BDAT")]
    # No dot-stuffing, no end mark: the octets as they are, LF made CRLF.
    assert bdats == [
        b"BDAT 4\r\nSubj",
        b"BDAT 0\r\n",
        b"BDAT 17 LAST\r\nect: x\r\n\r\nhello\r\n",
    ]
    step = result.steps[-1]
    assert step.verdict == "pass"
    assert step.label == "bdat chunks 4, 0, rest"
    assert [e.command for e in step.exchanges] == ["BDAT"] * 3


def test_last_empty_sends_bdat_0_last_and_false_sends_no_last(tmp_path):
    server = _server()
    steps = (
        "  - ehlo: c.test\n  - mail: a@b.test\n  - rcpt: p@c.test\n"
        '  - bdat: {raw: "abc\\r\\n", last: empty}\n'
        "  - mail: a@b.test\n  - rcpt: p@c.test\n"
        '  - bdat: {raw: "abc\\r\\n", last: false}\n'
    )
    _run(tmp_path, steps, server)
    bdats = [sent for sent in server.sent if sent.startswith(b"BDAT")]
    assert bdats == [b"BDAT 5\r\nabc\r\n", b"BDAT 0 LAST\r\n", b"BDAT 5\r\nabc\r\n"]


def test_a_refused_chunk_ends_the_step_and_expect_judges_it(tmp_path):
    server = _server(BDAT=b"552 5.3.4 too big\r\n")
    steps = (
        "  - ehlo: c.test\n  - mail: a@b.test\n  - rcpt: p@c.test\n"
        "  - bdat: {body: hello, chunks: [1, 1], expect: 250}\n"
    )
    result = _run(tmp_path, steps, server)
    assert [s for s in server.sent if s.startswith(b"BDAT")] == [b"BDAT 1\r\nh"]
    step = result.steps[-1]
    assert step.verdict == "fail"
    messages = " ".join(f.message for f in step.findings)
    assert "expected 250 (must): got 552" in messages
    assert "MUST NOT send any additional BDAT segments" in messages


def test_chunks_longer_than_the_message_send_nothing(tmp_path):
    server = _server()
    steps = "  - ehlo: c.test\n  - bdat: {body: hi, chunks: [100]}\n"
    result = _run(tmp_path, steps, server)
    assert not [s for s in server.sent if s.startswith(b"BDAT")]
    assert "add up to 100 octets" in result.steps[-1].reason


def test_bdat_without_chunking_offered_is_the_probes_breach(tmp_path):
    server = FakeServer(Clock(), replies={"BDAT": b"500 5.5.1 what\r\n"})
    result = _run(tmp_path, "  - ehlo: c.test\n  - bdat: hi\n", server)
    step = result.steps[-1]
    assert step.verdict != "fail"
    assert any("did not offer CHUNKING" in f.message for f in step.findings)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("chunks: [1, -1]", "'chunks' takes a list of chunk sizes"),
        ("chunks: [1.5]", "'chunks' takes a list of chunk sizes"),
        ("chunks: 5", "'chunks' takes a list of chunk sizes"),
        ("last: maybe", "'last' takes true"),
    ],
)
def test_the_loader_refuses_bad_chunks_and_last(tmp_path, value, problem):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: t\nsteps:\n  - bdat: {{body: x, {value}}}\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert problem in str(caught.value)


def test_whole_floats_are_sizes(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nsteps:\n  - bdat: {body: x, chunks: [1.0]}\n", encoding="utf-8")
    assert load_scenario(path).steps[-1].chunks == (1,)
