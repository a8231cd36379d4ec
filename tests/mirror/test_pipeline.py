"""Computed outputs in a mirror, and the ``Mirror`` resource run by ``pond run``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from duckpond.pond import Pond


def series(values: list[float], start: int = 0) -> pa.Table:
    times = [(start + i) * 3_600_000_000 for i in range(len(values))]
    return pa.table({"timestamp": pa.array(times, pa.timestamp("us", "UTC")), "v": values})


@pytest.fixture
def pond(tmp_path: Path) -> Pond:
    p = Pond.init(tmp_path / "pond", command=["test"])
    p.mkdir("/raw")
    p.write_series("/raw/a.series", series([1.0, 2.0, 3.0]))
    p.write_series("/raw/b.series", series([10.0]))
    doc = tmp_path / "derived.yaml"
    doc.write_text(
        textwrap.dedent(
            """\
            apiVersion: duckpond/v1
            kind: SqlDerived
            name: total
            spec:
              inputs:
                a: "/raw/a.series"
              query: SELECT timestamp, v * 2 AS v2 FROM a
              mode: series
            """
        )
    )
    p.pipeline.apply([doc])
    return p


def test_a_computed_output_is_rewritten_only_when_an_input_changes(
    pond: Pond, tmp_path: Path
) -> None:
    out = tmp_path / "m"
    first = pond.mirrors.write(out, ["/sqlderived/**", "/raw/*"])
    assert "/sqlderived/total" in first.written
    assert pq.read_table(out / "sqlderived/total.parquet").column("v2").to_pylist() == [2, 4, 6]
    # Another input of the pond moves: the output is not computed or written again.
    pond.write_series("/raw/b.series", series([11.0], 5))
    second = pond.mirrors.write(out)
    assert second.written == ["/raw/b.series"]
    # Its own input moves: it is.
    pond.write_series("/raw/a.series", series([4.0], 3))
    third = pond.mirrors.write(out)
    assert sorted(third.written) == ["/raw/a.series", "/sqlderived/total"]
    assert pq.read_table(out / "sqlderived/total.parquet").column("v2").to_pylist() == [2, 4, 6, 8]


def test_a_mirror_resource_runs_from_pond_run(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "share"
    doc = tmp_path / "mirror.yaml"
    doc.write_text(
        textwrap.dedent(
            f"""\
            apiVersion: duckpond/v1
            kind: Mirror
            name: share
            spec:
              dir: {out}
              patterns: ["/raw/*"]
              tables: csv
            """
        )
    )
    pond.pipeline.apply([doc])
    report = pond.pipeline.run()
    [result] = report.results
    assert result.outcome == "ok", result.error
    assert sorted(w["path"] for w in result.details["written"]) == [
        "/raw/a.series",
        "/raw/b.series",
    ]
    assert {w["host"] for w in result.details["written"]} == {
        "raw/a.series.csv",
        "raw/b.series.csv",
    }
    assert (out / "raw/a.series.csv").read_text().count("\n") == 4
    pond.write_series("/raw/b.series", series([12.0], 9))
    [again] = pond.pipeline.run().results
    assert again.details["written"] == [{"path": "/raw/b.series", "host": "raw/b.series.csv"}]
    assert "1 written" in again.summary


def test_a_mirror_resource_needs_an_absolute_folder(pond: Pond, tmp_path: Path) -> None:
    from duckpond.errors import ConfigError

    doc = tmp_path / "bad.yaml"
    doc.write_text(
        "apiVersion: duckpond/v1\nkind: Mirror\nname: bad\nspec:\n  dir: relative/share\n"
    )
    with pytest.raises(ConfigError, match="absolute"):
        pond.pipeline.apply([doc])


def test_a_mirror_resource_whose_dir_is_a_file(pond: Pond, tmp_path: Path) -> None:
    from duckpond.errors import ConfigError

    afile = tmp_path / "afile"
    afile.write_text("mine")
    doc = tmp_path / "bad.yaml"
    doc.write_text(f"apiVersion: duckpond/v1\nkind: Mirror\nname: bad2\nspec:\n  dir: {afile}\n")
    # Refused at apply, in the CLI's words.
    with pytest.raises(ConfigError, match="a folder, and this is not one"):
        pond.pipeline.apply([doc])
    # A file that appears after apply: the run fails with the same words, the file untouched.
    afile.unlink()
    pond.pipeline.apply([doc])
    afile.write_text("mine")
    [result] = pond.pipeline.run().results
    assert result.outcome != "ok"
    assert "a folder, and this is not one" in str(result.error)
    assert "File exists" not in str(result.error)
    assert afile.read_text() == "mine"


def test_a_mirror_resource_pattern_that_matches_nothing_fails_its_run(
    pond: Pond, tmp_path: Path
) -> None:
    out = tmp_path / "share"
    doc = tmp_path / "m.yaml"
    doc.write_text(
        "apiVersion: duckpond/v1\nkind: Mirror\nname: typo\nspec:\n"
        f"  dir: {out}\n  patterns: ['/rwa/*']\n"
    )
    pond.pipeline.apply([doc])
    [result] = pond.pipeline.run().results
    assert result.outcome != "ok" and "/rwa/*" in str(result.error)
    assert not out.exists()
