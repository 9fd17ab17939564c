"""The reply-code table: value types, the checked loader for `table.yaml`, and lookups.

`table.yaml` is the only copy of the data; this module turns it into frozen values once per
process (`load_table` is cached) and refuses a file of the wrong shape with a message that names
the place, so a bad edit fails at start-up rather than as a wrong verdict.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from probe.record import record, replace


class Tier(StrEnum):
    """Which kind of document allows a code (ordered from strongest to weakest)."""

    RFC5321 = "rfc5321"  # RFC 5321 text, or the RFC that defines an extension verb
    EXTENSION = "extension"  # a standards-track extension/update applied to a base verb
    LEGACY = "legacy"  # only RFC 821/2821 or other superseded/historic text
    REGISTRY = "registry"  # only the IANA enhanced-code registry (RFC 5248)
    SEED = "seed"  # only a vendor/seed page


PROFILES = ("rfc5321", "standards", "permissive")  # rfc5321 is the default

UNKNOWN = "UNKNOWN"  # the table's name for a verb it does not list


@record(frozen=True, slots=True)
class Allowance:
    """One document's permission for `command` to answer `code`."""

    command: str
    code: int
    tier: Tier
    profiles: frozenset[str]  # the profiles (from PROFILES) in which this code passes
    meaning: str
    sources: tuple[str, ...]  # e.g. ("RFC 5321 §4.3.2", "RJK reply codes")
    when: tuple[str, ...] = ()  # condition names (CodeTable.conditions), all must hold; () = always
    note: str = ""


@record(frozen=True, slots=True)
class FixedReply:
    """A reply the RFC text fixes with a MUST (QUIT -> 221 §4.1.1.10, ...).

    NOOP (§4.1.1.9) is fixed by a sentence without the MUST keyword: `must` is False, and a reply
    that breaks it is a warning, quoted without the word MUST. The greeting is fixed by the
    must-level grammar of §4.2 (with §3.1's 554).
    """

    command: str
    codes: frozenset[int]
    source: str  # "RFC 5321 §4.1.1.10"
    rule: str  # the quoted sentence
    unless_argument: bool = False  # True for RSET: only binds when the command had no argument
    must: bool = True  # False when the quoted text fixes the reply without the MUST keyword
    note: str = ""
    argument_rule: str = ""  # what binds the form with an argument instead (NOOP: a SHOULD)


@record(frozen=True, slots=True)
class SequenceRule:
    """A command the server MUST refuse when the session shows `requires` unmet; with `reply`,
    refuse with that code (another refusal fails too)."""

    command: str
    requires: str  # one of REQUIREMENTS
    source: str
    rule: str
    reply: int | None = None  # the refusal the rule names (AUTH: 503); None: any refusal


@record(frozen=True, slots=True)
class AnswerRule:
    """A reply the RFC fixes for one form of a line: a line of `command` matching `match` (with
    `continuation`, only a client response inside an AUTH exchange, after a 334) MUST (or
    SHOULD) get one of `codes` (empty: any code); `enhanced`, the enhanced status code such a
    reply carries when the server advertises ENHANCEDSTATUSCODES; `text`, a pattern the text
    of a reply coded `text_code` must match (AUTH PLAIN's empty 334 challenge)."""

    command: str
    match: re.Pattern[str]
    must: bool
    source: str
    rule: str
    continuation: bool = False
    codes: frozenset[int] = frozenset()
    enhanced: str = ""
    text: re.Pattern[str] | None = None
    text_code: int | None = None


@record(frozen=True, slots=True)
class Duty:
    """A duty the RFC puts on a server; `codes` to `command` (whose line matches `match`, if set)
    refuse it."""

    command: str
    codes: frozenset[int]
    must: bool  # must -> fail; should -> warn
    source: str
    rule: str
    match: re.Pattern[str] | None = None
    requires: str = ""  # a REQUIREMENTS name the session must show for the duty to apply


@record(frozen=True, slots=True)
class NoArguments:
    """Commands that take no arguments, and what they SHOULD answer when given some."""

    commands: frozenset[str]
    codes: frozenset[int]
    source: str
    rule: str


