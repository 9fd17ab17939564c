"""Good scenario files: what the loader builds from them, and what binding does with it."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from probe.scenario import (
    CodePattern,
    Level,
    Position,
    Scenario,
    ScenarioError,
    Step,
    StepKind,
    bind,
    load_path,
    load_scenario,
)

ROOT = Path(__file__).resolve().parent.parent
BASIC = ROOT / "scenarios" / "basic.yaml"


def load(tmp_path: Path, text: str, name: str = "s.yaml") -> Scenario:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_scenario(path)


def only_step(tmp_path: Path, step_yaml: str) -> Step:
    scenario = load(tmp_path, "steps:\n" + step_yaml)
    assert len(scenario.steps) == 1
    return scenario.steps[0]


def codes(step: Step, end: bool = False) -> list[str]:
    expectation = step.expect_end if end else step.expect
    assert expectation is not None
    return [c.text for c in expectation.codes]


# --- short forms -------------------------------------------------------------------------------


def test_bare_words_are_steps_without_argument(tmp_path: Path) -> None:
    scenario = load(tmp_path, "steps: [connect, rset, noop, quit, starttls, vrfy, help, expn]")
    assert [s.kind for s in scenario.steps] == [
        StepKind.CONNECT,
        StepKind.RSET,
        StepKind.NOOP,
        StepKind.QUIT,
        StepKind.STARTTLS,
        StepKind.VRFY,
        StepKind.HELP,
        StepKind.EXPN,
    ]
    assert all(s.arg is None and s.expect is None for s in scenario.steps)
    assert [s.label for s in scenario.steps][:3] == ["connect", "rset", "noop"]


def test_short_form_sets_the_main_argument(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """\
steps:
  - ehlo: client.example.test
  - helo: old.example.test
  - mail: sender@example.test
  - rcpt: <postmaster@example.test>
  - vrfy: postmaster
  - noop: ignored words
  - send: XYZZY frob
""",
    )
    ehlo, helo, mail, rcpt, vrfy, noop, send = scenario.steps
    assert (ehlo.kind, ehlo.arg) == (StepKind.EHLO, "client.example.test")
    assert (helo.kind, helo.arg) == (StepKind.HELO, "old.example.test")
    assert (mail.kind, mail.arg, mail.params) == (StepKind.MAIL, "sender@example.test", None)
    assert rcpt.arg == "<postmaster@example.test>"
    assert vrfy.arg == "postmaster"
    assert noop.arg == "ignored words"
    assert (send.arg, send.raw, send.verb) == ("XYZZY frob", None, "XYZZY")


def test_data_short_form_is_the_body(tmp_path: Path) -> None:
    step = only_step(tmp_path, "  - data: |\n      Subject: hi\n\n      hello\n")
    assert step.kind is StepKind.DATA
    assert step.body == "Subject: hi\n\nhello\n"
    assert step.raw is None


def test_numbers_in_text_fields_are_kept_as_written(tmp_path: Path) -> None:
    assert only_step(tmp_path, "  - ehlo: 0x10\n").arg == "0x10"
    assert only_step(tmp_path, "  - mail: ''\n").arg == ""


# --- long forms --------------------------------------------------------------------------------


def test_long_forms_fill_every_field(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """\
steps:
  - ehlo: {domain: client.example.test, expect: 250}
  - mail: {from: a@example.test, params: SIZE=1000 BODY=8BITMIME}
  - rcpt: {to: b@example.test, params: NOTIFY=NEVER, expect: [250, 251]}
  - data: {body: "hi", expect: 354, expect_end: [250, 4xx]}
  - data: {raw: 'hi\\r\\n.\\r\\n'}
  - rset: {arg: now}
  - send: {line: "HELP me", as: help}
  - send: {raw: "MAIL FROM:<a@b>\\n", as: MAIL}
  - send: {raw: 'NOOP\\x41\\0\\\\\\t\\r\\n'}
  - auth: {mechanism: login, username: u, password: p}
  - quit: {expect: 221, level: must, why: "RFC 5321 §4.1.1.10"}
