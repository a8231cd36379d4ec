"""An error names an option as its user wrote it (issue 20): a flag to ``pond copy``'s
user, a YAML key to a resource's.  The same mistakes through both doors."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import PondRunner

CSV = "timestamp,flow,site\n2025-01-01T00:00Z,3,a\n2025-01-01T01:00Z,NA,b\n"

# (flags of pond copy, the words of its error, the csv: options of an Inbox, their words)
CASES = [
    (
        ["--column-type", "flw=int64"],
        "--column-type: no column 'flw' (columns: timestamp, flow, site); did you mean 'flow'?",
        "{column_types: {flw: int64}}",
        "column_types: no column 'flw' (columns: timestamp, flow, site); did you mean 'flow'?",
    ),
    (
        ["--column-type", "flow=decimal"],
        "--column-type: column 'flow': 'decimal' is not one of string, int64",
        None,
        None,
    ),
    (
        ["--null-value", ""],
        "--null-value: each marker is non-empty text",
        "{null_values: ['']}",
        "spec.csv.null_values: each marker is non-empty text",
    ),
    (
        ["--time-column", "site"],
        "--time-column: the times of day are joined to --timestamp-column's dates and read "
        "with --timestamp-format",
        "{time_column: site}",
        "spec.csv.time_column: the times of day are joined to timestamp_column's dates and "
        "read with timestamp_format",
    ),
    (
        [],
        "'NA' in a column of numbers; name it a missing value with --null-value NA (or keep "
        "the column as text with --column-type flow=string)",
        "{}",
        "'NA' in a column of numbers; name it a missing value with null_values: ['NA'] (or "
        "keep the column as text with column_types: {'flow': string})",
    ),
    (
        ["--skip-rows", "9"],
        "--skip-rows 9: the file has no header after 9 lines above it",
        "{skip_rows: 9}",
        "skip_rows: 9: the file has no header after 9 lines above it",
    ),
    (
        # A format is no silent exception for ISO 8601 text: it reads every value.
        ["--timestamp-format", "%d/%m/%Y"],
        "data row 1 (line 2), column 'timestamp': '2025-01-01T00:00Z' does not match "
        "--timestamp-format '%d/%m/%Y'",
        "{timestamp_format: '%d/%m/%Y'}",
        "data row 1 (line 2), column 'timestamp': '2025-01-01T00:00Z' does not match "
        "timestamp_format: '%d/%m/%Y'",
    ),
    (
        ["--timestamp-column", "flow", "--timestamp-format", "%Y%m%d"],
        "data row 1 (line 2), column 'flow': '3' does not match --timestamp-format '%Y%m%d'",
        "{timestamp_column: flow, timestamp_format: '%Y%m%d'}",
        "data row 1 (line 2), column 'flow': '3' does not match timestamp_format: '%Y%m%d'",
    ),
]


@pytest.mark.parametrize(("flags", "said", "_csv", "_keyed"), CASES)
def test_pond_copy_errors_name_flags(
    pond: PondRunner, host: Path, flags: list[str], said: str, _csv: object, _keyed: object
) -> None:
    src = host / "f.csv"
    src.write_text(CSV)
    message = pond.fails("copy", "--format", "series", *flags, str(src), "/s.series")
    assert said in message
    for key in ("column_types", "null_values", "time_column", "timestamp_format", "skip_rows"):
        assert key not in message


@pytest.mark.parametrize(
    ("csv", "keyed"), [(csv, keyed) for _, _, csv, keyed in CASES if csv is not None]
)
def test_inbox_errors_name_yaml_keys(pond: PondRunner, host: Path, csv: str, keyed: str) -> None:
    inbox = host / "in"
    inbox.mkdir()
    (inbox / "f.csv").write_text(CSV)
    doc = host / "inbox.yaml"
    doc.write_text(
        f"""
apiVersion: duckpond/v1
kind: Inbox
name: drop
spec:
  pattern: "{inbox}/*.csv"
  format: series
  settle: 0s
  csv: {csv}
"""
    )
    applied = pond("apply", "-f", str(doc))
    if applied.exit_code != 0:
        message = applied.stderr
    else:
        result = pond("run")
        assert result.exit_code == 1
        message = result.stdout
    assert keyed in " ".join(message.split())
    assert "--" not in message


def test_a_zone_no_time_is_read_in_is_refused_in_the_users_words(
    pond: PondRunner, host: Path
) -> None:
    src = host / "z.csv"
    src.write_text("timestamp,flow\n2025-01-01T00:00Z,3\n")
    message = pond.fails("copy", "--format", "series", "--tz", "Europe/Paris", str(src), "/s")
    assert "--tz Europe/Paris: every time in column 'timestamp' says its own zone" in message
    naive = host / "n.csv"
    naive.write_text("timestamp,flow\n2025-01-01 01:00,3\n")
    pond.ok("copy", "--format", "series", "--tz", "Europe/Paris", str(naive), "/n.series")
    assert "2025-01-01T00:00:00Z" in pond.ok("cat", "/n.series", "--format", "csv").stdout
