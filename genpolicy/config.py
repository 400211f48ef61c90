"""Nested dataclass configs: build them from plain values, checked against the field types.

An algorithm config holds sub-configs (``policy``, ``optim``, ``critic``, ``actor_optim`` ...),
each a dataclass with one default per setting. Values come from code, a JSON/YAML file or the
command line (``--set critic.width=512``) and meet in one place, :func:`build_config`, which

* accepts nested mappings and dotted keys alike (``{"critic": {"width": 512}}`` ==
  ``{"critic.width": 512}``);
* checks every value against its field's annotation (``int``, ``float``, ``bool``, ``str``,
  ``Literal``, ``list[...]``, ``X | None``, nested dataclasses) *before* anything is built,
  so ``--set kl_weight=abc`` fails in one line instead of deep inside training;
* names the full dotted key of the first bad value and the known keys of an unknown one.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Mapping, Union


class ConfigError(ValueError):
    """A config value that does not fit its field (one line, names the dotted key)."""


def build_config(cls: type, values: Mapping[str, Any] | None = None, *, base: Any = None) -> Any:
    """``cls`` built from ``values`` (nested or dotted keys) on top of ``base`` (or defaults)."""
    tree = nest(values or {})
    return _build(cls, tree, base, prefix="")


def nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "a": {"c": 2}}`` -> ``{"a": {"b": 1, "c": 2}}`` (later keys win)."""
    tree: dict[str, Any] = {}
    for key, value in values.items():
        parts = str(key).split(".")
        node = tree
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        leaf = parts[-1]
        if isinstance(value, Mapping) and isinstance(node.get(leaf), dict):
            node[leaf].update(nest(value))
        elif isinstance(value, Mapping) and not dataclasses.is_dataclass(value):
            node[leaf] = nest(value)
        else:
            node[leaf] = value
    return tree


def to_dict(config: Any) -> dict[str, Any]:
    """A config as nested plain values (what ``config.json`` stores)."""
    return dataclasses.asdict(config)


def flat_keys(config_class: type, prefix: str = "") -> list[str]:
    """Every settable dotted key of a config class (for help texts and error messages)."""
    keys = []
    hints = typing.get_type_hints(config_class)
    for f in dataclasses.fields(config_class):
        if not f.init:
            continue
        sub = _dataclass_of(hints[f.name])
        keys.extend(flat_keys(sub, f"{prefix}{f.name}.") if sub else [f"{prefix}{f.name}"])
    return keys


# ------------------------------------------------------------------------- internals
def _build(cls: type, tree: dict[str, Any], base: Any, prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(tree) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix + unknown[0]!r} for {cls.__name__}; known: {', '.join(flat_keys(cls, prefix))}"
        )
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        annotation = hints[name]
        sub = _dataclass_of(annotation)
        current = getattr(base, name) if base is not None else None
        if name in tree:
            value = tree[name]
            if sub is not None and isinstance(value, Mapping):
                kwargs[name] = _build(sub, dict(value), current if current is not None else _default(f, sub), prefix + name + ".")
            else:
                kwargs[name] = _check(value, annotation, prefix + name)
        elif base is not None:
            kwargs[name] = current
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        where = f" in {prefix[:-1]!r}" if prefix else ""
        raise ConfigError(f"bad config for {cls.__name__}{where}: {error}") from None


def _default(f: dataclasses.Field, sub: type) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _dataclass_of(annotation: Any) -> type | None:
    """The dataclass type of a field (also inside ``X | None``), else None."""
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return annotation
    if _is_union(annotation):
        for arg in typing.get_args(annotation):
            if dataclasses.is_dataclass(arg) and isinstance(arg, type):
                return arg
    return None


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (Union, types.UnionType)


def _check(value: Any, annotation: Any, key: str) -> Any:
    """``value`` coerced to ``annotation`` where lossless (int -> float), else ConfigError."""
    ok, coerced = _fits(value, annotation)
    if not ok:
        raise ConfigError(f"config key {key!r}: {value!r} is not a valid {_describe(annotation)}")
    return coerced


def _fits(value: Any, annotation: Any) -> tuple[bool, Any]:
    if annotation is Any:
        return True, value
    origin = typing.get_origin(annotation)
    if _is_union(annotation):
        for arg in typing.get_args(annotation):
            ok, coerced = _fits(value, arg)
            if ok:
                return True, coerced
        return False, value
    if annotation is type(None):
        return value is None, value
    if origin is Literal:
        return value in typing.get_args(annotation), value
    if annotation is bool:
        return isinstance(value, bool), value
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        return False, value
    if annotation is str:
        return isinstance(value, str), value
    if origin in (list, tuple) or annotation in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False, value
        args = typing.get_args(annotation)
        item = args[0] if args else Any
        out = []
        for element in value:
            ok, coerced = _fits(element, item)
            if not ok:
                return False, value
            out.append(coerced)
        return True, out
    if origin is dict or annotation is dict:
        return isinstance(value, Mapping), dict(value) if isinstance(value, Mapping) else value
    if dataclasses.is_dataclass(annotation):
        return isinstance(value, annotation), value
    return True, value


def _describe(annotation: Any) -> str:
    if typing.get_origin(annotation) is Literal:
        return "choice of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if _is_union(annotation):
        return " or ".join(_describe(a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
