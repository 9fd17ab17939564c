"""The reply-code table: its data against the RFC text, its lookups, its loader's checks."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from probe.codes import (
    PROFILES,
    CodeTable,
    CodeTableError,
    Tier,
    canonical_command,
    load_table,
    parse_table,
    render_codes,
    render_explain,
)

# RFC 5321 §4.3.2 "Specific sequences", copied by hand from the RFC text as an independent check
# of table.yaml. DATA-END is the "354 -> data -> S: 250 / E: ..." branch after the final dot.
RFC5321_4_3_2 = {
    "CONNECT": {220, 554},
    "HELO": {250, 504, 550, 502},  # "EHLO or HELO"
    "EHLO": {250, 504, 550, 502},
    "MAIL": {250, 552, 451, 452, 550, 553, 503, 455, 555},
    "RCPT": {250, 251, 550, 551, 552, 553, 450, 451, 452, 503, 455, 555},
    "DATA": {354, 503, 554},
    "DATA-END": {250, 552, 554, 451, 452, 450, 550},
    "RSET": {250},
    "VRFY": {250, 251, 252, 550, 551, 553, 502, 504},
    "EXPN": {250, 252, 550, 500, 502, 504},
    "HELP": {211, 214, 502, 504},
    "NOOP": {250},
    "QUIT": {221},
}

REQUIRED_COMMANDS = [
    "CONNECT", "HELO", "EHLO", "MAIL", "RCPT", "DATA", "DATA-END", "BDAT", "RSET", "VRFY", "EXPN",
    "HELP", "NOOP", "QUIT", "TURN", "SEND", "SOML", "SAML", "STARTTLS", "AUTH", "ETRN", "ATRN",
    "UNKNOWN",
]  # fmt: skip

# Every code the research notes' `codes:` section lists.
REFERENCE_CODES = [
    200, 211, 214, 220, 221, 235, 250, 251, 252, 253, 334, 354, 355, 421, 432, 450, 451, 452, 453,
    454, 455, 458, 459, 500, 501, 502, 503, 504, 521, 523, 530, 534, 535, 538, 550, 551, 552, 553,
    554, 555, 556,
]  # fmt: skip

NOT_COMMANDS = {"CONNECT", "DATA-END"}


@pytest.fixture(scope="module")
def table() -> CodeTable:
    return load_table()


@pytest.fixture
def raw() -> dict[str, Any]:
    """The bundled YAML as plain data, for building broken variants."""
    text = resources.files("probe.codes").joinpath("table.yaml").read_text(encoding="utf-8")
    return copy.deepcopy(yaml.safe_load(text))


def unconditional(table: CodeTable, command: str, code: int) -> list:
    return [row for row in table.allowances(command, code) if not row.when]


# --- the data against the RFC text -----------------------------------------------------------


def test_the_table_has_every_required_command(table: CodeTable) -> None:
    assert set(REQUIRED_COMMANDS) <= set(table.commands)


@pytest.mark.parametrize(
    ("command", "code"),
    sorted((command, code) for command, codes in RFC5321_4_3_2.items() for code in codes),
)
def test_every_rfc5321_4_3_2_pair_is_rfc5321_tier(
    table: CodeTable, command: str, code: int
) -> None:
    rows = unconditional(table, command, code)
    assert any(row.tier is Tier.RFC5321 for row in rows), (command, code)
    assert any(source.startswith("RFC 5321") for row in rows for source in row.sources)


@pytest.mark.parametrize(
    ("command", "code"),
    sorted(
        (c, code)
        for c, codes in RFC5321_4_3_2.items()
        for code in codes
        if (c, code) != ("HELO", 502)
    ),
)
def test_rfc5321_pairs_pass_the_rfc5321_profile(table: CodeTable, command: str, code: int) -> None:
    assert any("rfc5321" in row.profiles for row in unconditional(table, command, code))


def test_helo_502_is_listed_but_passes_only_permissive(table: CodeTable) -> None:
    # §4.3.2 allows 502 "only with an old-style server that does not support EHLO", and servers
    # MUST accept HELO (App. F.3), so only the permissive profile accepts it.
    (row,) = unconditional(table, "HELO", 502)
    assert row.tier is Tier.RFC5321 and row.profiles == {"permissive"}


def test_data_451_is_legacy_and_passes_only_permissive(table: CodeTable) -> None:
    rows = table.allowances("DATA", 451)
    assert [(r.tier, r.profiles) for r in rows] == [(Tier.LEGACY, frozenset({"permissive"}))]
    assert "RFC 2821 §4.3.2" in rows[0].sources and "RFC 821 §4.3" in rows[0].sources


def test_data_451_after_the_final_dot_is_rfc5321(table: CodeTable) -> None:
    assert "rfc5321" in table.allowances("DATA-END", 451)[0].profiles


@pytest.mark.parametrize("command", ["RSET", "NOOP"])
def test_200_to_rset_and_noop_is_seed_only(table: CodeTable, command: str) -> None:
    (row,) = table.allowances(command, 200)
    assert row.tier is Tier.SEED and row.profiles == {"permissive"}
    assert "RJK reply codes" in row.sources


def test_help_250_is_allowed_by_no_document(table: CodeTable) -> None:
    assert table.allowances("HELP", 250) == []


def test_rset_504_is_rfc821_only(table: CodeTable) -> None:
    (row,) = table.allowances("RSET", 504)
    assert row.tier is Tier.LEGACY and "RFC 821 §4.3" in row.sources


def test_mail_and_rcpt_504_are_kept_out_of_the_stricter_profiles(table: CodeTable) -> None:
    for command in ("MAIL", "RCPT"):
        (row,) = table.allowances(command, 504)
        assert row.profiles == {"permissive"}
        assert "rfc5321" in table.allowances(command, 555)[0].profiles  # §4.1.1.11


def test_classes_of_data_lack_2xx_and_of_mail_lack_3xx(table: CodeTable) -> None:
    assert table.classes("DATA") == {3, 4, 5}
    assert 3 not in table.classes("MAIL")
    assert table.classes("DATA-END") == {2, 4, 5}
    assert 3 in table.classes("AUTH")  # 334 challenge


def test_extension_verbs_take_the_defining_rfc_as_rfc5321_tier(table: CodeTable) -> None:
    for command, code, source in [
        ("STARTTLS", 220, "RFC 3207 §4"),
        ("AUTH", 235, "RFC 4954 §4"),
        ("BDAT", 250, "RFC 3030 §2"),
        ("ETRN", 253, "RFC 1985 §5.1"),
        ("ATRN", 453, "RFC 2645 §7"),
    ]:
        (row,) = table.allowances(command, code)
        assert row.tier is Tier.RFC5321 and "rfc5321" in row.profiles and source in row.sources


def test_auth_523_is_registry_only(table: CodeTable) -> None:
    (row,) = table.allowances("AUTH", 523)
    assert row.tier is Tier.REGISTRY and row.sources == ("RFC 5248 §2.4",)


def test_connect_521_passes_under_standards_but_not_rfc5321(table: CodeTable) -> None:
    (row,) = table.allowances("CONNECT", 521)
    assert row.tier is Tier.EXTENSION and "rfc5321" not in row.profiles
    assert "RFC 7504 §3" in row.sources


def test_unknown_commands_get_500_or_502(table: CodeTable) -> None:
    for code, section in ((500, "RFC 5321 §4.2.4"), (502, "RFC 5321 §4.2.4")):
        (row,) = unconditional(table, "UNKNOWN", code)
        assert row.tier is Tier.RFC5321 and section in row.sources
    assert table.allowances("UNKNOWN", 250) == []


# --- universal and conditional rows ------------------------------------------------------------


@pytest.mark.parametrize("code", [421, 500, 501])
def test_any_command_may_get_500_501_421(table: CodeTable, code: int) -> None:
    for command in set(table.commands) - NOT_COMMANDS:
        rows = unconditional(table, command, code)
        assert rows and rows[0].tier is Tier.RFC5321, (command, code)


def test_data_end_and_connect_are_not_commands_for_500_and_501(table: CodeTable) -> None:
    for command in NOT_COMMANDS:
        assert unconditional(table, command, 500) == []
        assert table.allowances(command, 501) == []
        assert unconditional(table, command, 421)  # RFC 5321 §3.8
    (line_too_long,) = table.allowances("DATA-END", 500)
    assert line_too_long.when == ("line_too_long",)
    assert "RFC 5321 §3.8" in unconditional(table, "CONNECT", 421)[0].sources


def conditional_commands(table: CodeTable, code: int, condition: str) -> set[str]:
    return {
        command
        for command in table.commands
        if any(row.when == (condition,) for row in table.allowances(command, code))
    }


def test_503_after_a_554_greeting_reaches_every_command_but_quit(table: CodeTable) -> None:
    # A command whose own 503 already passes everywhere needs no conditional one (MAIL, DATA...);
    # TURN's own 503 is RFC 821-only, so it still gets the RFC 5321 §3.1 row.
    own_503 = {
        c
        for c in table.commands
        if any(r.profiles == set(PROFILES) for r in unconditional(table, c, 503))
    }
    expected = set(table.commands) - NOT_COMMANDS - {"QUIT"} - own_503
    assert conditional_commands(table, 503, "after_554_greeting") == expected
    assert {"EHLO", "NOOP", "RSET", "TURN", "UNKNOWN"} <= expected


def test_530_rows_follow_the_exemptions_of_rfc3207_and_rfc4954(table: CodeTable) -> None:
    tls = conditional_commands(table, 530, "tls_required")
    auth = conditional_commands(table, 530, "auth_required")
    assert not tls & {"NOOP", "EHLO", "STARTTLS", "QUIT"}  # RFC 3207 §4
    assert not auth & {"AUTH", "EHLO", "HELO", "NOOP", "RSET", "QUIT"}  # RFC 4954 §6
    assert {"RSET", "HELO", "AUTH", "MAIL"} <= tls
    assert {"MAIL", "RCPT", "DATA", "STARTTLS"} <= auth
    assert unconditional(table, "ATRN", 530)  # RFC 2645 §5.2.1: unauthenticated ATRN


def test_each_condition_row_carries_a_single_condition(table: CodeTable) -> None:
    # The asserter requires every name in `when` to hold, so "TLS or AUTH" must be two rows.
    mail_530 = table.allowances("MAIL", 530)
    assert sorted(row.when for row in mail_530) == [("auth_required",), ("tls_required",)]


def test_quit_is_exempt_from_every_conditional_row(table: CodeTable) -> None:
    assert all(not row.when for row in table.entries("QUIT"))
    assert {row.code for row in table.entries("QUIT")} == {221, 421, 500, 501}


def test_other_conditional_rows_reach_the_right_commands(table: CodeTable) -> None:
    assert "QUIT" not in conditional_commands(table, 554, "tls_insufficient")
    assert "EHLO" in conditional_commands(table, 554, "tls_insufficient")
    assert "HELO" in conditional_commands(table, 521, "after_521_greeting")
    odmr = conditional_commands(table, 502, "odmr_session")
    assert not odmr & {"EHLO", "AUTH", "ATRN", "QUIT"} and "MAIL" in odmr
    assert {"STARTTLS", "AUTH", "BDAT", "ETRN"} <= conditional_commands(
        table, 502, "not_advertised"
    )
    assert conditional_commands(table, 503, "in_transaction") == {"ETRN"}
    assert {r.when for r in table.allowances("DATA", 552)} == {("ext_SIZE",)}


def test_every_condition_used_is_described_with_its_source(table: CodeTable) -> None:
    used = {name for c in table.commands for row in table.entries(c) for name in row.when}
    assert used <= set(table.conditions)
    for name, description in table.conditions.items():
        assert "RFC " in description, name


# --- every row is well formed ------------------------------------------------------------------


def test_every_row_has_sources_in_citable_form(table: CodeTable) -> None:
    for command in table.commands:
        for row in table.entries(command):
            assert row.sources, (command, row.code)
            for source in row.sources:
                # An RFC (with a section), or a vendor page cited by its readable name.
                assert source.split(" §")[0].split(" App.")[0] in table.documents, source
                assert "seed:" not in source and ".txt" not in source, source


def test_profiles_are_nested_and_never_wider_than_the_tier(table: CodeTable) -> None:
    widest = {
        Tier.RFC5321: set(PROFILES),
        Tier.EXTENSION: {"standards", "permissive"},
        Tier.LEGACY: {"permissive"},
        Tier.REGISTRY: {"permissive"},
        Tier.SEED: {"permissive"},
    }
    for command in table.commands:
        for row in table.entries(command):
            assert "permissive" in row.profiles  # permissive = every document
            if "rfc5321" in row.profiles:
                assert "standards" in row.profiles
            assert row.profiles <= widest[row.tier], (command, row.code)


def test_entries_are_sorted_by_code(table: CodeTable) -> None:
    for command in table.commands:
        codes = [row.code for row in table.entries(command)]
        assert codes == sorted(codes)


@given(st.sampled_from(REQUIRED_COMMANDS), st.integers(200, 559))
def test_allowances_hold_only_that_command_and_code(command: str, code: int) -> None:
    for row in load_table().allowances(command, code):
        assert (row.command, row.code) == (command, code)


# --- fixed replies -----------------------------------------------------------------------------


def test_quit_must_be_answered_221(table: CodeTable) -> None:
    fixed = table.fixed("QUIT")
    assert fixed is not None and fixed.codes == {221} and fixed.must
    assert fixed.source == "RFC 5321 §4.1.1.10"
    assert 'MUST send a "221 OK" reply' in fixed.rule


def test_rset_without_arguments_must_be_answered_250(table: CodeTable) -> None:
    fixed = table.fixed("RSET")
    assert fixed is not None and fixed.codes == {250} and fixed.unless_argument and fixed.must
    assert fixed.source == "RFC 5321 §4.1.1.5"
    assert 'MUST send a "250 OK" reply to a RSET command with no arguments' in fixed.rule


def test_noop_is_fixed_without_a_must_and_the_greeting_by_its_grammar(table: CodeTable) -> None:
    noop, greeting = table.fixed("NOOP"), table.fixed("greeting")
    assert noop is not None and noop.codes == {250} and noop.source == "RFC 5321 §4.1.1.9"
    assert not noop.must  # the RFC sentence carries no MUST: a breach is a warning
    assert noop.argument_rule == "If a parameter string is specified, servers SHOULD ignore it."
    assert greeting is not None and greeting.codes == {220, 554} and greeting.must
    assert greeting.source == "RFC 5321 §4.2" and "554 response MAY be given" in greeting.rule
    assert table.fixed("MAIL") is None


def test_commands_without_arguments_should_answer_501_when_given_some(table: CodeTable) -> None:
    rule = table.no_arguments
    assert rule is not None and rule.commands == {"DATA", "RSET", "QUIT"} and rule.codes == {501}
    assert rule.source == "RFC 5321 §4.3.2" and "SHOULD return a 501" in rule.rule


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("ehlo", "EHLO"),
        ("  Rcpt  ", "RCPT"),
        ("greeting", "CONNECT"),
        ("connect", "CONNECT"),
        ("Connection Establishment", "CONNECT"),
        ("end of data", "DATA-END"),
        ("data-end", "DATA-END"),
        ("received data", "DATA-END"),
        ("MAIL FROM", "MAIL"),
        ("MAIL FROM:<a@example.test> SIZE=10", "MAIL"),
        ("auth plain", "AUTH"),
        ("frobnicate", "UNKNOWN"),
        ("", "UNKNOWN"),
    ],
)
def test_canonical_command_knows_verbs_and_aliases(name: str, canonical: str) -> None:
    assert canonical_command(name) == canonical


@given(st.text(max_size=40))
def test_canonical_command_always_names_a_table_entry(name: str) -> None:
    assert canonical_command(name) in load_table().commands


def test_table_methods_accept_aliases_and_refuse_unknown_names(table: CodeTable) -> None:
    assert table.entries("end of data") == table.entries("DATA-END")
    with pytest.raises(KeyError):
        table.entries("FROBNICATE")


# --- explain -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", REFERENCE_CODES)
def test_every_reference_code_can_be_explained(table: CodeTable, code: int) -> None:
    info = table.code_info(code)
    assert info is not None and info.meaning and info.defined_in


def test_code_info_lists_the_commands_that_may_give_a_code(table: CodeTable) -> None:
    info = table.code_info(354)
    assert info is not None and info.commands == ("DATA",)
    assert "RFC 5321 §4.2.3" in info.defined_in
    no_command = table.code_info(355)
    assert no_command is not None and no_command.commands == ()
    assert table.code_info(299) is None


# --- rendering ---------------------------------------------------------------------------------


def test_render_codes_shows_each_row_with_its_sources(table: CodeTable) -> None:
    text = render_codes(table, "DATA")
    assert text.startswith("DATA")
    assert "354" in text and "RFC 5321 §4.3.2" in text and "RFC 2821 §4.3.2" in text
    assert "legacy" in text and "ext_SIZE" in text  # DATA 451, SIZE 452/552
    assert "Conditions" in text and "RFC 1870" in text


def test_render_codes_shows_the_fixed_reply(table: CodeTable) -> None:
    text = render_codes(table, "quit")
    assert "RFC 5321 §4.1.1.10" in text and '"221 OK"' in text


def test_render_codes_without_a_command_shows_every_command(table: CodeTable) -> None:
    text = render_codes(table, None)
    for command in table.commands:
        assert f"\n{command} - " in f"\n{text}"
    assert max(len(line) for line in text.splitlines()) <= 100


def test_render_codes_refuses_an_unknown_command(table: CodeTable) -> None:
    with pytest.raises(KeyError):
        render_codes(table, "FROBNICATE")


def test_render_explain_names_documents_and_commands(table: CodeTable) -> None:
    text = render_explain(table, 530)
    assert text.startswith("530")
    assert "RFC 3207 §4" in text and "RFC 4954 §6" in text
    assert "ATRN" in text and "tls_required" in text


def test_render_explain_handles_codes_outside_the_table(table: CodeTable) -> None:
    assert "not a valid reply code" in render_explain(table, 170)
    assert "no document" in render_explain(table, 259)
    assert "2yz" in render_explain(table, 259)


# --- loading -----------------------------------------------------------------------------------


def test_load_table_is_cached() -> None:
    assert load_table() is load_table()


def test_the_bundled_data_parses_to_the_same_table(raw: dict[str, Any], table: CodeTable) -> None:
    rebuilt = parse_table(raw)
    assert rebuilt.commands == table.commands
    assert all(rebuilt.entries(c) == table.entries(c) for c in table.commands)


def test_the_package_never_reads_the_shared_research_folder() -> None:
    package = Path(__file__).resolve().parent.parent / "probe" / "codes"
    for path in package.iterdir():
        if path.suffix in {".py", ".yaml"}:
            assert "/work/shared" not in path.read_text(encoding="utf-8"), path


def _break(data: dict[str, Any], how: str) -> None:
    mail = data["commands"]["MAIL"]["rows"]
    if how == "no sources":
        mail[0]["sources"] = []
    elif how == "bad source":
        mail[0]["sources"] = ["the internet"]
    elif how == "unknown tier":
        mail[0]["tier"] = "folklore"
    elif how == "bad code":
        mail[0]["code"] = 170
    elif how == "unknown condition":
        mail[0]["when"] = ["full_moon"]
    elif how == "wider profiles":
        data["commands"]["DATA"]["rows"][-1]["profiles"] = ["rfc5321", "standards", "permissive"]
        data["commands"]["DATA"]["rows"][-1]["tier"] = "seed"
    elif how == "unknown key":
        mail[0]["colour"] = "blue"
    elif how == "no UNKNOWN":
        del data["commands"]["UNKNOWN"]
    elif how == "duplicate row":
        mail.append(dict(mail[0]))
    elif how == "undocumented code":
        del data["codes"][250]
    elif how == "fixed code not allowed":
        data["fixed"][-1]["codes"] = [250]
    elif how == "universal except unknown":
        data["universal"][0]["except"] = ["FROB"]
    elif how == "answer with bad pattern":
        data["answers"][0]["match"] = "^(*$"
    elif how == "answer with nothing to check":
        for key in ("codes", "enhanced", "text", "text_code"):
            data["answers"][1].pop(key, None)
    elif how == "answer text without its code":
        del data["answers"][2]["text_code"]
    elif how == "answer with bad enhanced code":
        data["answers"][1]["enhanced"] = "5.5"
    elif how == "sequence reply not a code":
        data["sequence"][-1]["reply"] = 999


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("no sources", "MAIL.rows[0].sources: a row needs at least one source"),
        ("bad source", "'the internet' is neither 'RFC n"),
        ("unknown tier", "MAIL.rows[0].tier: unknown tier 'folklore'"),
        ("bad code", "170 is not a reply code"),
        ("unknown condition", "MAIL.rows[0].when: unknown name(s) ['full_moon']"),
        ("wider profiles", "wider than tier seed's"),
        ("unknown key", "unknown key(s) ['colour']"),
        ("no UNKNOWN", "commands: missing key(s) ['UNKNOWN']"),
        ("duplicate row", "two rows for the same code"),
        ("undocumented code", "no entry for code(s) [250]"),
        ("fixed code not allowed", "[250] not allowed for QUIT"),
        ("universal except unknown", "universal[0].except: unknown name(s) ['FROB']"),
        ("answer with bad pattern", "answers[0].match: not a regular expression"),
        ("answer with nothing to check", "answers[1]: expected 'codes', 'enhanced' or 'text'"),
        ("answer text without its code", "answers[2]: 'text' and 'text_code' go together"),
        ("answer with bad enhanced code", "answers[1].enhanced: '5.5' is not an enhanced"),
        ("sequence reply not a code", "reply: 999 is not a reply code"),
    ],
)
def test_a_malformed_table_is_refused_with_the_place_named(
    raw: dict[str, Any], how: str, message: str
) -> None:
    _break(raw, how)
    with pytest.raises(CodeTableError, match=r"^table\.yaml: ") as caught:
        parse_table(raw)
    assert message in str(caught.value)


def test_a_table_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(CodeTableError, match="top level"):
        parse_table(["not", "a", "table"])
