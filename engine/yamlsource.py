"""YAML text → plain Python data that remembers where every key and list item was written.

Rules files are read with the YAML 1.2 *core* schema on top of PyYAML's safe composer: only text,
integers, floats, true/false, null, lists and mappings exist, so ``country: NO`` stays the text
``"NO"`` (YAML 1.1 would read ``false``) and a date stays text for pydantic to parse. Any other tag
(``!!python/object``, ``!!binary``, ``!custom``) is a finding; nothing is constructed from a tag and
nothing is executed.

Problems found while reading (syntax errors, duplicate keys, disallowed tags) are returned as
``Finding`` values, 1-based, so the loader can report them together with the validation findings.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import yaml
from yaml.composer import Composer
from yaml.reader import Reader
from yaml.resolver import Resolver

from rapport.engine.errors import Finding, RapportError

Loc = Sequence[str | int]

_CORE = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null"))
_SEQ, _MAP = f"{_CORE}seq", f"{_CORE}map"

#: Expanding aliases can multiply a small file (the "billion laughs"); past this many values the
#: file is refused rather than built.
MAX_VALUES = 100_000
#: Past this many YAML nodes written in the file, composing stops: it bounds the parse cost of one
#: file or request (the shipped scorecard has a few hundred).
MAX_NODES = 50_000
#: Past this many levels of nested lists and mappings, composing stops (a scorecard needs ~8).
MAX_DEPTH = 64
#: The largest rules file read by default (bytes), checked before any of it is parsed; the shell
#: passes its configured limit (``RAPPORT_MAX_RULES_BYTES``) instead.
MAX_RULES_BYTES = 1024 * 1024

_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")
_INT_RE = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$"
)


class _TooMuchYamlError(RapportError):
    """Internal: composing stopped at a limit; carries the position and what was exceeded."""

    def __init__(self, mark: yaml.Mark, message: str, hint: str) -> None:
        super().__init__(message)
        self.line, self.column = mark.line + 1, mark.column + 1
        self.message, self.hint = message, hint


def _libyaml_parser() -> Any:
    """libyaml's parser class (PyPI's PyYAML wheels are built with it), or None without it."""
    try:
        from yaml import cyaml  # noqa: PLC0415
    except ImportError:  # pragma: no cover - a PyYAML without libyaml: the pure-Python parser
        return None
    return getattr(cyaml, "CParser", None)


CParser: Any = _libyaml_parser()


class _Limits:
    """The composer's node and depth limits, and whether the document uses an alias: mixed into
    both loaders below (``compose_node`` wraps PyYAML's ``Composer.compose_node``)."""

    node_count = 0
    depth = 0
    #: Whether the document uses an alias (``*name``) anywhere.
    has_alias = False

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        composer = cast(Any, self)
        if composer.check_event(yaml.AliasEvent):
            self.has_alias = True
            return Composer.compose_node(composer, parent, index)
        mark = composer.peek_event().start_mark
        self.node_count += 1
        if self.node_count > MAX_NODES:
            message = f"the file holds more than {MAX_NODES} YAML values"
            raise _TooMuchYamlError(mark, message, "rules files are limited to keep checks fast")
        self.depth += 1
        if self.depth > MAX_DEPTH:
            hint = f"at most {MAX_DEPTH} levels of lists and mappings"
            raise _TooMuchYamlError(mark, "the YAML is nested too deeply", hint)
        try:
            return Composer.compose_node(composer, parent, index)
        finally:
            self.depth -= 1


class _CoreLoader(_Limits, yaml.SafeLoader):
    """PyYAML's safe scanner/parser/composer with the YAML 1.2 core schema's implicit types,
    refusing documents of more than ``MAX_NODES`` nodes or ``MAX_DEPTH`` levels as it composes.
    Its messages are the ones findings quote for a file that does not parse."""

    # A fresh dict, so the YAML 1.1 resolvers of SafeLoader (yes/no, timestamps, <<) are not used.
    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {}  # type: ignore[misc]


_CoreLoader.add_implicit_resolver(_BOOL, _BOOL_RE, list("tTfF"))
_CoreLoader.add_implicit_resolver(_NULL, _NULL_RE, ["~", "n", "N", ""])
_CoreLoader.add_implicit_resolver(_INT, _INT_RE, list("-+0123456789"))
_CoreLoader.add_implicit_resolver(_FLOAT, _FLOAT_RE, list("-+0123456789."))


if CParser is not None:

    class _FastLoader(_Limits, Composer, CParser, Resolver):  # type: ignore[misc]
        """libyaml's scanner and parser under the same composer, limits and resolvers as
        ``_CoreLoader``: the same nodes at the same positions, several times faster (a rules
        check reads every file of the directory). Used only for text that parses: any problem
        is diagnosed again by ``_CoreLoader``, whose messages the findings quote."""

        yaml_implicit_resolvers = _CoreLoader.yaml_implicit_resolvers

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Resolver.__init__(self)
            Composer.__init__(self)

        def compose_scalar_node(self, anchor: Any) -> yaml.ScalarNode:
            node = Composer.compose_scalar_node(self, anchor)
            node.style = node.style or None  # libyaml says '' where PyYAML says None: plain
            return node


def format_key(loc: Loc) -> str:
    """``("components", "resp", "curve", "bands", 1)`` → ``"components.resp.curve.bands[1]"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _position(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class Locator:
    """Answers "where in the file is this key path?" for one parsed document.

    ``locate`` walks the composed nodes, so positions exist for every key and item, including
    those reached through aliases (they point at the text the alias refers to).
    """

    def __init__(self, root: yaml.Node | None, entries: dict[int, dict[Any, yaml.Node]]) -> None:
        self._root = root
        self._entries = entries  # id(MappingNode) → constructed key → key node

    def locate(self, loc: Loc) -> tuple[int, int]:
        """1-based (line, column) of ``loc``, or of its deepest ancestor present in the file.

        A mapping entry is located at its key, a list item at the item itself; the empty path (or a
        path with no part present) is the start of the document.
        """
        node = self._root
        if node is None:
            return 1, 1
        found = _position(node)
        for part in loc:
            child = self._child(node, part)
            if child is None:
                break
            found, node = child
        return found

    def exists(self, loc: Loc) -> bool:
        """Whether every part of ``loc`` is written in the file."""
        node = self._root
        for part in loc:
            child = self._child(node, part) if node is not None else None
            if child is None:
                return False
            node = child[1]
        return node is not None

    def _child(self, node: yaml.Node, part: str | int) -> tuple[tuple[int, int], yaml.Node] | None:
        if isinstance(node, yaml.MappingNode):
            keys = self._entries.get(id(node), {})
            key_node = keys.get(part)
            if key_node is None:
                return None
            value = next(v for k, v in node.value if k is key_node)
            return _position(key_node), value
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            item = node.value[part] if 0 <= part < len(node.value) else None
            if item is not None:
                return _position(item), item
        return None


@dataclass(frozen=True)
class ParsedYaml:
    """One YAML document: its plain data (None when unreadable), locator and reading problems."""

    data: Any
    locator: Locator
    findings: tuple[Finding, ...]
    #: False when the text could not be turned into data at all (syntax error, too large).
    readable: bool = True
    #: Key paths (``format_key``) whose value could not be read as written (a disallowed tag, an
    #: invalid ``!!int``): the data holds the raw text there, and the finding already explains it.
    unreadable_values: frozenset[str] = frozenset()


def parse_yaml(text: str, path: str) -> ParsedYaml:
    """Parse ``text`` (the content of ``path``) into plain data plus positions and findings.

    Fatal problems (syntax errors, recursive or exploding aliases, nesting too deep) leave
    ``data`` None and ``readable`` False, with one finding; duplicate keys and disallowed tags are
    reported too, but the data is still built (the first of duplicate keys wins) so that the
    caller can go on and report the remaining problems.
    """
    try:
        root, has_alias = _compose(text)
    except yaml.YAMLError as error:
        return _unreadable(_syntax_finding(error, text, path))
    except _TooMuchYamlError as limit:
        return _unreadable(_fatal(path, limit.line, limit.column, limit.message, limit.hint))
    except RecursionError:
        return _unreadable(_fatal(path, 1, 1, "the YAML is nested too deeply"))
    builder = _Builder(path, has_alias)
    try:
        data = builder.build(root) if root is not None else None
    except _UnreadableYamlError as fatal:
        return _unreadable(fatal.finding)
    locator = Locator(root, builder.entries)
    return ParsedYaml(data, locator, tuple(builder.findings), True, frozenset(builder.unreadable))


def _compose(text: str) -> tuple[yaml.Node | None, bool]:
    """The document's root node (None when empty) and whether it uses aliases.

    Text that libyaml parses is composed by ``_FastLoader``; anything it refuses, and text with
    characters PyYAML's reader refuses, is composed again by ``_CoreLoader`` so that a problem is
    always reported in the same words (tests/rules/bad/ pins them)."""
    if CParser is not None and not Reader.NON_PRINTABLE.search(text):
        try:
            return _compose_with(_FastLoader, text)
        except (yaml.YAMLError, _TooMuchYamlError, RecursionError):
            pass
    return _compose_with(_CoreLoader, text)  # the reader rejects non-printable characters here


def _compose_with(loader_class: Any, text: str) -> tuple[yaml.Node | None, bool]:
    loader = loader_class(text)
    try:
        return loader.get_single_node(), loader.has_alias
    finally:
        loader.dispose()


def _unreadable(finding: Finding) -> ParsedYaml:
    return ParsedYaml(None, Locator(None, {}), (finding,), readable=False)


def _fatal(path: str, line: int, column: int, message: str, hint: str | None = None) -> Finding:
    return Finding(path, line, column, "", message, hint)


def _syntax_finding(error: yaml.YAMLError, text: str, path: str) -> Finding:
    """A syntax error at the mark PyYAML reports, with its context as the hint."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem, hint = error.problem or "unreadable text", None
        if error.context and problem.startswith("but "):
            # PyYAML splits "expected X, but found Y" across context and problem
            problem = f"{error.context}, {problem}"
        elif error.context and error.context_mark is not None:
            hint = f"{error.context} started at line {error.context_mark.line + 1}"
        return _fatal(path, line, column, f"invalid YAML: {problem}", hint)
    if isinstance(error, yaml.reader.ReaderError):
        before = text[: error.position]
        line = before.count("\n") + 1
        column = error.position - (before.rfind("\n") + 1) + 1
        code = error.character if isinstance(error.character, int) else ord(error.character)
        message = f"invalid YAML: character U+{code:04X} is not allowed"
        return _fatal(path, line, column, message)
    return _fatal(path, 1, 1, f"invalid YAML: {error}")


class _UnreadableYamlError(RapportError):
    """Internal: stops building data; carries the one finding that explains why."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(str(finding))
        self.finding = finding


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


class _Builder:
    """Turns composed nodes into plain data, once per node (aliases share the built value)."""

    def __init__(self, path: str, has_alias: bool) -> None:
        self.path = path
        self._has_alias = has_alias
        self.findings: list[Finding] = []
        self.entries: dict[int, dict[Any, yaml.Node]] = {}
        self._built: dict[int, Any] = {}
        self._sizes: dict[int, int] = {}
        self._in_progress: set[int] = set()
        self.unreadable: set[str] = set()

    def build(self, root: yaml.Node) -> Any:
        try:
            return self._node(root)
        except RecursionError:
            finding = _fatal(self.path, 1, 1, "the YAML is nested too deeply")
            raise _UnreadableYamlError(finding) from None

    def _problem(self, node: yaml.Node, loc: Loc, message: str, hint: str | None = None) -> None:
        self.findings.append(Finding(self.path, *_position(node), format_key(loc), message, hint))

    def _bad_value(self, node: yaml.Node, loc: Loc, message: str, hint: str | None = None) -> None:
        """A value kept as raw text because it cannot be read as written."""
        self.unreadable.add(format_key(loc))
        self._problem(node, loc, message, hint)

    def _node(self, node: yaml.Node, loc: tuple[str | int, ...] = ()) -> Any:
        key = id(node)
        if key in self._built:
            return self._built[key]
        if key in self._in_progress:
            line, column = _position(node)
            raise _UnreadableYamlError(_fatal(self.path, line, column, "an alias refers to itself"))
        self._in_progress.add(key)
        if isinstance(node, yaml.MappingNode):
            value, size = self._mapping(node, loc)
        elif isinstance(node, yaml.SequenceNode):
            value, size = self._sequence(node, loc)
        else:
            value, size = self._scalar(node, loc), 1
        self._in_progress.discard(key)
        self._built[key], self._sizes[key] = value, size
        if size > MAX_VALUES:
            # Only aliases make the built data larger than the nodes written, which the composer
            # already bounds; without them, say so plainly rather than blame aliases.
            if self._has_alias:
                message = f"the file expands to more than {MAX_VALUES} values through aliases"
                hint = "write the values out instead of repeating aliases"
            else:
                message = f"the file holds more than {MAX_VALUES} values"
                hint = "rules files are limited to keep checks fast"
            raise _UnreadableYamlError(_fatal(self.path, *_position(node), message, hint))
        return value

    def _mapping(self, node: yaml.MappingNode, loc: tuple[str | int, ...]) -> tuple[Any, int]:
        if node.tag != _MAP:
            self._bad_value(node, loc, f"tag {_short_tag(node.tag)!r} is not allowed", _PLAIN_HINT)
        result: dict[Any, Any] = {}
        keys: dict[Any, yaml.Node] = {}
        size = 1
        for key_node, value_node in node.value:
            key = self._key(key_node, loc)
            if key is _NO_KEY:
                continue
            if key in keys:
                hint = f"first at line {_position(keys[key])[0]}"
                self._problem(key_node, (*loc, key), f"duplicate key {key!r}", hint)
                continue
            keys[key] = key_node
            result[key] = self._node(value_node, (*loc, key))
            size += self._sizes[id(value_node)]
        self.entries[id(node)] = keys
        return result, size

    def _key(self, node: yaml.Node, loc: tuple[str | int, ...]) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self._problem(node, loc, "a key must be a plain value, not a list or mapping")
            return _NO_KEY
        if node.tag == _STR and node.style is None and node.value == "<<":
            self._problem(node, loc, "YAML merge keys (<<) are not supported", "write the keys out")
            return _NO_KEY
        key = self._scalar(node, loc)
        if isinstance(key, float) and math.isnan(key):
            self._problem(node, loc, "a key cannot be .nan")
            return _NO_KEY
        return key

    def _sequence(self, node: yaml.SequenceNode, loc: tuple[str | int, ...]) -> tuple[Any, int]:
        if node.tag != _SEQ:
            self._bad_value(node, loc, f"tag {_short_tag(node.tag)!r} is not allowed", _PLAIN_HINT)
        items = [self._node(item, (*loc, i)) for i, item in enumerate(node.value)]
        return items, 1 + sum(self._sizes[id(item)] for item in node.value)

    def _scalar(self, node: yaml.Node, loc: tuple[str | int, ...]) -> Any:
        text, tag = str(node.value), node.tag
        parsed = _parse_scalar(text, tag)
        if parsed is not _NO_KEY:
            return parsed
        if tag == _INT and _INT_RE.match(text):
            # Python refuses to turn more than sys.get_int_max_str_digits() digits into an int.
            digits = len(text.lstrip("+-"))
            message = f"a whole number of {digits} digits is too long"
            self._bad_value(node, loc, message, f"at most {sys.get_int_max_str_digits()} digits")
        elif tag in (_INT, _FLOAT, _BOOL, _NULL):
            kind = tag.removeprefix(_CORE)
            self._bad_value(node, loc, f"{text!r} is not a valid {kind}")
        else:
            self._bad_value(node, loc, f"tag {_short_tag(tag)!r} is not allowed", _PLAIN_HINT)
        return text


_PLAIN_HINT = "rules files hold only text, numbers, true/false, null, lists and mappings"
_NO_KEY: Any = object()


def _parse_scalar(text: str, tag: str) -> Any:
    """The core-schema value of a scalar with ``tag``; ``_NO_KEY`` when it cannot be one."""
    if tag == _STR:
        return text
    if tag == _NULL and _NULL_RE.match(text):
        return None
    if tag == _BOOL and _BOOL_RE.match(text):
        return text.lower() == "true"
    if tag == _INT and _INT_RE.match(text):
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        try:
            return int(text)
        except ValueError:  # more digits than Python converts; the caller reports it
            return _NO_KEY
    if tag == _FLOAT and _FLOAT_RE.match(text):
        lowered = text.lower()
        if lowered.endswith(".inf"):
            return -math.inf if lowered.startswith("-") else math.inf
        if lowered == ".nan":
            return math.nan
        return float(text)
    return _NO_KEY
