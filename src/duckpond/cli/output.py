"""One output interface, two implementations: human text and ``--json``.

A command hands each kind of result to its own method (``entries``, ``log``,
``history``, ``describe``, ``rows``...); ``TextOutput`` prints what a person reads,
``JsonOutput`` what a script parses (docs/architecture.md: keys may be added, never renamed).
Human notes go to stdout in text mode and to stderr in JSON mode, so stdout stays
parseable.  Heavy libraries (pyarrow, rich) are imported only by the methods that
print rows.
"""

from __future__ import annotations

import json
import shutil
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TypeVar

import click

from ..printable import escape_controls

if TYPE_CHECKING:
    import pyarrow as pa

    from ..pond import CopyResult, Entry
    from ..tinyfs import VersionInfo
    from ..tlogfs import TxnRecord


class HasPath(Protocol):
    @property
    def path(self) -> str: ...


N = TypeVar("N", bound=HasPath)


@contextmanager
def _sink(output_file: str | None) -> Iterator[BinaryIO]:
    if output_file is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with open(output_file, "wb") as fh:
        yield fh


def _log_rows(transactions: Sequence[TxnRecord]) -> list[dict[str, Any]]:
    return [t.to_json() for t in transactions]


def _history_rows(versions: Sequence[VersionInfo]) -> list[dict[str, Any]]:
    from ..timeparse import iso

    rows = []
    for v in versions:
        row: dict[str, Any] = {
            "version": v.version,
            "txn_seq": v.txn_seq,
            "timestamp": iso(v.timestamp),
            "size": v.size,
            "sha256": v.sha256,
        }
        # A version `pond maintain --keep` made of older ones says which it replaced.
        merged = v.attributes.get("consolidated")
        if isinstance(merged, dict) and isinstance(merged.get("versions"), list):
            row["consolidated"] = merged["versions"]
        rows.append(row)
    return rows


class Output(ABC):
    """Prints what a command produced, one method per kind of result."""

    json_mode = False

    @abstractmethod
    def message(self, text: str) -> None:
        """A human note (not data)."""

    @abstractmethod
    def entries(self, nodes: Sequence[N], entry: Callable[[N], Entry], *, long: bool) -> None:
        """``pond list``: the listed nodes; ``entry`` gives a node's details when shown."""

    @abstractmethod
    def log(self, transactions: Sequence[TxnRecord]) -> None:
        """``pond log``: transactions, newest first."""

    @abstractmethod
    def history(self, versions: Sequence[VersionInfo]) -> None:
        """``pond history``: the versions of one node."""

    @abstractmethod
    def describe(self, described: Sequence[Mapping[str, Any]]) -> None:
        """``pond describe``: one record per described node or URL."""

    @abstractmethod
    def copied_in(self, result: CopyResult) -> None:
        """``pond copy`` into the pond."""

    @abstractmethod
    def copied_out(self, written: Sequence[Path], dest: str) -> None:
        """``pond copy`` out to a host directory."""

    @abstractmethod
    def report(self, record: Mapping[str, Any], summary: str) -> None:
        """A maintenance report (``recover``, ``fsck``): its record and its summary."""

    @abstractmethod
    def run_summary(self, runs: Sequence[Mapping[str, Any]]) -> None:
        """The pipeline's run table: one record per resource run (name, status, ...)."""

    @abstractmethod
    def data(self, value: Any, *, text: str | None = None) -> None:
        """A result with no method of its own yet: ``value`` as JSON, else ``text``.

        A kind of result that commands print more than once deserves its own method.
        """

    def rows(
        self, result: pa.Table | pa.RecordBatchReader, fmt: str | None, output_file: str | None
    ) -> None:
        """Query results: a preview table by default, every row with ``fmt``."""
        from ..pond import preview_rows, write_rows

        if fmt is None:
            if self.json_mode:
                fmt = "json"
            elif output_file is not None:
                fmt = "csv"
            else:
                self._print_table(preview_rows(result), None)
                return
        if fmt == "table":
            self._print_table(preview_rows(result, limit=sys.maxsize), output_file)
            return
        with _sink(output_file) as out:
            write_rows(result, fmt, out)

    def raw(self, data: bytes, output_file: str | None) -> None:
        """A file's bytes, unchanged, to stdout or ``output_file``."""
        with _sink(output_file) as out:
            out.write(data)

    @staticmethod
    def _print_table(table: Any, output_file: str | None) -> None:
        from rich.console import Console

        if output_file is None:
            Console(soft_wrap=True).print(table)
            return
        with open(output_file, "w", encoding="utf-8") as fh:
            Console(file=fh, soft_wrap=True, color_system=None).print(table)


def _line(text: str = "") -> None:
    """Print one line of text output, control characters escaped."""
    click.echo(escape_controls(text))


def line(text: str = "", *, err: bool = False) -> None:
    """Print one line for a person (stdout, or stderr with ``err``), control characters
    escaped: every line that may hold a host path, a pond name or an error goes here."""
    click.echo(escape_controls(text), err=err)


