"""Resource documents: the YAML users write, validated into typed models.

A file holds one or more documents separated by ``---``::

    apiVersion: duckpond/v1
    kind: Inbox
    name: loggers
    desc: CSV files the loggers drop
    spec: {pattern: /srv/inbox/*.csv, format: series}

Before parsing, a file is rendered with Jinja2 so that ``{{ key }}`` takes
the value of ``-v key=value`` (an undefined variable is an error).  Every
model forbids unknown fields.  Every error is one ``DocumentError`` line
naming the file, the document (its 1-based index and name) and the field:
``noyo.yaml: document 2 (bdock): spec.inputs.0.scope: field required``.
"""

from __future__ import annotations

import json
import os
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
)

from ..errors import ConfigError, GlobError, InvalidPathError
from ..tinyfs import paths as tpaths
from ..tinyfs.glob import compile_pattern, has_wildcard

if TYPE_CHECKING:
    from .kinds import Kind

API_VERSION = "duckpond/v1"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
NAME_MAX = 63


class DocumentError(ConfigError):
    """A document that cannot be applied; the message names file, document and field."""


class StrictModel(BaseModel):
    """Base of every document model: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# -- small typed fields ------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: Any) -> timedelta:
    """``"15m"``, ``"1h"``, ``"1d"``, ``"7d"`` (units s, m, h, d, w) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    m = _DURATION.match(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(
            f"not a duration: {value!r} (write a whole number and a unit s, m, h, d or w: 15m, 1h, 7d)"
        )
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def format_duration(value: timedelta) -> str:
    """The shortest way to write a duration: 3600 s is ``1h``."""
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(s|m|h|d|w)$"}),
]
"""A duration written ``15m``, ``1h``, ``1d``, ``7d``; stored in its shortest form."""


