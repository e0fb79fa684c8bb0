"""Pydantic validation errors → findings at the YAML keys the user wrote, in words they can act on.

Pydantic locates an error by a ``loc`` that mixes data keys with internal tags: a union member's
name (``missing.Neutral.neutral``), a validator wrapper (``function-after[...]``) or ``[key]``.
Walking the data along the ``loc`` tells the two apart: a part that is not a key of the data at
that point is a tag. For a union, pydantic reports every member's failure; we keep only the member
the user evidently meant (or one "expected X or Y" when none fits), so a typo reads as one finding.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from rapport.engine.errors import Finding
from rapport.engine.validate import did_you_mean
from rapport.engine.yamlsource import Locator, format_key

#: Errors that only say "the value is not this kind of thing": in a union, a member failing only
#: with one of these at the union's own key is a shape the user did not mean.
_SHAPE_TYPES = frozenset(
    {
        "model_type",
        "model_attributes_type",
        "dict_type",
        "list_type",
        "tuple_type",
        "string_type",
        "int_type",
        "int_parsing",
        "int_from_float",
        "float_type",
        "float_parsing",
        "bool_type",
        "bool_parsing",
        "literal_error",
        "none_required",
    }
)

_SHAPE_WORDS = {
    "list_type": "a list",
    "tuple_type": "a list",
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "none_required": "null",
}

#: The patterns used by the rules and client models, in words a project manager can act on.
_PATTERNS: dict[str, tuple[str, str]] = {
    r"^[a-z][a-z0-9_]{0,62}$": (
        "name",
        "use lowercase letters, digits and _, starting with a letter",
    ),
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$": (
        "id",
        "use up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
    ),
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$": ("email address", "e.g. pm@example.com"),
    r"^(#[0-9a-fA-F]{6}|[a-z]+)$": ("color", "use #rrggbb or a color name such as green"),
    r"^[a-z]{2}([-_][A-Za-z]{2,4})?$": ("locale", "e.g. en or fr-CA"),
}


@dataclass(frozen=True, eq=False)
class _Error:
    """One pydantic error; ``dropped`` marks parts of ``raw`` that are union tags, not data keys."""

    raw: tuple[str | int, ...]
    detail: dict[str, Any]
    dropped: frozenset[int] = frozenset()

    @property
    def loc(self) -> tuple[str | int, ...]:
        """The key path in the user's data."""
        return tuple(p for i, p in enumerate(self.raw) if i not in self.dropped and p != "[key]")

    @property
    def type(self) -> str:
        return str(self.detail["type"])


def _first_tag(err: _Error, data: Any) -> int | None:
    """Index in ``err.raw`` of the first part that is not a key of the data (a union tag)."""
    node, last = data, len(err.raw) - 1
    for i, part in enumerate(err.raw):
        if i in err.dropped:
            continue
        if part == "[key]":
            return None
        if _holds(node, part):
            node = node[part]
        elif i == last and err.type == "missing":
            return None  # a required key is, by definition, not in the data
        else:
            return i
    return None


def _collapse(errors: list[_Error], data: Any, model: type[BaseModel]) -> list[_Error]:
    """Errors with every union tag resolved: one member's errors kept per union, or one summary."""
    plain: list[_Error] = []
    unions: dict[tuple[str | int, ...], dict[str | int, list[_Error]]] = {}
    for err in errors:
        index = _first_tag(err, data)
        if index is None:
            plain.append(err)
        else:
            unions.setdefault(err.raw[:index], {}).setdefault(err.raw[index], []).append(err)
    for prefix, members in unions.items():
        plain += _resolve_union(prefix, members, data, model)
    return plain


def _resolve_union(
    prefix: tuple[str | int, ...],
    members: dict[str | int, list[_Error]],
    data: Any,
    model: type[BaseModel],
) -> list[_Error]:
    index = len(prefix)
    fitting = {
        tag: errs
        for tag, errs in members.items()
        if not all(len(e.raw) == index + 1 and e.type in _SHAPE_TYPES for e in errs)
    }
    if len(members) > 1 and not fitting:
        return [_union_mismatch(prefix, members, model)]
    chosen = _best_member(prefix, fitting or members, data, model)
    stripped = [replace(e, dropped=e.dropped | {index}) for e in (fitting or members)[chosen]]
    return _collapse(stripped, data, model)


