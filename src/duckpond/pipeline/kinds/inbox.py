"""``Inbox``: a collector of host files matching a glob.

Each run imports every matching host file that is new (to
``<path>/<file name>``), adds a version for one whose content changed (by
sha256 of its bytes), and skips unchanged ones.  Content this inbox has
imported before (under any name, in any version) is never imported again;
with ``series`` that holds per series: the same bytes routed to two series
are imported into both.
A file whose size or modification time moves while the run looks at it is
still being written and is left for the next run.  Reading, hashing and
converting happen before the write lock is taken.

A file that cannot be read (a CSV without a timestamp column for a series,
a schema that does not fit the series already stored...) does not stop the
others: every good file is imported and committed, and each bad one is
named with its one-line error in the run's details (``failed_files``) and
its summary.  The run's outcome is then ``failed`` (``pond run`` exits 1),
so the problem is seen; a bad file is tried again on every later run until
it is fixed or removed.  A file that cannot be opened is such a bad file too:
permission denied, vanished between listing and reading, a directory or a
FIFO or device where a file was (nothing blocks on a FIFO: it is opened
without waiting for a writer, and only regular files are read).

Only what lies inside the inbox folder (the pattern's directory before its
first wildcard, symlinks resolved) is read.  Whoever can drop a file in an
inbox must not make the pond, and so its public site, carry any file the
pond's user can read: a symlink pointing outside the folder, or a path that
leaves it through a symlinked directory, is named and skipped, checked on the
file actually opened; a pattern with a ``..`` component is refused at apply.

One station, one series: with ``series: "$0.series"`` (a name below ``path`` built
from the pattern's captures, ``*`` each) every file goes to the series its name
says, so each day's export of a logger appends to that logger's one series.  A
file imported before that grows (rows appended under the same name) then appends
only its rows after the last one imported from it.  Without ``series:`` the same holds
for a file whose earlier bytes are unchanged (each version records the size and hash
of the file it was read from): only the rows after the series' last time are stored,
so a Reduce over it finds no late rows.  A file changed anywhere else is stored whole
as a new version (its rows override the earlier ones at equal times), with a warning.
"""

from __future__ import annotations

import dataclasses
import difflib
import errno
import glob
import hashlib
import os
import stat
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO, Literal

from pydantic import ValidationError, ValidatorFunctionWrapHandler, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ...ingest.options import CopyOptions, OptionError
from ...tinyfs import WD
from ..documents import Duration, HostGlob, PondPath, StrictModel, host_glob_base
from . import Kind, RunContext, RunStats, WriteStep, register_kind