""",
    )
    ehlo, mail, rcpt, data, data_raw, rset, help_, send_raw, send_escapes, auth, quit_ = (
        scenario.steps
    )
    assert ehlo.arg == "client.example.test" and codes(ehlo) == ["250"]
    assert (mail.arg, mail.params) == ("a@example.test", "SIZE=1000 BODY=8BITMIME")
    assert (rcpt.arg, rcpt.params, codes(rcpt)) == (
        "b@example.test",
        "NOTIFY=NEVER",
        ["250", "251"],
    )
    assert data.body == "hi" and codes(data) == ["354"] and codes(data, end=True) == ["250", "4xx"]
    assert (data_raw.body, data_raw.raw) == (None, "hi\\r\\n.\\r\\n")
    assert rset.arg == "now"
    assert (help_.arg, help_.verb) == ("HELP me", "HELP")
    assert (send_raw.raw, send_raw.verb, send_raw.arg) == ("MAIL FROM:<a@b>\n", "MAIL", None)
    assert send_escapes.raw == "NOOP\\x41\\0\\\\\\t\\r\\n"
    assert send_escapes.verb == "UNKNOWN"
    assert (auth.mechanism, auth.username, auth.password) == ("LOGIN", "u", "p")
    assert quit_.expect is not None
    assert quit_.expect.level is Level.MUST and quit_.expect.why == "RFC 5321 §4.1.1.10"


def test_common_keys_may_sit_beside_the_kind_key(tmp_path: Path) -> None:
    step = only_step(
        tmp_path,
        """\
  - rcpt: postmaster@example.test
    expect: 250
    level: should
    why: RFC 5321 §4.5.1
    name: postmaster
    timeout: 2.5
    stop_on_fail: true
""",
    )
    assert step.arg == "postmaster@example.test"
    assert step.expect is not None
    assert (step.expect.level, step.expect.why) == (Level.SHOULD, "RFC 5321 §4.5.1")
    assert (step.label, step.timeout, step.stop_on_fail) == ("postmaster", 2.5, True)


def test_expectation_forms(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """\
steps:
  - noop: {expect: 250}
  - noop: {expect: "25x"}
  - noop: {expect: 5XX}
  - noop: {expect: [250, "4xx"]}
  - connect: {expect: {code: 220, text: "ESMTP"}}
  - connect:
      expect: {text: "^mx\\\\."}
  - noop:
      expect: {code: [250], level: info, why: inner}
      level: should
      why: outer
""",
    )
    single, sub, cls, many, with_text, text_only, inner = scenario.steps
    assert codes(single) == ["250"] and codes(sub) == ["25x"] and codes(cls) == ["5xx"]
    assert codes(many) == ["250", "4xx"]
    assert with_text.expect is not None
    assert [t.pattern for t in with_text.expect.texts] == ["ESMTP"]
    assert text_only.expect is not None and text_only.expect.codes == ()
    assert [t.pattern for t in text_only.expect.texts] == [r"^mx\."]
    assert inner.expect is not None
    assert (inner.expect.level, inner.expect.why) == (Level.INFO, "inner")
    assert single.expect is not None
    assert single.expect.position == Position(str(tmp_path / "s.yaml"), 2, 20)
    assert CodePattern("25x").matches(251)


def test_pipeline_forms(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """\
steps:
  - pipeline:
      - mail: a@b
      - rcpt: {to: c@d, expect: 2xx}
      - rset
  - pipeline:
      steps: [noop, {send: "NOOP"}, data: hi]
      name: grouped
      timeout: 3
