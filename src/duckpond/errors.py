"""The exceptions DuckPond raises, and the one place third-party errors become them.

Path problems use Python's own ``OSError`` family (``FileNotFoundError``,
``FileExistsError``, ``NotADirectoryError``, ``IsADirectoryError``); every
other failure the user can cause is a ``PondError``::

    PondError
     ├── PondNotFoundError      no pond at the given directory
     ├── PondExistsError        ``init`` on a directory that already holds one
     ├── PondCorruptError       the directory holds something that is not a readable pond
     │    ├── CorruptDataError  stored bytes missing, or not matching their sha256
     │    └── DivergedError     an imported pond that is no longer the one imported from
     ├── InvalidPathError       a malformed path, or ``..`` above the root  (also ValueError)
     ├── GlobError              a malformed glob pattern                    (also ValueError)
     ├── SymlinkLoopError       symlinks that never reach a node            (also OSError)
     ├── ReadOnlyError          writing to a dynamic node or a past state   (also PermissionError)
     ├── TransactionError       misuse of transactions (nested, writes outside one)
     │    └── CommitConflictError  on an S3 pond, another writer committed first
     ├── LockTimeoutError       another writer holds the pond
     │    └── BusyError         an S3 pond's writers kept winning every retry
     ├── FormatError            input that is not what it claims (CSV, Parquet, URL)
     │    └── DstError          a local time skipped or repeated by a DST change
     ├── QueryError             SQL that cannot run
     ├── ConfigError            a bad option value (time, zone, format name)
     │    └── HistoryRemovedError  time travel before what ``pond maintain --keep`` kept
     ├── RemoteError            an object store that cannot be used (unreachable, credentials
     │    │                     refused, no such bucket)
     │    └── UnsafeStoreError  an S3 server that ignores ``If-None-Match: *`` (cannot hold a pond)
     └── BackupConflictError    a backup that holds another pond, or history this pond lacks

Errors of the libraries underneath (pyarrow, deltalake, DataFusion) are turned into
these by ``translate``, which ``boundary`` applies at every public ``Pond`` method:
a library caller sees a ``PondError`` (or an ``OSError``) with a one-line message
that names the path, and the transaction, where they apply.  ``translate``
recognises the libraries' exceptions by module and class name, so this module
imports none of them.

A message that refers to one of the caller's parameters writes it as ``{name}``
and lists it in ``options`` (``name`` -> the value to suggest, or ""): ``str()``
reads ``name`` (or ``name='value'``), and the CLI, which knows its flags,
renders it as ``--name`` (or ``--name value``) through ``describe(exc, cli=True)``:
an error says the option as the user wrote it, a flag to a command's user and a key
to a resource's.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

OptionValue = str | tuple[str, str]
"""A value to suggest for an option: one text, or (as the CLI writes it, as a YAML
resource or Python caller writes it), e.g. ``("a=string", "{a: string}")``."""


class PondError(Exception):
    """Base of every DuckPond error a user can cause.

    ``path`` and ``txn`` name what the error is about where known; ``options`` maps
    the caller's parameters that the message mentions as ``{name}`` to a value to
    suggest (or "").
    """

    path: str | None = None
    txn: int | None = None
    options: Mapping[str, OptionValue] = {}
    translated = False
    """True when this stands for a third-party exception (its ``__cause__``)."""

    def __init__(
        self,
        *args: Any,
        path: str | None = None,
        txn: int | None = None,
        options: Mapping[str, OptionValue] | None = None,
    ) -> None:
        super().__init__(*args)
        if path is not None:
            self.path = path
        if txn is not None:
            self.txn = txn
        if options:
            self.options = dict(options)

    def __str__(self) -> str:
        return render_options(super().__str__(), self.options, cli=False)


class PondNotFoundError(PondError):
    """No pond exists at the given location."""


class PondExistsError(PondError):
    """A pond already exists where one was to be created."""


class PondCorruptError(PondError):
    """The pond directory exists but cannot be read as a pond."""


class CorruptDataError(PondCorruptError):
    """A version's stored bytes are missing or do not match their recorded sha256."""


class DivergedError(PondCorruptError):
    """A pond being imported is another pond, or rewrote history already imported from it."""


class InvalidPathError(PondError, ValueError):
    """A path that is malformed or climbs above the root."""


