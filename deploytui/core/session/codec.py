"""The one codec of session events: `encode(event)` gives the JSON object of its log line, `decode(obj)`
the typed event back (EventFormatError saying what is wrong: an unknown type, a missing field, a value of
the wrong type).

The object `encode` gives has exactly the keys and values the store has always written (the store adds
`prev` and writes the keys sorted, so the order of the dict carries no meaning): a line written today reads
like one written before the events were typed, and `encode(decode(obj)) == obj` for every line the store
writes. Keys a line holds beyond its event's fields are ignored, as they always were.

Each field is converted by its type hint (the table `_CODECS` below); a dataclass of events.py whose field
has a type not in the table fails at import, so a new kind of event cannot silently lose a field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, get_type_hints

from deploytui.core.errors import DeployError
from deploytui.core.session.changes import ItemSpec
from deploytui.core.session.events import EVENT_TYPES, Event, SessionEvent
from deploytui.core.status import Attempt, Scalar, Status


class EventFormatError(DeployError, ValueError):
    """An event object that is not one of ours (the store adds the file and line)."""


class _Bad(Exception):
    """A value of the wrong shape: `what` it should be, and where inside the field (`path`)."""

    def __init__(self, what: str, value: Any, path: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.value = value
        self.path = path


def _kind_of(value: Any) -> str:
    """A JSON value's kind, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


# ------------------------------------------------------------------------------------- field decoders


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad("text", value)
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad("an integer", value)
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad("true or false", value)
    return value


def _status(value: Any) -> Status:
    try:
        return Status(_str(value))
    except ValueError:
        raise _Bad(f"a status ({', '.join(Status)})", value) from None


def _list(value: Any, item: Callable[[Any], Any]) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise _Bad("a list", value)
    out = []
    for n, entry in enumerate(value):
        try:
            out.append(item(entry))
        except _Bad as exc:
            raise _Bad(exc.what, exc.value, f"[{n}]{exc.path}") from None
    return tuple(out)


def _object(value: Any, item: Callable[[Any], Any]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _Bad("an object", value)
    out: dict[str, Any] = {}
    for key, entry in value.items():
        try:
            out[_str(key)] = item(entry)
        except _Bad as exc:
            raise _Bad(exc.what, exc.value, f"[{key!r}]{exc.path}") from None
    return out


def _scalar(value: Any) -> Scalar:
    if not isinstance(value, str | int | float | bool):
        raise _Bad("text, a number or true/false", value)
    return value


def _pair(value: Any) -> tuple[str, str]:
    if not isinstance(value, list) or len(value) != 2:
        raise _Bad("a list of two", value)
    return _str(value[0]), _str(value[1])


def _spec(value: Any) -> ItemSpec:
    if not isinstance(value, Mapping):
        raise _Bad("an object", value)
    fields: list[tuple[str, Callable[[Any], Any], Any]] = [
        ("id", _str, dataclasses.MISSING),
        ("title", _str, ""),
        ("parent", lambda v: None if v is None else _str(v), None),
        ("rollback", _bool, False),
    ]
    found: dict[str, Any] = {}
    for key, convert, default in fields:
        if key not in value:
            if default is dataclasses.MISSING:
                raise _Bad(f"an object with {key!r}", value)
            found[key] = default
            continue
        try:
            found[key] = convert(value[key])
        except _Bad as exc:
            raise _Bad(exc.what, exc.value, f".{key}{exc.path}") from None
    return ItemSpec(**found)


def _spec_dict(spec: ItemSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"id": spec.id, "title": spec.title}
    if spec.parent is not None:
        data["parent"] = spec.parent
    if spec.rollback:
        data["rollback"] = True
    return data


def _attempt(value: Any) -> Attempt:
    if not isinstance(value, Mapping):
        raise _Bad("an attempt object", value)
    try:
        return Attempt.from_dict(value)
    except (KeyError, ValueError, TypeError):
        raise _Bad("an attempt with a status", value) from None


def _same(value: Any) -> Any:
    return value


_Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]

_CODECS: dict[object, _Codec] = {
    str: (_str, _same),
    int: (_int, _same),
    bool: (_bool, _same),
    Status: (_status, str),
    Mapping[str, str]: (lambda v: _object(v, _str), dict),
    Mapping[str, Scalar]: (lambda v: _object(v, _scalar), dict),
    tuple[str, ...]: (lambda v: _list(v, _str), list),
    tuple[tuple[str, str], ...]: (lambda v: _list(v, _pair), lambda v: [list(p) for p in v]),
    tuple[ItemSpec, ...]: (lambda v: _list(v, _spec), lambda v: [_spec_dict(s) for s in v]),
    tuple[Attempt, ...]: (lambda v: _list(v, _attempt), lambda v: [a.to_dict() for a in v]),
}
"""Field type hint -> (decode one JSON value, encode one field value)."""


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    decode: Callable[[Any], Any]
    encode: Callable[[Any], Any]
    required: bool
    omit: bool = False
    """Left out of the line when it holds its default (fields added after lines were first written, so
    that a line without them is byte for byte what it always was)."""
    default: Any = None


def _fields_of(cls: type[SessionEvent]) -> tuple[_Field, ...]:
    hints = get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        codec = _CODECS.get(hints[f.name])
        if codec is None:  # pragma: no cover - caught at import by every test
            raise TypeError(f"{cls.__name__}.{f.name}: no codec for {hints[f.name]!r} (codec.py)")
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        omit = bool(f.metadata.get("omit_default"))
        default = f.default if f.default is not dataclasses.MISSING else None
        if omit and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        out.append(_Field(f.name, codec[0], codec[1], required, omit, default))
    return tuple(out)


_LAYOUTS: dict[str, tuple[_Field, ...]] = {name: _fields_of(cls) for name, cls in EVENT_TYPES.items()}
"""Event type -> its fields in line order: seq, at, by, then the event's own (`type` after `by`)."""


# ------------------------------------------------------------------------------------------- the codec


def encode(event: Event) -> dict[str, Any]:
    """The JSON object of an event's log line (without `prev`, which the store adds)."""
    data: dict[str, Any] = {}
    for f in _LAYOUTS[event.type]:
        value = getattr(event, f.name)
        if f.omit and value == f.default:
            continue
        data[f.name] = f.encode(value)
        if f.name == "by":
            data["type"] = event.type
    return data


def decode(data: Mapping[str, Any]) -> Event:
    """The event an object of a log line records. EventFormatError saying what is wrong, in one line:
    `unknown event type 'x'`, `tick without 'item'`, `skip.reason must be text, not an integer`."""
    if not isinstance(data, Mapping):
        raise EventFormatError(f"an event is a JSON object, not {_kind_of(data)}")
    kind = data.get("type")
    if "type" not in data:
        raise EventFormatError("no type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EventFormatError(f"unknown event type {kind!r}")
    values: dict[str, Any] = {}
    for f in _LAYOUTS[cls.type]:
        if f.name not in data:
            if f.required:
                raise EventFormatError(f"{kind} without {f.name!r}")
            continue
        try:
            values[f.name] = f.decode(data[f.name])
        except _Bad as exc:
            raise EventFormatError(
                f"{kind}.{f.name}{exc.path} must be {exc.what}, not {_kind_of(exc.value)}"
            ) from None
    return cls(**values)