def checked_by(module: str, function: str) -> AfterValidator:
    """A field validator keeping a text that ``module.function`` parses; its
    ``ConfigError`` becomes the field's error (pydantic names the field).  The module is
    imported on first use, so loading a resource does not import Arrow."""
    import importlib

    def check(value: str) -> str:
        parse = getattr(importlib.import_module(module), function)
        try:
            parse(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    return AfterValidator(check)


def _check_components(pattern: str) -> None:
    try:
        compile_pattern(tpaths.split(pattern))
    except (GlobError, InvalidPathError) as exc:
        raise ValueError(str(exc)) from None


def validate_pond_path(value: Any) -> str:
    """An absolute pond path without wildcards, normalised (no ``.``, ``..``, trailing ``/``)."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(f"a pond path starts with '/': {value!r}")
    if has_wildcard(value):
        raise ValueError(f"a pond path has no wildcards: {value!r}")
    try:
        return tpaths.join(tpaths.normalize(value))
    except InvalidPathError as exc:
        raise ValueError(str(exc)) from None


def validate_pond_pattern(value: Any) -> str:
    """An absolute pond glob (``*``, ``?``, ``[...]``, ``**``) that compiles."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(f"a pond pattern starts with '/': {value!r}")
    _check_components(value)
    return value


def validate_host_glob(value: Any) -> str:
    """An absolute host path glob that compiles; ``~`` is expanded."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a host glob is a non-empty string")
    expanded = os.path.expanduser(str(value))
    if not expanded.startswith("/"):
        raise ValueError(f"a host glob is an absolute path: {expanded!r}")
    _check_components(expanded)
    return expanded


def host_glob_base(pattern: str) -> Path:
    """The directory of a host glob before its first wildcard."""
    static: list[str] = []
    for part in tpaths.split(pattern):
        if has_wildcard(part):
            break
        static.append(part)
    else:
        static = static[:-1]
    return Path("/", *static)


PondPath = Annotated[str, BeforeValidator(validate_pond_path)]
PondPattern = Annotated[str, BeforeValidator(validate_pond_pattern)]
HostGlob = Annotated[str, BeforeValidator(validate_host_glob)]
Name = Annotated[str, Field(pattern=NAME_PATTERN, min_length=1, max_length=NAME_MAX)]


# -- the envelope ------------------------------------------------------------------


class Envelope(StrictModel):
    """What every document has; ``spec`` is checked by its kind's model."""

    apiVersion: Literal["duckpond/v1"]
    kind: str
    name: Name
    desc: str | None = None
    spec: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """Where a document came from, for error messages."""

    file: str
    index: int
    name: str | None

    def where(self) -> str:
        named = f" ({self.name})" if self.name else ""
        return f"{self.file}: document {self.index}{named}"


@dataclass(frozen=True)
class Document:
    """A validated document: its kind's entry and its spec model."""

    kind: Kind
    name: str
    desc: str | None
    spec: BaseModel
    source: Source

    @property
    def path(self) -> str | None:
        """Where the resource's output lives (None for a publisher without one)."""
        value = getattr(self.spec, "path", None)
        return value if isinstance(value, str) else None

    def as_json(self) -> dict[str, Any]:
        """The document as stored: secrets as written, defaults filled in."""
        out: dict[str, Any] = {"apiVersion": API_VERSION, "kind": self.kind.name, "name": self.name}
        if self.desc is not None:
            out["desc"] = self.desc
        out["spec"] = self.spec.model_dump(mode="json")
        return out

    def canonical(self) -> bytes:
        """Canonical JSON bytes: sorted keys, no spaces, UTF-8."""
        return canonical_json(self.as_json())


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _field(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc) or "(document)"


_MESSAGES = {
    "missing": "field required",
    "extra_forbidden": "unknown field",
    "unexpected_keyword_argument": "unknown field",
}


def _keys_at(model: Any, loc: Sequence[int | str]) -> list[str]:
    """The field names of the model (or dataclass) that ``loc`` reaches from ``model``
    through fields, list items and mapping values; [] where it reaches none."""
    import dataclasses
    import typing

    def fields_of(kind: Any) -> dict[str, Any] | None:
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            return {name: f.annotation for name, f in kind.model_fields.items()}
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            try:
                hints = typing.get_type_hints(kind)
            except (NameError, TypeError):
                hints = {}
            return {f.name: hints.get(f.name) for f in dataclasses.fields(kind)}
        return None

    def choices(kind: Any) -> list[Any]:
        # Optional, unions and Annotated: every type the value may be.
        origin = typing.get_origin(kind)
        if origin is typing.Annotated:
            return choices(typing.get_args(kind)[0])
        if origin is typing.Union or isinstance(kind, types.UnionType):
            return [c for arg in typing.get_args(kind) for c in choices(arg)]
        return [kind]

    current = [model]
    for part in loc:
        following: list[Any] = []
        for kind in (c for k in current for c in choices(k)):
            known = fields_of(kind)
            origin, args = typing.get_origin(kind), typing.get_args(kind)
            if known is not None and isinstance(part, str) and part in known:
                following.append(known[part])
            elif origin in (list, tuple, set, frozenset) and isinstance(part, int) and args:
                following.append(args[0])
            elif origin is dict and isinstance(part, str) and len(args) == 2:
                following.append(args[1])
        current = following
    return [name for k in current for c in choices(k) for name in fields_of(c) or {}]


def describe_validation(exc: ValidationError, prefix: Sequence[str] = (), model: Any = None) -> str:
    """Every error of a pydantic error as ``field: message``, joined by ``; ``, never
    quoting input values; an unknown field says "did you mean" the closest field of
    ``model`` (the model validated) at its place, or near a missing one.

    Input values are left out because a secret field's input may be a literal secret.
    A misspelled field is both an unknown field and a missing one: showing only the
    first would hide the cause.
    """
    import difflib

    errors = exc.errors(include_url=False, include_input=False)
    missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing" and e["loc"]]
    parts: list[str] = []
    for error in errors:
        message = _MESSAGES.get(error["type"]) or error["msg"]
        loc = list(error["loc"])
        if error["type"] == "value_error":
            message = message.removeprefix("Value error, ")
            cause = error.get("ctx", {}).get("error")
            field = getattr(cause, "field", None)
            if isinstance(field, str):
                # A model checked as a whole (ingest's CopyOptions) names the field in its error.
                loc.append(field)
                message = str(getattr(cause, "problem", message))
        elif error["type"] == "string_pattern_mismatch" and tuple(error["loc"]) == ("name",):
            message = f"a name is lower-case letters, digits, '-' and '_', starting {NAME_PATTERN}"
        elif error["type"] in ("extra_forbidden", "unexpected_keyword_argument") and loc:
            # A key missing beside it first (the misspelling of a required one), else
            # the closest key that place takes (time_zone: timezone; colums: columns).
            known = _keys_at(model, loc[:-1]) if model is not None else []
            close = difflib.get_close_matches(str(loc[-1]), missing, n=1) or (
                difflib.get_close_matches(str(loc[-1]), known, n=1)
            )
            if close:
                message += f" (did you mean {close[0]}?)"
        message = message[:1].lower() + message[1:]
        parts.append(f"{_field([*prefix, *loc])}: {message}")
    return "; ".join(dict.fromkeys(parts))


# -- loading -----------------------------------------------------------------------


def render(text: str, variables: Mapping[str, str], file: str) -> str:
    """``{{ key }}`` replaced by ``variables[key]``; ``DocumentError`` otherwise.

    Substitution only (``templating.substitute``): reading a resource file never
    runs code, whatever it holds.
    """
    if not any(mark in text for mark in ("{{", "{%", "{#")):
        # Nothing to render: spare the Jinja2 import and compile (about 0.1 s).
        return text
    from .templating import substitute

    try:
        return substitute(text, variables, file)
    except ConfigError as exc:
        m = re.fullmatch(r"undefined variable '(.+)'", str(exc))
        if m is None:
            raise DocumentError(str(exc)) from None
        name = m.group(1)
        raise DocumentError(
            f"{file}: undefined variable '{name}' (give it with -v {name}=VALUE)"
        ) from None


MAX_FILE_BYTES = 16 * 1024 * 1024
"""The largest resource file ``pond apply`` reads."""
MAX_NODES = 1_000_000
"""Values one document may hold, counting each alias as a copy of what it names."""
MAX_DEPTH = 64
"""How deep mappings and lists may nest in one document."""


class _YamlProblem(Exception):
    """A document that loads as YAML but is not acceptable data (turned into a DocumentError)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def _loader(text: str) -> Any:
    """A safe YAML loader over ``text`` that refuses what a resource file has no use for.

    Safe loading only (no Python tags); a duplicate key at any level, a key
    that is not a string, aliases that expand past ``MAX_NODES`` values (the
    "billion laughs"), an alias to itself and nesting deeper than ``MAX_DEPTH``
    are ``_YamlProblem`` errors naming the line.  libyaml's loader when
    PyYAML has it: the Python one took 0.5 s for 50 documents.
    """
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class StrictLoader(base):  # type: ignore[misc]
        def construct_document(self, node: yaml.Node) -> Any:
            _check_expansion(node)
            return super().construct_document(node)

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if not isinstance(key, str):
                    shown = repr(key) if len(repr(key)) <= 60 else f"{repr(key)[:57]}..."
                    hint = " (quote it)" if isinstance(key_node, yaml.ScalarNode) else ""
                    raise _YamlProblem(line, f"key {shown} is not a string{hint}")
                if key in seen:
                    shown = repr(key) if len(repr(key)) <= 60 else f"{repr(key)[:57]}..."
                    raise _YamlProblem(line, f"duplicate key {shown} (first on line {seen[key]})")
                seen[key] = line
            return super().construct_mapping(node, deep=deep)

    return StrictLoader(text)


def _check_expansion(root: Any) -> None:
    """``_YamlProblem`` for a document too deep, too large once aliases expand, or recursive."""
    import yaml

    weights: dict[int, int] = {}
    # Iterative post-order walk: (node, depth, children done?).
    stack: list[tuple[Any, int, bool]] = [(root, 1, False)]
    open_nodes: set[int] = set()
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            children = _children(node)
            total = 1 + sum(weights[id(c)] for c in children)
            if total > MAX_NODES:
                raise _YamlProblem(
                    node.start_mark.line + 1,
                    f"aliases expand to more than {MAX_NODES:,} values",
                )
            weights[key] = total
            continue
        if key in weights:
            continue
        if key in open_nodes:
            raise _YamlProblem(node.start_mark.line + 1, "an alias refers to itself")
        if depth > MAX_DEPTH:
            raise _YamlProblem(
                node.start_mark.line + 1, f"values nest deeper than {MAX_DEPTH} levels"
            )
        if isinstance(node, yaml.ScalarNode):
            weights[key] = 1
            continue
        open_nodes.add(key)
        stack.append((node, depth, True))
        for child in _children(node):
            stack.append((child, depth + 1, False))


def _children(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def parse_file(path: str, variables: Mapping[str, str]) -> list[tuple[int, Any]]:
    """The raw documents of one file, rendered and parsed: ``(1-based index, value)``.

    ``DocumentError`` naming the file (and the document and line where YAML
    tells) for a file too large, not UTF-8, not valid YAML, or holding what
    ``_loader`` refuses.
    """
    import yaml

    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except IsADirectoryError:
        raise IsADirectoryError(21, "is a directory, not a resource file", path) from None
    if len(data) > MAX_FILE_BYTES:
        raise DocumentError(f"{path}: a resource file is at most {MAX_FILE_BYTES >> 20} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DocumentError(f"{path}: not a UTF-8 text file") from None
    rendered = render(text, variables, path)
    loader = _loader(rendered)
    docs: list[Any] = []
    try:
        while loader.check_data():
            docs.append(loader.get_data())
    except _YamlProblem as exc:
        raise DocumentError(f"{path}: document {len(docs) + 1}: line {exc.line}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise DocumentError(
            f"{path}: document {len(docs) + 1}: {line}not valid YAML: {' '.join(problem.split())}"
        ) from None
    except RecursionError:
        raise DocumentError(f"{path}: document {len(docs) + 1}: nested too deeply") from None
    finally:
        loader.dispose()
    return [(i, doc) for i, doc in enumerate(docs, 1) if doc is not None]


def validate_document(raw: Any, source: Source) -> Document:
    """One raw document as a ``Document``; ``DocumentError`` naming the field otherwise."""
    from .kinds import get_kind

    if not isinstance(raw, dict):
        raise DocumentError(f"{source.where()}: a document is a mapping of fields")
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        raise DocumentError(f"{source.where()}: {describe_validation(exc, (), Envelope)}") from None
    try:
        kind = get_kind(envelope.kind)
    except ConfigError as exc:
        raise DocumentError(f"{source.where()}: kind: {exc}") from None
    spec_input = dict(envelope.spec)
    if "path" in kind.spec_model.model_fields and spec_input.get("path") is None:
        spec_input["path"] = kind.default_path(envelope.name)
    try:
        spec = kind.spec_model.model_validate(spec_input)
    except ValidationError as exc:
        said = describe_validation(exc, ("spec",), kind.spec_model)
        raise DocumentError(f"{source.where()}: {said}") from None
    return Document(kind, envelope.name, envelope.desc, spec, source)


def load_documents(
    files: Sequence[str | os.PathLike[str]], variables: Mapping[str, str] | None = None
) -> list[Document]:
    """Every document of every file, validated (stops at the first error).

    Raises ``DocumentError`` for a bad document, ``FileNotFoundError`` for a missing file.
    """
    out: list[Document] = []
    for file in files:
        shown = os.fspath(file)
        for index, raw in parse_file(shown, variables or {}):
            name = raw.get("name") if isinstance(raw, dict) else None
            source = Source(shown, index, name if isinstance(name, str) else None)
            out.append(validate_document(raw, source))
    return out


def load_stored(content: bytes, name: str) -> Document:
    """A document as stored at ``/etc/resources/<name>`` (validated again by its kind)."""
    return validate_document(json.loads(content), Source(f"/etc/resources/{name}", 1, name))
