"""The ``pond`` command: parse, call ``duckpond.Pond``, print text or ``--json``.

Layout (no module imports ``main``; ``main`` imports the rest, so there is no cycle):

- ``app.py``: the ``pond`` group, the global options (``Settings``: ``--pond``,
  ``--json``, ``--debug``, ``--lock-timeout``), ``pass_settings``, ``time_travel``
  (``--at``/``--at-txn``), ``UserError`` and the error boundary that turns every
  error into one ``error: ...`` line and exit status 1.
- ``output.py``: the one output interface, a method per kind of result (entries,
  log, history, describe, rows, copy results, reports, ``run_summary``), with a
  text and a JSON implementation; ``settings.output`` is the one for this run.
- ``commands/<group>.py``: the commands, one module per group (``fs``, ``copy``,
  ``read``, ``history``, ``maintenance``, ``export``, ``pipeline``: apply, resources,
  run, hydrovu, site).
- ``main.py``: registers the command modules; ``main()`` is the script.

A command parses its arguments, calls one ``duckpond.Pond`` method (or a function
``duckpond.pond`` exports), and hands the result to one ``settings.output`` method.
It never formats output itself and never reaches below ``duckpond.pond``.

To add commands: write a module that imports what it needs from ``.app`` and ends
with ``COMMANDS = [cmd1, cmd2]``, then add the module to the tuple in ``main.py``
(one line).  Heavy libraries (deltalake, pyarrow, datafusion, rich) are imported
inside commands so that ``pond --help`` starts fast.
"""

from .main import cli, main

__all__ = ["cli", "main"]
