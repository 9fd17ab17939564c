"""Every kind of scenario problem, as the exact `file:line:column: message` line a user sees."""

from __future__ import annotations

from pathlib import Path

import pytest

import probe.scenario.expectations as expectations
from probe.scenario import ScenarioError, bind, load_path, load_scenario


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # so problems name "s.yaml", not a long temporary path


def problems(text: str | bytes, name: str = "s.yaml") -> list[str]:
    path = Path(name)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == "\n".join(str(p) for p in info.value.problems)
    return [str(p) for p in info.value.problems]


# --- files that are not YAML at all ------------------------------------------------------------


def test_missing_file() -> None:
    with pytest.raises(ScenarioError) as info:
        load_path(Path("nowhere.yaml"))
    assert [str(p) for p in info.value.problems] == ["nowhere.yaml: no such file or folder"]
    with pytest.raises(ScenarioError) as info:
        load_scenario(Path("nowhere.yaml"))
    assert [str(p) for p in info.value.problems] == ["nowhere.yaml: no such file"]


def test_folder_with_no_scenarios() -> None:
    Path("empty").mkdir()
    (Path("empty") / "README.txt").write_text("nothing here")
    with pytest.raises(ScenarioError) as info:
        load_path(Path("empty"))
    assert [str(p) for p in info.value.problems] == [
        "empty: no scenario files (*.yaml, *.yml) in this folder"
    ]


def test_a_folder_given_as_a_file() -> None:
    Path("d").mkdir()
    with pytest.raises(ScenarioError) as info:
        load_scenario(Path("d"))
    assert str(info.value).startswith("d: is a folder")


def test_empty_file_and_only_comments() -> None:
    assert problems("") == ["s.yaml: file is empty; a scenario needs at least 'steps'"]
    assert problems("\n  \n") == ["s.yaml: file is empty; a scenario needs at least 'steps'"]
    assert problems("# nothing\n# here\n") == [
        "s.yaml: file has only comments; a scenario needs at least 'steps'"
    ]


def test_binary_and_non_utf8_files() -> None:
    assert problems(b"steps:\n  - co\x00nnect\n") == [
        "s.yaml:2:7: binary file (NUL byte); a scenario is UTF-8 text"
    ]
    assert problems(b"steps:\n  - ehlo: caf\xe9\n") == [
        "s.yaml:2:14: not UTF-8 text: byte 0xe9 cannot be decoded; save the file as UTF-8"
    ]
    assert problems("steps: [connect]".encode("utf-16")) == [
        "s.yaml: file is UTF-16 or UTF-32 text; save it as UTF-8"
    ]


def test_a_utf8_bom_is_fine() -> None:
    Path("s.yaml").write_bytes(b"\xef\xbb\xbfsteps: [connect]\n")
    assert load_scenario(Path("s.yaml")).steps[0].label == "connect"


# --- YAML syntax -------------------------------------------------------------------------------


def test_yaml_syntax_error_uses_the_yaml_mark() -> None:
    assert problems("steps:\n  - ehlo: [a, b\n  - quit\n") == [
        "s.yaml:4:1: YAML syntax error: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence at line 2, column 11)"
    ]


def test_every_tab_in_indentation_is_reported() -> None:
    assert problems("steps:\n\t- connect\n  - noop\n\t- quit\n") == [
        "s.yaml:2:1: tab in indentation; YAML indents with spaces only",
        "s.yaml:4:1: tab in indentation; YAML indents with spaces only",
    ]


def test_tabs_inside_a_block_body_are_content() -> None:
    Path("s.yaml").write_text("steps:\n  - data: |\n      a\n      \tb\n")
    assert load_scenario(Path("s.yaml")).steps[0].body == "a\n\tb\n"


def test_control_characters() -> None:
    assert problems("steps:\n  - ehlo: a\x1bb\n") == [
        "s.yaml:2:12: control character U+001B is not allowed in a YAML file"
    ]


def test_duplicate_keys_at_any_depth() -> None:
    assert problems(
        "vars: {a: 1, a: 2}\nsteps:\n  - rcpt:\n      to: x\n      expect: 250\n      expect: 251\n"
    ) == [
        "s.yaml:1:14: duplicate key 'a' (first at line 1, column 8)",
        "s.yaml:6:7: duplicate key 'expect' (first at line 5, column 7)",
    ]


