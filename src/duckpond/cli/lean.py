"""Keep numpy, pandas and cloudpickle out of the ``pond`` process.

Where numpy is installed, ``import pyarrow`` imports it too: about half of
pyarrow's import time (some 60 ms of CPU here), paid by every command although
the CLI never hands Arrow data to numpy or pandas (it reads and writes Arrow,
Parquet, CSV and JSON only).  pyarrow also prefers cloudpickle (a DataFusion
dependency) to the standard pickle, which the CLI never uses either.  The ``pond``
script therefore makes these unimportable for its own short-lived process, so
that pyarrow, DataFusion and deltalake take their paths without them.  Only the
script does this: a program that imports ``duckpond.cli`` (a test, a notebook)
keeps its modules.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

HIDDEN = ("numpy", "pandas", "cloudpickle")


class _Hidden:
    """A finder that answers "not installed" for the hidden packages."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by pond)", name=name)
        return None


# Commands that never compute a dynamic node nor run a resource: they read and write
# the oplog's metadata and stored bytes only, so no factory (which may use numpy) runs.
LEAN_COMMANDS = frozenset(
    {"init", "mkdir", "list", "log", "history", "rm", "mv", "ln", "recover", "fsck", "resources"}
)

# Global options that take a value as the next argument.
_VALUED_OPTIONS = frozenset({"--pond", "--lock-timeout"})


def command_of(argv: Sequence[str]) -> str | None:
    """The subcommand an argument list names (the first word that is not a global option)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in _VALUED_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def is_lean(argv: Sequence[str]) -> bool:
    """Whether the command ``argv`` names computes nothing (see ``LEAN_COMMANDS``).

    ``copy`` into the pond is lean too: it reads host files and writes the oplog; a
    copy out (to ``host:``) may read dynamic nodes, so it is not.
    """
    command = command_of(argv)
    if command == "copy":
        return not any(word.startswith("host:") for word in argv)
    return command in LEAN_COMMANDS


def hide_numpy(argv: Sequence[str] | None = None) -> None:
    """Make the ``HIDDEN`` packages unimportable in this process, unless one is loaded.

    With ``argv``, only for the ``LEAN_COMMANDS``: a read of a dynamic node runs a
    resource kind's factory, and a factory may use numpy.
    """
    if any(name in sys.modules for name in HIDDEN):
        return
    if argv is not None and not is_lean(argv):
        return
    sys.meta_path.insert(0, _Hidden())