""",
    )
    first, second = scenario.steps
    assert first.kind is StepKind.PIPELINE
    assert [s.kind for s in first.steps] == [StepKind.MAIL, StepKind.RCPT, StepKind.RSET]
    assert first.steps[1].expect is not None and codes(first.steps[1]) == ["2xx"]
    assert first.label == "pipeline (mail, rcpt, rset)"
    assert [s.kind for s in second.steps] == [StepKind.NOOP, StepKind.SEND, StepKind.DATA]
    assert (second.label, second.timeout) == ("grouped", 3.0)


def test_positions_point_at_each_step(tmp_path: Path) -> None:
    scenario = load(tmp_path, "name: p\nsteps:\n  - connect\n  - ehlo: x\n  -   rset\n")
    file = str(tmp_path / "s.yaml")
    assert [s.position for s in scenario.steps] == [
        Position(file, 3, 5),
        Position(file, 4, 5),
        Position(file, 5, 7),
    ]


# --- labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step_yaml", "label"),
    [
        ("connect", "connect"),
        ("ehlo: client.example.test", "ehlo client.example.test"),
        ("mail: a@example.test", "mail <a@example.test>"),
        ("mail: ''", "mail <>"),
        ("mail: {from: <a@b>, params: SIZE=10}", "mail <a@b> SIZE=10"),
        ("rcpt: postmaster@example.test", "rcpt <postmaster@example.test>"),
        ("vrfy: postmaster", "vrfy postmaster"),
        ("data: hi", "data"),
        ("data: {raw: 'x'}", "data (raw)"),
        ("send: XYZZY", "send XYZZY"),
        ('send: {raw: "A\\r\\n"}', "send raw A\\r\\n"),
        ("auth: {mechanism: PLAIN, username: u, password: p}", "auth PLAIN u"),
        ("noop: {name: keepalive}", "keepalive"),
    ],
)
def test_default_labels(tmp_path: Path, step_yaml: str, label: str) -> None:
    assert only_step(tmp_path, f"  - {step_yaml}\n").label == label


# --- top level and variables -------------------------------------------------------------------


def test_top_level_defaults(tmp_path: Path) -> None:
    scenario = load(tmp_path, "steps: [connect]\n", name="minimal.yml")
    assert (scenario.name, scenario.description, scenario.stop_on_fail) == ("minimal", "", False)
    assert scenario.variables == {}
    assert scenario.path == str(tmp_path / "minimal.yml")


def test_stop_on_fail_is_inherited_unless_the_step_says(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        "stop_on_fail: true\nsteps:\n  - connect\n  - noop: {stop_on_fail: false}\n"
        "  - pipeline: [rset, {noop: {stop_on_fail: false}}]\n",
    )
    connect, noop, pipeline = scenario.steps
    assert scenario.stop_on_fail and connect.stop_on_fail and not noop.stop_on_fail
    assert pipeline.stop_on_fail
    assert [s.stop_on_fail for s in pipeline.steps] == [True, False]


def test_extension_keys_hold_anchors(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        "x-ok: &ok {code: 250, why: shared}\nsteps:\n  - noop: {expect: *ok}\n"
        "  - rset: {expect: *ok}\n",
    )
    assert [s.expect.why for s in scenario.steps if s.expect] == ["shared", "shared"]


def test_variables_keep_defaults_and_positions(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        "vars:\n  helo: probe.invalid\n  domain:\n  port: 25\n  recipient: postmaster@${domain}\n"
        "steps:\n  - ehlo: ${helo}\n",
    )
    variables = scenario.variables
    assert list(variables) == ["helo", "domain", "port", "recipient"]
    assert variables["helo"].default == "probe.invalid"
    assert variables["domain"].default is None
    assert variables["port"].default == "25"
    assert variables["recipient"].default == "postmaster@${domain}"
    assert variables["domain"].position == Position(str(tmp_path / "s.yaml"), 3, 3)
    assert scenario.steps[0].arg == "${helo}"  # unbound until bind()


# --- binding -----------------------------------------------------------------------------------

BOUND = """\
vars:
  helo: probe.invalid
  domain:
  sender: probe@${helo}
  recipient: postmaster@${domain}
  unused:
  verb: NOOP
