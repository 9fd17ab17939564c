"""The report a user reads, through the CLI against servers on loopback: what EHLO advertised and
what TLS was negotiated under each server, the closing line's counts, the per-server roll-up of
several scenarios, and one line where several findings say the same thing about one reply code.
Every test asserts the exact lines a user sees (timings aside)."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import tempfile
from pathlib import Path

import pytest
from certs import Authority
from conftest import BASIC
from servers import Action, Behaviour, ScriptedServer, ehlo, sequence

from probe.demo import free_port

EHLO = ehlo("PIPELINING", "SIZE 10240000", "8BITMIME", "STARTTLS")
EHLO_IN_TLS = ehlo("PIPELINING", "SIZE 10240000", "8BITMIME")  # no STARTTLS (RFC 3207 §4.2)


# What the server below negotiates: TLS 1.2 with one cipher, so that the report is known exactly.
TLS_VERSION, TLS_CIPHER = "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256"


# The server's certificate comes from a test authority and names 127.0.0.1, so that with --cafile
# (run_text gives it) the chain verifies and names the address probed: no warnings.
_CA_FOLDER = Path(tempfile.mkdtemp(prefix="smtp-probe-report-ca-"))
_AUTHORITY = Authority(_CA_FOLDER)


def _server_tls() -> ssl.SSLContext:
    """A server context with a fresh (EC) certificate for localhost and 127.0.0.1 issued by
    _AUTHORITY, offering only TLS_VERSION and TLS_CIPHER."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS_CIPHER)
    context.load_cert_chain(*_AUTHORITY.issue("localhost", "localhost", ip="127.0.0.1"))
    return context


def tls_block(shown: list[str]) -> list[str]:
    """The TLS block's lines after the TLS: line, with the dates (which vary) as DATE and N."""
    return [
        re.sub(r"until \S+ \(\d+ days left\)", "until DATE (N days left)", line) for line in shown
    ]


TLS_BLOCK = [
    "        cert 0: CN=localhost; DNS:localhost IP:127.0.0.1; until DATE (N days left); "
    "issuer CN=smtp-probe test CA",
    "        cert 1: CN=smtp-probe test CA; no subjectAltName; until DATE (N days left); "
    "self-signed",
    f"        chain: verifies against {_CA_FOLDER / 'ca.pem'}; names 127.0.0.1",
]


def tls_server(**replies: bytes) -> Behaviour:
    """A server that offers STARTTLS and switches to TLS after its 220; `replies` add to or
    replace its replies."""
    context = _server_tls()

    async def upgrade(writer: asyncio.StreamWriter) -> None:
        await writer.start_tls(context)

    return Behaviour(
        replies={
            "EHLO": in_turn(EHLO, EHLO_IN_TLS),
            "STARTTLS": sequence(b"220 2.0.0 go ahead\r\n", upgrade),
            **replies,
        }
    )