def test_key_given_inside_and_beside_the_kind() -> None:
    assert problems("steps:\n  - noop: {expect: 250}\n    expect: 251\n") == [
        "s.yaml:2:12: 'expect' given twice for this step (also at line 3, column 13)"
    ]


def test_one_document_per_file() -> None:
    assert problems("steps: [connect]\n---\nsteps: [quit]\n") == [
        "s.yaml:2:1: a second YAML document starts here; a scenario file holds one document"
    ]


def test_deep_nesting_is_a_problem_not_a_crash() -> None:
    assert problems("steps: " + "[" * 50_000) == ["s.yaml: YAML nesting is too deep"]


def test_non_word_keys() -> None:
    assert problems("steps:\n  - {[a]: 1, noop: }\n") == [
        "s.yaml:2:6: a key must be a word, got a list"
    ]


# --- the top level -----------------------------------------------------------------------------


def test_top_level_must_be_a_mapping() -> None:
    assert problems("- connect\n- quit\n") == [
        "s.yaml:1:1: the top level must be a mapping (name:, vars:, steps:), got a list"
    ]


def test_missing_steps_and_unknown_top_level_keys() -> None:
    assert problems("name: x\nstep:\n  - connect\nfrobnicate: 1\n") == [
        "s.yaml:1:1: missing 'steps' (the list of steps to play)",
        "s.yaml:2:1: unknown top-level key 'step'; did you mean 'steps'?",
        "s.yaml:4:1: unknown top-level key 'frobnicate'; the keys are name, description, vars, "
        "stop_on_fail, tls, auth, steps (and x-... for anchors)",
    ]


def test_steps_must_be_a_non_empty_list() -> None:
    assert problems("steps:\n") == ["s.yaml:1:7: 'steps' must be a list of steps, got nothing"]
    assert problems("steps: []\n") == ["s.yaml:1:8: 'steps' is empty; give at least one step"]


def test_name_and_description_types() -> None:
    assert problems("name: ''\ndescription: [a]\nsteps: [connect]\n") == [
        "s.yaml:1:7: 'name' is empty",
        "s.yaml:2:14: 'description' must be text, got a list",
    ]


# --- steps -------------------------------------------------------------------------------------


def test_unknown_step_kinds_get_a_suggestion() -> None:
    assert problems("steps:\n  - conect\n  - rcp: a@b\n  - EHLO: x\n  - frob\n") == [
        "s.yaml:2:5: unknown step kind 'conect'; did you mean 'connect'?",
        "s.yaml:3:5: unknown step kind 'rcp'; did you mean 'rcpt'?",
        "s.yaml:4:5: unknown step kind 'EHLO'; did you mean 'ehlo'?",
        "s.yaml:5:5: unknown step kind 'frob'; steps are connect, ehlo, helo, mail, rcpt, data, "
        "rset, vrfy, expn, help, noop, quit, send, pipeline, starttls, auth, bdat, idle (use "
        "'send' for any other command)",
    ]


def test_a_command_line_written_as_a_bare_word() -> None:
    assert problems("steps:\n  - ehlo example.test\n") == [
        "s.yaml:2:5: unknown step kind 'ehlo example.test'; write it as '- ehlo: example.test'"
    ]


def test_unknown_step_keys_get_a_suggestion() -> None:
    assert problems(
        "steps:\n  - rcpt: {to: a@b, expct: 250}\n  - noop:\n      reason: x\n"
        "  - mail: a@b\n    timout: 3\n"
    ) == [
        "s.yaml:2:21: unknown key 'expct' in rcpt step; did you mean 'expect'?",
        "s.yaml:4:7: unknown key 'reason' in noop step; noop takes: arg, expect, level, why, "
        "name, stop_on_fail, timeout, settle, requires, save, when",
        "s.yaml:6:5: unknown key 'timout' in mail step; did you mean 'timeout'?",
    ]