def cell(value: object) -> str:
    """``value`` as a rich table cell: control characters escaped and rich markup
    (``[red]`` in a file name) taken literally."""
    from rich.markup import escape

    return escape(escape_controls("" if value is None else str(value)))


class TextOutput(Output):
    """What a person reads."""

    def message(self, text: str) -> None:
        _line(text)

    def entries(self, nodes: Sequence[N], entry: Callable[[N], Entry], *, long: bool) -> None:
        if not long:
            for np in nodes:
                _line(np.path)
            return
        # Sizes are the latest version's; ``describe`` gives a series' total.
        _line(f"{'type':<13} {'latest size':>12} {'vers':<5} {'modified':<19}  path")
        for np in nodes:
            e = entry(np)
            stamp = e.timestamp.strftime("%Y-%m-%d %H:%M:%S")
            _line(f"{e.type:<13} {e.size:>12} v{e.version:<4} {stamp}  {e.path}")

    def log(self, transactions: Sequence[TxnRecord]) -> None:
        for r in _log_rows(transactions):
            command = r["command"]
            command = " ".join(command) if isinstance(command, list) else str(command)
            changes = "" if r.get("changes") is None else f"{r['changes']} changes"
            # Its metadata is kept, its state is not (pond maintain --keep).
            gone = "  (content removed)" if r.get("content_removed") else ""
            _line(
                f"{r['txn_seq']:>6}  {r['timestamp']}  {r['user'] or ''}  {changes:>11}  "
                f"{command}{gone}"
            )

    def history(self, versions: Sequence[VersionInfo]) -> None:
        for r in _history_rows(versions):
            merged = r.get("consolidated")
            note = f"  (consolidated: versions {merged[0]} to {merged[-1]})" if merged else ""
            _line(
                f"v{r['version']:<4} txn {r['txn_seq']:<6} {r['timestamp']}  {r['size']:>12}  "
                f"{r['sha256'][:16]}{note}"
            )

    def describe(self, described: Sequence[Mapping[str, Any]]) -> None:
        for i, d in enumerate(described):
            if i:
                click.echo()
            self._describe_one(d)

    @staticmethod
    def _describe_one(d: Mapping[str, Any]) -> None:
        _line(d["path"])
        _line(f"  type:     {d['type']}")
        if d.get("size") is not None:
            scope = f" ({d['size_of']})" if d.get("size_of") else ""
            _line(f"  size:     {d['size']} bytes{scope}")
        if d.get("versions") is not None:
            _line(f"  versions: {d['versions']}")
        if d.get("rows") is not None:
            stored = d.get("stored_rows")
            extra = f" ({stored} stored)" if stored is not None and stored != d["rows"] else ""
            _line(f"  rows:     {d['rows']}{extra}")
        if d.get("min_event_time"):
            _line(f"  events:   {d['min_event_time']} .. {d['max_event_time']}")
        if d.get("timestamp_column"):
            _line(f"  time col: {d['timestamp_column']}")
        for key, title in (("preamble", "above the header"), ("below_header", "under it")):
            if d.get(key):
                # The file's own lines: escaped like any name (_line), one per line.
                _line(f"  {title}:")
                for text in d[key]:
                    _line(f"    {text}")
        if d.get("document"):
            import yaml

            _line("  document:")
            # In the order people write documents, not the stored (sorted) order.
            order = ("apiVersion", "kind", "name", "desc", "spec")
            document = {k: d["document"][k] for k in order if k in d["document"]}
            text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
            for line in text.splitlines():
                _line(f"    {line}")
        if d.get("derivation"):
            import yaml

            _line("  computed from:")
            text = yaml.safe_dump(dict(d["derivation"]), sort_keys=False, allow_unicode=True)
            for line in text.splitlines():
                _line(f"    {line}")
        if d.get("columns"):
            _line("  columns:")
            width = max(len(c["name"]) for c in d["columns"])
            for c in d["columns"]:
                _line(f"    {c['name']:<{width}}  {c['type']}")

    def copied_in(self, result: CopyResult) -> None:
        for path in result.unchanged:
            _line(f"unchanged: {path} (same content as its latest version)")
        if result.written:
            _line(f"copied {len(result.written)} file(s), txn {result.txn_seq}")
        elif not result.unchanged:
            _line("nothing to copy")
        for warning in result.warnings:
            _line(f"warning: {warning}")

    def copied_out(self, written: Sequence[Path], dest: str) -> None:
        _line(f"copied {len(written)} file(s) to {dest}")

    def report(self, record: Mapping[str, Any], summary: str) -> None:
        # One line per finding; control characters inside each are still escaped.
        for line in summary.split("\n"):
            _line(line)

    def data(self, value: Any, *, text: str | None = None) -> None:
        # A multi-line rendering keeps its own line breaks; each line is escaped.
        for line in (text if text is not None else str(value)).split("\n"):
            _line(line)

    def run_summary(self, runs: Sequence[Mapping[str, Any]]) -> None:
        if not runs:
            _line("nothing ran")
            return
        records(runs)


