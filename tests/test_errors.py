"""The error boundary: library callers get PondErrors, one line, with path and transaction."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from duckpond import Pond
from duckpond.errors import (
    ConfigError,
    FormatError,
    PondCorruptError,
    PondError,
    QueryError,
    TransactionError,
    describe,
    translate,
)


@pytest.fixture
def pond(tmp_path: Path) -> Pond:
    return Pond.init(tmp_path / "pond", command=["test"])


def _named(module: str, name: str, base: type[Exception] = Exception) -> type[Exception]:
    return type(name, (base,), {"__module__": module})


def test_translate_knows_libraries_by_name_alone() -> None:
    cases = [
        (_named("pyarrow.lib", "ArrowInvalid", ValueError), FormatError),
        (_named("_internal", "CommitFailedError"), TransactionError),
        (_named("_internal", "DeltaError"), PondCorruptError),
        (_named("datafusion", "Exception"), QueryError),
    ]
    for cls, expected in cases:
        found = translate(cls("bad\nthing"))
        assert type(found) is expected, cls
        assert str(found).endswith("bad\\nthing"), str(found)


def test_translate_leaves_our_errors_and_bugs_alone() -> None:
    ours = FileNotFoundError(2, "no such file", "/x")
    assert translate(ours) is ours
    bug = KeyError("x")
    assert translate(bug) is bug


def test_errors_module_imports_no_third_party_library() -> None:
    code = (
        "import sys, duckpond.errors\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pyarrow', 'deltalake', 'datafusion', 'pandas'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_arrow_error_in_a_write_is_a_format_error_naming_path_and_transaction(
    pond: Pond,
) -> None:
    with pytest.raises(FormatError) as info:
        pond.write_table("/t", {"a": [1, "x"]})
    message = str(info.value)
    assert isinstance(info.value.__cause__, pa.ArrowInvalid)
    assert "\n" not in message
    assert message.startswith("/t: ") and "(transaction 2)" in message, message
    assert info.value.path == "/t" and info.value.txn == 2
    assert [t.txn_seq for t in pond.log()] == [1]


def test_a_datafusion_error_is_a_query_error(pond: Pond) -> None:
    with pytest.raises(QueryError):
        pond.sql("SELECT * FROM no_such_table")


def test_library_messages_name_parameters_and_the_cli_names_flags(pond: Pond) -> None:
    with pytest.raises(ConfigError) as info:
        pond.log(limit=0)
    assert str(info.value) == "limit must be at least 1, not 0"
    assert describe(info.value, cli=True) == "--limit must be at least 1, not 0"
    suggestion = FormatError("keep the raw bytes with {format}", options={"format": "data"})
    assert str(suggestion) == "keep the raw bytes with format='data'"
    assert describe(suggestion, cli=True) == "keep the raw bytes with --format data"
    assert isinstance(suggestion, PondError)
