"""``python -m duckpond``: the ``pond`` command."""

from .cli.main import main

main()
