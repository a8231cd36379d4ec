"""``python -m duckpond.cli``: the ``pond`` command."""

from .main import main

main()