class GlobError(PondError, ValueError):
    """A glob pattern that cannot be parsed."""


class SymlinkLoopError(PondError, OSError):
    """Following symlinks did not reach a node within the hop limit."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.ELOOP, "too many levels of symbolic links", path)

    def __str__(self) -> str:
        return f"too many levels of symbolic links (a symlink loop?): {self.filename}"


class ReadOnlyError(PondError, PermissionError):
    """A write to something that is read-only: a dynamic node or a past state."""


class TransactionError(PondError):
    """A transaction was misused."""


class CommitConflictError(TransactionError):
    """On a pond kept on S3, another writer's commit took the Delta version this one
    needed: nothing of this transaction landed, and it may be re-applied on the new state."""


class LockTimeoutError(PondError):
    """The pond's write lock is held by another process."""


class BusyError(LockTimeoutError):
    """A command on a pond kept on S3 lost the race to other writers on every retry;
    nothing of it landed, and running it again is safe."""


class FormatError(PondError):
    """Input whose content does not match its declared format."""


class DstError(FormatError):
    """A local time that a daylight-saving change skipped or repeated; ``index`` is its
    row in the array converted, for the reader that knows the file's lines."""

    def __init__(
        self, message: str, index: int, options: Mapping[str, OptionValue] | None = None
    ) -> None:
        super().__init__(message, options=options)
        self.index = index


class QueryError(PondError):
    """A SQL query that could not be planned or executed."""


class ConfigError(PondError, ValueError):
    """An option or configuration value that is not valid."""


class HistoryRemovedError(ConfigError):
    """A read at a transaction whose content ``pond maintain --keep`` removed.

    ``earliest`` is the earliest transaction still kept (``txn`` the one asked for).
    """

    earliest: int = 1


class RemoteError(PondError):
    """An object store (S3, a ``file://`` directory) that could not be used as asked.

    The message names the URL and the store's own reason in one line, never a credential.
    """


class UnsafeStoreError(RemoteError):
    """An S3 server that does not honour a create-only put (``If-None-Match: *``).

    Delta's commit on S3 is such a put; where the server ignores it, two writers
    both "create" log entry N and one commit is silently lost, so no pond is kept there.
    """


class BackupConflictError(PondError):
    """A push or restore refused because the remote and the pond are not one history.

    Another pond's backup (the message names both pond ids), a remote ahead of the
    pond, or histories that diverged: nothing was overwritten.
    """


# -- messages --------------------------------------------------------------------------


def one_line(text: str) -> str:
    """Control characters (a newline in a path, say) escaped, so a message is one line."""
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def flatten(message: str) -> str:
    """Collapse a library's multi-line message into one line for ``error: ...``."""
    return " ".join(message.split())


# The flags whose name is not ``--`` and the option's name with ``-`` for ``_``: a
# repeatable flag is singular (``--column-type a=string --column-type b=int64``).
CLI_FLAGS = {
    "column_types": "--column-type",
    "null_values": "--null-value",
    "header": "--no-header",
    "cache_max_bytes": "--cache-max",
}


# Options said otherwise than as a flag or a key: (the CLI's words, a resource's words),
# each with ``{}`` for the value.  A source's format is the URL's scheme on the command
# line (``host+csv:///abs/file.dat``) and a key under ``csv:`` in an Inbox.
OPTION_WORDS = {"source_format": ("{}", "csv: {{source_format: {}}}")}


def render_options(message: str, options: Mapping[str, OptionValue], *, cli: bool) -> str:
    """``{name}`` in ``message`` as the library and YAML say it (``name='v'``, or
    ``name: v`` for a pair) or as the CLI does (``--name v``, ``CLI_FLAGS``); the
    options of ``OPTION_WORDS`` in their own words."""
    for name, value in options.items():
        if name in OPTION_WORDS:
            shown = value if isinstance(value, str) else value[0 if cli else 1]
            said = OPTION_WORDS[name][0 if cli else 1].format(shown)
        elif cli:
            flag = CLI_FLAGS.get(name, "--" + name.replace("_", "-"))
            shown = value[0] if isinstance(value, tuple) else value
            said = f"{flag} {shown}" if shown else flag
        elif isinstance(value, tuple):
            said = f"{name}: {value[1]}"
        else:
            said = f"{name}={value!r}" if value else name
        message = message.replace("{" + name + "}", said)
    return message


