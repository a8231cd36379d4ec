"""The ``pond`` group with every command module registered.

Adding a command module is one line below; see the package docstring.
"""

from __future__ import annotations

from .app import UserError, cli, register
from .commands import backup, copy, export, fs, history, maintenance, mirror, pipeline, read

for module in (fs, copy, read, history, maintenance, pipeline, export, backup, mirror):
    register(module)


def main(argv: list[str] | None = None) -> None:
    """The ``pond`` script's entry point."""
    import sys

    from .lean import hide_numpy

    hide_numpy(sys.argv[1:] if argv is None else argv)
    cli.main(args=argv, prog_name="pond")


__all__ = ["UserError", "cli", "main"]
