"""The pipeline: resources declared in YAML, their runs, and the dynamic nodes they compute.

Between ``ingest``/``query`` below and the pond API above (docs/architecture.md).
"""
