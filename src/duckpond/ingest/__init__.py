"""Host files in and out of the pond, and descriptions of what is stored.

One module per job (docs/architecture.md):

- ``options``: ``CopyOptions``, the one typed model of how host files are read
  (the options of ``pond copy``, and of the Inbox resource's YAML);
- ``plan``: which host file lands at which pond path;
- ``store``: tabular and raw content written as pond file versions;
- ``export``: pond files written back to the host;
- ``describe``: what ``pond describe`` reports of a node or a URL.

Nothing is imported here eagerly: ``pond --help`` must not pay for pydantic or pyarrow.
"""
