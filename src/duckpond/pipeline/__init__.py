"""The pipeline: resources declared in YAML, their runs, and the dynamic nodes they compute.

Between ``ingest``/``query`` below and the pond API above (docs/architecture.md).

Where things are:

- ``documents``: the YAML documents and their validation (pydantic).
- ``kinds``: the kind registry.  One module per kind registers a ``Kind``
  with its spec model and, by role, a ``run`` (collectors, publishers) or an
  ``output`` and ``output_type`` (derivations); see ``kinds/__init__.py``.
- ``apply``: ``pond apply`` stores resources in one transaction, and for a
  derivation puts one dynamic node at its ``spec.path`` (factory: the kind's
  name; configuration: ``resolver.DerivationRef``).  ``remove_resource``
  removes a resource and its node.
- ``resolver``: ``PipelineResolver``, the ``tinyfs`` ``Resolver`` every
  ``duckpond.Pond`` is opened with.  Reading a derivation's node reads its
  resource document through the factory's read-only view (the reader's
  transaction, so ``--at-txn`` works) and calls ``kind.output(spec, ctx)``.
- ``cache``: ``DiskCache``, the ``OutputCache`` under ``$POND/cache/``
  (docs/dynamic-nodes.md), also given to every ``Pond``.
- ``run``, ``graph``, ``resources``, ``secrets``: ``pond run``, dependency
  order, ``pond resources``, ``${env:...}`` secret fields.

A new derivation kind is one module in ``kinds/`` (added to ``_BUILTIN``
there) ending in::

    register_kind(Kind("Reduce", "derivation", ReduceSpec, inputs=reduce_inputs,
                       output=reduce_output, output_type=lambda spec: DYNAMIC_DIR))

where ``reduce_output(spec, ctx)`` returns a ``TableOutput``, ``FileOutput``
or ``DirOutput`` reading its inputs only through ``ctx.root``.  Nothing
else is needed: apply, the resolver, the cache and every reader pick it up.
"""
