"""`steps:` entries -> `Step` objects.

A step is a bare word (`- rset`), a kind with its main argument (`- mail: a@b`), or a kind with a
mapping (`- rcpt: {to: a@b, expect: 250}`). The common keys (expect, level, why, name,
stop_on_fail, timeout, settle, requires) may also sit beside the kind key:

    - rcpt: postmaster@${domain}
      expect: 250
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from probe.inputfile import regular_file_problem, shown
from probe.protocol.encode import bracketed
from probe.record import replace
from probe.scenario.expectations import ExpectReader, Judge
from probe.scenario.fields import Fields, did_you_mean, suggestion
from probe.scenario.grammar import (
    BDAT_LAST,
    COMMON_KEYS,
    DATA_END,
    KIND_NAMES,
    KINDS,
    MAX_IDLE,
    MAX_REPLIES,
    MECHANISMS,
    PIPELINE_MEMBERS,
    REPLIES_KEYS,
    WHEN_KEYS,
    Arg,
    KindSpec,
)
from probe.scenario.model import (
    Condition,
    Expectation,
    Level,
    Position,
    ReplyCount,
    Save,
    Step,
    StepKind,
)
from probe.scenario.patterns import Pattern, PatternError, compile_pattern
from probe.scenario.variables import NAME_RE
from probe.scenario.yamlnodes import (
    BOOL_TAG,
    FLOAT_TAG,
    INT_TAG,
    describe,
    is_null,
    items,
    shorten,
)

_ESCAPE_RE = re.compile(r"\\(?:[rnt0\\]|x[0-9A-Fa-f]{2})")
_VERB_RE = re.compile(r"[A-Za-z][A-Za-z0-9 _-]*\Z")

_EXAMPLES = {
    StepKind.EHLO: "- ehlo: client.example.test",
    StepKind.HELO: "- helo: client.example.test",
    StepKind.MAIL: "- mail: sender@example.test",
    StepKind.RCPT: "- rcpt: postmaster@example.test",
    StepKind.DATA: "- data: MESSAGE TEXT",
    StepKind.SEND: '- send: "COMMAND LINE"',
    StepKind.AUTH: "- auth: {mechanism: PLAIN, username: USER, password: ${env:VAR}}",
    StepKind.PIPELINE: "- pipeline: [mail: a@b, rcpt: c@d]",
    StepKind.BDAT: "- bdat: {body: MESSAGE TEXT, chunks: [100]}",
    StepKind.IDLE: "- idle: 330",
}
# SMTP verbs with no step kind: a hint to use `send` beats a "did you mean" for these.
_OTHER_VERBS = frozenset(
    {"ETRN", "TURN", "ATRN", "SAML", "SOML", "XCLIENT", "XFORWARD", "VERB", "ONEX"}
)
MAX_STEPS = 10_000  # steps in one scenario, pipeline members included
_MEMBER_NAMES = ", ".join(k.value for k in PIPELINE_MEMBERS[:-1]) + " or data (last)"


def bad_escape(raw: str) -> int | None:
    """Offset of the first backslash not starting \\r \\n \\t \\0 \\\\ or \\xHH, else None."""
    i = raw.find("\\")
    while i >= 0:
        match = _ESCAPE_RE.match(raw, i)
        if match is None:
            return i
        i = raw.find("\\", match.end())
    return None


def _used_at(step: Step, used_at: Position) -> Step:
    assert step.position is not None
    position = replace(step.position, used_at=used_at)
    return replace(step, position=position, steps=tuple(_used_at(m, used_at) for m in step.steps))


def default_label(step: Step) -> str:
    """What a report calls a step when the scenario doesn't name it."""
    kind = step.kind.value
    match step.kind:
        case StepKind.MAIL | StepKind.RCPT:
            text = f"{kind} {step.arg if step.exact else bracketed(step.arg or '')}"
            return f"{text} {step.params}" if step.params else text
        case StepKind.SEND:
            if step.raw is not None:
                return f"send raw {shorten(step.raw, 60)}"
            return f"send {step.arg}"
        case StepKind.DATA:
            return "data (raw)" if step.raw is not None else "data"
        case StepKind.BDAT:
            return bdat_label(step)
        case StepKind.AUTH:
            text = f"auth {step.mechanism}"
            text += f" {step.username}" if step.username else ""
            text += "" if step.initial_response else " (no initial response)"
            return text + (f" answering {shorten(step.respond, 30)}" if step.respond else "")
        case StepKind.STARTTLS if step.inject:
            return f"starttls (inject {step.inject})"
        case StepKind.STARTTLS | StepKind.CONNECT if step.legacy_tls:
            return f"{kind} (TLS 1.0 and 1.1 only)"
        case StepKind.PIPELINE:
            return f"pipeline ({', '.join(s.kind.value for s in step.steps)})"
        case StepKind.IDLE:
            return f"idle {step.arg} s"
        case _:
            return f"{kind} {step.arg}" if step.arg else kind


