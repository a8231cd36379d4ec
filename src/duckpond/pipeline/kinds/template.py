"""``Template``: one text file per matched table or series, rendered with Jinja2.

::

    kind: Template
    name: pages
    spec:
      in_pattern: /reduce/bdock-down/*          # tables and series (stored or computed)
      out_pattern: $0.md                        # one output per match, named by its captures
      # or template_file: /etc/templates/page.md.j2 (a pond path) or host:///abs/page.md.j2
      template: |-
        {% raw -%}
        # {{ output.path }}
        {{ output.rows }} rows from {{ output.min_event_time }} to {{ output.max_event_time }}
        {% for c in output.columns %}- {{ c.name }} ({{ c.type }})
        {% endfor %}
        {% for f in output.files %}{{ f.file }}
        {% endfor %}
        {%- endraw %}
      partition: month                          # as pond export --partition (default month)
      format: parquet                           # as pond export --format (default parquet)

``pond apply`` first fills ``{{ key }}`` in the whole YAML file with its ``-v``
values, so an inline template sits in ``{% raw %}...{% endraw %}`` to reach the
resource as written; a ``template_file`` needs no such care.

For people who build their site with another generator (Observable Framework
pages, Hugo content): the output is a ``dynamic:dir`` at ``spec.path`` with one
file per match of ``in_pattern``, named by ``out_pattern`` with ``$0``, ``$1``...
replaced by the match's captures (each ``*`` and ``**`` of the pattern, left to
right).  Each file is the template rendered with:

- ``manifest``: the manifest ``pond export IN_PATTERN --partition P --format F``
  would write (``duckpond.ingest.partitioned.plan_export``), less the ``sha256`` and
  ``bytes`` of each file, which only writing can tell: ``outputs`` and ``files``,
  so a page can name the exported files it loads (``data/a.series/year=2025/...``);
- ``output``: this match's record in ``manifest.outputs`` (``path``, ``type``,
  ``dir``, ``timestamp_column``, ``schema``, ``rows``, ``min_event_time``,
  ``max_event_time``) with ``columns`` (the schema, ``[{name, type}]``), ``files``
  (its file records: ``file``, ``partition``, ``start``, ``end``, ``rows``...),
  ``name`` (the output file's name) and ``captures``;
- ``outputs``: every match's ``output``, in path order (for links between pages);
- ``path``: the rendered file's pond path.

Times are ISO 8601 in UTC.  Templates run in a bounded, immutable Jinja2 sandbox
(``duckpond.pipeline.templating``): undefined names are an error, a render is
limited in steps, time and value sizes, and ``include``, ``extends`` and
``import`` are refused (a template is one file: shared parts go in it as
macros); ``tojson`` gives JSON for script blocks.  A ``template_file`` in the
pond is an input like the matched data; a host file (``host:///...``) is an input
by its content (size, mtime and hash, checked at every lookup), so editing it
recomputes the pages that use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from ...errors import ConfigError
from ...tinyfs import DYNAMIC_DIR, KIND_DATA, WD, FactoryContext, NodePath, Output
from ..documents import PondPath, PondPattern, StrictModel
from . import Kind, register_kind

if TYPE_CHECKING:
    import jinja2
    import pyarrow as pa

_CAPTURE = re.compile(r"\$(\d+)")
_HOST = "host://"


def _captures_in(pattern: str) -> int:
    from ...tinyfs import paths as tpaths
    from ...tinyfs.glob import compile_pattern

    return sum(segment.captures for segment in compile_pattern(tpaths.split(pattern)))


def _compile(text: str, origin: str) -> jinja2.Template:
    """``text`` as a bounded, sandboxed template; ``ConfigError`` naming ``origin`` and the line."""
    from ..templating import compile_template

    return compile_template(text, origin)


class TemplateSpec(StrictModel):
    """``in_pattern`` -> one file per match named ``out_pattern``, rendered from a template."""

    in_pattern: PondPattern
    out_pattern: str = Field(min_length=1)
    template: str | None = None
    template_file: str | None = None
    partition: Literal["year", "month"] = "month"
    format: Literal["parquet", "csv"] = "parquet"
    path: PondPath

    @field_validator("template_file")
    @classmethod
    def _check_file(cls, value: str | None) -> str | None:
        if value is None or value.startswith("/"):
            return value
        if value.startswith(_HOST + "/"):
            return value
        raise ValueError(
            f"a template_file is a pond path (/templates/page.md.j2) or a host file written "
            f"host:///abs/path, not {value!r}"
        )

    @field_validator("template")
    @classmethod
    def _check_template(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                _compile(value, "template")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _check_names(self) -> TemplateSpec:
        if (self.template is None) == (self.template_file is None):
            raise ValueError("give exactly one of template and template_file")
        if "/" in self.out_pattern:
            raise ValueError(f"out_pattern is a file name, without '/': {self.out_pattern!r}")
        available = _captures_in(self.in_pattern)
        for m in _CAPTURE.finditer(self.out_pattern):
            if int(m.group(1)) >= available:
                raise ValueError(
                    f"out_pattern: ${m.group(1)} names no capture of in_pattern "
                    f"(it has {available}: $0..${available - 1})"
                    if available
                    else f"out_pattern: ${m.group(1)} names no capture (in_pattern has no '*')"
                )
        return self


def template_inputs(spec: TemplateSpec) -> list[str]:
    """The pond patterns a Template reads (for the dependency order)."""
    found = [spec.in_pattern]
    if spec.template_file is not None and spec.template_file.startswith("/"):
        found.append(spec.template_file)
    return found


def _host_template_problems(spec: TemplateSpec) -> list[tuple[str, str]]:
    """A host template file that is missing or does not compile, found at apply."""
    if spec.template_file is None or not spec.template_file.startswith(_HOST):
        return []
    host = Path(spec.template_file[len(_HOST) :])
    try:
        text = host.read_text(encoding="utf-8")
    except OSError as exc:
        return [("template_file", f"cannot read {host}: {exc.strerror or exc}")]
    try:
        _compile(text, str(host))
    except ConfigError as exc:
        return [("template_file", str(exc))]
    return []


def _pond_template_problems(spec: TemplateSpec, root: WD) -> list[tuple[str, str]]:
    """A pond template file that exists at apply and does not compile (include...)."""
    source = spec.template_file
    if source is None or not source.startswith("/") or not root.exists(source):
        return []
    np = root.get(source)
    if not np.is_file():
        return [("template_file", f"{source} is not a file")]
    try:
        _compile(np.read_bytes().decode("utf-8"), source)
    except UnicodeDecodeError:
        return [("template_file", f"{source} is not UTF-8 text")]
    except ConfigError as exc:
        return [("template_file", str(exc))]
    return []


def _name_of(pattern: str, captures: tuple[str, ...], origin: str) -> str:
    def one(m: re.Match[str]) -> str:
        index = int(m.group(1))
        if index >= len(captures):
            raise ConfigError(
                f"{origin}: ${index} names no capture (the match has {len(captures)})"
            )
        return captures[index]

    return _CAPTURE.sub(one, pattern)


@dataclass(frozen=True)
class _Match:
    np: NodePath
    captures: tuple[str, ...]


class TemplateDir:
    """A Template's ``DirOutput``: one entry per match, each rendered on demand.

    The matches, the manifest and the template are computed once per read of the
    directory (this object lives as long as the FS state it was made for) and shared
    by every entry, so rendering N pages reads the matched data once.
    """

    def __init__(self, spec: TemplateSpec, ctx: FactoryContext) -> None:
        self.spec = spec
        self.ctx = ctx
        self._matches: dict[str, _Match] | None = None
        self._context: dict[str, Any] | None = None
        self._template: jinja2.Template | None = None

    def _by_name(self) -> dict[str, _Match]:
        if self._matches is None:
            root = self.ctx.root
            found: dict[str, _Match] = {}
            for m in root.glob(self.spec.in_pattern):
                np = m.node_path
                if np.is_symlink():
                    try:
                        np = NodePath(root.get(np.path).node, np.path)
                    except OSError:
                        continue
                if not (np.is_file() and np.is_tabular()):
                    continue
                name = _name_of(self.spec.out_pattern, m.captures, self.ctx.path)
                if not name or "/" in name or name in (".", ".."):
                    raise ConfigError(
                        f"{self.ctx.path}: {np.path} would be named {name!r} "
                        "(out_pattern names one file; a '**' capture may hold '/')"
                    )
                other = found.setdefault(name, _Match(np, m.captures))
                if other.np.path != np.path:
                    raise ConfigError(
                        f"{self.ctx.path}: {other.np.path} and {np.path} are both named {name!r} "
                        "(use a capture such as $0 in out_pattern)"
                    )
            self._matches = found
        return self._matches

    def entries(self) -> Mapping[str, str]:
        return {name: KIND_DATA for name in self._by_name()}

    def child(self, name: str, ctx: FactoryContext) -> Output:
        return _Page(self, name, ctx)

    def render(self, name: str, ctx: FactoryContext) -> bytes:
        from ..templating import render

        context = self._shared()
        output = next(o for o in context["outputs"] if o["name"] == name)
        template = self._compiled(ctx)
        text = render(
            template, {**context, "output": output, "path": ctx.path}, f"{ctx.path}: template"
        )
        return text.encode("utf-8")

    def _shared(self) -> dict[str, Any]:
        """``manifest`` and ``outputs``: what every page of the directory shares."""
        if self._context is None:
            from ...ingest.partitioned import plan_export

            matches = self._by_name()
            ordered = sorted(matches.items(), key=lambda item: item[1].np.path)
            manifest = plan_export(
                [m.np for _, m in ordered],
                self._read,
                partition=self.spec.partition,
                format=self.spec.format,
            )
            by_path = {o["path"]: o for o in manifest["outputs"]}
            outputs = []
            for name, match in ordered:
                record = dict(by_path[match.np.path])
                record["columns"] = record["schema"]
                record["files"] = [f for f in manifest["files"] if f["path"] == match.np.path]
                record["name"] = name
                record["captures"] = list(match.captures)
                outputs.append(record)
            self._context = {"manifest": manifest, "outputs": outputs}
        return self._context

    def _read(
        self, path: str, start: datetime | None, end: datetime | None
    ) -> pa.RecordBatchReader:
        from ...query.engine import cat

        root = self.ctx.root
        return cat(root, path, start=start, end=end, persistence=root.fs.persistence)

    def _compiled(self, ctx: FactoryContext) -> jinja2.Template:
        source = self.spec.template_file
        if source is not None and source.startswith(_HOST):
            # A host file is no pond node: the page is keyed by what the file holds now
            # (its size, mtime and content hash), checked again at every lookup.
            from ..cache import HOST_INPUT, host_version

            host_path = source[len(_HOST) :]
            ctx.record_input(f"{HOST_INPUT}{host_path}", host_version(host_path))
        if self._template is None:
            if self.spec.template is not None:
                self._template = _compile(self.spec.template, f"{self.ctx.path}: template")
            else:
                assert source is not None
                if source.startswith(_HOST):
                    host = Path(source[len(_HOST) :])
                    text = host.read_text(encoding="utf-8")
                else:
                    text = self.ctx.root.get(source).read_bytes().decode("utf-8")
                self._template = _compile(text, f"{self.ctx.path}: {source}")
        return self._template


@dataclass
class _Page:
    """One rendered file of a ``TemplateDir``."""

    owner: TemplateDir
    name: str
    ctx: FactoryContext

    def read_bytes(self) -> bytes:
        return self.owner.render(self.name, self.ctx)


def template_output(spec: TemplateSpec, ctx: FactoryContext) -> Output:
    """A Template resource's output: a directory of one rendered file per match."""
    return TemplateDir(spec, ctx)


register_kind(
    Kind(
        "Template",
        "derivation",
        TemplateSpec,
        inputs=template_inputs,
        check=_host_template_problems,
        check_pond=_pond_template_problems,
        output=template_output,
        output_type=lambda spec: DYNAMIC_DIR,
    )
)
