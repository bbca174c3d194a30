"""Config files as frozen dataclasses: TOML read with ``tomllib``, checked, overridable by flags.

The agent's file (``edge.config``) and the collector's (``server.config``) follow the same rules,
written here once:

* one dataclass per table (fields with defaults; ``bool``, ``int``, ``float``, ``str``,
  ``tuple[str, ...]``, a nested dataclass for a sub-table, or a tuple of dataclasses for an array of
  tables; or a union of those, such as ``str | tuple[str, ...]`` for "one or a list", tried in
  order); the root dataclass has an ``origins`` field;
* unknown keys and tables are errors (a typo must not silently fall back to a default);
* a key left out takes the default written in its dataclass;
* types are checked here, ranges by the ``check`` metadata of a field (or by the object the table
  configures, raising :class:`SettingError`), so each range is written down once;
* command-line flags override the file (:class:`Override`).

Every error is one line naming where the value came from (the file or the flag), the key, the
value and what was expected. Standard library only.

The same checker reads any plain data into a dataclass (:func:`from_plain`): the collector's JSON
request bodies are declared and checked this way too, so config and bodies follow one set of rules.
There, a field may also be required (no default) or optional (``X | None``: null is as if left out).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.contract.errors import ConfigError

MAX_SHOWN_CHARS = 200
"""A bad value longer than this (as :func:`show` writes it) is cut in messages."""


class SettingError(ConfigError):
    """One bad setting: which key, what value, what was expected (and where it came from)."""

    def __init__(self, key: str, value: Any, expected: str, origin: str | None = None):
        self.key = key
        self.value = value
        self.expected = expected
        self.origin = origin
        where = f"{origin}: " if origin else ""
        if value is dataclasses.MISSING:
            super().__init__(f"{where}{key} is missing: expected {expected}")
        else:
            shown = show(value)  # a request body's value may be megabytes: the message stays one short line
            shown = shown if len(shown) <= MAX_SHOWN_CHARS else shown[:MAX_SHOWN_CHARS] + "..."
            super().__init__(f"{where}{key} = {shown}: expected {expected}")

    def within(self, table: str, origin: str | None = None) -> "SettingError":
        """The same error with its key inside ``table`` (``min_gap_s`` -> ``selection.interval.min_gap_s``)."""
        return SettingError(f"{table}.{self.key}", self.value, self.expected, origin or self.origin)


def show(value: Any) -> str:
    """A value as it would be written in TOML (``true``, ``1.5``, ``"text"``; JSON's ``null``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{...}"
    return repr(value)


def check(predicate, expected: str) -> dict:
    """Field metadata: the value must satisfy ``predicate``; otherwise "expected ``expected``"."""
    return {"check": (predicate, expected)}


def _host_port(value: str) -> bool:
    host, sep, port = value.rpartition(":")
    return bool(sep and host.strip("[]") and port.isdigit() and 0 <= int(port) <= 65535)


def address(default: str = "") -> Any:
    """A ``HOST:PORT`` field, "" for off."""
    return field(default=default, metadata=check(lambda v: v == "" or _host_port(v),
                                                 'HOST:PORT such as 127.0.0.1:9465, or "" for off'))


# --- loading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    """A command-line flag that sets a key of the file (and wins over it)."""

    value: Any
    flag: str
    """How the user wrote it, for error messages: ``--min-gap``."""


def load_file(root: type, path: str | Path | None = None, overrides: Mapping[str, Override] | None = None):
    """Read ``path`` (None: defaults only) into ``root``, a dataclass with an ``origins`` field.

    ``overrides`` (by dotted key) win over the file. Raises :class:`SettingError` for a bad value
    or key and :class:`ConfigError` for a file that cannot be read or is not TOML.
    """
    document: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if path is not None:
        path = Path(path)
        document = _read_toml(path)
        origins.update((key, str(path)) for key in _leaf_keys(document))
    for key, override in (overrides or {}).items():
        _set_dotted(document, key, override.value)
        origins[key] = override.flag
    values = _table_values(root, document, prefix="", origins=origins, words=_TOML, skip=("origins",))
    return root(**values, origins=origins)


def from_plain(cls: type, data: Any, where: str):
    """``data`` (parsed JSON: dicts, lists, numbers, strings, None) as an instance of the dataclass ``cls``.

    ``where`` names the whole of ``data`` in messages ("the body"). Raises :class:`SettingError`
    (its key a dotted path such as ``annotations[0].x1``) for the first bad, unknown or missing field.
    """
    return cls(**_table_values(cls, data, prefix="", origins={}, words=_Words(where, "an object", "a list of objects")))


def as_dict(config: Any) -> dict[str, Any]:
    """The effective settings as plain data (tables as dicts, tuples as lists), ``origins`` left out."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        if f.name == "origins":
            continue
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = as_dict(value)
        elif isinstance(value, tuple):
            out[f.name] = [as_dict(v) if dataclasses.is_dataclass(v) else v for v in value]
        else:
            out[f.name] = value
    return out


def as_toml(config: Any) -> str:
    """The effective settings written as TOML (for ``check-config``; printed, so no final newline)."""
    import tomli_w  # only check-config writes TOML; reading a config needs the standard library alone

    return tomli_w.dumps(as_dict(config)).rstrip("\n")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _leaf_keys(table: Mapping[str, Any], prefix: str = ""):
    """Every dotted key of a TOML document, tables included."""
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        yield dotted
        if isinstance(value, dict):
            yield from _leaf_keys(value, dotted + ".")


def _set_dotted(document: dict[str, Any], key: str, value: Any) -> None:
    *tables, leaf = key.split(".")
    node = document
    for name in tables:
        node = node.setdefault(name, {})
    node[leaf] = value


@dataclass(frozen=True)
class _Words:
    """How messages name the whole document, a table and an array of tables."""

    whole: str
    table: str
    tables: str


_TOML = _Words("the file", "a table", "tables [[...]]")


def _table_values(cls: type, table: Any, prefix: str, origins: Mapping[str, str], words: _Words,
                  skip: tuple[str, ...] = ()) -> dict:
    fields = [f for f in dataclasses.fields(cls) if f.name not in skip]
    names = [f.name for f in fields]
    where = prefix.rstrip(".") or words.whole
    if not isinstance(table, dict):
        raise SettingError(where, table, words.table, _origin(origins, where))
    unknown = [key for key in table if key not in names]
    if unknown:
        key = prefix + unknown[0]
        has = f"{where} has {', '.join(names)}" if names else f"{where} takes none"
        raise SettingError(key, table[unknown[0]], f"no such key; {has}", _origin(origins, key))
    hints = typing.get_type_hints(cls)
    values = {}
    for f in fields:
        key = prefix + f.name
        if f.name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SettingError(key, dataclasses.MISSING, _expected(hints[f.name], words), _origin(origins, key))
            continue
        values[f.name] = _convert(hints[f.name], table[f.name], key, origins, words)
        if "check" in f.metadata and values[f.name] is not None and not f.metadata["check"][0](values[f.name]):
            raise SettingError(key, values[f.name], f.metadata["check"][1], _origin(origins, key))
    return values


def _origin(origins: Mapping[str, str], key: str) -> str | None:
    if key in origins:
        return origins[key]
    if "[" in key:  # inside an array of tables: the array's origin
        return _origin(origins, key.split("[", 1)[0])
    # A whole table given with the wrong type: name where any of its values came from.
    inside = [origin for dotted, origin in origins.items() if dotted.startswith(key + ".")]
    return inside[0] if inside else None


_SCALARS = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}


def _optional(kind: Any) -> Any:
    """``X`` for ``X | None``, else None."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        if len(args) == 1 and len(typing.get_args(kind)) == 2:
            return args[0]
    return None


def _alternatives(kind: Any) -> tuple[Any, ...]:
    """The types of a union without None (``str | tuple[str, ...]``), else ()."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) not in typing.get_args(kind):
        return typing.get_args(kind)
    return ()


def _expected(kind: Any, words: _Words) -> str:
    """What a value of type ``kind`` must be, in words (for a missing field)."""
    if _optional(kind) is not None:
        return _expected(_optional(kind), words) + " or null"
    if _alternatives(kind):
        return " or ".join(_expected(alternative, words) for alternative in _alternatives(kind))
    if dataclasses.is_dataclass(kind):
        return words.table
    if typing.get_origin(kind) is tuple:
        return words.tables if dataclasses.is_dataclass(typing.get_args(kind)[0]) else "a list"
    return _SCALARS[kind]


def _convert(kind: Any, value: Any, key: str, origins: Mapping[str, str], words: _Words) -> Any:
    origin = _origin(origins, key)
    if _optional(kind) is not None:
        try:
            return None if value is None else _convert(_optional(kind), value, key, origins, words)
        except SettingError as exc:
            if exc.key != key:  # a value inside it is wrong: that one's message says more
                raise
            raise SettingError(key, value, _expected(kind, words), origin) from None
    if _alternatives(kind):
        for alternative in _alternatives(kind):
            try:
                return _convert(alternative, value, key, origins, words)
            except SettingError as exc:
                if exc.key != key:  # the right shape with a bad value inside: that message says more
                    raise
        raise SettingError(key, value, _expected(kind, words), origin)
    if dataclasses.is_dataclass(kind):
        return kind(**_table_values(kind, value, key + ".", origins, words))
    if kind is bool:
        if not isinstance(value, bool):
            raise SettingError(key, value, "true or false", origin)
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingError(key, value, "an integer", origin)
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SettingError(key, value, "a finite number", origin)
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise SettingError(key, value, "a string", origin)
        return value
    if typing.get_origin(kind) is tuple and typing.get_args(kind)[1:] == (Ellipsis,):
        item = typing.get_args(kind)[0]
        if not isinstance(value, list):
            raise SettingError(key, value, _expected(kind, words), origin)
        # Each item named by its position: skip[3], annotations[0].x1.
        return tuple(_convert(item, v, f"{key}[{i}]", origins, words) for i, v in enumerate(value))
    raise TypeError(f"{key}: unsupported setting type {kind!r}")
