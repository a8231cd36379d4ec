"""A version whose columns do not fit its series, as a fresh user met it (a logger's file
with ``NA`` where the series has numbers): one line in our words, naming each column,
its type in the series and in the new version, and the CSV option that reads it."""

from __future__ import annotations

from pathlib import Path

from .conftest import PondRunner, write


def test_text_where_the_series_has_integers_names_the_column_and_the_fix(
    pond: PondRunner, host: Path
) -> None:
    ok = write(host / "ok.csv", "timestamp,temp\n2024-01-01T00:00:00Z,1\n")
    one = write(host / "one.csv", "timestamp,temp\n2024-01-01T01:00:00Z,NA\n")
    pond.ok("mkdir", "/d")
    pond.ok("copy", "--format", "series", str(ok), "/d/two.series")
    error = pond.fails("copy", "--format", "series", str(one), "/d/two.series")
    assert error.startswith(
        "/d/two.series: the new version's column 'temp' is text (string) where the series "
        "has integer (int64); 'NA' in column 'temp' is not a number"
    ), error
    assert "name it a missing value with --null-value NA;" in error, error
    assert "Unable to merge" not in error and "incompatible" not in error, error
    # The fix the error names works.
    pond.ok("copy", "--format", "series", "--null-value", "NA", str(one), "/d/two.series")
    assert len(pond.json("history", "/d/two.series")) == 2


def test_text_of_numbers_names_the_column_type_and_a_value_with_spaces_is_quoted(
    pond: PondRunner, host: Path
) -> None:
    ok = write(host / "ok.csv", "timestamp,temp\n2024-01-01T00:00:00Z,1.5\n")
    pond.ok("copy", "--format", "series", str(ok), "/s.series")
    error = pond.fails(
        "copy", "--format", "series", "--column-type", "temp=string", str(ok), "/s.series"
    )
    assert "'temp' is text (string) where the series has number (double)" in error, error
    assert "read column 'temp' as numbers with --column-type temp=float64;" in error, error
    unit = write(host / "unit.csv", "timestamp,temp\n2024-01-01T01:00:00Z,12.5 C\n")
    error = pond.fails("copy", "--format", "series", str(unit), "/s.series")
    assert "'12.5 C' in column 'temp' is not a number" in error, error
    assert "--null-value '12.5 C'" in error, error


def test_every_conflicting_column_is_counted_the_first_named(pond: PondRunner, host: Path) -> None:
    head = "timestamp,a,b,c,d,e,f\n"
    first = write(host / "first.csv", head + "2024-01-01T00:00:00Z,1,2,3,4,5,6\n")
    second = write(host / "second.csv", head + "2024-01-01T01:00:00Z,x,y,true,2024-01-01,w,7\n")
    pond.ok("copy", "--format", "series", str(first), "/m.series")
    error = pond.fails("copy", "--format", "series", str(second), "/m.series")
    assert error.startswith(
        "/m.series: 5 of the new version's columns do not match the series: "
        "'a' is text (string) where the series has integer (int64), "
        "'b' is text (string) where the series has integer (int64), "
        "'c' is true/false (bool) where the series has integer (int64), and 2 more; "
        "'x' in column 'a' is not a number"
    ), error