class InboxSpec(StrictModel):
    """``pattern``: host glob (absolute); ``path``: pond directory; ``format``: how to store.

    CSV options (``delimiter``, ``tz``...) go under ``csv:``; one written at the
    top of the spec is an error that says so.
    """

    pattern: HostGlob
    path: PondPath
    format: Literal["data", "table", "series"] = "data"
    # The options of ``pond copy`` (delimiter, header, tz, timestamp_column...).
    csv: CopyOptions = CopyOptions()
    # How long a new or changed file must stay the same size and age to count as complete.
    settle: Duration = timedelta(seconds=1)
    # The series (below ``path``) each file goes to, from the pattern's captures.
    series: str | None = None

    @model_validator(mode="after")
    def _csv_needs_a_table(self) -> InboxSpec:
        # With format: data the bytes are kept as they are: csv: keys would do nothing.
        given = self.csv.set_fields()
        if self.format == "data" and given:
            raise OptionError(
                "csv",
                f"{', '.join(given)} read CSV into a table or series, but format: data "
                "(the default) keeps each file's bytes as they are: set format: series "
                "(or table), or remove csv:",
            )
        return self

    @model_validator(mode="after")
    def _series_needs_series(self) -> InboxSpec:
        if self.series is None:
            return self
        if self.format != "series":
            raise OptionError("series", "files go to one series each with format: series")
        if self.series.startswith("/") or any(p in ("", ".", "..") for p in self.series.split("/")):
            raise OptionError("series", f"a relative name below path, not {self.series!r}")
        if "**" in self.pattern:
            raise OptionError("series", "takes captures of '*' in a pattern without '**'")
        return self

    @field_validator("pattern")
    @classmethod
    def _inside(cls, value: str) -> str:
        if ".." in value.split("/"):
            raise ValueError(f"an inbox pattern has no '..' component: {value!r}")
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _csv_options_nested(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # "unknown field" alone does not say where a CSV option belongs nor what was
        # meant.  Every error is kept (one apply shows them all): only the unknown
        # fields' messages are made to say so.
        try:
            return handler(data)
        except ValidationError as exc:
            options = {f.name for f in dataclasses.fields(CopyOptions)}
            unknown = ("extra_forbidden", "unexpected_keyword_argument")
            line_errors: list[Any] = []
            listed = False  # the CSV options are listed once, not after every unknown key
            for error in exc.errors(include_url=False):
                loc, key = error["loc"], str(error["loc"][-1]) if error["loc"] else ""
                kind: Any = error["type"]
                if error["type"] in unknown and len(loc) == 1 and key in options:
                    kind = PydanticCustomError(
                        "csv_option_misplaced",
                        f"a CSV option goes under csv: (csv: {{{key}: ...}})",
                    )
                elif error["type"] in unknown and len(loc) == 2 and loc[0] == "csv":
                    kind = PydanticCustomError(
                        "csv_option_unknown", _unknown_csv_key(key, options, listed)
                    )
                    listed = True
                elif error["type"] in unknown and len(loc) == 1:
                    close = difflib.get_close_matches(key, cls.model_fields, n=1)
                    hint = f" (did you mean {close[0]}?)" if close else ""
                    kind = PydanticCustomError("unknown_field", f"unknown field{hint}")
                line_errors.append(
                    {"type": kind, "loc": loc, "input": error["input"], "ctx": error.get("ctx")}
                    if error.get("ctx")
                    else {"type": kind, "loc": loc, "input": error["input"]}
                )
            raise ValidationError.from_exception_data(exc.title, line_errors) from None


# ``pond copy`` flags whose YAML key is not the flag with ``-`` as ``_``.
_FLAG_KEYS = {"column_type": "column_types", "null_value": "null_values", "no_header": "header"}
# Names people give the zone option (``tz``).
_ALIASES = {"time_zone": "tz", "timezone": "tz", "zone": "tz"}


def _unknown_csv_key(key: str, options: set[str], listed: bool = False) -> str:
    right = (
        _FLAG_KEYS.get(key)
        or _ALIASES.get(key)
        or next(iter(difflib.get_close_matches(key, options, n=1)), None)
    )
    hint = f"; did you mean {right}?" if right else ""
    if listed:
        return f"unknown field{hint}"
    return f"unknown field{hint} (CSV options: {', '.join(sorted(options))})"


def _captures(pattern: str, host: Path) -> tuple[str, ...]:
    """What each ``*`` of ``pattern`` matched in ``host`` (component by component)."""
    from ...tinyfs import paths as tpaths
    from ...tinyfs.glob import compile_segment, match_segment

    found: list[str] = []
    for part, name in zip(tpaths.split(pattern), tpaths.split(str(host)), strict=False):
        got = match_segment(compile_segment(part), name, hidden=True)
        found.extend(got or ())
    return tuple(found)


def _after(data: bytes, attributes: dict[str, Any], last: int) -> Any:
    """A converted series' Parquet with only the rows after ``last`` (microseconds UTC),
    or None when there are none."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ...query.parquet import write_parquet

    table = pq.read_table(pa.BufferReader(data))
    column = str(attributes.get("timestamp_column") or "timestamp")
    times = table.column(column).cast(pa.timestamp("us", "UTC")).cast(pa.int64())
    import pyarrow.compute as pc

    kept = table.filter(pc.greater(times, pa.scalar(last, pa.int64())))
    if kept.num_rows == 0:
        return None
    return write_parquet(iter(kept.to_batches()), True, column, schema=kept.schema)


def _appended(content: bytes, before: tuple[int, str] | None) -> bool:
    """Whether ``content`` is the file read before (``before``: its size and sha256) with
    bytes added at its end only."""
    if before is None:
        return False
    size, digest = before
    return 0 < size <= len(content) and hashlib.sha256(content[:size]).hexdigest() == digest


def _check(spec: InboxSpec) -> list[tuple[str, str]]:
    base = host_glob_base(spec.pattern)
    if not base.is_dir():
        return [("spec.pattern", f"base directory {base} does not exist")]
    return []


@dataclass
class _Candidate:
    host: Path
    name: str
    sha256: str
    stat: tuple[int, int]
    status: str  # new or changed


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _open_inside(path: Path, folder: Path) -> BinaryIO:
    """``path`` opened for reading if it is a regular file inside ``folder`` (a resolved
    directory); ``OSError`` saying why not otherwise.

    The check is made on the file opened, not on its name: what the descriptor
    points at (``/proc/self/fd``) must lie in ``folder``, so a symlink swapped in
    after a check cannot lead outside.  ``O_NONBLOCK`` keeps a FIFO from
    blocking the run until someone writes to it.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
            raise OSError(errno.EINVAL, f"{kind}, not a file", str(path))
        try:
            real = Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            real = path.resolve()
        if not real.is_relative_to(folder):
            raise OSError(
                errno.EPERM,
                f"leads outside the inbox folder {folder} (to {real}), not followed",
                str(path),
            )
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read(path: Path, folder: Path) -> bytes:
    with _open_inside(path, folder) as fh:
        return fh.read()


def _hash(path: Path, folder: Path) -> str:
    digest = hashlib.sha256()
    with _open_inside(path, folder) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unreadable(host: Path, exc: OSError) -> str:
    """One line naming a file that cannot be opened and why."""
    reason = exc.strerror or str(exc)
    return f"{host}: cannot be read: {reason}"


def _csv_settings(options: CopyOptions) -> str:
    """A short digest of the ``csv:`` settings a file is read with, kept with each
    version an Inbox stores, so that a later run can tell files read otherwise."""
    from ..documents import canonical_json

    return hashlib.sha256(canonical_json(dataclasses.asdict(options))).hexdigest()[:16]


def _not_reread_warning(names: list[str], path: str) -> str:
    """The files stored under other ``csv:`` settings, which a run does not read again."""
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"{len(names)} file(s) were imported with other csv: settings and are not read "
        f"again ({shown}); to re-read one, remove it (pond rm {path}/NAME) and run again"
    )