def describe(exc: BaseException, *, cli: bool = False) -> str:
    """One line that names what was wrong; ``cli`` words the caller's options as flags."""
    if isinstance(exc, OSError) and not isinstance(exc, PondError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return one_line(f"{exc.strerror}{where}")
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        return one_line(str(exc))
    if isinstance(exc, PondError) and exc.options and exc.args and isinstance(exc.args[0], str):
        text = render_options(exc.args[0], exc.options, cli=cli)
    else:
        text = str(exc) or type(exc).__name__
    return one_line(flatten(text))


# -- the boundary ----------------------------------------------------------------------

# Exceptions of the libraries underneath, by (top-level module, class name) of any
# class in their MRO.  deltalake's classes live in its compiled ``_internal`` module.
_ARROW = {
    "ArrowInvalid",
    "ArrowTypeError",
    "ArrowNotImplementedError",
    "ArrowCapacityError",
    "ArrowSerializationError",
    "ArrowKeyError",
    "ArrowIndexError",
}
_DELTA = {
    "TableNotFoundError": PondCorruptError,
    "CommitFailedError": TransactionError,
    "DeltaProtocolError": PondCorruptError,
    "SchemaMismatchError": PondCorruptError,
    "DeltaError": PondCorruptError,
}
_DATAFUSION_PREFIXES = ("DataFusion error: ", "Error during planning: ", "Execution error: ")


def _library_class(exc: BaseException) -> tuple[str, str] | None:
    for cls in type(exc).__mro__:
        top = cls.__module__.split(".")[0]
        if top in ("pyarrow", "deltalake", "_internal", "datafusion"):
            return top, cls.__name__
    return None


def translate(exc: BaseException) -> BaseException:
    """The ``PondError`` a third-party exception means, or ``exc`` itself.

    ``PondError``s and the ``OSError`` family are returned unchanged; so is anything
    not recognised (a bug is not a user error).
    """
    if isinstance(exc, PondError | OSError):
        return exc
    text = " ".join(one_line(str(exc)).split()) or type(exc).__name__
    found = _library_class(exc)
    if found is not None:
        top, name = found
        if top == "pyarrow" and name in _ARROW:
            return FormatError(text)
        if top in ("deltalake", "_internal") and name in _DELTA:
            return _DELTA[name](f"the oplog: {text}")
        if top == "datafusion":
            return QueryError(_strip_datafusion(text))
    # DataFusion's Python binding raises builtin exceptions carrying its own prefixes.
    if text.startswith(_DATAFUSION_PREFIXES):
        return QueryError(_strip_datafusion(text))
    return exc


def _strip_datafusion(text: str) -> str:
    while text.startswith("DataFusion error: "):
        text = text[len("DataFusion error: ") :]
    return text


def _with_context(exc: PondError, path: str | None, txn: int | None) -> PondError:
    exc.translated = True
    message = str(exc)
    if path is not None and exc.path is None and path not in message:
        message = f"{path}: {message}"
        exc.path = path
    if txn is not None and exc.txn is None:
        message = f"{message} (transaction {txn})"
        exc.txn = txn
    exc.args = (message,)
    return exc


@contextmanager
def boundary(path: str | None = None, txn: int | None = None) -> Iterator[None]:
    """Re-raise a third-party exception from inside as the ``PondError`` it means.

    ``path`` and ``txn`` are added to the message of a translated error.
    """
    try:
        yield
    except PondError as exc:
        # Translated further in (by a guarded verb, say): add what it lacks.
        if exc.translated:
            _with_context(exc, path, txn)
        raise
    except OSError:
        raise
    except Exception as exc:
        known = translate(exc)
        if known is exc or not isinstance(known, PondError):
            raise
        raise _with_context(known, path, txn) from exc


def guarded(fn: F) -> F:
    """``boundary`` around a function; a ``path``-like first argument names the path."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with boundary(path=_path_argument(args[1:], kwargs)):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _path_argument(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str | None:
    for key in ("path", "target", "pattern"):
        if isinstance(kwargs.get(key), str):
            return str(kwargs[key])
    if args and isinstance(args[0], str) and args[0].startswith("/"):
        return args[0]
    return None