def test_a_step_with_no_kind_or_two_kinds() -> None:
    assert problems("steps:\n  - expect: 250\n  - mail: a@b\n    rcpt: c@d\n") == [
        "s.yaml:2:5: this step has no kind; start it with one of connect, ehlo, helo, mail, rcpt, "
        "data, rset, vrfy, expn, help, noop, quit, send, pipeline, starttls, auth, bdat, idle",
        "s.yaml:4:5: 'rcpt' starts another step; give it its own '- ' list item",
    ]


def test_missing_and_unwanted_arguments() -> None:
    assert problems(
        "steps:\n  - mail\n  - rcpt:\n  - ehlo: {expect: 250}\n  - connect: mx.example\n"
        "  - auth: PLAIN\n  - pipeline: rset\n  - rset: [a]\n"
    ) == [
        "s.yaml:2:5: 'mail' needs an argument: - mail: sender@example.test",
        "s.yaml:3:5: 'rcpt' needs an argument: - rcpt: postmaster@example.test",
        "s.yaml:4:11: 'ehlo' needs 'domain'",
        "s.yaml:5:14: 'connect' takes no argument, got 'mx.example'; its keys are expect, level, "
        "why, name, stop_on_fail, timeout, settle, requires, save, when",
        "s.yaml:6:11: 'auth' takes a mapping, got 'PLAIN': - auth: {mechanism: PLAIN, username: "
        "USER, password: ${env:VAR}}",
        "s.yaml:7:15: 'pipeline' takes a list of steps, got 'rset': - pipeline: [mail: a@b, "
        "rcpt: c@d]",
        "s.yaml:8:11: 'rset' takes text or a mapping, got a list",
    ]


def test_wrong_types() -> None:
    assert problems(
        "steps:\n  - noop: {timeout: abc}\n  - noop: {timeout: 0}\n  - noop: {timeout: .inf}\n"
        "  - noop: {stop_on_fail: maybe}\n  - ehlo: {domain: [a]}\n  - noop: {timeout: true}\n"
    ) == [
        "s.yaml:2:21: 'timeout' must be a positive number, got 'abc'",
        "s.yaml:3:21: 'timeout' must be a positive number, got '0'",
        "s.yaml:4:21: 'timeout' must be a positive number, got '.inf'",
        "s.yaml:5:26: 'stop_on_fail' must be true or false, got 'maybe'",
        "s.yaml:6:20: 'domain' must be text, got a list",
        "s.yaml:7:21: 'timeout' must be a positive number, got 'true'",
    ]


def test_bad_expectations() -> None:
    assert problems(
        "steps:\n"
        "  - noop: {expect: 2x5}\n"
        "  - noop: {expect: 600}\n"
        "  - noop: {expect: [250, 2500]}\n"
        "  - noop: {expect: {code: 250, text: 'a(b'}}\n"
        "  - noop: {expect: 250, level: maybe}\n"
        "  - noop: {expect: {}}\n"
        "  - noop: {expect: [[250]]}\n"
    ) == [
        "s.yaml:2:20: bad reply code '2x5' in 'expect'; write a code (250), a class (5xx) or a "
        "class and subclass (25x), first digit 2-5",
        "s.yaml:3:20: bad reply code '600' in 'expect'; write a code (250), a class (5xx) or a "
        "class and subclass (25x), first digit 2-5",
        "s.yaml:4:26: bad reply code '2500' in 'expect'; write a code (250), a class (5xx) or a "
        "class and subclass (25x), first digit 2-5",
        "s.yaml:5:38: bad regex in 'text': missing ): a(b; patterns use RE2 syntax",
        "s.yaml:6:32: 'level' must be must, should or info, got 'maybe'",
        "s.yaml:7:20: 'expect' needs 'code', 'text' or 'same_as'",
        "s.yaml:8:21: 'expect' must be a code or a list of codes, got a list",
    ]


def test_level_and_why_need_an_expectation() -> None:
    assert problems("steps:\n  - noop: {level: should, why: because}\n") == [
        "s.yaml:2:19: 'level' applies to 'expect', and this step has none",
        "s.yaml:2:32: 'why' applies to 'expect', and this step has none",
    ]