def terminal_width() -> int:
    """The terminal's width in columns: ``COLUMNS`` if set, else the terminal's own, else
    80 (output to a pipe or a file)."""
    return shutil.get_terminal_size().columns


def fold(text: str, width: int, indent: int = 0) -> list[str]:
    """``text`` (control characters escaped) as lines of at most ``width`` columns, lines
    after the first starting with ``indent`` spaces: broken at a space where one is near
    enough, else inside the word (a URL longer than a line).  Only the spaces a line is
    broken at are left out, so every character of ``text`` is printed."""
    import textwrap

    from rich.cells import cell_len

    text = escape_controls(text)
    if cell_len(text) <= width:
        return [text]
    room = max(width - indent, _MIN_FOLD)
    return textwrap.wrap(
        text,
        indent + room,
        subsequent_indent=" " * indent,
        break_long_words=True,
        break_on_hyphens=False,
        replace_whitespace=False,
    )


def folded(text: str, indent: int = 0) -> None:
    """Print ``text`` for a person, each of its lines folded to the terminal's width
    (``fold``), continuation lines indented by ``indent``."""
    width = terminal_width()
    for one in text.split("\n"):
        for part in fold(one, width, indent):
            click.echo(part)


def records(rows: Sequence[Mapping[str, Any]]) -> None:
    """Print records (a column a key, None as empty) for a person: a table when it fits
    the terminal (``terminal_width``), else one block a record, ``key: value`` a line,
    the first key unindented and long values folded onto continuation lines (``fold``).

    Either way every value is printed whole: a long value (a URL, an error) folds
    inside its cell, a short one (a time, a count) keeps its width, and a table whose
    short values alone would not fit is printed as blocks.
    """
    from rich.cells import cell_len

    columns = list(dict.fromkeys(key for row in rows for key in row))
    texts = [
        [escape_controls("" if row.get(c) is None else str(row.get(c))) for c in columns]
        for row in rows
    ]
    widths = [
        max(cell_len(escape_controls(str(name))), *(cell_len(t[i]) for t in texts))
        for i, name in enumerate(columns)
    ]
    width = terminal_width()
    # A short value (a time, a count, a size) keeps its width; a long one (a URL, an
    # error) may fold inside its cell, down to _MIN_FOLD columns.  rich's default box
    # takes a border and a space either side of each column.
    least = sum(w if w <= _SHORT_CELL else min(w, _MIN_FOLD) for w in widths)
    if least + 3 * len(columns) + 1 <= width:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        table = Table()
        for name, w in zip(columns, widths, strict=True):
            short = w <= _SHORT_CELL
            table.add_column(cell(name), overflow="fold", min_width=w if short else None)
        for t in texts:
            table.add_row(*(escape(v) for v in t))
        Console(width=width).print(table)
        return
    label = max(cell_len(escape_controls(str(name))) for name in columns) + 2
    for n, t in enumerate(texts):
        if n:
            click.echo()
        for i, name in enumerate(columns):
            # The first key starts the block; the values all start in one column.
            indent = 0 if i == 0 else 2
            head = f"{' ' * indent}{escape_controls(str(name)) + ':':<{label + 2 - indent}}"
            for part in fold(head + t[i], width, label + 2):
                click.echo(part.rstrip())


# A folded line or cell keeps at least this many columns for its text.
_MIN_FOLD = 20
# Cells up to this long keep their width in a table (an ISO time is 20).
_SHORT_CELL = 24


class JsonOutput(Output):
    """What a script parses: one JSON document on stdout; notes on stderr."""

    json_mode = True

    @staticmethod
    def _dump(value: Any) -> None:
        click.echo(json.dumps(value, indent=2, default=str))

    def message(self, text: str) -> None:
        line(text, err=True)

    def entries(self, nodes: Sequence[N], entry: Callable[[N], Entry], *, long: bool) -> None:
        self._dump([entry(np).to_json() for np in nodes])

    def log(self, transactions: Sequence[TxnRecord]) -> None:
        self._dump(_log_rows(transactions))

    def history(self, versions: Sequence[VersionInfo]) -> None:
        self._dump(_history_rows(versions))

    def describe(self, described: Sequence[Mapping[str, Any]]) -> None:
        self._dump(list(described))

    def copied_in(self, result: CopyResult) -> None:
        self._dump(
            {
                "written": result.written,
                "unchanged": result.unchanged,
                "txn_seq": result.txn_seq,
                "warnings": result.warnings,
            }
        )

    def copied_out(self, written: Sequence[Path], dest: str) -> None:
        self._dump([str(p) for p in written])

    def report(self, record: Mapping[str, Any], summary: str) -> None:
        self._dump(dict(record))

    def data(self, value: Any, *, text: str | None = None) -> None:
        self._dump(value)

    def run_summary(self, runs: Sequence[Mapping[str, Any]]) -> None:
        self._dump([dict(run) for run in runs])


def make_output(json_mode: bool) -> Output:
    return JsonOutput() if json_mode else TextOutput()