def _union_mismatch(
    prefix: tuple[str | int, ...], members: dict[str | int, list[_Error]], model: type[BaseModel]
) -> _Error:
    """One error at the union's key listing what would have been accepted."""
    words: list[str] = []
    for errs in members.values():
        for err in errs:
            word = _shape_word(err, model)
            if word not in words:
                words.append(word)
    if "a number" in words and "a whole number" in words:
        words.remove("a whole number")
    first = next(iter(members.values()))[0]
    message = "expected " + (
        ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]
    )
    detail = {"type": "union_mismatch", "msg": message, "input": first.detail.get("input")}
    return _Error(prefix, detail, frozenset(i for i in first.dropped if i < len(prefix)))


def _shape_word(err: _Error, model: type[BaseModel]) -> str:
    if err.type == "literal_error":
        return str(err.detail.get("ctx", {}).get("expected", "a fixed value"))
    if err.type in ("model_type", "model_attributes_type", "dict_type"):
        return _mapping_text(_model_at(model, err.raw))
    return _SHAPE_WORDS.get(err.type, str(err.raw[-1]))


def _best_member(
    prefix: tuple[str | int, ...],
    members: dict[str | int, list[_Error]],
    data: Any,
    model: type[BaseModel],
) -> str | int:
    """The member the user most likely meant: most keys known, then closest typos, fewest errors."""
    first = next(iter(members.values()))[0]
    value = _data_at(data, replace(first, raw=prefix).loc)
    keys = [str(k) for k in value] if isinstance(value, dict) else []

    def rank(item: tuple[int, tuple[str | int, list[_Error]]]) -> tuple[int, int, int, int]:
        order, (tag, errs) = item
        fields = _field_names(_model_at(model, (*prefix, tag)))
        exact = sum(k in fields for k in keys)
        close = sum(did_you_mean(k, fields) is not None for k in keys if k not in fields)
        return -exact, -close, len(errs), order

    return min(enumerate(members.items()), key=rank)[1][0]


def _holds(node: Any, part: str | int) -> bool:
    """Whether ``part`` is a key of the mapping (or an index of the list) ``node``."""
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _data_at(data: Any, loc: Sequence[str | int]) -> Any:
    for part in loc:
        if not _holds(data, part):
            return None
        data = data[part]
    return data