def test_data_and_send_forms() -> None:
    assert problems(
        "steps:\n"
        "  - data: {body: a, raw: b}\n"
        "  - data: {expect: 354}\n"
        "  - send: {line: a, raw: b}\n"
        "  - send: {as: MAIL}\n"
        "  - send: {raw: 'A\\qB'}\n"
        "  - send: {line: NOOP, as: '!!'}\n"
        "  - rcpt: 'a@b\\r\\n'\n"
        '  - rcpt: "a@b\\r\\nDATA"\n'
    ) == [
        "s.yaml:2:26: data takes one of 'body', 'raw', 'file', not both 'body' and 'raw'",
        "s.yaml:3:11: 'data' needs 'body' or 'raw' or 'file'",
        "s.yaml:4:26: send takes one of 'line', 'raw', not both 'line' and 'raw'",
        "s.yaml:5:11: 'send' needs 'line' or 'raw'",
        "s.yaml:6:19: bad escape '\\q' in 'raw'; raw text knows \\r \\n \\t \\0 \\\\ and \\xHH",
        "s.yaml:7:28: 'as' must be a command verb such as MAIL, got '!!'",
        "s.yaml:9:11: 'to' must be one line (it goes into a command line); use send: {raw: ...} "
        "to send line breaks",
    ]


def test_auth_fields() -> None:
    assert problems("steps:\n  - auth: {mechanism: DIGEST-MD5, username: u}\n") == [
        "s.yaml:2:11: 'auth' needs 'password'",
        "s.yaml:2:23: 'mechanism' must be PLAIN or LOGIN or CRAM-MD5 or XOAUTH2 or SCRAM-SHA-1 "
        "or SCRAM-SHA-256, got 'DIGEST-MD5'",
    ]
    assert problems("steps:\n  - auth: {mechanism: PLAN, username: u, password: p}\n") == [
        "s.yaml:2:23: 'mechanism' must be PLAIN or LOGIN or CRAM-MD5 or XOAUTH2 or SCRAM-SHA-1 "
        "or SCRAM-SHA-256, got 'PLAN'; did you mean 'PLAIN'?",
    ]


def test_pipeline_members() -> None:
    assert problems(
        "steps:\n  - pipeline:\n      - ehlo: x\n      - data: body\n      - rset\n"
        "      - pipeline: [rset]\n  - pipeline: []\n  - pipeline: [rset]\n    expect: 250\n"
    ) == [
        "s.yaml:3:9: 'ehlo' can't be in a pipeline; members are mail, rcpt, rset, noop, send or "
        "data (last)",
        "s.yaml:4:9: data must be the last member of a pipeline",
        "s.yaml:6:9: 'pipeline' can't be in a pipeline; members are mail, rcpt, rset, noop, send "
        "or data (last)",
        "s.yaml:7:15: the pipeline is empty; give it two or more commands",
        "s.yaml:9:5: a pipeline has no reply of its own; put 'expect' on its members",
    ]


# --- variables ---------------------------------------------------------------------------------


def test_undefined_variables_are_reported_where_they_are_used() -> None:
    assert problems(
        "vars:\n  domain: example.test\nsteps:\n  - rcpt: postmaster@${domian}\n"
        '  - ehlo: "x.${nope}"\n  - data: |\n      To: ${who}\n'
    ) == [
        "s.yaml:4:22: undefined variable 'domian'; did you mean 'domain'?",
        "s.yaml:5:14: undefined variable 'nope' (scenario declares: domain)",
        "s.yaml:7:11: undefined variable 'who' (scenario declares: domain)",
    ]


def test_variable_cycles_are_named() -> None:
    assert problems(
        "vars:\n  a: ${b}\n  b: x${c}\n  c: ${a}y\n  d: ${d}\n  e: ${a}\nsteps:\n  - ehlo: ${e}\n"
    ) == [
        "s.yaml:2:3: variable cycle: a -> b -> c -> a",
        "s.yaml:5:3: variable cycle: d -> d",
    ]


