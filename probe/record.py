"""Plain-data classes (`@record`), declared like dataclasses but cheap to define.

Why not `dataclasses`: importing it pulls in `inspect` (and `ast`, `dis`, `tokenize`), and every
decorated class compiles five or six generated methods when its module is imported. With about
seventy of them, that was a third of a cold `smtp-probe run`. Here only `__init__` is generated,
with one compile, the first time the class is instantiated (most classes of a run never are);
`__eq__`, `__hash__` and `__repr__` are shared functions reading a precomputed getter.

What is supported is what smtp-probe uses: `frozen`, `slots`, `eq`, fields with a default or a
`field(default_factory=..., compare=...)`, `__post_init__`, `replace`, `fields_of`, pickling.
Type checkers see dataclass semantics through `dataclass_transform` (PEP 681).
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from types import CodeType
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["FrozenRecordError", "field", "fields_of", "is_record", "record", "replace"]

T = TypeVar("T")
_MISSING: Any = object()


class FrozenRecordError(AttributeError):
    """An assignment to a field of a frozen record."""


class Field:
    __slots__ = ("compare", "default", "default_factory")

    def __init__(self, default: Any, default_factory: Any, compare: bool) -> None:
        self.default = default
        self.default_factory = default_factory
        self.compare = compare


def field(
    *, default: Any = _MISSING, default_factory: Callable[[], Any] = _MISSING, compare: bool = True
) -> Any:
    """A field's default (or a factory called for each instance) and whether == compares it."""
    return Field(default, default_factory, compare)


class _Spec:
    """What `record` learned about a class: its fields in order, their defaults, and options."""

    __slots__ = ("compared", "defaults", "factories", "frozen", "key", "names", "post_init")

    def __init__(self, names: tuple[str, ...], frozen: bool) -> None:
        self.names = names
        self.frozen = frozen
        self.defaults: dict[str, Any] = {}
        self.factories: dict[str, Callable[[], Any]] = {}
        self.compared: tuple[str, ...] = names
        self.post_init = False
        self.key: Callable[[Any], tuple[Any, ...]] = _key_getter(())


@overload
def record(cls: type[T], /) -> type[T]: ...
@overload
def record(
    *, frozen: bool = False, slots: bool = False, eq: bool = True
) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(field_specifiers=(field, Field))
def record(
    cls: type[T] | None = None, /, *, frozen: bool = False, slots: bool = False, eq: bool = True
) -> Any:
    """Make `cls` a plain-data class: an `__init__` taking its annotated fields in order, and
    (unless eq=False) field-wise `==`; frozen records refuse assignment and hash by their
    fields; slots=True gives it `__slots__` (a new class, as dataclasses does)."""

    def wrap(cls: type[T]) -> type[T]:
        return _process(cls, frozen, slots, eq)

    return wrap if cls is None else wrap(cls)


def _process(cls: type[T], frozen: bool, slots: bool, eq: bool) -> type[T]:
    # Not inspect.get_annotations: importing inspect is what this module avoids.
    annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    names = tuple(
        name
        for name, kind in annotations.items()
        if not str(kind).startswith(("ClassVar", "typing.ClassVar"))
    )
    spec = _Spec(names, frozen)
    compared = []
    namespace = dict(cls.__dict__)
    for name in names:
        value = namespace.get(name, _MISSING)
        compare = True
        if isinstance(value, Field):
            compare = value.compare
            if value.default_factory is not _MISSING:
                spec.factories[name] = value.default_factory
            elif value.default is not _MISSING:
                spec.defaults[name] = value.default
        elif value is not _MISSING:
            spec.defaults[name] = value
        if compare:
            compared.append(name)
        if value is not _MISSING:
            # A slot and a class attribute cannot share a name; without slots the default
            # lives in __init__'s signature, not on the class.
            namespace.pop(name)
    spec.compared = tuple(compared)
    spec.post_init = "__post_init__" in namespace
    namespace["__record__"] = spec
    # As dataclasses does, a method the class defines itself is kept.
    namespace.setdefault("__init__", _lazy_init)
    namespace.setdefault("__repr__", _repr)
    if eq:
        own_hash = namespace.get("__hash__", _MISSING)
        explicit_hash = not (own_hash is _MISSING or (own_hash is None and "__eq__" in namespace))
        namespace.setdefault("__eq__", _eq)
        spec.key = _key_getter(spec.compared)
        if not explicit_hash:
            namespace["__hash__"] = _hash if frozen else None
    if frozen:
        namespace["__setattr__"] = _frozen_setattr
        namespace["__delattr__"] = _frozen_delattr
    namespace["__reduce__"] = _reduce
    if slots:
        namespace.pop("__dict__", None)
        namespace.pop("__weakref__", None)
        namespace["__slots__"] = names
        qualname = cls.__qualname__
        metaclass: Any = type(cls)
        cls = metaclass(cls.__name__, cls.__bases__, namespace)
        cls.__qualname__ = qualname
    else:
        for key, value in namespace.items():
            if key not in cls.__dict__ or cls.__dict__[key] is not value:
                setattr(cls, key, value)
        for name in names:
            if name in cls.__dict__ and name not in namespace:
                delattr(cls, name)
    return cls