# --- walking the model's types along a pydantic loc -----------------------------------------------


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` (pydantic puts no tag in the loc for either)."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif _is_union(tp) and len([a for a in get_args(tp) if a is not type(None)]) == 1:
            tp = next(a for a in get_args(tp) if a is not type(None))
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _step(tp: Any, part: str | int) -> Any:
    tp = _unwrap(tp)
    if _is_model(tp):
        for name, field in tp.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    origin, args = get_origin(tp), get_args(tp)
    if _is_union(tp):
        return next((m for m in args if _tag_of(m) == part), None)
    if origin is dict:
        return args[0] if part == "[key]" else args[1]
    if origin is list:
        return args[0]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    if origin is tuple and isinstance(part, int) and part < len(args):
        return args[part]
    return None


def _tag_of(member: Any) -> str | None:
    member = _unwrap(member)
    return member.__name__ if isinstance(member, type) else None


def _model_at(model: type[BaseModel], raw: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class validating the value at ``raw`` (a pydantic loc, tags included)."""
    tp: Any = model
    for part in raw:
        tp = _step(tp, part)
        if tp is None:
            return None
    tp = _unwrap(tp)
    return tp if _is_model(tp) else None


def _field_names(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _mapping_text(model: type[BaseModel] | None) -> str:
    if model is None:
        return "a mapping"
    required = [f.alias or n for n, f in model.model_fields.items() if f.is_required()]
    return f"a mapping with {', '.join(required)}" if required else "a mapping"


# --- wording --------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)


def _wording(err: _Error, model: type[BaseModel]) -> tuple[str, str | None, str | None]:
    """(message, hint, suggested key) of one resolved error, for a human."""
    kind, ctx, value = err.type, err.detail.get("ctx") or {}, err.detail.get("input")
    if kind == "extra_forbidden":
        key = str(err.raw[-1])
        fields = _field_names(_model_at(model, err.raw[:-1]))
        close = did_you_mean(key, fields)
        hint = f"did you mean {close!r}?" if close else f"allowed keys: {', '.join(fields)}"
        return f"unknown key {key!r}", hint, close
    if kind == "missing":
        return "required key missing", None, None
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in _PATTERNS:
        what, hint = _PATTERNS[ctx["pattern"]]
        return f"{_shown(value)} is not a valid {what}", hint, None
    message = str(err.detail["msg"])
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected {_mapping_text(_model_at(model, err.raw))}"
    elif kind in ("list_type", "tuple_type", "string_type"):
        message = f"expected {_SHAPE_WORDS[kind]}"
    elif kind == "too_short":
        count = ctx.get("min_length")
        message = f"needs at least {count} entr{'y' if count == 1 else 'ies'}"
    elif kind == "too_long":
        message = f"has {ctx.get('actual_length')} entries; at most {ctx.get('max_length')} allowed"
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    scalar = value is None or isinstance(value, str | int | float | bool)
    return message, (f"got {_shown(value)}" if scalar else None), None


def translate_errors(
    errors: Sequence[ErrorDetails],
    data: Any,
    model: type[BaseModel],
    locator: Locator,
    path: str,
) -> list[Finding]:
    """Pydantic errors → findings at the YAML keys, union noise collapsed, typos explained.

    A "required key missing" whose name is the did-you-mean of an unknown key in the same
    mapping is dropped: the typo finding already says what to fix.
    """
    resolved = _collapse([_Error(tuple(e["loc"]), dict(e)) for e in errors], data, model)
    # Pydantic drops invalid items before checking a length, so a list of bad items is also
    # "too short": the items' own errors say what to fix.
    inner = {err.loc[:n] for err in resolved for n in range(len(err.loc))}
    resolved = [e for e in resolved if not (e.type == "too_short" and e.loc in inner)]
    worded = [(err, *_wording(err, model)) for err in resolved]
    typos = {(err.loc[:-1], close) for err, _, _, close in worded if close}
    findings = []
    for err, message, hint, _ in worded:
        loc = err.loc
        if err.type == "missing" and loc and (loc[:-1], loc[-1]) in typos:
            continue
        findings.append(Finding(path, *locator.locate(loc), format_key(loc), message, hint))
    return findings


# --- what remains readable after shape errors -----------------------------------------------------


Path_ = tuple[str | int, ...]


def unreadable_parts(
    errors: Sequence[ErrorDetails], data: Any, model: type[BaseModel]
) -> set[Path_]:
    """The key paths to leave out so that the rest of ``data`` may validate as ``model``.

    An error's own key, except: a missing key takes its mapping with it (the mapping cannot be
    read without it), and a list item takes its whole list (removing one item would renumber
    the others and make the neighbours of a band or grade look wrong). The empty path means
    nothing of the file can be read.
    """
    parts: set[Path_] = set()
    for err in _collapse([_Error(tuple(e["loc"]), dict(e)) for e in errors], data, model):
        loc = err.loc
        if err.type == "missing" or not _exists(data, loc):
            loc = loc[:-1]
        while loc and not _exists(data, loc):
            loc = loc[:-1]
        while loc and isinstance(loc[-1], int):
            loc = loc[:-1]
        parts.add(loc)
    return parts


def without(data: Any, parts: set[Path_]) -> Any:
    """A copy of ``data`` with the values at ``parts`` removed (their keys or lists left out)."""
    if not parts:
        return data
    if () in parts:
        return None
    if isinstance(data, dict):
        return {
            key: without(value, {p[1:] for p in parts if p[0] == key})
            for key, value in data.items()
            if (key,) not in parts
        }
    if isinstance(data, list):
        return [without(item, {p[1:] for p in parts if p[0] == i}) for i, item in enumerate(data)]
    return data


def _exists(data: Any, loc: Sequence[str | int]) -> bool:
    for part in loc:
        if not _holds(data, part):
            return False
        data = data[part]
    return True


def is_section(model: type[BaseModel], key: str) -> bool:
    """Whether the top-level ``key`` of ``model`` is one sub-model (``scale``), not a collection."""
    return _model_at(model, (key,)) is not None
