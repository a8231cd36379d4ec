"""No silent no-ops (issue 20): a setting that does nothing says so, a wrong one is an
error where it is, and no configuration breaks reading the rest of the pond."""

from __future__ import annotations

from pathlib import Path

from ..cli.conftest import PondRunner
from ..timeseries.helpers import HOUR, T0, series
from .test_timeseries_kinds import apply, put

REDUCE = """
apiVersion: duckpond/v1
kind: Reduce
name: down
spec:
  in_pattern: "{pattern}"
  resolutions: [1h]
"""


def site_doc(host: Path, charts: str) -> str:
    """A second document: the Site ``public`` drawing ``charts`` (YAML flow items)."""
    return f"""---
apiVersion: duckpond/v1
kind: Site
name: public
spec: {{title: Waters, out: "{host / "www"}", charts: [{charts}]}}
"""


def two_sites(pond: PondRunner, host: Path) -> None:
    for site in ("north", "south"):
        put(pond, host, f"/raw/{site}/s.series", series([T0, T0 + HOUR], temp=[1.0, 2.0]))


def test_a_pattern_matching_nothing_is_a_warning_at_apply(pond: PondRunner, host: Path) -> None:
    doc = host / "r.yaml"
    doc.write_text(REDUCE.format(pattern="/raw/nowhere/*.series"))
    result = pond.ok("apply", "-f", str(doc))
    assert "warning: " in result.stderr
    assert "/raw/nowhere/*.series matches nothing in the pond (yet)" in result.stderr
    applied = pond.json("apply", "-f", str(doc))
    assert applied["warnings"] == [
        f"{doc}: document 1 (down): /raw/nowhere/*.series matches nothing in the pond (yet)"
    ]


def test_two_inputs_sent_to_one_output_are_refused_at_apply(pond: PondRunner, host: Path) -> None:
    two_sites(pond, host)
    doc = host / "r.yaml"
    doc.write_text(REDUCE.format(pattern="/raw/*/s.series") + '  out_pattern: "all"\n')
    message = pond.fails("apply", "-f", str(doc))
    assert "document 1 (down)" in message and "would both be reduced into 'all'" in message
    assert pond.paths("/reduce/**") == []


def test_brace_alternatives_choose_inputs_as_a_shell_does(pond: PondRunner, host: Path) -> None:
    two_sites(pond, host)
    put(pond, host, "/raw/east/s.series", series([T0], temp=[5.0]))
    assert pond.paths("/raw/{north,east}/*") == ["/raw/east/s.series", "/raw/north/s.series"]
    assert "alternatives" in pond.fails("list", "/raw/{north/*")
    # The alternative matched is a capture ($0 here), as a * is: one output each.
    apply(pond, host, REDUCE.format(pattern="/raw/{north,east}/s.series"))
    assert pond.paths("/reduce/down/*") == ["/reduce/down/east", "/reduce/down/north"]
    doc = host / "named.yaml"
    doc.write_text(REDUCE.format(pattern="/raw/{site}/s.series"))
    message = pond.fails("apply", "-f", str(doc))
    assert "spec.in_pattern: {site} in glob pattern {site} names no capture" in message
    assert "write * to capture any name" in message


def test_a_reduce_column_that_does_not_exist_is_refused_at_apply(
    pond: PondRunner, host: Path
) -> None:
    put(pond, host, "/raw/s.series", series([T0, T0 + HOUR], temp=[1.0, 2.0], cond=[3, 4]))
    doc = host / "r.yaml"
    doc.write_text(
        REDUCE.format(pattern="/raw/s.series")
        + "  aggregations: [{type: avg, columns: [tmep]}, {type: max}]\n"
    )
    for dry in ((), ("--dry-run",)):
        message = pond.fails("apply", *dry, "-f", str(doc))
        assert "document 1 (down): spec.aggregations.0.columns: 'tmep' matches no numeric " in (
            message
        )
        assert "column of /raw/s.series (columns: temp, cond); did you mean 'temp'?" in message
    assert pond.paths("/reduce/**") == []


