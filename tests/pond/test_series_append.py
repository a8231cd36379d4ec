"""Appending to a series: which versions are accepted, and that the check does not read
every version (the newest version's summary of the schemas seen answers it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from duckpond import Pond
from duckpond.errors import FormatError
from duckpond.ingest.store import SCHEMAS_SEEN
from duckpond.query.parquet import table_to_parquet
from duckpond.tinyfs.nodes import Node
from duckpond.tinyfs.persistence import FILE_SERIES

T0 = datetime(2025, 1, 1, tzinfo=UTC)
PATH = "/s.series"


def version(step: int, **columns: pa.Array) -> pa.Table:
    times = pa.array([T0 + timedelta(hours=step)], pa.timestamp("us", "UTC"))
    return pa.table({"timestamp": times, **columns})


INT = {"value": pa.array([1], pa.int64())}
FLOAT = {"value": pa.array([1.5], pa.float64())}
TEXT = {"value": pa.array(["high"], pa.string())}
OTHER = {"depth": pa.array([2.0], pa.float64())}
TIME_ONLY: dict[str, pa.Array] = {}

# (versions already in the series, the one appended): accepted, or refused.
CASES: list[tuple[str, list[dict[str, pa.Array]], dict[str, pa.Array], bool]] = [
    ("same schema", [FLOAT, FLOAT], FLOAT, True),
    ("ints widen to float", [INT, INT], FLOAT, True),
    ("float then ints", [FLOAT, FLOAT], INT, True),
    ("int, float, then int again", [INT, FLOAT, INT], INT, True),
    ("a new column", [FLOAT], OTHER, True),
    ("a column dropped", [{**FLOAT, **OTHER}], TIME_ONLY, True),
    ("text where floats were", [FLOAT, FLOAT], TEXT, False),
    ("floats where text was", [TEXT], FLOAT, False),
    ("text after ints widened", [INT, FLOAT], TEXT, False),
]

# What each refusal says of the column: its type in the new version, then the series'
# (the versions' types unified, as a read gives them).
SAID = {
    "text where floats were": "'value' is text (string) where the series has number (double)",
    "floats where text was": "'value' is number (double) where the series has text (string)",
    "text after ints widened": "'value' is text (string) where the series has number (double)",
}


def append(pond: Pond, versions: list[dict[str, pa.Array]], new: dict[str, pa.Array]) -> str:
    """Write ``versions`` then append ``new``; "" if accepted, else the error's line."""
    for step, columns in enumerate(versions):
        pond.write_series(PATH, version(step, **columns))
    try:
        pond.write_series(PATH, version(len(versions), **new))
    except FormatError as e:
        return str(e)
    return ""


def written_before_summaries(pond: Pond, versions: list[dict[str, pa.Array]]) -> None:
    """The versions as a pond written before ``SCHEMAS_SEEN`` holds them: the same bytes
    and attributes, without the summary."""
    with pond.transaction() as tx:
        for step, columns in enumerate(versions):
            converted = table_to_parquet(version(step, **columns), require_timestamp=True)
            tx.root.write_file(
                PATH,
                converted.data,
                node_type=FILE_SERIES,
                attributes=converted.attributes(),
                event_range=converted.event_range,
            )


@pytest.mark.parametrize(("case", "versions", "new", "accepted"), CASES, ids=[c[0] for c in CASES])
def test_accepts_and_refuses_alike_with_and_without_the_summary(
    tmp_path: Path,
    case: str,
    versions: list[dict[str, pa.Array]],
    new: dict[str, pa.Array],
    accepted: bool,
) -> None:
    fast = Pond.init(tmp_path / "fast", command=["test"])
    error = append(fast, versions, new)
    assert (error == "") is accepted, error
    if not accepted:
        assert error.startswith(f"{PATH}: the new version's column {SAID[case]}"), error
        assert error.endswith("; fix the input, or store it as a new series"), error
        assert "\n" not in error and "Unable to merge" not in error
        # Refused: the series is as it was.
        assert len(fast.root.get(PATH).node.versions()) == len(versions)
    else:
        fast.read_table(PATH)  # the series still reads whole

    slow = Pond.init(tmp_path / "slow", command=["test"])
    written_before_summaries(slow, versions)
    assert SCHEMAS_SEEN not in slow.root.get(PATH).info().attributes
    assert append(slow, [], new) == error.replace(str(tmp_path / "fast"), str(tmp_path / "slow"))
    if accepted:
        # The first append on an older pond records the summary; the next use it.
        summary = slow.root.get(PATH).info().attributes[SCHEMAS_SEEN]
        assert summary == fast.root.get(PATH).info().attributes[SCHEMAS_SEEN]


