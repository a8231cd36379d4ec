"""Derivations through the CLI: SqlDerived and Synthetic as dynamic nodes made by ``pond apply``.

Results are checked against the same computation done independently with
pandas or numpy on the input data.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ..cli.conftest import write
from .conftest import PondRunner, doc, yaml_file

A_CSV = (
    "timestamp,temp,cond\n"
    "2025-01-01T00:00:00Z,10.5,100\n"
    "2025-01-01T01:00:00Z,11.0,110\n"
    "2025-01-01T02:00:00Z,12.25,120\n"
)
# Columns in another order, one missing: a glob's matches are unioned by column name.
B_CSV = "timestamp,cond,temp\n2025-01-01T00:30:00Z,200,20.0\n2025-01-01T01:30:00Z,210,21.5\n"
C_CSV = "timestamp,temp\n2025-01-01T03:00:00Z,30.0\n"


def frame(pond: PondRunner, *args: str) -> pd.DataFrame:
    """A node (or query) read through ``pond cat --format parquet`` as pandas."""
    data = pond.cat_bytes(*args, "--format", "parquet")
    return pq.read_table(io.BytesIO(data)).to_pandas()


def csv_frame(text: str) -> pd.DataFrame:
    df = pd.read_csv(io.StringIO(text))
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    return df


@pytest.fixture
def sites(pond: PondRunner, host: Path) -> PondRunner:
    """Three series under /sites: a, b (columns reordered) and c (a column missing)."""
    pond.ok("mkdir", "/sites")
    for name, text in (("a", A_CSV), ("b", B_CSV), ("c", C_CSV)):
        src = write(host / f"{name}.csv", text)
        pond.ok("copy", "--format", "series", str(src), f"/sites/{name}.series")
    return pond


def apply(pond: PondRunner, tmp_path: Path, *docs: str, name: str = "r.yaml") -> str:
    return str(pond.ok("apply", "-f", str(yaml_file(tmp_path / name, *docs))).stdout)


def test_sql_derived_series_over_a_glob_equals_pandas(sites: PondRunner, tmp_path: Path) -> None:
    out = apply(
        sites,
        tmp_path,
        doc(
            "SqlDerived",
            "warm",
            "{inputs: {s: '/sites/*.series'}, query: 'SELECT timestamp, temp * 1.8 + 32 AS "
            "temp_f, cond FROM s WHERE temp > 11 ORDER BY timestamp'}",
        ),
    )
    assert "created dynamic:file: /sqlderived/warm (warm)" in out
    got = frame(sites, "/sqlderived/warm")
    every = pd.concat([csv_frame(t) for t in (A_CSV, B_CSV, C_CSV)], ignore_index=True)
    want = every[every.temp > 11].sort_values("timestamp").reset_index(drop=True)
    assert got["timestamp"].tolist() == want["timestamp"].tolist()
    assert got["temp_f"].tolist() == pytest.approx((want.temp * 1.8 + 32).tolist())
    # c has no cond column: a null there, not a failed union.
    assert got["cond"].isna().tolist() == want["cond"].isna().tolist()
    listed = sites.json("list", "-l", "/sqlderived/warm")
    assert [e["type"] for e in listed] == ["dynamic:file"]
    described = sites.ok("describe", "/sqlderived/warm").stdout
    assert f"rows:     {len(want)}" in described


def test_sql_derived_table_mode_and_sql_on_top(sites: PondRunner, tmp_path: Path) -> None:
    apply(
        sites,
        tmp_path,
        doc(
            "SqlDerived",
            "stats",
            "{mode: table, inputs: {a: /sites/a.series, b: /sites/b.series}, query: "
            "'SELECT (SELECT avg(temp) FROM a) AS a_avg, (SELECT max(cond) FROM b) AS b_max'}",
        ),
    )
    got = frame(sites, "/sqlderived/stats")
    a, b = csv_frame(A_CSV), csv_frame(B_CSV)
    assert got["a_avg"].tolist() == pytest.approx([a.temp.mean()])
    assert got["b_max"].tolist() == [b.cond.max()]
    rows = sites.json("query", 'SELECT a_avg * 2 AS twice FROM "/sqlderived/stats"')
    assert rows[0]["twice"] == pytest.approx(2 * a.temp.mean())
    rows = sites.json("cat", "/sqlderived/stats", "--sql", "SELECT b_max + 1 AS m FROM source")
    assert rows == [{"m": b.cond.max() + 1}]


def test_per_match_outputs_are_named_by_captures(sites: PondRunner, tmp_path: Path) -> None:
    out = apply(
        sites,
        tmp_path,
        doc(
            "SqlDerived",
            "hourly",
            "{per_match: true, name: 'site-$0.series', inputs: {s: '/sites/*.series'}, "
            "query: 'SELECT timestamp, temp + 1 AS t1 FROM s ORDER BY timestamp'}",
        ),
    )
    assert "created dynamic:dir: /sqlderived/hourly (hourly)" in out
    names = sites.paths("/sqlderived/hourly/")
    assert names == [f"/sqlderived/hourly/site-{n}.series" for n in ("a", "b", "c")]
    for n, text in (("a", A_CSV), ("b", B_CSV), ("c", C_CSV)):
        got = frame(sites, f"/sqlderived/hourly/site-{n}.series")
        want = csv_frame(text).sort_values("timestamp")
        assert got["t1"].tolist() == pytest.approx((want.temp + 1).tolist())
    # A new match is a new entry.
    sites.ok("copy", "/sqlderived/hourly/site-a.series", "host://" + str(tmp_path / "out"))
    assert (tmp_path / "out" / "site-a.series").stat().st_size > 0


def test_a_series_without_a_timestamp_is_a_clean_error(sites: PondRunner, tmp_path: Path) -> None:
    apply(
        sites,
        tmp_path,
        doc("SqlDerived", "bad", "{inputs: {a: /sites/a.series}, query: 'SELECT temp FROM a'}"),
    )
    message = sites.error("cat", "/sqlderived/bad")
    assert "needs a timestamp column" in message


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("{inputs: {'1a': /x}, query: 'SELECT 1'}", "spec.inputs: input name '1a' is not"),
        (
            "{inputs: {a: /x, b: /y}, query: 'SELECT 1', per_match: true}",
            "spec: per_match needs exactly one input",
        ),
        (
            "{inputs: {a: '/x/*'}, query: 'SELECT 1', per_match: true, name: out}",
            "with captures ($0",
        ),
        ("{inputs: {a: /x}}", "spec.query: field required"),
        ("{inputs: {a: /x}, query: 'SELECT 1', mode: tabular}", "spec.mode"),
    ],
)
def test_bad_sql_derived_documents(
    pond: PondRunner, tmp_path: Path, spec: str, problem: str
) -> None:
    f = yaml_file(tmp_path / "bad.yaml", doc("SqlDerived", "bad", spec))
    message = pond.fails("apply", "-f", str(f))
    assert message.startswith(f"{f}: document 1 (bad): spec")
    assert problem in message


def test_sql_errors_name_the_derived_output(sites: PondRunner, tmp_path: Path) -> None:
    apply(
        sites,
        tmp_path,
        doc(
            "SqlDerived",
            "badcol",
            "{inputs: {a: /sites/a.series}, query: 'SELECT timestamp, nosuch FROM a'}",
        ),
        doc("SqlDerived", "good", "{inputs: {a: /sites/a.series}, query: 'SELECT * FROM a'}"),
    )
    message = sites.fails("cat", "/sqlderived/badcol")
    assert message.startswith("/sqlderived/badcol: "), message
    assert "nosuch" in message
    message = sites.fails("export", "/sqlderived/**", "--dir", str(tmp_path / "out"))
    assert message.startswith("/sqlderived/badcol: "), message
    # A query in a query names the output too.
    message = sites.fails("query", 'SELECT * FROM "/sqlderived/badcol"')
    assert "/sqlderived/badcol: " in message, message
    assert len(frame(sites, "/sqlderived/good")) == 3


# -- Synthetic ---------------------------------------------------------------------------

SYNTH = (
    "{start: '2025-03-01T00:00:00Z', end: '2025-03-03T00:00:00Z', interval: 10m, points: ["
    "{name: wave, components: [{type: sine, amplitude: 2, period: 6h, phase: 0.25}, "
    "{type: line, offset: 5, slope: 0.5}]}, "
    "{name: saw, components: [{type: triangle, amplitude: 3, period: 1d}, "
    "{type: square, amplitude: 0.5, period: 2h, offset: 1}]}, "
    "{name: fuzz, components: [{type: noise, amplitude: 0.1, seed: 42}]}]}"
)


def test_synthetic_values_match_numpy_formulas(pond: PondRunner, tmp_path: Path) -> None:
    apply(pond, tmp_path, doc("Synthetic", "demo", SYNTH))
    got = frame(pond, "/synthetic/demo")
    start = datetime(2025, 3, 1, tzinfo=UTC)
    n = 2 * 24 * 6
    assert len(got) == n
    t = start.timestamp() + 600.0 * np.arange(n)
    assert got["timestamp"].tolist() == list(pd.to_datetime(t, unit="s", utc=True))
    days = (t - t[0]) / 86400

    def frac(u: np.ndarray) -> np.ndarray:
        return u - np.floor(u)

    wave = 2 * np.sin(2 * np.pi * (t / (6 * 3600) + 0.25)) + 5 + 0.5 * days
    saw = 3 * (1 - 4 * np.abs(frac(t / 86400) - 0.5)) + (
        1 + 0.5 * np.where(frac(t / 7200) < 0.5, 1.0, -1.0)
    )
    fuzz = 0.1 * np.random.default_rng(42).standard_normal(n)
    np.testing.assert_allclose(got["wave"], wave, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got["saw"], saw, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got["fuzz"], fuzz, rtol=1e-12)


def test_synthetic_values_at_multiples_of_the_period_are_exact(
    pond: PondRunner, tmp_path: Path
) -> None:
    # Epoch seconds (~1.7e9) scaled to periods in floating point gave 1.9999999999965206
    # for 2 + sin(0): the time is reduced modulo the period in integer microseconds first.
    spec = (
        "{start: '2025-06-01T00:00:00Z', end: '2025-06-05T00:00:01Z', interval: 1h, points: ["
        "{name: wave, components: [{type: line, offset: 2}, {type: sine, period: 24h}]}, "
        "{name: tri, components: [{type: triangle, amplitude: 3, period: 6h}]}, "
        "{name: sq, components: [{type: square, period: 2h, phase: 0.5}]}]}"
    )
    apply(pond, tmp_path, doc("Synthetic", "wave", spec))
    out = pond.ok("cat", "/synthetic/wave", "--format", "csv").stdout
    got = csv_frame(out)
    hours = (got["timestamp"] - got["timestamp"][0]) / pd.Timedelta(hours=1)
    at_day = got[hours % 24 == 0]
    assert len(at_day) == 5
    assert at_day["wave"].tolist() == [2.0] * 5
    assert "1.99999" not in out
    at_6h = got[hours % 6 == 0]
    assert at_6h["tri"].tolist() == [-3.0] * len(at_6h)
    # A quarter period on: exactly +1 and 0 (sin(pi/2) and the triangle's zero crossing).
    assert got[hours % 24 == 6]["wave"].tolist() == [3.0] * 4
    assert got[hours % 2 == 0]["sq"].tolist() == [-1.0] * len(got[hours % 2 == 0])


def test_synthetic_is_streamed_and_knows_its_range(pond: PondRunner, tmp_path: Path) -> None:
    # 200,000 rows: more than one batch, and noise that does not depend on the batching.
    spec = (
        "{start: '2020-01-01T00:00:00Z', end: '2020-03-19T19:33:20Z', interval: 30s, "
        "points: [{name: x, components: [{type: noise, seed: 1}]}]}"
    )
    apply(pond, tmp_path, doc("Synthetic", "big", spec))
    described = pond.ok("describe", "/synthetic/big").stdout
    assert "rows:     226987" in described
    assert "events:   2020-01-01T00:00:00Z .. 2020-03-19T19:33:00Z" in described
    got = frame(pond, "/synthetic/big")
    np.testing.assert_array_equal(got["x"], np.random.default_rng(1).standard_normal(len(got)))
    # Streamed: the output is many batches, not one table.
    from duckpond import Pond

    output = Pond.open(pond.dir).root.get("/synthetic/big").node.output()
    sizes = [b.num_rows for b in output.batches()]  # type: ignore[union-attr]
    assert len(sizes) > 3 and sum(sizes) == len(got)
    # A time window reads only rows in it.
    part = frame(pond, "/synthetic/big", "--start", "2020-02-01", "--end", "2020-02-01T00:02:00Z")
    assert len(part) == 4


def test_bad_synthetic_documents(pond: PondRunner, tmp_path: Path) -> None:
    bad = SYNTH.replace("2025-03-03", "2025-02-03")
    f = yaml_file(tmp_path / "s.yaml", doc("Synthetic", "s", bad))
    assert "end must be after start" in pond.fails("apply", "-f", str(f))
    f = yaml_file(tmp_path / "s.yaml", doc("Synthetic", "s", SYNTH.replace("sine", "cosine")))
    assert "spec.points.0.components.0.type" in pond.fails("apply", "-f", str(f))


# -- apply, update, remove ----------------------------------------------------------------


def test_apply_update_keeps_node_and_time_travel_reads_old_spec(
    sites: PondRunner, tmp_path: Path
) -> None:
    query = "{inputs: {a: /sites/a.series}, query: 'SELECT timestamp, temp * %s AS x FROM a'}"
    apply(sites, tmp_path, doc("SqlDerived", "scaled", query % 2))
    first_txn = sites.json("log", "--limit", "1")[0]["txn_seq"]
    node_id = sites.json("list", "-l", "/sqlderived/scaled")[0]["node_id"]
    # Re-applying the same file writes nothing.
    out = apply(sites, tmp_path, doc("SqlDerived", "scaled", query % 2))
    assert "nothing to apply" in out
    out = apply(sites, tmp_path, doc("SqlDerived", "scaled", query % 10))
    assert "updated dynamic:file: /sqlderived/scaled (scaled)" in out
    listed = sites.json("list", "-l", "/sqlderived/scaled")[0]
    assert (listed["node_id"], listed["version"]) == (node_id, 2)
    temps = csv_frame(A_CSV).temp
    assert frame(sites, "/sqlderived/scaled")["x"].tolist() == pytest.approx((temps * 10).tolist())
    old = frame(sites, "/sqlderived/scaled", "--at-txn", str(first_txn))
    assert old["x"].tolist() == pytest.approx((temps * 2).tolist())
    # Its inputs travel too: a new version of a.series is not seen in the past.
    more = write(tmp_path / "more.csv", "timestamp,temp,cond\n2025-01-01T05:00:00Z,50.0,1\n")
    sites.ok("copy", "--format", "series", str(more), "/sites/a.series")
    assert len(frame(sites, "/sqlderived/scaled")) == 4
    assert len(frame(sites, "/sqlderived/scaled", "--at-txn", str(first_txn))) == 3


def test_dry_run_and_changing_shape_and_path(sites: PondRunner, tmp_path: Path) -> None:
    one = "{inputs: {s: '/sites/*.series'}, query: 'SELECT timestamp, temp FROM s'}"
    each = one[:-1] + ", per_match: true}"
    before = sites.snapshot()
    out = str(
        sites.ok(
            "apply",
            "--dry-run",
            "-f",
            str(yaml_file(tmp_path / "d.yaml", doc("SqlDerived", "d", one))),
        ).stdout
    )
    assert "would create dynamic:file: /sqlderived/d (d)" in out
    assert sites.snapshot() == before
    apply(sites, tmp_path, doc("SqlDerived", "d", one))
    out = apply(sites, tmp_path, doc("SqlDerived", "d", each))
    assert "replaced dynamic:dir: /sqlderived/d (d)" in out
    assert sites.paths("/sqlderived/d/") == [f"/sqlderived/d/{n}" for n in ("a", "b", "c")]
    moved = each[:-1] + ", path: /derived/d}"
    out = apply(sites, tmp_path, doc("SqlDerived", "d", moved))
    assert "moved dynamic:dir: /derived/d (d)" in out
    assert not sites.paths("/sqlderived/")
    assert len(frame(sites, "/derived/d/b")) == 2


def test_a_path_taken_by_other_data_is_refused(sites: PondRunner, tmp_path: Path) -> None:
    f = yaml_file(
        tmp_path / "x.yaml",
        doc(
            "SqlDerived",
            "x",
            "{path: /sites/a.series, inputs: {a: /sites/b.series}, query: 'SELECT 1'}",
        ),
    )
    message = sites.fails("apply", "-f", str(f))
    assert "spec.path: /sites/a.series exists and is a file:series" in message


def test_rm_of_a_resource_removes_its_node_and_keeps_data(
    sites: PondRunner, tmp_path: Path
) -> None:
    apply(
        sites,
        tmp_path,
        doc("SqlDerived", "gone", "{inputs: {a: /sites/a.series}, query: 'SELECT * FROM a'}"),
        doc("Synthetic", "kept", SYNTH),
    )
    sites.ok("rm", "/etc/resources/gone")
    assert sites.paths("/sqlderived/") == []
    assert sites.paths("/synthetic/") == ["/synthetic/kept"]
    assert sites.paths("/sites/") == [f"/sites/{n}.series" for n in ("a", "b", "c")]
    assert [r["name"] for r in sites.json("resources")] == ["kept"]
    # The past still has both, computed.
    txn = sites.json("log", "--limit", "2")[1]["txn_seq"]
    assert len(frame(sites, "/sqlderived/gone", "--at-txn", str(txn))) == 3