def test_a_reduce_column_of_an_input_yet_to_come_is_checked_at_read(
    pond: PondRunner, host: Path
) -> None:
    """Applied before its input exists, the same words come when the output is read, and
    the rest of the pond still lists and reads."""
    apply(
        pond,
        host,
        REDUCE.format(pattern="/raw/s.series")
        + "  aggregations: [{type: avg, columns: [tmep]}, {type: max}]\n",
    )
    put(pond, host, "/raw/s.series", series([T0, T0 + HOUR], temp=[1.0, 2.0], cond=[3, 4]))
    message = pond.fails("cat", "/reduce/down/res=1h.series", "--format", "csv")
    assert "spec.aggregations.0.columns: 'tmep' matches no numeric column" in message
    assert "(columns: temp, cond); did you mean 'temp'?" in message
    assert "/raw/s.series" in pond.paths("/**")


def test_site_columns_naming_nothing_are_refused_at_apply(pond: PondRunner, host: Path) -> None:
    """The Site is checked against the Reduce applied with it (whose input is stored)."""
    put(pond, host, "/raw/s.series", series([T0, T0 + HOUR], temp=[1.0, 2.0]))
    site = site_doc(
        host, '{pattern: "/reduce/down", columns: [temp]}, {pattern: "/reduce/*", columns: [Tmp]}'
    )
    doc = host / "r.yaml"
    doc.write_text(REDUCE.format(pattern="/raw/s.series") + site)
    message = pond.fails("apply", "-f", str(doc))
    assert message.endswith(
        "document 2 (public): spec.charts.1.columns: 'Tmp' matches no column "
        "(columns: temp); did you mean 'temp'?"
    )
    doc.write_text(REDUCE.format(pattern="/raw/s.series") + site.replace("Tmp", "te*"))
    pond.ok("apply", "-f", str(doc))


def test_a_site_with_no_charts_fails_its_run_and_keeps_the_old_site(
    pond: PondRunner, host: Path
) -> None:
    put(pond, host, "/raw/s.series", series([T0, T0 + HOUR], temp=[1.0, 2.0]))
    out = host / "www"
    site = f"""
apiVersion: duckpond/v1
kind: Site
name: public
spec:
  title: Waters
  out: {out}
  charts: [{{pattern: "/reduce/down", columns: [{{columns}}]}}]
"""
    apply(
        pond,
        host,
        REDUCE.format(pattern="/raw/s.series") + "---" + site.replace("{columns}", "temp"),
    )
    pond.ok("run", "public")
    assert (out / "index.html").exists()
    # Refused at apply now that the Reduce's input is stored...
    doc = host / "again.yaml"
    doc.write_text(
        REDUCE.format(pattern="/raw/s.series") + "---" + site.replace("{columns}", "tmp")
    )
    assert "'tmp' matches no column (columns: temp); did you mean 'temp'?" in pond.fails(
        "apply", "-f", str(doc)
    )
    # ...and a site of no charts (its Reduce gone) fails its run.
    apply(pond, host, site.replace("{columns}", "temp").replace("/reduce/down", "/reduce/gone"))
    result = pond("run", "public")
    assert result.exit_code == 1
    assert "no charts to publish" in result.stdout
    assert (out / "index.html").exists()


def test_a_run_with_nothing_new_commits_nothing_and_keeps_the_site(
    pond: PondRunner, host: Path
) -> None:
    inbox = host / "in"
    inbox.mkdir()
    (inbox / "a.csv").write_text("timestamp,temp\n2024-03-01T00:00Z,1.5\n2024-03-01T01:00Z,2\n")
    out = host / "www"
    apply(
        pond,
        host,
        f"""
apiVersion: duckpond/v1
kind: Inbox
name: drop
spec: {{pattern: "{inbox}/*.csv", format: series, settle: 0s}}
---
apiVersion: duckpond/v1
kind: Reduce
name: down
spec: {{in_pattern: "/inbox/drop/*.csv", resolutions: [1h]}}
---
apiVersion: duckpond/v1
kind: Site
name: public
spec: {{title: Waters, out: "{out}", charts: [{{pattern: "/reduce/down/*"}}]}}
""",
    )
    first = pond.json("run")
    assert first["ok"]
    built = (out / "index.html").stat().st_mtime_ns
    log = pond.json("log")
    # The log names the resource whose run wrote each transaction.
    assert log[0]["command"] == ["pond", "run", "drop"]

    again = pond.json("run")
    assert again["ok"]
    assert pond.json("log") == log
    assert [r["txn_seq"] for r in again["results"]] == [None, None]
    site = next(r for r in again["results"] if r["resource"] == "public")
    assert site["details"]["unchanged"] is True
    assert (out / "index.html").stat().st_mtime_ns == built
    runs = pond.json("query", "SELECT resource, txn_seq FROM runs ORDER BY start")
    assert [r["resource"] for r in runs] == ["drop", "public", "drop", "public"]
    assert runs[0]["txn_seq"] == log[0]["txn_seq"] and runs[2]["txn_seq"] is None

    # New readings: the Inbox commits, and the site is rebuilt from them.
    (inbox / "b.csv").write_text("timestamp,temp\n2024-03-01T02:00Z,3\n")
    third = pond.json("run")
    assert [r["txn_seq"] is not None for r in third["results"]] == [True, False]
    assert (out / "index.html").stat().st_mtime_ns != built