steps:
  - ehlo: ${helo}
  - mail: ${sender}
  - rcpt: {to: "${recipient}", why: "postmaster of ${domain}", expect: 250}
  - connect: {expect: {code: 220, text: "^${domain} "}}
  - data: "To: ${recipient}\\n\\nprice: $${not_a_var} $5\\n"
  - send: {raw: 'X-${domain}\\r\\n'}
  - send: "${verb} arg"
  - pipeline: [{mail: "${sender}"}, rset]
"""


def test_bind_expands_every_reference(tmp_path: Path) -> None:
    scenario = load(tmp_path, BOUND)
    bound = bind(scenario, {"domain": "example.org"}, {})
    ehlo, mail, rcpt, connect, data, raw, send, pipeline = bound.steps
    assert bound.values == {
        "helo": "probe.invalid",
        "domain": "example.org",
        "sender": "probe@probe.invalid",
        "recipient": "postmaster@example.org",
        "verb": "NOOP",
    }
    assert (ehlo.arg, ehlo.label) == ("probe.invalid", "ehlo probe.invalid")
    assert (mail.arg, mail.label) == ("probe@probe.invalid", "mail <probe@probe.invalid>")
    assert rcpt.arg == "postmaster@example.org"
    assert rcpt.expect is not None and rcpt.expect.why == "postmaster of example.org"
    assert connect.expect is not None
    assert [t.pattern for t in connect.expect.texts] == [r"^example\.org "]
    assert data.body == "To: postmaster@example.org\n\nprice: ${not_a_var} $5\n"
    assert raw.raw == "X-example.org\\r\\n"
    assert (send.arg, send.verb, send.label) == ("NOOP arg", "NOOP", "send NOOP arg")
    assert pipeline.steps[0].arg == "probe@probe.invalid"
    assert bound.secrets == frozenset()
    assert bound.scenario is scenario


def test_overrides_win_and_are_literal(tmp_path: Path) -> None:
    scenario = load(tmp_path, BOUND)
    bound = bind(scenario, {"domain": "a\\b.org", "helo": "${x}"}, {})
    assert bound.values["sender"] == "probe@${x}"
    raw = bound.steps[5]
    assert raw.raw == "X-a\\\\b.org\\r\\n"  # a value's backslash is not an escape


def test_unneeded_variables_may_stay_empty(tmp_path: Path) -> None:
    scenario = load(tmp_path, "vars: {a: x, b: }\nsteps:\n  - ehlo: ${a}\n")
    assert bind(scenario, {}, {}).values == {"a": "x"}


def test_secret_values_are_masked_and_env_values_are_not(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """\
vars:
  token: ${secret:TOKEN}
  domain: ${env:MAIL_DOMAIN}
  helo: ${env:HELO_NAME:-probe.test}
steps:
  - ehlo: ${helo}
  - send: "XAUTH ${token} ${domain}"
  - auth: {mechanism: PLAIN, username: user, password: "${env:SMTP_PASS}"}
