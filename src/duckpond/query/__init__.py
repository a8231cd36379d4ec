"""SQL over the pond: conversion of host input, the engine adapter, URLs and output.

Importing this package is cheap: pyarrow and datafusion are imported inside
the functions that need them, so ``pond --help`` stays fast.
"""

from .convert import (
    Converted,
    CsvOptions,
    check_parquet,
    csv_to_parquet,
    event_range,
    find_timestamp_column,
    read_csv,
    to_parquet,
)
from .engine import ENGINES, Engine, QuerySession, cat, create_engine, query
from .output import WRITERS, Preview, preview, render_preview, write
from .sources import Part, TimeRange
from .system import SYSTEM_TABLES
from .urls import FORMATS, PondURL, is_url, parse_url, read_url

__all__ = [
    "ENGINES",
    "FORMATS",
    "SYSTEM_TABLES",
    "WRITERS",
    "Converted",
    "CsvOptions",
    "Engine",
    "Part",
    "PondURL",
    "Preview",
    "QuerySession",
    "TimeRange",
    "cat",
    "check_parquet",
    "create_engine",
    "csv_to_parquet",
    "event_range",
    "find_timestamp_column",
    "is_url",
    "parse_url",
    "preview",
    "query",
    "read_csv",
    "read_url",
    "render_preview",
    "to_parquet",
    "write",
]