def test_a_week_start_without_weeks_is_refused(pond: PondRunner, host: Path) -> None:
    doc = host / "w.yaml"
    doc.write_text(REDUCE.format(pattern="/raw/*").replace("[1h]", "[1d, 7d]"))
    pond.ok("apply", "-f", str(doc))  # 7d: seven-day buckets from 1970-01-01 (a Thursday)
    doc.write_text(doc.read_text() + "  week_start: sunday\n")
    message = pond.fails("apply", "-f", str(doc))
    assert "spec.week_start: 'sunday' starts 1w buckets, and none is asked (7d buckets" in (message)
    assert "write 1w for weeks from week_start" in message
    doc.write_text(doc.read_text().replace("7d", "1w").replace("sunday", "sundy"))
    assert "not a weekday: 'sundy'" in pond.fails("apply", "-f", str(doc))
    assert "; did you mean sunday?" in pond.fails("apply", "-f", str(doc))
    doc.write_text(doc.read_text().replace("sundy", "sun"))
    pond.ok("apply", "-f", str(doc))


PIVOT = """
apiVersion: duckpond/v1
kind: Pivot
name: side
spec: {{pattern: "/raw/*/s.series", columns: [{columns}]}}
"""


def test_pivot_columns_naming_no_column_of_any_input_are_refused(
    pond: PondRunner, host: Path
) -> None:
    """At apply where the inputs are stored; at read (same words) where they came later.
    A column some sites lack is still all NULL there, as before."""
    doc = host / "p.yaml"
    doc.write_text(PIVOT.format(columns="tmep, temp"))
    pond.ok("apply", "-f", str(doc))  # nothing to check against yet
    two_sites(pond, host)
    put(pond, host, "/raw/east/s.series", series([T0], cond=[5.0]))
    said = "spec.columns: 'tmep' matches no column of any input (columns: cond, temp); did you mean"
    assert said in pond.fails("cat", "/pivot/side", "--format", "csv")
    assert said in pond.fails("apply", "-f", str(doc))
    doc.write_text(PIVOT.format(columns="temp"))
    pond.ok("apply", "-f", str(doc))
    out = pond.ok("cat", "/pivot/side", "--format", "csv").stdout
    assert out.splitlines()[0] == "timestamp,east.temp,north.temp,south.temp"


def test_site_labels_for_no_column_are_refused(pond: PondRunner, host: Path) -> None:
    put(pond, host, "/raw/s.series", series([T0, T0 + HOUR], temp=[1.0, 2.0]))
    site = site_doc(host, '{pattern: "/reduce/down", labels: {tmp: {unit: C}}}')
    doc = host / "r.yaml"
    doc.write_text(REDUCE.format(pattern="/raw/s.series") + site)
    assert pond.fails("apply", "-f", str(doc)).endswith(
        "spec.charts.0.labels: 'tmp' matches no column (columns: temp); did you mean 'temp'?"
    )
    doc.write_text(REDUCE.format(pattern="/raw/s.series") + site.replace("tmp:", "temp:"))
    pond.ok("apply", "-f", str(doc))
    pond.ok("run", "public")
