"""The ``pond`` command: parse, call ``duckpond.Pond``, print text or ``--json``.

Heavy libraries (deltalake, pyarrow, datafusion) are imported inside
commands so that ``pond --help`` starts fast.
"""

from .main import cli, main

__all__ = ["cli", "main"]