def bdat_label(step: Step) -> str:
    """`bdat`, `bdat chunks 10, 20, rest`, `bdat ... then BDAT 0 LAST`, `bdat ... without LAST`."""
    text = "bdat" + (" (raw)" if step.raw is not None else "")
    if step.chunks:
        text += f" chunks {', '.join(str(n) for n in step.chunks)}, rest"
    if step.last == "empty":
        text += " then BDAT 0 LAST"
    elif step.last == "none":
        text += " without LAST"
    return text


MAX_CHUNK = 2**31 - 1  # a chunk size the probe will write into a BDAT line

MAX_NESTING = 20  # groups and `use:` inside each other


class StepReader:
    def __init__(self, fields: Fields, blocks: dict[str, Node] | None = None) -> None:
        self.f = fields
        self.problems = fields.problems
        self.expect = ExpectReader(fields)
        self.blocks = blocks or {}  # `x-NAME:` lists of steps, for `use: NAME`
        self.count = 0  # steps met so far, pipeline members included

    def steps(self, node: Node, *, stop_on_fail: bool) -> tuple[Step, ...] | None:
        if not isinstance(node, SequenceNode):
            self.problems.add(node, f"'steps' must be a list of steps, got {describe(node)}")
            return None
        if not node.value:
            self.problems.add(node, "'steps' is empty; give at least one step")
            return None
        if not self._count(node):
            return None
        out: list[Step] = []
        ok = True
        for item in node.value:
            if self.problems.full:
                self.problems.stop(item)
                return None
            ok = self._entry(item, stop_on_fail, out, None, None, ()) and ok
        return tuple(out) if ok else None

    def _entry(
        self,
        item: Node,
        stop_on_fail: bool,
        out: list[Step],
        condition: Condition | None,
        used_at: Position | None,
        using: tuple[str, ...],
    ) -> bool:
        """One `steps:` entry into `out`: a step, or what unfolds into steps (a list through an
        anchor, `use: NAME`, `group:`), each carrying the condition and the place of use."""
        if len(using) > MAX_NESTING:
            self.problems.add(item, f"groups and 'use' nested more than {MAX_NESTING} deep")
            return False
        if isinstance(item, SequenceNode) and getattr(item, "from_alias", False):
            # `- *handshake`: an anchor of a list of steps, unfolded in place
            here = used_at or self.problems.position(item)
            if not self._count(item):
                return False
            return all(
                [self._entry(i, stop_on_fail, out, condition, here, using) for i in item.value]
            )
        if isinstance(item, MappingNode) and item.value:
            first = item.value[0][0]
            if isinstance(first, ScalarNode) and first.value in ("use", "group"):
                return self._unfold(item, stop_on_fail, out, condition, used_at, using)
        step = self.step(item, stop_on_fail=stop_on_fail)
        if step is None:
            return False
        if condition is not None:
            step = replace(step, when=condition if step.when is None else condition & step.when)
        if used_at is not None and step.position is not None:
            step = _used_at(step, used_at)
        out.append(step)
        return True

    def _unfold(
        self,
        item: MappingNode,
        stop_on_fail: bool,
        out: list[Step],
        condition: Condition | None,
        used_at: Position | None,
        using: tuple[str, ...],
    ) -> bool:
        entries = {k: (key_node, v) for k, key_node, v in items(item, self.problems)}
        kind = "use" if "use" in entries else "group"
        for key, (key_node, _) in entries.items():
            if key not in (kind, "when"):
                self.problems.add(
                    key_node, f"unknown key '{key}' in a {kind} entry; it takes {kind} and when"
                )
                return False
        when = self.condition(entries["when"][1]) if "when" in entries else None
        if "when" in entries and when is None:
            return False
        if when is not None:
            condition = when if condition is None else condition & when
        key_node, value = entries[kind]
        here = used_at or self.problems.position(key_node)
        if kind == "group":
            if not isinstance(value, SequenceNode) or not value.value:
                self.problems.add(value, f"'group' takes a list of steps, got {describe(value)}")
                return False
            members = value.value
            if not self._count(value):
                return False
            return all(
                [self._entry(i, stop_on_fail, out, condition, used_at, using) for i in members]
            )
        name = str(value.value) if isinstance(value, ScalarNode) else ""
        if name in using:
            self.problems.add(value, f"'use' cycle: {' -> '.join([*using, name])}")
            return False
        block = self.blocks.get(name)
        if block is None:
            known = ", ".join(sorted(self.blocks)) or "none: define one as x-NAME: [steps]"
            self.problems.add(
                value,
                f"'use: {shorten(name)}' names no block; blocks are top-level x-NAME lists "
                f"({known})" + did_you_mean(name, tuple(self.blocks), ""),
            )
            return False
        if not isinstance(block, SequenceNode):
            self.problems.add(value, f"x-{name} is {describe(block)}; 'use' needs a list of steps")
            return False
        if not self._count(block):
            return False
        return all(
            [
                self._entry(i, stop_on_fail, out, condition, here, (*using, name))
                for i in block.value
            ]
        )

    def _count(self, node: SequenceNode) -> bool:
        """Whether the steps read so far and those of `node` stay within MAX_STEPS (reported
        when not)."""
        reported = self.count > MAX_STEPS
        self.count += len(node.value)
        if self.count <= MAX_STEPS:
            return True
        if not reported:
            self.problems.add(
                node,
                f"more than {MAX_STEPS:,} steps (counting pipeline members); "
                "a scenario this long is probably not a scenario",
            )
        return False

    def step(self, item: Node, *, stop_on_fail: bool, member: bool = False) -> Step | None:
        if isinstance(item, ScalarNode) and not is_null(item):
            kind = self._kind(str(item.value), item)
            if kind is None or not self._member_ok(kind, item, member):
                return None
            return self._build(kind, item, None, [], stop_on_fail)
        if isinstance(item, MappingNode) and item.value:
            entries = items(item, self.problems)
            kinds = [e for e in entries if e[0] in KIND_NAMES]
            if not kinds:
                self._no_kind(item, entries)
                return None
            for name, key_node, _ in kinds[1:]:
                self.problems.add(
                    key_node, f"'{name}' starts another step; give it its own '- ' list item"
                )
            name, key_node, value = kinds[0]
            kind = StepKind(name)
            if not self._member_ok(kind, key_node, member):
                return None
            siblings = [e for e in entries if e[0] not in KIND_NAMES]
            step = self._build(kind, key_node, value, siblings, stop_on_fail)
            return step if len(kinds) == 1 else None
        self.problems.add(
            item,
            f"a step is a word ('- rset') or a mapping ('- mail: ADDRESS'), got {describe(item)}",
        )
        return None

    # --- what kind --------------------------------------------------------------------------

    def _kind(self, word: str, node: Node) -> StepKind | None:
        if word in KIND_NAMES:
            return StepKind(word)
        first, _, rest = word.partition(" ")
        if first in KIND_NAMES and rest:
            self.problems.add(
                node, f"unknown step kind '{shorten(word)}'; write it as '- {first}: {rest}'"
            )
        else:
            self.problems.add(node, self._unknown_kind(word))
        return None

    def _unknown_kind(self, word: str) -> str:
        if word.upper() in _OTHER_VERBS:
            return (
                f"unknown step kind '{word}'; commands without a step of their own go through "
                f'send: - send: "{word.upper()} ..."'
            )
        listing = f"steps are {', '.join(KIND_NAMES)} (use 'send' for any other command)"
        return f"unknown step kind '{shorten(word)}'" + did_you_mean(word, KIND_NAMES, listing)

    def _no_kind(self, item: MappingNode, entries: list[tuple[str, ScalarNode, Node]]) -> None:
        unknown = [e for e in entries if e[0] not in COMMON_KEYS]
        for name, key_node, _ in unknown:
            self.problems.add(key_node, self._unknown_kind(name))
        if not unknown:
            self.problems.add(
                item, f"this step has no kind; start it with one of {', '.join(KIND_NAMES)}"
            )

    def _member_ok(self, kind: StepKind, node: Node, member: bool) -> bool:
        if member and kind not in PIPELINE_MEMBERS:
            self.problems.add(
                node, f"'{kind.value}' can't be in a pipeline; members are {_MEMBER_NAMES}"
            )
            return False
        return True

    # --- collecting a step's keys -----------------------------------------------------------

    def _build(
        self,
        kind: StepKind,
        where: Node,
        value: Node | None,
        siblings: list[tuple[str, ScalarNode, Node]],
        stop_on_fail: bool,
    ) -> Step | None:
        spec = KINDS[kind]
        fields: dict[str, Node] = {}
        before = len(self.problems.items)
        for name, key_node, node in siblings:
            if name in spec.common:
                fields[name] = node
            elif name in spec.keys:
                self.problems.add(
                    key_node,
                    f"'{name}' belongs inside the {kind.value} mapping: indent it under "
                    f"'{kind.value}:' or write {kind.value}: {{{name}: ...}}",
                )
            else:
                self._unknown_key(kind, spec, name, key_node)
        self._value(kind, spec, where, value, fields)
        step = self._make(kind, spec, where, fields, stop_on_fail)
        return step if len(self.problems.items) == before else None

    def _unknown_key(self, kind: StepKind, spec: KindSpec, name: str, key_node: Node) -> None:
        if kind is StepKind.PIPELINE and name in ("expect", "level", "why"):
            self.problems.add(
                key_node, f"a pipeline has no reply of its own; put '{name}' on its members"
            )
            return
        accepted = (*spec.keys, *spec.common)
        self.problems.add(
            key_node,
            f"unknown key '{name}' in {kind.value} step"
            + did_you_mean(name, accepted, f"{kind.value} takes: {', '.join(accepted)}"),
        )

    def _value(
        self,
        kind: StepKind,
        spec: KindSpec,
        where: Node,
        value: Node | None,
        fields: dict[str, Node],
    ) -> None:
        name = kind.value
        if value is None or is_null(value):
            if spec.arg in (Arg.REQUIRED, Arg.MAPPING, Arg.LIST):
                self.problems.add(where, f"'{name}' needs an argument: {_EXAMPLES[kind]}")
        elif isinstance(value, MappingNode):
            accepted = (*spec.keys, *spec.common)
            for key, key_node, node in items(value, self.problems):
                if key not in accepted:
                    self._unknown_key(kind, spec, key, key_node)
                elif key in fields:
                    other = self.problems.position(fields[key])
                    self.problems.add(
                        key_node,
                        f"'{key}' given twice for this step "
                        f"(also at line {other.line}, column {other.column})",
                    )
                else:
                    fields[key] = node
            if spec.arg is Arg.REQUIRED and spec.main not in fields:
                alternatives = [k for k in spec.keys if k in ("body", "raw", "file", "line")]
                if not any(k in fields for k in alternatives):
                    wanted = " or ".join(f"'{k}'" for k in alternatives) or f"'{spec.main}'"
                    self.problems.add(value, f"'{name}' needs {wanted}")
            if spec.arg in (Arg.MAPPING, Arg.LIST):
                # auth: the credentials, unless `respond` answers the challenge instead
                credentials = () if "respond" in fields else ("username", "password")
                missing = ("mechanism", *credentials) if kind is StepKind.AUTH else ("steps",)
                for key in missing:
                    if key not in fields:
                        self.problems.add(value, f"'{name}' needs '{key}'")
        elif isinstance(value, SequenceNode):
            if spec.arg is Arg.LIST:
                fields["steps"] = value
            else:
                self.problems.add(value, f"'{name}' takes {self._takes(spec)}, got a list")
        elif spec.arg in (Arg.REQUIRED, Arg.OPTIONAL) and spec.main is not None:
            fields[spec.main] = value
        elif spec.arg is Arg.NONE:
            self.problems.add(
                value,
                f"'{name}' takes no argument, got {describe(value)}; "
                f"its keys are {', '.join(spec.common)}",
            )
        else:
            self.problems.add(
                value,
                f"'{name}' takes {self._takes(spec)}, got {describe(value)}: {_EXAMPLES[kind]}",
            )

    @staticmethod
    def _takes(spec: KindSpec) -> str:
        return {
            Arg.LIST: "a list of steps",
            Arg.MAPPING: "a mapping",
            Arg.NONE: "no argument (or a mapping of common keys)",
        }.get(spec.arg, "text or a mapping")

    # --- making the Step --------------------------------------------------------------------

    def _exact(self, fields: dict[str, Node]) -> bool:
        if "exact" not in fields:
            return False
        return bool(self.f.boolean(fields["exact"], "exact"))

    def _text(self, fields: dict[str, Node], spec: KindSpec, key: str) -> str | None:
        if key not in fields:
            return None
        return self.f.text(fields[key], key, one_line=key in spec.one_line)

    def _make(
        self,
        kind: StepKind,
        spec: KindSpec,
        where: Node,
        fields: dict[str, Node],
        stop_on_fail: bool,
    ) -> Step:
        """The step (with None where a value was bad: the caller checks for new problems)."""

        def text(key: str) -> str | None:
            return self._text(fields, spec, key)

        name = text("name")
        why = text("why") or ""
        level = Level.MUST
        if "level" in fields:
            level = self.f.level(fields["level"]) or level
        if "stop_on_fail" in fields:
            explicit = self.f.boolean(fields["stop_on_fail"], "stop_on_fail")
            stop_on_fail = stop_on_fail if explicit is None else explicit
        timeout = settle = None
        if "timeout" in fields:
            timeout = self.f.positive_number(fields["timeout"], "timeout")
        if "settle" in fields:
            settle = self.f.positive_number(fields["settle"], "settle")
        requires: tuple[str, ...] = ()
        if "requires" in fields:
            requires = self.f.keywords(fields["requires"], "requires") or ()

        judge = Judge(spec.command) if spec.command else None
        arg = params = raw = body = verb = mechanism = username = password = file = None
        inject = respond = None
        initial_response = True
        legacy_tls = False
        chunks: tuple[int, ...] = ()
        last = "final"
        exact = expand = hangup = no_greeting = oversize = False
        drip: float | None = None
        replies: ReplyCount | None = None
        members: tuple[Step, ...] = ()
        match kind:
            case StepKind.EHLO | StepKind.HELO:
                arg = text("domain")
            case StepKind.MAIL:
                arg, params = text("from"), text("params")
                exact = self._exact(fields)
            case StepKind.RCPT:
                arg, params = text("to"), text("params")
                exact = self._exact(fields)
            case StepKind.DATA:
                self._one_of(kind, fields, "body", "raw", "file")
                body, raw = text("body"), self._raw(fields, spec)
                file = self._message_file(fields)
                expand = self._flag(fields, "expand")
                if expand and "file" not in fields:
                    self.problems.add(fields["expand"], "'expand' applies to a 'file' body only")
                hangup = self._flag(fields, "hangup")
                if hangup and "file" in fields:
                    self.problems.add(fields["hangup"], "'hangup' applies to 'body' or 'raw' only")
                oversize = self._flag(fields, "oversize")
                if oversize and ({"raw", "file"} & set(fields) or hangup):
                    self.problems.add(
                        fields["oversize"], "'oversize' applies to a 'body' that is sent whole"
                    )
            case StepKind.SEND:
                self._one_of(kind, fields, "line", "raw")
                arg, raw = text("line"), self._raw(fields, spec)
                verb, judge = self._verb(fields, arg, raw)
                if "drip" in fields:
                    drip = self.f.positive_number(fields["drip"], "drip")
                if "replies" in fields:
                    replies = self._replies(fields["replies"], level, why)
            case StepKind.AUTH:
                mechanism = self._mechanism(fields)
                username, password = text("username"), text("password")
                respond = text("respond")
                if "initial_response" in fields:
                    given = self.f.boolean(fields["initial_response"], "initial_response")
                    initial_response = True if given is None else given
            case StepKind.PIPELINE:
                members = self._members(fields.get("steps"), stop_on_fail)
            case StepKind.STARTTLS:
                inject = text("inject")
                legacy_tls = self._flag(fields, "legacy_tls")
                if legacy_tls and inject is not None:
                    self.problems.add(
                        fields["legacy_tls"], "'legacy_tls' and 'inject' are two tests"
                    )
            case StepKind.BDAT:
                self._one_of(kind, fields, "body", "raw")
                body, raw = text("body"), self._raw(fields, spec)
                chunks = self._chunks(fields["chunks"]) if "chunks" in fields else ()
                last = self._last(fields["last"]) if "last" in fields else "final"
            case StepKind.CONNECT:
                legacy_tls = self._flag(fields, "legacy_tls")
                no_greeting = "greeting" in fields and self._no_greeting(fields["greeting"])
            case StepKind.IDLE:
                arg = self._idle_seconds(fields["seconds"]) if "seconds" in fields else None
            case _:
                arg = text("arg")

        expect_end = None
        if kind is StepKind.DATA:
            judge = Judge("DATA", "; 'expect_end' judges the reply after the message")
            end = Judge(DATA_END, "; 'expect' judges the reply to DATA itself")
            expect_end = self._expect(fields, "expect_end", level, why, end)
        expect = self._expect(fields, "expect", level, why, judge)
        expect = self._advertised(fields, expect, level, why, where)
        if not {"expect", "expect_end", "advertises", "not_advertises", "replies"} & set(fields):
            for key in ("level", "why"):
                if key in fields:
                    self.problems.add(
                        fields[key], f"'{key}' applies to 'expect', and this step has none"
                    )
        save = self._saves(fields["save"], kind) if "save" in fields else ()
        when = self.condition(fields["when"]) if "when" in fields else None
        step = Step(
            kind=kind,
            position=self.problems.position(where),
            label="",
            arg=arg,
            params=params,
            raw=raw,
            body=body,
            verb=verb,
            expect=expect,
            expect_end=expect_end,
            stop_on_fail=stop_on_fail,
            timeout=timeout,
            settle=settle,
            requires=requires,
            exact=exact,
            file=file,
            expand=expand,
            hangup=hangup,
            no_greeting=no_greeting,
            oversize=oversize,
            drip=drip,
            replies=replies,
            save=save,
            when=when,
            steps=members,
            mechanism=mechanism,
            username=username,
            password=password,
            inject=inject,
            respond=respond,
            initial_response=initial_response,
            legacy_tls=legacy_tls,
            chunks=chunks,
            last=last,
        )
        # Set on the new step before anyone sees it (replace would build it twice).
        object.__setattr__(step, "label", name if name is not None else default_label(step))
        return step

    def _replies(self, node: Node, level: Level, why: str) -> ReplyCount | None:
        """send `replies:` N (exactly N), or {exactly: N} / {at_most: N} with `within` (seconds
        to count over), `level` and `why`; None (reported) when malformed."""
        if not isinstance(node, MappingNode):
            count = self._count_of(node, "replies")
            return None if count is None else ReplyCount(exactly=count, level=level, why=why)
        values: dict[str, Node] = {}
        for key, key_node, value in items(node, self.problems):
            if key not in REPLIES_KEYS:
                self.problems.add(
                    key_node,
                    f"unknown key '{key}' in 'replies'"
                    + did_you_mean(key, REPLIES_KEYS, f"it takes: {', '.join(REPLIES_KEYS)}"),
                )
                return None
            values[key] = value
        given = [k for k in ("exactly", "at_most") if k in values]
        if len(given) != 1:
            self.problems.add(node, "'replies' takes one of 'exactly' and 'at_most'")
            return None
        count = self._count_of(values[given[0]], given[0])
        within = None
        if "within" in values:
            within = self.f.positive_number(values["within"], "within")
        if "level" in values:
            level = self.f.level(values["level"]) or level
        if "why" in values:
            why = self.f.text(values["why"], "why") or why
        if count is None or ("within" in values and within is None):
            return None
        if given[0] == "exactly":
            return ReplyCount(exactly=count, within=within, level=level, why=why)
        return ReplyCount(at_most=count, within=within, level=level, why=why)

    def _count_of(self, node: Node, key: str) -> int | None:
        count = _whole_number(node)
        if count is None or not 0 <= count <= MAX_REPLIES:
            self.problems.add(
                node,
                f"'{key}' takes a number of replies (0 to {MAX_REPLIES}), got {describe(node)}",
            )
            return None
        return count

    def condition(self, node: Node) -> Condition | None:
        """`when: {advertised: SIZE, saved: limit, ...}`; None (reported) when malformed."""
        if not isinstance(node, MappingNode) or not node.value:
            self.problems.add(
                node,
                f"'when' takes a mapping of {', '.join(WHEN_KEYS)}, got {describe(node)}",
            )
            return None
        values: dict[str, tuple[str, ...]] = {}
        tls: bool | None = None
        for key, key_node, value in items(node, self.problems):
            if key not in WHEN_KEYS:
                self.problems.add(
                    key_node,
                    f"unknown condition '{key}' in 'when'"
                    + did_you_mean(key, WHEN_KEYS, f"it takes: {', '.join(WHEN_KEYS)}"),
                )
                return None
            if key == "tls":
                tls = self.f.boolean(value, "tls")
                if tls is None:
                    return None
                continue
            if key in ("advertised", "not_advertised"):
                found = self.f.keywords(value, key)
            else:
                found = self._names(value, key)
            if found is None:
                return None
            values[key] = found
        return Condition(**values, tls=tls)

    def _names(self, node: Node, key: str) -> tuple[str, ...] | None:
        members = node.value if isinstance(node, SequenceNode) else [node]
        out = []
        for member in members:
            name = str(member.value) if isinstance(member, ScalarNode) else ""
            if not NAME_RE.match(name):
                self.problems.add(
                    member, f"'{key}' takes names of saved values, got {describe(member)}"
                )
                return None
            out.append(name)
        return tuple(out)

    def _idle_seconds(self, node: Node) -> str | None:
        """idle `seconds`: a number above 0, at most MAX_IDLE, or a ${variable} giving one (checked
        when the scenario is bound)."""
        if isinstance(node, ScalarNode) and "${" in str(node.value):
            return self.f.text(node, "seconds", one_line=True)
        seconds = self.f.positive_number(node, "seconds")
        if seconds is not None and seconds > MAX_IDLE:
            self.problems.add(node, f"'seconds' is at most {MAX_IDLE:g}, got {seconds:g}")
            return None
        return None if seconds is None else f"{seconds:g}"

    def _no_greeting(self, node: Node) -> bool:
        """connect `greeting: none`, the one value the key takes."""
        if isinstance(node, ScalarNode) and str(node.value) == "none":
            return True
        self.problems.add(node, f"'greeting' takes none (no greeting wanted), got {describe(node)}")
        return False

    def _saves(self, node: Node, kind: StepKind) -> tuple[Save, ...]:
        """`save: {name: KEYWORD}` (EHLO: that keyword's parameters), `{name: {text: RE}}`,
        `{name: {code: true}}` (the reply code) or `{name: {address: true}}` (connect: the
        server's address literal)."""
        if not isinstance(node, MappingNode) or not node.value:
            self.problems.add(
                node,
                "'save' takes a mapping of name: source (an EHLO keyword, {text: REGEX} or "
                f"{{code: true}}), got {describe(node)}",
            )
            return ()
        out: list[Save] = []
        for name, key_node, value in items(node, self.problems):
            where = self.problems.position(key_node)
            if not NAME_RE.match(name):
                self.problems.add(
                    key_node, f"bad name '{name}' to save; use letters, digits, '_' and '-'"
                )
                continue
            if isinstance(value, MappingNode):
                fields = {k: v for k, _, v in items(value, self.problems)}
                if set(fields) == {"code"}:
                    flag = self.f.boolean(fields["code"], "code")
                    if flag:
                        out.append(Save(name, code=True, position=where))
                    elif flag is False:
                        self.problems.add(value, f"save {name}: write {{code: true}}")
                    continue
                if set(fields) == {"address"}:
                    flag = self.f.boolean(fields["address"], "address")
                    if flag is False:
                        self.problems.add(value, f"save {name}: write {{address: true}}")
                    elif flag and kind is not StepKind.CONNECT:
                        self.problems.add(
                            value, f"save {name}: the server's address is saved by a connect step"
                        )
                    elif flag:
                        out.append(Save(name, address=True, position=where))
                    continue
                if set(fields) != {"text"}:
                    self.problems.add(
                        value,
                        f"save {name}: write {{text: REGEX}}, {{code: true}} or {{address: true}} "
                        "(one key)",
                    )
                    continue
                pattern = self._save_pattern(fields["text"], name)
                if pattern is not None:
                    out.append(Save(name, pattern=pattern, position=where))
                continue
            if kind is not StepKind.EHLO:
                self.problems.add(
                    value,
                    f"save {name}: an EHLO keyword can be saved from an ehlo step only; "
                    "elsewhere write {text: REGEX}",
                )
                continue
            keyword = self.f.keywords(value, f"save {name}")
            if keyword is not None and len(keyword) == 1:
                out.append(Save(name, keyword=keyword[0], position=where))
            elif keyword is not None:
                self.problems.add(value, f"save {name}: one EHLO keyword, not a list")
        return tuple(out)

    def _save_pattern(self, node: Node, name: str) -> Pattern | None:
        text = self.f.text(node, "text", template=False)
        if text is None:
            return None
        try:
            pattern = compile_pattern(text)
        except PatternError as error:
            self.problems.add(node, f"save {name}: bad regex: {error}")
            return None
        if pattern.groups > 1:
            self.problems.add(
                node,
                f"save {name}: the regex has {pattern.groups} groups; give it at most one "
                "(its text is saved)",
            )
            return None
        return pattern

    def _advertised(
        self,
        fields: dict[str, Node],
        expect: Expectation | None,
        level: Level,
        why: str,
        where: Node,
    ) -> Expectation | None:
        """EHLO's `advertises:` and `not_advertises:`, judged with the step's expectation."""
        wanted = (
            self.f.keywords(fields["advertises"], "advertises") if "advertises" in fields else ()
        )
        unwanted: tuple[str, ...] | None = ()
        if "not_advertises" in fields:
            unwanted = self.f.keywords(fields["not_advertises"], "not_advertises")
        if not wanted and not unwanted:
            return expect
        both = set(wanted or ()) & set(unwanted or ())
        if both:
            self.problems.add(
                fields["not_advertises"],
                f"{' '.join(sorted(both))} is in both 'advertises' and 'not_advertises'",
            )
        base = expect or Expectation(level=level, why=why, position=self.problems.position(where))
        return replace(base, advertises=wanted or (), not_advertises=unwanted or ())

    def _expect(
        self,
        fields: dict[str, Node],
        key: str,
        level: Level,
        why: str,
        judge: Judge | None,
    ) -> Expectation | None:
        if key not in fields:
            return None
        return self.expect.read(fields[key], key, level=level, why=why, judge=judge)

    def _one_of(self, kind: StepKind, fields: dict[str, Node], *keys: str) -> None:
        given = [k for k in keys if k in fields]
        if len(given) > 1:
            self.problems.add(
                fields[given[1]],
                f"{kind.value} takes one of {', '.join(repr(k) for k in keys)}, not both "
                f"'{given[0]}' and '{given[1]}'",
            )

    def _flag(self, fields: dict[str, Node], key: str) -> bool:
        if key not in fields:
            return False
        return bool(self.f.boolean(fields[key], key))

    def _message_file(self, fields: dict[str, Node]) -> str | None:
        """`file:` as an absolute path, relative to the scenario file; it must be a regular file
        now (it is opened again, and streamed, when the step plays)."""
        if "file" not in fields:
            return None
        name = self.f.text(fields["file"], "file", one_line=True)
        if name is None:
            return None
        if "${" in name:
            self.problems.add(fields["file"], "'file' is a path; variables are not expanded in it")
            return None
        path = Path(self.problems.file).parent / name
        problem = regular_file_problem(path)
        if problem is not None:
            self.problems.add(fields["file"], f"message file {shown(path)}: {problem}")
            return None
        return str(path.resolve())

    def _raw(self, fields: dict[str, Node], spec: KindSpec) -> str | None:
        raw = self._text(fields, spec, "raw")
        if raw is None:
            return None
        offset = bad_escape(raw)
        if offset is not None:
            shown = raw[offset : offset + 2]
            self.problems.add(
                self.problems.position_in(fields["raw"], offset),
                f"bad escape '{shown}' in 'raw'; raw text knows \\r \\n \\t \\0 \\\\ and \\xHH",
            )
            return None
        return raw

    def _verb(
        self, fields: dict[str, Node], line: str | None, raw: str | None
    ) -> tuple[str | None, Judge | None]:
        """The verb whose table judges a send step's reply (None: known only after binding)."""
        if "as" in fields:
            given = self.f.text(fields["as"], "as", template=False)
            if given is None:
                return None, None
            verb = given.strip().upper()
            if not _VERB_RE.match(verb):
                self.problems.add(
                    fields["as"],
                    f"'as' must be a command verb such as MAIL, got '{shorten(given)}'",
                )
                return None, None
            return verb, Judge(verb)
        if raw is not None:
            return "UNKNOWN", Judge(
                "UNKNOWN", "; set 'as:' to judge the reply by a command's table"
            )
        if line is None:
            return None, None
        first = line.split(None, 1)[0] if line.strip() else ""
        if "${" in first:
            return None, None
        hint = f"; set 'as:' if '{shorten(first)}' should be judged by another command's table"
        return first.upper() or "UNKNOWN", Judge(first.upper() or "UNKNOWN", hint)

    def _chunks(self, node: Node) -> tuple[int, ...]:
        """bdat `chunks:` a list of chunk sizes in octets (0 allowed: an empty BDAT)."""
        members = node.value if isinstance(node, SequenceNode) else None
        sizes: list[int] = []
        for member in members if members is not None else [node]:
            size = _whole_number(member)
            if members is None or size is None or not 0 <= size <= MAX_CHUNK:
                self.problems.add(
                    member,
                    "'chunks' takes a list of chunk sizes in octets (whole numbers, 0 or more), "
                    f"e.g. [100, 0], got {describe(member)}",
                )
                return ()
            sizes.append(size)
        return tuple(sizes)

    def _last(self, node: Node) -> str:
        """bdat `last:` true (LAST on the final chunk), false (no LAST), empty (BDAT 0 LAST)."""
        if isinstance(node, ScalarNode) and node.tag == BOOL_TAG:
            value = self.f.boolean(node, "last")
            if value is not None:
                return BDAT_LAST[value]
        elif isinstance(node, ScalarNode) and str(node.value) == "empty":
            return BDAT_LAST["empty"]
        else:
            self.problems.add(
                node,
                "'last' takes true (LAST on the final chunk), false (no LAST) or empty (the "
                f"chunks, then BDAT 0 LAST), got {describe(node)}",
            )
        return "final"

    def _mechanism(self, fields: dict[str, Node]) -> str | None:
        if "mechanism" not in fields:
            return None
        node = fields["mechanism"]
        if isinstance(node, ScalarNode) and "${" in str(node.value):
            # A variable: its value is checked when the scenario is bound.
            return self.f.text(node, "mechanism", one_line=True)
        given = self.f.text(node, "mechanism", template=False)
        if given is None:
            return None
        if given.upper() in MECHANISMS:
            return given.upper()
        close = suggestion(given.upper(), MECHANISMS)
        hint = f"; did you mean '{close}'?" if close else ""
        self.problems.add(
            node, f"'mechanism' must be {' or '.join(MECHANISMS)}, got '{shorten(given)}'{hint}"
        )
        return None

    def _members(self, node: Node | None, stop_on_fail: bool) -> tuple[Step, ...]:
        if node is None:
            return ()
        if not isinstance(node, SequenceNode):
            self.problems.add(node, f"'steps' must be a list of steps, got {describe(node)}")
            return ()
        if not node.value:
            self.problems.add(node, "the pipeline is empty; give it two or more commands")
            return ()
        if not self._count(node):
            return ()
        members = [self.step(item, stop_on_fail=stop_on_fail, member=True) for item in node.value]
        for item, step in zip(node.value[:-1], members[:-1], strict=True):
            if step is not None and step.kind is StepKind.DATA:
                self.problems.add(item, "data must be the last member of a pipeline")
        return tuple(s for s in members if s is not None)


_NUMBERS = yaml.constructor.SafeConstructor()


def _whole_number(node: Node) -> int | None:
    """An integer scalar (250.0 counts as 250, as in JSON), else None."""
    if not isinstance(node, ScalarNode) or node.tag not in (INT_TAG, FLOAT_TAG):
        return None
    try:
        if node.tag == INT_TAG:
            return int(_NUMBERS.construct_yaml_int(node))
        value = float(_NUMBERS.construct_yaml_float(node))
    except (ValueError, OverflowError, yaml.YAMLError):
        return None
    if not math.isfinite(value) or not value.is_integer():
        return None
    return int(value)