def in_turn(*replies: bytes) -> Action:
    """Each reply in turn, then the last again (one connection: the count is the server's)."""
    sent = 0

    async def act(writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        writer.write(replies[min(sent, len(replies) - 1)])
        sent += 1
        await writer.drain()

    return act


def scenario(tmp_path: Path, name: str, steps: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\nsteps:\n{steps}", encoding="utf-8")
    return path


def lines(stdout: str) -> list[str]:
    """The report's lines, with durations (which vary) written as `N ms`."""
    return [re.sub(r"\b\d+ ms$", "N ms", line) for line in stdout.splitlines()]


TLS_STEPS = "  - ehlo: a.test\n  - starttls\n  - ehlo: a.test\n  - quit\n"


# ---- the TLS session in the JSON report ----------------------------------------------------


@pytest.mark.parametrize("driver", ["blocking", "aio"])
def test_the_json_report_names_the_tls_version_and_cipher(cli, tmp_path: Path, driver: str):
    first = scenario(tmp_path, "tls", TLS_STEPS)
    plain = scenario(tmp_path, "plain", "  - ehlo: a.test\n  - quit\n")
    # One session plays on the blocking driver; two at once on the asyncio driver.
    paths = [first] if driver == "blocking" else [first, plain]
    folder = tmp_path / "several"
    folder.mkdir()
    for path in paths:
        (folder / path.name).write_text(path.read_text())
    with ScriptedServer(tls_server()) as server:
        result = cli("run", str(folder), server.target, "--format", "json", "--no-report",
                     "--timeout", "5", timeout=30)  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    results = {r["scenario"]: r for r in result.json()["results"]}
    tls = results["tls"]["tls"]
    assert (tls["version"], tls["cipher"], tls["mode"]) == (TLS_VERSION, TLS_CIPHER, "starttls")
    if driver == "aio":
        assert results["plain"]["tls"] is None


def run_text(cli, tmp_path: Path, behaviour: Behaviour, steps: str, *options: str) -> list[str]:
    path = scenario(tmp_path, "s", steps)
    with ScriptedServer(behaviour) as server:
        result = cli("run", str(path), server.target, "--no-report", "--timeout", "5",
                     "--cafile", str(_AUTHORITY.ca_path), *options, timeout=30)  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return [line.replace(server.target, "SERVER") for line in lines(result.stdout)]


# ---- what EHLO advertised, and the TLS session, under the server's line --------------------

QUIT_MUST = (
    'quit: QUIT MUST be answered 221, got 250: "This command specifies that the receiver MUST '
    'send a "221 OK" reply, and then close the transmission channel."'
)


def test_a_failed_server_shows_the_ehlo_after_starttls_and_the_tls_session(cli, tmp_path: Path):
    # Before TLS the server offers STARTTLS; in the TLS session, AUTH: the line shows what the
    # last EHLO got, the one the session went on with.
    behaviour = tls_server(
        EHLO=in_turn(
            ehlo("PIPELINING", "SIZE 10240000", "STARTTLS"),
            ehlo("PIPELINING", "SIZE 10240000", "AUTH PLAIN LOGIN"),
        ),
        QUIT=b"250 bye\r\n",
    )
    shown = run_text(cli, tmp_path, behaviour, TLS_STEPS)
    assert shown[:4] == [
        "FAIL  s -> SERVER  [4 pass, 1 fail]  N ms",
        f"      {QUIT_MUST}",
        "      EHLO: PIPELINING SIZE 10240000 AUTH PLAIN LOGIN",
        f"      TLS: {TLS_VERSION}, {TLS_CIPHER}",
    ]
    assert tls_block(shown[4:7]) == TLS_BLOCK
    assert shown[7].startswith("  FAIL  quit  (")


def test_a_starttls_with_no_ehlo_after_it_still_shows_what_ehlo_advertised(cli, tmp_path: Path):
    behaviour = tls_server(QUIT=b"250 bye\r\n")
    shown = run_text(cli, tmp_path, behaviour, "  - ehlo: a.test\n  - starttls\n  - quit\n")
    assert shown[2:4] == [
        "      EHLO: PIPELINING SIZE 10240000 8BITMIME STARTTLS",
        f"      TLS: {TLS_VERSION}, {TLS_CIPHER}",
    ]


def test_a_passed_server_shows_ehlo_and_tls_with_v_only(cli, tmp_path: Path):
    quiet = run_text(cli, tmp_path, tls_server(), TLS_STEPS)
    assert quiet[:2] == ["PASS  s -> SERVER  [5 pass]  N ms", ""]
    assert not [line for line in quiet if "EHLO:" in line or "TLS:" in line]
    verbose = run_text(cli, tmp_path, tls_server(), TLS_STEPS, "-v")
    assert tls_block(verbose[:7]) == [
        "PASS  s -> SERVER  [5 pass]  N ms",
        "      EHLO: PIPELINING SIZE 10240000 8BITMIME",
        f"      TLS: {TLS_VERSION}, {TLS_CIPHER}",
        *TLS_BLOCK,
        "  PASS  connect (implicit)  (" + str(tmp_path / "s.yaml") + ":3:5)",
    ]


LONG_EHLO = ehlo(
    "PIPELINING", "SIZE 52428800", "ETRN", "STARTTLS",
    "AUTH PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256 XOAUTH2",
    "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING",
)  # fmt: skip


@pytest.mark.parametrize(
    ("reply", "shown"),
    [
        pytest.param(
            LONG_EHLO,
            "      EHLO: PIPELINING SIZE 52428800 ETRN STARTTLS AUTH PLAIN LOGIN CRAM-MD5 "
            "DIGEST-MD5... ENHANCEDSTATUSCODES ... (+4 more)",
            id="cut-at-whole-words",
        ),
        pytest.param(
            ehlo("AUTH=PLAIN LOGIN", "SIZE"),
            "      EHLO: AUTH=PLAIN LOGIN SIZE",
            id="obsolete-auth-form",
        ),
        pytest.param(b"250 broken.test\r\n", "      EHLO: (no extensions)", id="none"),
        pytest.param(b"502 5.5.2 no EHLO here\r\n", None, id="ehlo-refused"),
    ],
)
def test_the_ehlo_line(cli, tmp_path: Path, reply: bytes, shown: str | None):
    report = run_text(
        cli, tmp_path, Behaviour(replies={"EHLO": reply}), "  - ehlo: a.test\n  - quit\n", "-v"
    )
    assert report[0].startswith("PASS  s -> SERVER  ["), report
    assert report[1] == shown if shown else report[1].startswith("  PASS  connect (implicit)")


# ---- one line where several findings say the same thing about one reply code ---------------


def run_basic(cli, tmp_path: Path, behaviour: Behaviour) -> tuple[list[str], dict]:
    """basic.yaml against the server: the text report's lines, and the JSON report file."""
    with ScriptedServer(behaviour) as server:
        result = cli("run", str(BASIC), server.target, "--var", "domain=example.test",
                     "--timeout", "5", "--report-dir", "reports", timeout=30)  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    report = json.loads(next((tmp_path / "reports").glob("*.json")).read_text())
    return [line.replace(server.target, "SERVER") for line in lines(result.stdout)], report


def block(shown: list[str], label: str) -> list[str]:
    """The lines of one step's block in the report: its FAIL/WARN/... line and what follows."""
    start = next(
        i for i, line in enumerate(shown) if re.match(rf"  \w+ +{re.escape(label)}  ", line)
    )
    end = next(
        (i for i in range(start + 1, len(shown)) if not shown[i].startswith("      ")), len(shown)
    )
    return shown[start:end]


def findings(report: dict, label: str) -> list[tuple[str, str]]:
    step = next(s for s in report["results"][0]["steps"] if s["name"] == label)
    return [(f["verdict"], f["message"]) for f in step["findings"]]


def test_a_wrong_code_with_an_expectation_on_it_is_one_line(cli, tmp_path: Path):
    # The README's example: the EHLO reply changes code on its last line. The code table (251 is
    # listed by no document) and the scenario (expect: 250) say the same thing of the 251: one
    # line, the stronger (fail), with both sources and the table's list of codes. The mixed codes
    # are a different fault, on a line of their own.
    behaviour = Behaviour(
        replies={"EHLO": b"250-mx.example.test\r\n250-PIPELINING\r\n251 8BITMIME\r\n"}
    )
    shown, report = run_basic(cli, tmp_path, behaviour)
    label = "ehlo probe.smtp-probe.invalid"
    assert block(shown, label) == [
        f"  FAIL  {label}  ({BASIC}:22:5)",
        "        C: EHLO probe.smtp-probe.invalid",
        "        S: 250-mx.example.test",
        "        S: 250-PIPELINING",
        "        S: 251 8BITMIME",
        "        fail: line 3 has code 251, the reply began with 250",
        "          source: RFC 5321 §4.2.1",
        "        fail: expected 250 (must): got 251",
        "          expected: rfc5321: 250, 421, 500, 501, 502, 503, 504, 550",
        "          source: RFC 5321 §4.5.1: EHLO MUST be supported; §4.3.2: it succeeds with 250; "
        "RFC 5321 §4.3.2",
    ]
    # The JSON report keeps every finding.
    assert findings(report, label) == [
        ("fail", "line 3 has code 251, the reply began with 250"),
        ("warn", "251 to EHLO is listed by no document; clients must act on its first digit (2xx)"),
        ("fail", "expected 250 (must): got 251"),
    ]


QUIT_RULE = (
    'QUIT MUST be answered 221, got 250: "This command specifies that the receiver MUST send a '
    '"221 OK" reply, and then close the transmission channel."'
)


def test_three_findings_on_one_quit_reply_are_one_line(cli, tmp_path: Path):
    # 250 to QUIT: listed by no document (warn), the fixed reply broken (fail), the scenario's
    # expect: 221 unmet (fail). One line: the first fail, the RFC's rule; its source and the
    # scenario's why merge into one (the why continues "RFC 5321 §4.1.1.10").
    shown, report = run_basic(cli, tmp_path, Behaviour(replies={"QUIT": b"250 bye\r\n"}))
    assert block(shown, "quit") == [
        f"  FAIL  quit  ({BASIC}:78:5)",
        "        C: QUIT",
        "        S: 250 bye",
        f"        fail: {QUIT_RULE}",
        "          expected: 221, 421, 500 (line over 512 octets), 501 (with arguments)",
        "          source: RFC 5321 §4.1.1.10: the receiver MUST send a 221 OK reply; "
        "RFC 5321 §4.3.2",
    ]
    assert findings(report, "quit") == [
        ("fail", QUIT_RULE),
        ("warn", "250 to QUIT is listed by no document; clients must act on its first digit (2xx)"),
        ("fail", "expected 221 (must): got 250"),
    ]


def test_a_code_only_a_looser_document_allows_keeps_its_own_line(cli, tmp_path: Path):
    # 200 to RSET: RSET's fixed 250 and the scenario's expect: 250 say the same thing (one line);
    # that a seed document lists 200 says something else (which document would accept it).
    shown, report = run_basic(cli, tmp_path, Behaviour(replies={"RSET": b"200 ok\r\n"}))
    assert block(shown, "rset") == [
        f"  FAIL  rset  ({BASIC}:64:5)",
        "        C: RSET",
        "        S: 200 ok",
        '        fail: RSET MUST be answered 250, got 200: "The receiver MUST send a "250 OK" '
        'reply to a RSET command with no arguments."',
        "          expected: 250, 421, 500 (line over 512 octets), 501 (with arguments), "
        "502 (in an ODMR session), 503 (after a 554 greeting), 521 (after a 521 greeting), "
        "530 (if TLS is required first), 554 (if TLS is too weak)",
        "          source: RFC 5321 §4.1.1.5: the receiver MUST send a 250 OK reply to a RSET with "
        "no arguments",
        "        warn: 200 to RSET is allowed only by vendor reference pages, not by the rfc5321 "
        "profile",
        "          expected: rfc5321: 250, 421, 500, 501, 503",
        "          source: RJK reply codes",
    ]
    assert [verdict for verdict, _ in findings(report, "rset")] == ["fail", "warn", "fail"]


def test_an_expectation_on_the_reply_text_keeps_its_own_line(cli, tmp_path: Path):
    # The expectation says more than the code (its text pattern is unmet too): not the same
    # thing, so not merged; the two findings of the code table on the 252 are, and NOOP's own
    # rule is the line shown (its source first).
    steps = "  - ehlo: a.test\n  - noop: {expect: {code: 250, text: '(?i)ok'}, level: should}\n"
    shown = run_text(cli, tmp_path, Behaviour(replies={"NOOP": b"252 hm\r\n"}), steps)
    assert block(shown, "noop") == [
        f"  WARN  noop  ({tmp_path / 's.yaml'}:4:5)",
        "        C: NOOP",
        "        S: 252 hm",
        '        warn: NOOP is to be answered 250, got 252: "It specifies no action other than '
        'that the receiver send a "250 OK" reply."',
        "          expected: 250, 421, 500 (line over 512 octets), any code (with a parameter; "
        "SHOULD be ignored), 502 (in an ODMR session), 503 (after a 554 greeting), 521 (after a "
        "521 greeting), 554 (if TLS is too weak)",
        "          source: RFC 5321 §4.1.1.9; RFC 5321 §4.3.2",
        "        warn: expected 250, text matching /(?i)ok/ (should): got 252, reply text does not "
        "match",
    ]


# ---- the closing line: results per verdict, and the warnings -------------------------------

# Against the scripted server (250 to anything but NOOP): no warning; two (HELP answered 250 is
# listed by no document; NOOP answered 252 is a warning twice over, shown as one line); and a
# failure (RCPT accepted with no transaction) beside one warning.
FLEET = {
    "a-clean": "  - ehlo: a.test\n  - quit\n",
    "b-warned": "  - ehlo: a.test\n  - noop\n  - help\n  - quit\n",
    "c-failed": "  - ehlo: a.test\n  - noop\n  - rcpt: b@c.test\n  - quit\n",
}
FLEET_SERVER = Behaviour(replies={"EHLO": EHLO, "NOOP": b"252 2.0.0 hm\r\n"})


def run_fleet(cli, tmp_path: Path, *options: str, refused: bool = False) -> list[str]:
    """Every FLEET scenario (a folder) against the scripted server (and a closed port)."""
    folder = tmp_path / "fleet"
    folder.mkdir(exist_ok=True)
    for name, steps in FLEET.items():
        (folder / f"{name}.yaml").write_text(f"name: {name}\nsteps:\n{steps}", encoding="utf-8")
    closed = f"127.0.0.1:{free_port()}"
    with ScriptedServer(FLEET_SERVER) as server:
        targets = [server.target, closed] if refused else [server.target]
        result = cli("run", str(folder), *targets, "--no-report", "--timeout", "5", *options,
                     timeout=60)  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    shown = lines(result.stdout.replace(server.target, "SERVER").replace(closed, "CLOSED"))
    assert shown[-1].count("warning(s)") == 1
    # The count is what the report shows.
    warned = re.search(r"; (\d+) warning\(s\);", shown[-1])
    assert warned and int(warned[1]) == sum(line.lstrip().startswith("warn: ") for line in shown)
    return shown


def test_the_closing_line_counts_every_verdict_and_the_warnings(cli, tmp_path: Path):
    shown = run_fleet(cli, tmp_path, refused=True)
    assert shown[-1] == (
        "6 server result(s): 2 passed (1 with warnings), 1 failed, 3 error; 3 warning(s); "
        "profile rfc5321"
    )
    assert [line for line in shown if line.startswith(("PASS", "FAIL", "ERROR"))] == [
        "PASS  a-clean -> SERVER  [3 pass]  N ms",
        "PASS  b-warned -> SERVER  [3 pass, 2 warn]  N ms",
        "FAIL  c-failed -> SERVER  [3 pass, 1 warn, 1 fail]  N ms",
        "ERROR  a-clean -> CLOSED  [1 error, 2 skip]  N ms",
        "ERROR  b-warned -> CLOSED  [1 error, 4 skip]  N ms",
        "ERROR  c-failed -> CLOSED  [1 error, 4 skip]  N ms",
    ]


def test_under_strict_the_warnings_fail_and_are_still_counted(cli, tmp_path: Path):
    shown = run_fleet(cli, tmp_path, "--strict")
    assert (
        shown[-1] == "3 server result(s): 1 passed, 2 failed; 3 warning(s); profile rfc5321, strict"
    )


# ---- the roll-up per server, when servers ran several scenarios ----------------------------


def test_several_scenarios_per_server_end_with_one_line_per_server(cli, tmp_path: Path):
    shown = run_fleet(cli, tmp_path, refused=True)
    # After the per-result blocks, before the closing line.
    assert shown[-5:] == [
        "By server:",
        "  FAIL  SERVER: a-clean pass, b-warned pass (2 warnings), c-failed fail (1 warning)",
        "  ERROR  CLOSED: a-clean error, b-warned error, c-failed error",
        "",
        "6 server result(s): 2 passed (1 with warnings), 1 failed, 3 error; 3 warning(s); "
        "profile rfc5321",
    ]
    assert shown.count("By server:") == 1
    assert not any(line.startswith(("PASS", "FAIL", "ERROR")) for line in shown[-5:])


def test_a_server_that_passed_every_scenario_passes_in_the_roll_up(cli, tmp_path: Path):
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("one", "two"):
        (folder / f"{name}.yaml").write_text(f"name: {name}\nsteps:\n  - ehlo: a.test\n")
    with ScriptedServer(Behaviour(replies={"EHLO": EHLO})) as server:
        result = cli("run", str(folder), server.target, "--no-report", timeout=30)
    assert result.code == 0, result.stdout + result.stderr
    assert lines(result.stdout.replace(server.target, "SERVER")) == [
        "PASS  one -> SERVER  [2 pass]  N ms",
        "",
        "PASS  two -> SERVER  [2 pass]  N ms",
        "",
        "By server:",
        "  PASS  SERVER: one pass, two pass",
        "",
        "2 server result(s): 2 passed, 0 failed; 0 warning(s); profile rfc5321",
    ]


def test_one_scenario_per_server_needs_no_roll_up(cli, tmp_path: Path):
    path = scenario(tmp_path, "one", "  - ehlo: a.test\n")
    behaviour = Behaviour(replies={"EHLO": EHLO})
    with ScriptedServer(behaviour) as first, ScriptedServer(behaviour) as second:
        result = cli("run", str(path), first.target, second.target, "--no-report", timeout=30)
        text = result.stdout.replace(first.target, "FIRST").replace(second.target, "SECOND")
    assert result.code == 0, result.stdout + result.stderr
    assert lines(text) == [
        "PASS  one -> FIRST  [2 pass]  N ms",
        "",
        "PASS  one -> SECOND  [2 pass]  N ms",
        "",
        "2 server result(s): 2 passed, 0 failed; 0 warning(s); profile rfc5321",
    ]