""",
    )
    environ = {"TOKEN": "t0k3n", "SMTP_PASS": "hunter2", "MAIL_DOMAIN": "mx.example.test"}
    bound = bind(scenario, {}, environ)
    ehlo, send, auth = bound.steps
    assert ehlo.arg == "probe.test"  # the default, HELO_NAME being unset
    assert send.arg == "XAUTH t0k3n mx.example.test"
    assert send.label == "send XAUTH **** mx.example.test"  # the domain is shown as it is
    assert auth.password == "hunter2"  # an AUTH password is a secret however it is written
    assert "hunter2" not in auth.label
    plain = base64.b64encode(b"\0user\0hunter2").decode()
    assert {"t0k3n", "hunter2", plain, base64.b64encode(b"hunter2").decode()} <= bound.secrets
    assert not {"mx.example.test", "probe.test"} & bound.secrets
    # An empty value takes the default too, as the shell's ${NAME:-default} does.
    assert bind(scenario, {}, {**environ, "HELO_NAME": ""}).steps[0].arg == "probe.test"
    assert bind(scenario, {}, {**environ, "HELO_NAME": "h.test"}).steps[0].arg == "h.test"


def test_a_plain_auth_password_is_still_a_secret(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        "vars: {pw: sesame}\nsteps:\n  - auth: {mechanism: LOGIN, username: u, password: "
        '"${pw}"}\n  - send: "NOOP ${pw}"\n',
    )
    bound = bind(scenario, {}, {})
    assert "sesame" in bound.secrets
    assert bound.steps[1].label == "send NOOP ****"
    assert bound.steps[1].arg == "NOOP sesame"  # the runner masks transcripts with `secrets`


def test_bind_reports_every_missing_value(tmp_path: Path) -> None:
    scenario = load(tmp_path, BOUND)
    with pytest.raises(ScenarioError) as info:
        bind(scenario, {"nope": "1"}, {})
    file = str(tmp_path / "s.yaml")
    assert [str(p) for p in info.value.problems] == [
        f"{file}: unknown variable 'nope' (scenario declares: helo, domain, sender, recipient, "
        "unused, verb)",
        f"{file}:3:3: variable 'domain' has no value; give --var domain=VALUE",
    ]


def test_bind_reports_unset_environment_variables(tmp_path: Path) -> None:
    scenario = load(
        tmp_path, 'steps:\n  - auth: {mechanism: PLAIN, username: u, password: "${env:PW}"}\n'
    )
    with pytest.raises(ScenarioError) as info:
        bind(scenario, {}, {})
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path / 's.yaml'}:2:5: environment variable 'PW' is not set (used by ${{env:PW}})"
    ]


# --- folders and the shipped scenario ----------------------------------------------------------


def test_load_path_reads_a_folder_sorted_by_name(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("steps: [connect]\n")
    (tmp_path / "a.yml").write_text("steps: [quit]\n")
    (tmp_path / "notes.txt").write_text("not a scenario")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text("steps: [rset]\n")
    assert [s.name for s in load_path(tmp_path)] == ["a", "b"]
    assert [s.name for s in load_path(tmp_path / "b.yaml")] == ["b"]


def test_basic_scenario_is_the_rfc5321_minimum_implementation() -> None:
    scenario = load_scenario(BASIC)
    assert scenario.name == "basic"
    assert [s.kind for s in scenario.steps] == [
        StepKind.CONNECT,
        StepKind.EHLO,
        StepKind.MAIL,
        StepKind.RCPT,
        StepKind.DATA,
        StepKind.MAIL,
        StepKind.RCPT,
        StepKind.RSET,
        StepKind.NOOP,
        StepKind.VRFY,
        StepKind.QUIT,
    ]
    assert list(scenario.variables) == ["helo", "domain", "sender", "recipient"]
    assert scenario.variables["domain"].default is None
    assert scenario.variables["recipient"].default == "postmaster@${domain}"
    rcpt = scenario.steps[3]
    assert rcpt.expect is not None and rcpt.expect.level is Level.MUST
    assert "§4.5.1" in rcpt.expect.why
    assert all(s.expect is not None and "RFC 5321 §" in s.expect.why for s in scenario.steps)

    with pytest.raises(ScenarioError, match="variable 'domain' has no value"):
        bind(scenario, {}, {})
    bound = bind(scenario, {"domain": "example.org"}, {})
    assert bound.steps[3].label == "rcpt <postmaster@example.org>"
    assert bound.steps[4].body is not None and "postmaster@example.org" in bound.steps[4].body
    # The null reverse-path, then postmaster with no domain (§4.5.1: MUST be accepted).
    assert [bound.steps[5].label, bound.steps[6].label] == [
        "MAIL FROM:<> (the null reverse-path)",
        "RCPT TO:<Postmaster> (no domain)",
    ]
    assert scenario.steps[6].expect is not None and scenario.steps[6].expect.level is Level.MUST
