"""probe.record: the plain-data classes behave as the dataclasses they replace."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys

import pytest

from probe.record import FrozenRecordError, field, fields_of, is_record, record, replace


@record(frozen=True, slots=True)
class Point:
    x: int
    tags: tuple[str, ...] = field(default_factory=tuple)
    label: str = "p"


@record
class Counter:
    n: int = 3
    note: str = field(default="", compare=False)
    seen: list[int] = field(default_factory=list)


@record(frozen=True, eq=False)
class Token:
    value: str


@record(frozen=True)
class Checked:
    size: int

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError("negative size")


def test_fields_defaults_and_factories() -> None:
    p = Point(1)
    assert (p.x, p.tags, p.label) == (1, (), "p")
    assert fields_of(p) == ("x", "tags", "label") == fields_of(Point)
    assert Counter().seen is not Counter().seen  # a fresh list each time
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]


def test_equality_and_hash_follow_the_compared_fields() -> None:
    assert Point(1, ("a",)) == Point(1, ("a",))
    assert hash(Point(1, ("a",))) == hash(Point(1, ("a",)))
    assert Point(1) != Point(2)
    assert Point(1) != (1, (), "p")  # another type is never equal
    assert Counter(5, "one") == Counter(5, "two")  # compare=False
    with pytest.raises(TypeError):
        hash(Counter())  # mutable and eq: unhashable, as dataclasses makes it
    first, second = Token("a"), Token("a")
    assert first != second and len({first, second}) == 2  # eq=False: identity


def test_frozen_refuses_assignment_and_slots_drop_the_dict() -> None:
    p = Point(1)
    with pytest.raises(FrozenRecordError):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.label  # type: ignore[misc]
    assert not hasattr(p, "__dict__")
    c = Counter()
    c.n = 9
    assert c.n == 9


def test_post_init_runs() -> None:
    with pytest.raises(ValueError, match="negative"):
        Checked(-1)
    assert Checked(2).size == 2


def test_replace_pickle_copy_and_repr() -> None:
    p = Point(1, ("a",), "q")
    assert replace(p, label="r") == Point(1, ("a",), "r")
    with pytest.raises(TypeError, match="no field"):
        replace(p, nope=1)
    assert pickle.loads(pickle.dumps(p)) == p
    assert copy.deepcopy(p) == p and copy.copy(p) == p
    assert repr(p) == "Point(x=1, tags=('a',), label='q')"
    assert is_record(p) and not is_record(Point) and not is_record(3)


def test_a_run_does_not_import_dataclasses_or_inspect() -> None:
    """The point of probe.record: the run path's classes cost no `inspect` import."""
    code = (
        "import sys, probe.cli, probe.session.orchestrate, probe.scenario.loader, "
        "probe.session.drivers.blocking; "
        "print(sorted({'dataclasses', 'inspect'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_compiled_inits_are_kept_between_runs(tmp_path) -> None:
    """A class's __init__ is compiled once per installation (kept in the cache folder with the
    package's fingerprint), not once per run; a damaged entry is compiled again."""
    code = (
        "import probe.record as r; "
        "from probe.scenario.model import Position; Position('f', 1, 1); "
        "print(r._new_codes, len(r._codes or {}))"
    )
    env = {**os.environ, "SMTP_PROBE_CACHE_DIR": str(tmp_path), "SMTP_PROBE_NO_CACHE": ""}

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        return done.stdout.split()

    first = run()
    assert first[0] == "True" and int(first[1]) >= 1  # compiled, then stored at exit
    second = run()
    assert second == ["False", first[1]]  # every __init__ came from the stored code
    (entry,) = (tmp_path / "records").glob("*.entry")
    entry.write_bytes(entry.read_bytes()[:-20])  # cut short: marshal cannot read it
    assert run()[0] == "True"