def test_an_append_reads_no_version_but_the_newest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pond = Pond.init(tmp_path / "pond", command=["test"])
    for step in range(5):
        pond.write_series(PATH, version(step, **(INT if step % 2 else FLOAT)))

    def refuse(self: Node) -> Any:
        raise AssertionError("the append check listed every version")

    monkeypatch.setattr(Node, "versions", refuse)
    pond.write_series(PATH, version(5, **FLOAT))
    pond.write_series(PATH, version(6, **INT))
    with pytest.raises(FormatError, match="where the series has"):
        pond.write_series(PATH, version(7, **TEXT))
    summary = pond.root.get(PATH).info().attributes[SCHEMAS_SEEN]
    assert summary["since"] == 1 and summary["through"] == 7
    assert [v for v, _ in summary["seen"]] == [1, 2]  # float first seen at 1, int at 2


def test_a_summary_copied_to_another_version_is_not_trusted(tmp_path: Path) -> None:
    """A version whose summary names another version (a writer that copied attributes)
    sends the check back to every version, which refuses what the copy would accept."""
    pond = Pond.init(tmp_path / "pond", command=["test"])
    pond.write_series(PATH, version(0, **FLOAT))
    copied = pond.root.get(PATH).info().attributes
    text = table_to_parquet(version(1, **TEXT), require_timestamp=True)
    with pond.transaction() as tx:
        # Stored as a pond that did not check would (the series cannot be read whole).
        tx.root.write_file(
            PATH, text.data, attributes={**text.attributes(), SCHEMAS_SEEN: copied[SCHEMAS_SEEN]}
        )
    with pytest.raises(FormatError, match="where the series has"):
        pond.write_series(PATH, version(2, **FLOAT))


def test_after_maintain_consolidates_the_check_still_holds(tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "pond", command=["test"])
    for step in range(6):
        pond.write_series(PATH, version(step, **FLOAT))
    pond.maintenance.maintain(keep_txns=2)  # consolidates versions 1 to 4 (one schema)
    series = pond.root.get(PATH)
    assert series.node.oldest().version > 1
    with pytest.raises(FormatError, match="where the series has"):
        pond.write_series(PATH, version(6, **TEXT))
    pond.write_series(PATH, version(6, **INT))
    summary = pond.root.get(PATH).info().attributes[SCHEMAS_SEEN]
    assert summary["since"] == pond.root.get(PATH).node.oldest().version
    assert pond.read_table(PATH).column("value").type == pa.float64()


def test_a_series_of_ever_new_columns_stops_carrying_a_summary(tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "pond", command=["test"])
    with pond.transaction() as tx:
        for step in range(70):
            tx.write_series(PATH, version(step, **{f"c{step}": pa.array([1.0])}))
    attributes = pond.root.get(PATH).info().attributes
    assert SCHEMAS_SEEN not in attributes
    with pytest.raises(FormatError, match="where the series has"):
        pond.write_series(PATH, version(70, **{"c3": pa.array(["x"])}))
    pond.write_series(PATH, version(70, **{"c3": pa.array([2])}))


def test_the_python_api_says_text_came_for_numbers_in_its_own_words(tmp_path: Path) -> None:
    """No CSV was read: the error names no CSV option, only what the column must be."""
    pond = Pond.init(tmp_path / "pond", command=["test"])
    pond.write_series(PATH, version(0, **FLOAT))
    with pytest.raises(FormatError) as refused:
        pond.write_series(PATH, version(1, **TEXT, depth=pa.array(["deep"])))
    assert str(refused.value) == (
        f"{PATH}: the new version's column 'value' is text (string) where the series has "
        "number (double); give column 'value' as numbers (no value as null); fix the "
        "input, or store it as a new series"
    )
