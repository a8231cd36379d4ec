"""SQL over the pond: host input in the canonical stored form, the engine adapter, URLs and output.

Importing this package is cheap: pyarrow and datafusion are imported inside
the functions that need them, so ``pond --help`` stays fast.
"""

from .canonical import event_range, find_timestamp_column
from .csvread import CsvOptions, csv_to_parquet, read_csv
from .engine import (
    ENGINES,
    Engine,
    QuerySession,
    cat,
    create_engine,
    query,
    read_node,
    read_source,
    run_query,
    scan_node,
)
from .output import WRITERS, Preview, preview, render_preview, write
from .parquet import Converted, as_arrow, check_parquet, parquet_file, table_to_parquet
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
    "as_arrow",
    "cat",
    "check_parquet",
    "create_engine",
    "csv_to_parquet",
    "event_range",
    "find_timestamp_column",
    "is_url",
    "parquet_file",
    "parse_url",
    "preview",
    "query",
    "read_csv",
    "read_node",
    "read_source",
    "read_url",
    "render_preview",
    "run_query",
    "scan_node",
    "table_to_parquet",
    "write",
]