def _source_hash(attributes: Any, sha256: str) -> str:
    value = attributes.get("source_sha256") if attributes else None
    return str(value) if value else sha256


def run_inbox(ctx: RunContext) -> WriteStep | None:
    """Find, hash and convert what is new (no lock held); return the step that stores it."""
    from ...ingest.store import FORMAT_TYPES, duplicate_times_warning, to_parquet_from_host
    from ..run import error_text

    spec: InboxSpec = ctx.spec
    root = ctx.root
    base = host_glob_base(spec.pattern)
    if not base.is_dir():
        # Gone since apply: say so rather than report an empty inbox.
        raise FileNotFoundError(2, "the inbox directory does not exist", str(base))
    # What this inbox holds: the latest source hash per name, and every hash ever imported.
    # Routed, content is known per destination: the same bytes sent to two series are
    # two imports (two stations' identical exports), not one file seen twice.
    latest: dict[str, str] = {}
    imported: dict[tuple[str, str], str] = {}
    node_types: dict[str, str] = {}
    # Routed (spec.series): per host file, its latest content and last event time stored.
    from_source: dict[str, str] = {}
    last_time: dict[str, int] = {}
    # The csv: settings each file's latest version was read with (absent before they
    # were recorded), by name or, routed, by host file.
    read_with: dict[str, str] = {}
    # Not routed: per name, the size and hash of the file its latest version was read
    # from (absent before sizes were recorded), and the series' last event time.
    prefix: dict[str, tuple[int, str]] = {}
    name_last: dict[str, int] = {}
    tabular = spec.format in ("table", "series")
    settings = _csv_settings(spec.csv)
    routed = spec.series is not None
    if root.exists(spec.path):
        for np in root.visit(spec.path) if routed else root.entries(spec.path):
            if not np.is_file():
                continue
            name = np.path[len(spec.path.rstrip("/")) + 1 :]
            node_types[name] = np.node_type
            for info in np.node.versions():
                digest = _source_hash(info.attributes, info.sha256)
                imported.setdefault((name if routed else "", digest), f"{np.path}")
                latest[name] = digest
                source = str((info.attributes or {}).get("source") or "")
                recorded = (info.attributes or {}).get("inbox_csv")
                if isinstance(recorded, str):
                    read_with[source if routed else name] = recorded
                size = (info.attributes or {}).get("source_size")
                if not routed:
                    if isinstance(size, int):
                        prefix[name] = (size, digest)
                    else:
                        prefix.pop(name, None)
                    if info.max_event_time is not None:
                        name_last[name] = max(
                            info.max_event_time, name_last.get(name, info.max_event_time)
                        )
                if routed and source:
                    from_source[source] = digest
                    if info.max_event_time is not None:
                        last_time[source] = max(
                            info.max_event_time, last_time.get(source, info.max_event_time)
                        )

    counts = {"new": 0, "changed": 0, "unchanged": 0, "skipped": 0}
    skipped: list[str] = []
    failed: list[str] = []
    warnings: list[str] = []
    not_reread: list[str] = []
    seen_names: dict[str, Path] = {}
    first: dict[Path, tuple[int, int]] = {}
    candidates: list[_Candidate] = []
    folder = base.resolve()
    for text in sorted(glob.glob(spec.pattern, recursive=True)):
        host = Path(text)
        try:
            mode = host.lstat().st_mode
        except OSError as exc:
            failed.append(_unreadable(host, exc))  # vanished since the listing
            continue
        if stat.S_ISDIR(mode):
            continue  # a folder the pattern also matches: its files are matched on their own
        if stat.S_ISLNK(mode) and host.is_dir() and host.resolve().is_relative_to(folder):
            continue
        if routed:
            from ._series import substitute

            assert spec.series is not None
            name = substitute(spec.series, _captures(spec.pattern, host), "spec.series")
        else:
            name = host.name
            if name in seen_names:
                raise FileExistsError(
                    17,
                    f"two inbox files would both be {spec.path}/{name} "
                    f"({seen_names[name]} and {host})",
                )
        seen_names[name] = host
        try:
            digest = _hash(host, folder)
        except OSError as exc:
            failed.append(_unreadable(host, exc))
            continue
        found = _stat(host)
        if found is None:
            failed.append(f"{host}: cannot be read: vanished while being read")
            continue
        if (from_source.get(str(host)) if routed else latest.get(name)) == digest:
            counts["unchanged"] += 1
            recorded = read_with.get(str(host) if routed else name)
            if tabular and recorded is not None and recorded != settings:
                not_reread.append(name)
            continue
        seen = imported.get((name if routed else "", digest))
        if seen is not None:
            counts["skipped"] += 1
            skipped.append(f"{host}: same content as {seen}")
            continue
        first[host] = found
        grown = str(host) in from_source if routed else name in latest
        candidates.append(_Candidate(host, name, digest, found, "changed" if grown else "new"))

    if not_reread:
        warnings.append(_not_reread_warning(not_reread, spec.path))
    if candidates and spec.settle.total_seconds() > 0:
        time.sleep(spec.settle.total_seconds())
    ready: list[tuple[_Candidate, bytes, dict[str, Any], tuple[int, int] | None, str]] = []
    in_batch: set[tuple[str, str]] = set()
    for cand in candidates:
        key = (cand.name if routed else "", cand.sha256)
        if key in in_batch:
            counts["skipped"] += 1
            skipped.append(f"{cand.host}: same content as another new file")
            continue
        node_type = node_types.get(cand.name, FORMAT_TYPES[spec.format])
        attributes: dict[str, Any] = {"source": str(cand.host), "source_sha256": cand.sha256}
        if tabular:
            attributes["inbox_csv"] = settings
        event_range: tuple[int, int] | None = None
        duplicates = 0  # rows at a time seen before in this file
        try:
            # Gone, replaced by a directory or a FIFO, or by a link leading out while the
            # run waited: named as a file that cannot be read, not as one being written.
            content = _read(cand.host, folder)
        except OSError as exc:
            failed.append(_unreadable(cand.host, exc))
            continue
        if _stat(cand.host) != cand.stat or hashlib.sha256(content).hexdigest() != cand.sha256:
            counts["skipped"] += 1
            skipped.append(f"{cand.host}: still being written")
            continue
        data = content
        attributes["source_size"] = len(content)
        if node_type in ("file:table", "file:series"):
            try:
                stored = to_parquet_from_host(cand.host, node_type, spec.csv, content=content)
            except Exception as exc:
                failed.append(f"{cand.host}: {error_text(exc)}")
                continue
            data = stored.data
            attributes = {**stored.attributes, **attributes}
            duplicates = stored.duplicate_times
            event_range = stored.event_range
            last = last_time.get(str(cand.host)) if routed else None
            if not routed and node_type == "file:series" and cand.status == "changed":
                if _appended(content, prefix.get(cand.name)):
                    last = name_last.get(cand.name)
                else:
                    # Changed before its end: stored whole, and a Reduce over it sees
                    # the earlier rows again (as corrections at their times).
                    warnings.append(
                        f"{cand.host}: changed before its end, so stored whole as a new "
                        f"version of {spec.path}/{cand.name} (its earlier rows too); a "
                        "file that only grows appends only its new rows"
                    )
            if last is not None:
                # A file that grew: only its rows after the last one imported from it.
                newer = _after(data, attributes, last)
                if newer is None:
                    counts["unchanged"] += 1
                    continue
                data, event_range = newer.data, newer.event_range
                attributes = {**attributes, **newer.attributes()}
        # Read, then looked at again: a file that moved meanwhile waits for the next run.
        if _stat(cand.host) != cand.stat:
            counts["skipped"] += 1
            skipped.append(f"{cand.host}: still being written")
            continue
        if duplicates:
            warnings.append(duplicate_times_warning(cand.host, duplicates))
        in_batch.add(key)
        ready.append((cand, data, attributes, event_range, node_type))

    def write(root: WD) -> RunStats:
        from ...ingest.store import SchemasSeen, check_series_append, source_format

        bad = list(failed)
        stats = RunStats(details={**counts, "skipped_files": skipped}, warnings=list(warnings))
        if ready:
            root.mkdir(spec.path, parents=True)
        for cand, data, attributes, event_range, node_type in ready:
            target = f"{spec.path}/{cand.name}"
            if "/" in cand.name:
                root.mkdir(target.rsplit("/", 1)[0], parents=True)
            existing = root.get(target) if root.exists(target) else None
            if existing is not None:
                info = existing.info()
                if not routed and _source_hash(info.attributes, info.sha256) == cand.sha256:
                    stats.details["unchanged"] += 1
                    continue
                if node_type == "file:series":
                    import pyarrow as pa
                    import pyarrow.parquet as pq

                    # Read from CSV (it was converted, so its format is known): a
                    # mismatch then names the csv: option that reads it as the series.
                    from_csv = source_format(cand.host, spec.csv.source_format) == "csv"
                    try:
                        seen = check_series_append(
                            existing,
                            pq.read_schema(pa.BufferReader(data)),
                            csv_rows=data if from_csv else None,
                        )
                    except Exception as exc:
                        bad.append(f"{cand.host}: {error_text(exc)}")
                        continue
                    attributes = seen.for_next(attributes)
            elif node_type == "file:series":
                attributes = SchemasSeen.of_new_series().for_next(attributes)
            root.write_file(
                target, data, node_type=node_type, attributes=attributes, event_range=event_range
            )
            stats.details[cand.status] += 1
            stats.bytes += len(data)
            rows = attributes.get("rows")
            stats.rows += int(rows) if isinstance(rows, int) else 0
        d = stats.details
        stats.summary = (
            f"{d['new']} new, {d['changed']} changed, {d['unchanged']} unchanged, "
            f"{d['skipped']} skipped"
        )
        d["failed"], d["failed_files"] = len(bad), bad
        if bad:
            stats.summary += f", {len(bad)} failed"
            stats.error = f"{stats.summary}: {'; '.join(bad)}"
        return stats

    return write


register_kind(Kind("Inbox", "collector", InboxSpec, run=run_inbox, check=_check))