def _key_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if not names:
        return lambda self: ()
    if len(names) == 1:
        get = attrgetter(names[0])
        return lambda self: (get(self),)
    return attrgetter(*names)


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    key = self.__record__.key
    return key(self) == key(other)


def _hash(self: Any) -> int:
    return hash(self.__record__.key(self))


def _repr(self: Any) -> str:
    spec: _Spec = self.__record__
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in spec.names)
    return f"{self.__class__.__qualname__}({shown})"


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenRecordError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field {name!r}")


def _reduce(self: Any) -> tuple[Any, ...]:
    spec: _Spec = self.__record__
    return (self.__class__, tuple(getattr(self, name) for name in spec.names))


def _lazy_init(self: Any, *args: Any, **kwargs: Any) -> None:
    """The first instance of a class compiles its real __init__, installs it, then uses it."""
    cls = self.__class__
    init = _make_init(cls, cls.__record__)
    cls.__init__ = init
    init(self, *args, **kwargs)


def _make_init(cls: type, spec: _Spec) -> Callable[..., None]:
    params, body = [], []
    scope: dict[str, Any] = {"_MISSING": _MISSING, "_set": object.__setattr__}
    for name in spec.names:
        if name in spec.factories:
            scope[f"_factory_{name}"] = spec.factories[name]
            params.append(f"{name}=_MISSING")
            value = f"_factory_{name}() if {name} is _MISSING else {name}"
        elif name in spec.defaults:
            scope[f"_default_{name}"] = spec.defaults[name]
            params.append(f"{name}=_default_{name}")
            value = name
        else:
            params.append(name)
            value = name
        body.append(f"_set(self, {name!r}, {value})" if spec.frozen else f"self.{name} = {value}")
    if spec.post_init:
        body.append("self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n    " + "\n    ".join(body or ["pass"])
    exec(_compiled(source, f"<record {cls.__qualname__}>"), scope)
    init: Callable[..., None] = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


# Compiled __init__ code, kept in the cache folder between runs as Python keeps .pyc files:
# compiling them was about 3 ms of a cold run. Keyed by the exact source and name, and stored with
# the package's fingerprint, so a changed smtp-probe never reads another's code.
_codes: dict[str, CodeType] | None = None
_new_codes = False


def _compiled(source: str, name: str) -> CodeType:
    global _codes, _new_codes
    if _codes is None:
        _codes = _read_codes()
    key = f"{name}\0{source}"
    code = _codes.get(key)
    if code is None:
        code = _codes[key] = compile(source, name, "exec")
        if not _new_codes:
            _new_codes = True
            import atexit

            atexit.register(_write_codes)
    return code


def _codes_file() -> tuple[Any, bytes] | None:
    import marshal

    from probe import cache

    folder = cache.cache_dir("records")
    if folder is None:
        return None
    return folder, marshal.dumps(cache.fingerprint())


def _read_codes() -> dict[str, CodeType]:
    import marshal

    from probe import cache

    where = _codes_file()
    if where is None:
        return {}
    folder, header = where
    blob = cache.read_blob(folder, header)
    try:
        codes = marshal.loads(blob) if blob is not None else {}
    except (EOFError, ValueError, TypeError):
        return {}
    ok = isinstance(codes, dict) and all(isinstance(c, CodeType) for c in codes.values())
    return codes if ok else {}


def _write_codes() -> None:
    import marshal

    from probe import cache

    where = _codes_file()
    if where is not None and _codes:
        cache.write_blob(where[0], where[1], marshal.dumps(_codes))


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of the record `obj` with the given fields changed."""
    spec: _Spec = obj.__record__  # type: ignore[attr-defined]
    values = {name: getattr(obj, name) for name in spec.names}
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(obj).__qualname__} has no field {sorted(unknown)[0]!r}")
    values.update(changes)
    return obj.__class__(**values)


def is_record(value: object) -> bool:
    """Whether `value` is an instance of a @record class."""
    return not isinstance(value, type) and isinstance(getattr(value, "__record__", None), _Spec)


def fields_of(value: object) -> tuple[str, ...]:
    """The field names of a record (instance or class), in declaration order."""
    spec: _Spec = value.__record__  # type: ignore[attr-defined]
    return spec.names