@record(frozen=True, slots=True)
class CodeInfo:
    code: int
    meaning: str
    defined_in: tuple[str, ...]
    commands: tuple[str, ...]


@record(frozen=True, slots=True)
class CommandSpec:
    """A table entry's description: what it is, other names for it, why it looks as it does."""

    name: str
    about: str
    aliases: tuple[str, ...] = ()
    note: str = ""
    is_command: bool = True  # False for CONNECT and DATA-END: the "any command" rows skip them


class CodeTableError(ValueError):
    """table.yaml does not have the expected shape; the message names the place."""


class CodeTable:
    """Lookups over the checked table (built by `parse_table`, normally via `load_table`)."""

    commands: tuple[str, ...]  # canonical names in table order: "CONNECT", ..., "UNKNOWN"
    conditions: dict[str, str]  # condition name -> description with source
    documents: dict[str, str]  # "RFC 5321" / "RJK reply codes" -> title
    no_arguments: NoArguments | None = None  # §4.3.2: DATA, RSET, QUIT with arguments
    sequence: tuple[SequenceRule, ...] = ()  # commands the server MUST refuse out of order
    required: tuple[Duty, ...] = ()  # duties the RFC puts on a server (postmaster, VRFY)
    answers: tuple[AnswerRule, ...] = ()  # replies fixed for one form of a line (AUTH's "*")

    def __init__(
        self,
        specs: dict[str, CommandSpec],
        rows: dict[str, tuple[Allowance, ...]],
        fixed: dict[str, FixedReply],
        conditions: dict[str, str],
        documents: dict[str, str],
        codes: dict[int, tuple[str, tuple[str, ...]]],
    ) -> None:
        self.commands = tuple(specs)
        self.conditions = conditions
        self.documents = documents
        self._specs = specs
        self._rows = rows
        self._fixed = fixed
        self._by_code: dict[tuple[str, int], tuple[Allowance, ...]] = {}
        for command, entries in rows.items():
            for code in {row.code for row in entries}:
                self._by_code[command, code] = tuple(r for r in entries if r.code == code)
        self._codes = codes
        self._names = {_key(name): name for name in specs}
        for spec in specs.values():
            self._names.update({_key(alias): spec.name for alias in spec.aliases})

    def allowances(self, command: str, code: int) -> list[Allowance]:
        """Every allowance for this exact code (the command's own rows and the universal ones)."""
        return list(self._by_code.get((self.lookup(command), code), ()))

    def entries(self, command: str) -> list[Allowance]:
        """All rows for a command, sorted by code."""
        return list(self._rows[self.lookup(command)])

    def classes(self, command: str) -> frozenset[int]:
        """First digits (2-5) any document allows for this command."""
        return frozenset(row.code // 100 for row in self._rows[self.lookup(command)])

    def fixed(self, command: str) -> FixedReply | None:
        return self._fixed.get(self.lookup(command))

    def code_info(self, code: int) -> CodeInfo | None:
        if code not in self._codes:
            return None
        meaning, defined_in = self._codes[code]
        commands = tuple(c for c in self.commands if (c, code) in self._by_code)
        return CodeInfo(code, meaning, defined_in, commands)

    def spec(self, command: str) -> CommandSpec:
        return self._specs[self.lookup(command)]

    def lookup(self, name: str) -> str:
        """The canonical name for a command name or alias; KeyError if the table has neither."""
        return self._names[_key(name)]

    def canonical(self, name: str) -> str:
        """Like `lookup`, but a whole command line or an unknown verb is accepted."""
        key = _key(name)
        if key in self._names:
            return self._names[key]
        verb = key.split(" ", 1)[0].split(":", 1)[0]  # "MAIL FROM:<a@b>" -> "MAIL"
        return verb if verb in self._specs else UNKNOWN


def _key(name: str) -> str:
    return " ".join(name.split()).upper()


def canonical_command(name: str) -> str:
    """Map a verb or alias to its table name: "ehlo" -> "EHLO", "greeting"/"connect" -> "CONNECT",
    "end of data" -> "DATA-END"; an unknown verb -> "UNKNOWN"."""
    return load_table().canonical(name)


@functools.cache
def load_table() -> CodeTable:
    """Load (once, cached) the bundled table: from smtp-probe's cache folder when an entry made by
    this very package is there (`probe.cache`), else by checking and building it (`_build`)."""
    import marshal

    from probe import cache as store

    folder = store.cache_dir("tables")
    header = marshal.dumps((store.fingerprint(), "probe/codes/table.yaml"))
    if folder is not None:
        hit = store.read_entry(folder, header, CodeTable)
        if hit is not None:
            return hit
    table = _build()
    if folder is not None:
        store.write_entry(folder, header, table, _same)
    return table


def _build() -> CodeTable:
    """The table checked and built from its precomputed form (`table_data.py`) when that was made
    from this very table.yaml, else from the YAML (`probe/codes/precompute.py`)."""
    from probe.codes import precompute, table_data

    # Beside this file (importlib.resources would cost more to import than the read takes).
    raw = precompute.YAML_PATH.read_bytes()
    if precompute.fingerprint(raw) == (table_data.YAML_SIZE, table_data.YAML_CRC32):
        return parse_table(table_data.DATA)
    import yaml

    try:
        data = precompute.parse_yaml(raw)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CodeTableError(f"table.yaml: not valid YAML: {exc}") from exc
    return parse_table(data)


def _same(a: CodeTable, b: CodeTable) -> bool:
    """Whether two tables hold the same data (a cache entry is kept only if its copy is)."""
    return vars(a) == vars(b)


# --- checking and building ----------------------------------------------------------------------

# "RFC 5321", "RFC 5321 §4.3.2", "RFC 5321 App. F.6", or a vendor page by the name `documents`
# gives it ("RJK reply codes").
_SOURCE = re.compile(r"(?P<doc>RFC \d+)(?: (?:§\d+(?:\.\d+)*|App\. [A-Z](?:\.\d+)*))?")
_TOP_KEYS = frozenset(
    {"schema", "profiles", "tiers", "documents", "conditions", "universal", "fixed", "commands"}
) | {"codes", "no_arguments", "sequence", "required", "answers"}
_TIERS = {tier.value: tier for tier in Tier}
_ROW_KEYS = frozenset({"code", "tier", "profiles", "when", "meaning", "sources", "note"})
_SPEC_KEYS = frozenset({"about", "aliases", "note", "is_command", "rows"})
_FIXED_KEYS = frozenset(
    {"command", "codes", "source", "rule", "unless_argument", "must", "note", "argument_rule"}
)
_NO_ARGUMENTS_KEYS = frozenset({"commands", "codes", "source", "rule"})
_SEQUENCE_KEYS = frozenset({"command", "requires", "source", "rule", "note", "reply"})
_ANSWER_KEYS = frozenset(
    {"command", "match", "continuation", "codes", "enhanced", "text", "text_code", "level"}
    | {"source", "rule", "note"}
)
_ENHANCED = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
_DUTY_KEYS = frozenset({"command", "match", "requires", "codes", "level", "source", "rule", "note"})
# What a sequence rule or a duty needs the session to show (probe.asserter.SessionFacts.holds).
REQUIREMENTS = ("transaction", "recipient", "no_transaction", "unauthenticated")


def _fail(where: str, what: str) -> CodeTableError:
    return CodeTableError(f"table.yaml: {where}: {what}")


def _mapping(
    value: Any, where: str, keys: Iterable[str] | None = None, required: Iterable[str] = ()
) -> dict[Any, Any]:
    """`value` as a mapping with only `keys` (any keys when None) and every `required` one."""
    if not isinstance(value, dict):
        raise _fail(where, f"expected a mapping, got {type(value).__name__}")
    if keys is not None and (unknown := set(value) - set(keys)):
        raise _fail(where, f"unknown key(s) {sorted(map(str, unknown))}")
    if missing := set(required) - set(value):
        raise _fail(where, f"missing key(s) {sorted(missing)}")
    return value


def _text(value: Any, where: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise _fail(where, "expected non-empty text")
    return value


def _names(
    value: Any, where: str, allowed: set[str] | dict[str, Any] | None = None
) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(where, "expected a list of names")
    if allowed is not None and (unknown := [v for v in value if v not in allowed]):
        raise _fail(where, f"unknown name(s) {unknown}")
    return tuple(value)


def _code(value: Any, where: str) -> int:
    # RFC 5321 §4.2: Reply-code = %x32-35 %x30-35 %x30-39
    if not (isinstance(value, int) and 200 <= value <= 559 and value // 10 % 10 <= 5):
        raise _fail(where, f"{value!r} is not a reply code (2-5, 0-5, 0-9)")
    return value


def _sources(value: Any, where: str, documents: dict[str, str]) -> tuple[str, ...]:
    sources = _names(value, where)
    if not sources:
        raise _fail(where, "a row needs at least one source")
    for source in sources:
        if source in documents and not source.startswith("RFC "):
            continue  # a vendor page, by its name
        match = _SOURCE.fullmatch(source)
        if match is None:
            raise _fail(where, f"{source!r} is neither 'RFC n [§x.y]' nor a name in `documents`")
        if match["doc"] not in documents:
            raise _fail(where, f"{source!r} cites a document missing from `documents`")
    return sources


class _Context:
    """What row checks need from the top of the file."""

    def __init__(self, data: dict[str, Any]) -> None:
        if data["schema"] != 1:
            raise _fail("schema", f"unsupported schema {data['schema']!r} (this code reads 1)")
        for name, text in _mapping(data["profiles"], "profiles", PROFILES, PROFILES).items():
            _text(text, f"profiles.{name}")
        tiers = _mapping(data["tiers"], "tiers", Tier, Tier)
        self.tier_profiles = {
            Tier(t): frozenset(_profiles(p, f"tiers.{t}")) for t, p in tiers.items()
        }
        self.documents = _descriptions(data["documents"], "documents")
        self.conditions = _descriptions(data["conditions"], "conditions")

    def row(
        self, raw: Any, where: str, command: str, extra: frozenset[str] = frozenset()
    ) -> Allowance:
        raw = _mapping(raw, where, _ROW_KEYS | extra, {"code", "tier", "meaning", "sources"})
        if not isinstance(raw["tier"], str) or raw["tier"] not in _TIERS:
            raise _fail(f"{where}.tier", f"unknown tier {raw['tier']!r}")
        tier = Tier(raw["tier"])
        profiles = self.tier_profiles[tier]
        if "profiles" in raw:
            narrowed = frozenset(_profiles(raw["profiles"], f"{where}.profiles"))
            if not narrowed <= profiles:
                raise _fail(f"{where}.profiles", f"wider than tier {tier}'s {sorted(profiles)}")
            profiles = narrowed
        return Allowance(
            command=command,
            code=_code(raw["code"], f"{where}.code"),
            tier=tier,
            profiles=profiles,
            meaning=_text(raw["meaning"], f"{where}.meaning"),
            sources=_sources(raw["sources"], f"{where}.sources", self.documents),
            when=_names(raw.get("when", []), f"{where}.when", self.conditions),
            note=_text(raw.get("note", ""), f"{where}.note", empty=True),
        )


def _descriptions(value: Any, where: str) -> dict[str, str]:
    return {
        _text(name, where): _text(text, f"{where}.{name}")
        for name, text in _mapping(value, where).items()
    }


def _profiles(value: Any, where: str) -> tuple[str, ...]:
    names = _names(value, where, set(PROFILES))
    # Profiles are nested (rfc5321 within standards within permissive): a code passing a stricter
    # profile passes every looser one, so a valid list is a non-empty tail of PROFILES.
    if not names or list(names) != list(PROFILES[PROFILES.index(names[0]) :]):
        raise _fail(where, f"expected a tail of {list(PROFILES)} in that order, got {list(names)}")
    return names


def parse_table(data: Any) -> CodeTable:
    """Check the parsed YAML and build the table (raises CodeTableError on a malformed file)."""
    data = _mapping(data, "top level", _TOP_KEYS, _TOP_KEYS)
    ctx = _Context(data)
    raw_commands = _mapping(data["commands"], "commands", required=[UNKNOWN])
    specs: dict[str, CommandSpec] = {}
    own: dict[str, list[Allowance]] = {}
    for name, raw in raw_commands.items():
        where = f"commands.{name}"
        raw = _mapping(raw, where, _SPEC_KEYS, {"about", "rows"})
        if not isinstance(raw["rows"], list) or not raw["rows"]:
            raise _fail(f"{where}.rows", "expected a non-empty list of rows")
        own[name] = [ctx.row(r, f"{where}.rows[{i}]", name) for i, r in enumerate(raw["rows"])]
        seen = [(r.code, r.when) for r in own[name]]
        if dupes := {s for s in seen if seen.count(s) > 1}:
            raise _fail(f"{where}.rows", f"two rows for the same code and `when`: {sorted(dupes)}")
        is_command = raw.get("is_command", True)
        if not isinstance(is_command, bool):
            raise _fail(f"{where}.is_command", "expected true or false")
        specs[name] = CommandSpec(
            name=name,
            about=_text(raw["about"], f"{where}.about"),
            aliases=_names(raw.get("aliases", []), f"{where}.aliases"),
            note=_text(raw.get("note", ""), f"{where}.note", empty=True),
            is_command=is_command,
        )
    _check_aliases(specs)
    rows = _with_universal(data["universal"], ctx, specs, own)
    fixed = _fixed(data["fixed"], rows)
    codes = _codes(data["codes"], ctx, rows)
    table = CodeTable(specs, rows, fixed, ctx.conditions, ctx.documents, codes)
    table.no_arguments = _no_arguments(data.get("no_arguments"), rows)
    table.sequence = _sequence(data.get("sequence", []), rows)
    table.required = _required(data.get("required", []), rows)
    table.answers = _answers(data.get("answers", []), rows)
    return table


def _pattern(item: dict[str, Any], key: str, where: str) -> re.Pattern[str] | None:
    if key not in item:
        return None
    try:
        return re.compile(_text(item[key], f"{where}.{key}", empty=True))
    except re.error as exc:
        raise _fail(f"{where}.{key}", f"not a regular expression: {exc}") from None


def _answers(raw: Any, rows: dict[str, tuple[Allowance, ...]]) -> tuple[AnswerRule, ...]:
    if not isinstance(raw, list):
        raise _fail("answers", "expected a list")
    rules = []
    for i, item in enumerate(raw):
        where = f"answers[{i}]"
        item = _mapping(item, where, _ANSWER_KEYS, {"command", "match", "level", "source", "rule"})
        if item["command"] not in rows:
            raise _fail(f"{where}.command", f"{item['command']!r} is not in the table")
        if item["level"] not in ("must", "should"):
            raise _fail(f"{where}.level", "expected must or should")
        if not _SOURCE.fullmatch(source := _text(item["source"], f"{where}.source")):
            raise _fail(f"{where}.source", f"{source!r} is not 'RFC n §x.y'")
        continuation = item.get("continuation", False)
        if not isinstance(continuation, bool):
            raise _fail(f"{where}.continuation", "expected true or false")
        codes = item.get("codes", [])
        if not isinstance(codes, list):
            raise _fail(f"{where}.codes", "expected a list of codes")
        enhanced = str(item.get("enhanced", ""))
        if enhanced and not _ENHANCED.fullmatch(enhanced):
            raise _fail(f"{where}.enhanced", f"{enhanced!r} is not an enhanced status code")
        text = _pattern(item, "text", where)
        text_code = _code(item["text_code"], f"{where}.text_code") if "text_code" in item else None
        if (text is None) != (text_code is None):
            raise _fail(where, "'text' and 'text_code' go together")
        if not codes and not enhanced and text is None:
            raise _fail(where, "expected 'codes', 'enhanced' or 'text'")
        match = _pattern(item, "match", where)
        assert match is not None
        rules.append(
            AnswerRule(
                item["command"],
                match,
                item["level"] == "must",
                source,
                _text(item["rule"], f"{where}.rule"),
                continuation,
                frozenset(_code(c, f"{where}.codes") for c in codes),
                enhanced,
                text,
                text_code,
            )
        )
    return tuple(rules)


def _required(raw: Any, rows: dict[str, tuple[Allowance, ...]]) -> tuple[Duty, ...]:
    if not isinstance(raw, list):
        raise _fail("required", "expected a list")
    duties = []
    for i, item in enumerate(raw):
        where = f"required[{i}]"
        item = _mapping(item, where, _DUTY_KEYS, {"command", "codes", "level", "source", "rule"})
        if item["command"] not in rows:
            raise _fail(f"{where}.command", f"{item['command']!r} is not in the table")
        if item["level"] not in ("must", "should"):
            raise _fail(f"{where}.level", "expected must or should")
        codes = item["codes"]
        if not isinstance(codes, list) or not codes:
            raise _fail(f"{where}.codes", "expected a non-empty list of codes")
        if not _SOURCE.fullmatch(source := _text(item["source"], f"{where}.source")):
            raise _fail(f"{where}.source", f"{source!r} is not 'RFC n §x.y'")
        try:
            match = re.compile(item["match"]) if "match" in item else None
        except re.error as exc:
            raise _fail(f"{where}.match", f"not a regular expression: {exc}") from None
        requires = item.get("requires", "")
        if requires and requires not in REQUIREMENTS:
            raise _fail(f"{where}.requires", f"expected one of {', '.join(REQUIREMENTS)}")
        duties.append(
            Duty(
                item["command"],
                frozenset(_code(c, f"{where}.codes") for c in codes),
                item["level"] == "must",
                source,
                _text(item["rule"], f"{where}.rule"),
                match,
                requires,
            )
        )
    return tuple(duties)


def _sequence(raw: Any, rows: dict[str, tuple[Allowance, ...]]) -> tuple[SequenceRule, ...]:
    if not isinstance(raw, list):
        raise _fail("sequence", "expected a list")
    rules = []
    for i, item in enumerate(raw):
        where = f"sequence[{i}]"
        item = _mapping(item, where, _SEQUENCE_KEYS, {"command", "requires", "source", "rule"})
        if item["command"] not in rows:
            raise _fail(f"{where}.command", f"{item['command']!r} is not in the table")
        if item["requires"] not in REQUIREMENTS:
            raise _fail(f"{where}.requires", f"expected one of {', '.join(REQUIREMENTS)}")
        if not _SOURCE.fullmatch(source := _text(item["source"], f"{where}.source")):
            raise _fail(f"{where}.source", f"{source!r} is not 'RFC n §x.y'")
        reply = _code(item["reply"], f"{where}.reply") if "reply" in item else None
        rules.append(
            SequenceRule(
                item["command"], item["requires"], source, _text(item["rule"], where), reply
            )
        )
    return tuple(rules)


def _check_aliases(specs: dict[str, CommandSpec]) -> None:
    owner: dict[str, str] = {}
    for spec in specs.values():
        for name in (spec.name, *spec.aliases):
            if (key := _key(name)) in owner and owner[key] != spec.name:
                raise _fail(f"commands.{spec.name}.aliases", f"{name!r} already names {owner[key]}")
            owner[key] = spec.name


def _with_universal(
    raw: Any, ctx: _Context, specs: dict[str, CommandSpec], own: dict[str, list[Allowance]]
) -> dict[str, tuple[Allowance, ...]]:
    """Each command's own rows plus the universal rows that apply to it, sorted by code."""
    if not isinstance(raw, list):
        raise _fail("universal", "expected a list of rows")
    rows = {name: list(entries) for name, entries in own.items()}
    for i, item in enumerate(raw):
        where = f"universal[{i}]"
        template = ctx.row(item, where, "*", extra=frozenset({"except"}))
        excepted = set(_names(item.get("except", []), f"{where}.except", specs))
        for name, spec in specs.items():
            if not spec.is_command or name in excepted:
                continue
            # The command's own row wins: same code and condition replaces; an unconditional row
            # that passes everywhere this one does already says all it would.
            if any(
                r.code == template.code
                and (r.when == template.when or (not r.when and template.profiles <= r.profiles))
                for r in own[name]
            ):
                continue
            rows[name].append(replace(template, command=name))
    return {name: tuple(sorted(entries, key=_row_order)) for name, entries in rows.items()}


def _row_order(row: Allowance) -> tuple[int, bool, int, tuple[str, ...]]:
    # By code; within a code the unconditional row first, then the strongest tier.
    return (row.code, bool(row.when), list(Tier).index(row.tier), row.when)


def _fixed(raw: Any, rows: dict[str, tuple[Allowance, ...]]) -> dict[str, FixedReply]:
    if not isinstance(raw, list):
        raise _fail("fixed", "expected a list")
    fixed: dict[str, FixedReply] = {}
    for i, item in enumerate(raw):
        where = f"fixed[{i}]"
        item = _mapping(item, where, _FIXED_KEYS, {"command", "codes", "source", "rule"})
        command = item["command"]
        if command not in rows or command in fixed:
            raise _fail(f"{where}.command", f"{command!r} is unknown or already fixed")
        codes = item["codes"]
        if not isinstance(codes, list) or not codes:
            raise _fail(f"{where}.codes", "expected a non-empty list of codes")
        allowed = {r.code for r in rows[command] if "rfc5321" in r.profiles}
        if stray := [c for c in codes if _code(c, f"{where}.codes") not in allowed]:
            raise _fail(f"{where}.codes", f"{stray} not allowed for {command} under rfc5321")
        flags = {k: item.get(k, d) for k, d in (("unless_argument", False), ("must", True))}
        if not all(isinstance(v, bool) for v in flags.values()):
            raise _fail(where, "unless_argument and must take true or false")
        if not _SOURCE.fullmatch(source := _text(item["source"], f"{where}.source")):
            raise _fail(f"{where}.source", f"{source!r} is not 'RFC n §x.y'")
        fixed[command] = FixedReply(
            command=command,
            codes=frozenset(codes),
            source=source,
            rule=_text(item["rule"], f"{where}.rule"),
            note=_text(item.get("note", ""), f"{where}.note", empty=True),
            argument_rule=_text(
                item.get("argument_rule", ""), f"{where}.argument_rule", empty=True
            ),
            **flags,
        )
    return fixed


def _no_arguments(raw: Any, rows: dict[str, tuple[Allowance, ...]]) -> NoArguments | None:
    if raw is None:
        return None
    item = _mapping(raw, "no_arguments", _NO_ARGUMENTS_KEYS, _NO_ARGUMENTS_KEYS)
    commands = item["commands"]
    if not isinstance(commands, list) or any(c not in rows for c in commands):
        raise _fail("no_arguments.commands", "expected a list of commands in the table")
    codes = item["codes"]
    if not isinstance(codes, list) or not codes:
        raise _fail("no_arguments.codes", "expected a non-empty list of codes")
    if not _SOURCE.fullmatch(source := _text(item["source"], "no_arguments.source")):
        raise _fail("no_arguments.source", f"{source!r} is not 'RFC n §x.y'")
    return NoArguments(
        frozenset(commands),
        frozenset(_code(c, "no_arguments.codes") for c in codes),
        source,
        _text(item["rule"], "no_arguments.rule"),
    )


def _codes(
    raw: Any, ctx: _Context, rows: dict[str, tuple[Allowance, ...]]
) -> dict[int, tuple[str, tuple[str, ...]]]:
    raw = _mapping(raw, "codes")
    codes: dict[int, tuple[str, tuple[str, ...]]] = {}
    for code, item in raw.items():
        where = f"codes.{code}"
        item = _mapping(item, where, {"meaning", "defined_in"}, {"meaning", "defined_in"})
        defined_in = _sources(item["defined_in"], f"{where}.defined_in", ctx.documents)
        codes[_code(code, where)] = (_text(item["meaning"], f"{where}.meaning"), defined_in)
    used = {row.code for entries in rows.values() for row in entries}
    if missing := sorted(used - set(codes)):
        raise _fail("codes", f"no entry for code(s) {missing} used by the rows")
    return codes