def test_malformed_references() -> None:
    assert problems(
        "vars:\n  my var: 1\n  list: [a]\nsteps:\n  - ehlo: ${helo\n  - ehlo: a${x y}\n"
        "  - ehlo: ${env:1X}\n"
    ) == [
        "s.yaml:2:3: bad variable name 'my var'; use letters, digits, '_' and '-' (not starting "
        "with a digit or '-')",
        "s.yaml:3:9: variable 'list' must be text (or empty for no default), got a list",
        "s.yaml:5:11: '${' is not closed by '}' (write $${ for a literal '${')",
        "s.yaml:6:12: bad variable reference '${x y}'; names are letters, digits, '_' and '-' "
        "(write $${ for a literal '${')",
        "s.yaml:7:11: bad environment reference '${env:1X}'; write ${env:NAME} or "
        "${env:NAME:-default}",
    ]


def test_escaped_references_are_literal() -> None:
    Path("s.yaml").write_text("steps:\n  - ehlo: $${not_a_var}\n")
    scenario = load_scenario(Path("s.yaml"))
    assert bind(scenario, {}, {}).steps[0].arg == "${not_a_var}"


# --- what the code tables say can never happen -------------------------------------------------


def test_expectations_a_command_can_never_meet() -> None:
    assert problems(
        "steps:\n"
        "  - connect: {expect: 354}\n"
        "  - data: {body: hi, expect: 250, expect_end: 354}\n"
        "  - send: {line: XYZZY, expect: 250}\n"
    ) == [
        "s.yaml:2:23: CONNECT never answers 3xx, so 'expect: 354' can never be met (the code "
        "tables allow 2xx, 4xx, 5xx)",
        "s.yaml:3:30: DATA never answers 2xx, so 'expect: 250' can never be met (the code tables "
        "allow 3xx, 4xx, 5xx); 'expect_end' judges the reply after the message",
        "s.yaml:3:47: DATA-END never answers 3xx, so 'expect_end: 354' can never be met (the "
        "code tables allow 2xx, 4xx, 5xx); 'expect' judges the reply to DATA itself",
        "s.yaml:4:33: UNKNOWN never answers 2xx, so 'expect: 250' can never be met (the code "
        "tables allow 4xx, 5xx); set 'as:' if 'XYZZY' should be judged by another command's "
        "table",
    ]


def test_send_is_judged_by_its_verb() -> None:
    Path("s.yaml").write_text(
        "steps:\n  - send: {line: 'MAIL FROM:<>', expect: 250}\n"
        "  - send: {raw: 'XYZZY\\r\\n', as: noop, expect: 250}\n"
    )
    assert [s.verb for s in load_scenario(Path("s.yaml")).steps] == ["MAIL", "NOOP"]


def test_without_code_tables_the_check_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_yet() -> None:
        raise NotImplementedError

    monkeypatch.setattr(expectations, "load_table", not_yet)
    Path("s.yaml").write_text("steps:\n  - data: {body: hi, expect: 250}\n")
    assert load_scenario(Path("s.yaml")).steps[0].expect is not None


# --- many problems at once, across files -------------------------------------------------------


def test_all_problems_are_collected_in_file_order() -> None:
    assert problems(
        "stop_on_fail: 3\nvars: {a: '${b}'}\nsteps:\n  - noop: {timeout: x}\n  - rcp: y\n"
        "  - ehlo: ${a}\n"
    ) == [
        "s.yaml:1:15: 'stop_on_fail' must be true or false, got '3'",
        "s.yaml:2:12: undefined variable 'b' (scenario declares: a)",
        "s.yaml:4:21: 'timeout' must be a positive number, got 'x'",
        "s.yaml:5:5: unknown step kind 'rcp'; did you mean 'rcpt'?",
    ]


def test_a_folder_reports_every_file_and_duplicate_names() -> None:
    folder = Path("set")
    folder.mkdir()
    (folder / "a.yaml").write_text("steps: [conect]\n")
    (folder / "b.yaml").write_text("name: same\nsteps: [connect]\n")
    (folder / "c.yml").write_text("name: same\nsteps: [quit]\n")
    (folder / "d.yaml").write_text("steps: []\n")
    with pytest.raises(ScenarioError) as info:
        load_path(folder)
    assert [str(p) for p in info.value.problems] == [
        "set/a.yaml:1:9: unknown step kind 'conect'; did you mean 'connect'?",
        "set/c.yml: scenario name 'same' is also used by set/b.yaml",
        "set/d.yaml:1:8: 'steps' is empty; give at least one step",
    ]
