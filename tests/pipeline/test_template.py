"""``kind: Template``: one Jinja2-rendered file per matched table or series.

What a page says is checked against pyarrow computations on the rows the test
wrote, and against the files ``pond export`` writes with the same options.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from duckpond import Pond

from .conftest import PondRunner, doc, yaml_file

T0 = datetime(2025, 5, 28, tzinfo=UTC)

# What a page shows: enough to check every part of the context.
PAGE = """{% raw %}
# {{ output.path }}
name={{ output.name }} captures={{ output.captures | join(',') }} at={{ path }}
rows={{ output.rows }} from={{ output.min_event_time }} to={{ output.max_event_time }}
time={{ output.timestamp_column }} type={{ output.type }}
{% for c in output.columns %}column {{ c.name }} {{ c.type }}
{% endfor %}{% for f in output.files %}file {{ f.file }} {{ f.rows }}
{% endfor %}all={{ outputs | map(attribute='name') | join(',') }}
manifest={{ manifest.outputs | length }} {{ manifest.partition }} {{ manifest.format }}
{% endraw %}"""


def readings(start: datetime, count: int, step_hours: int, offset: float) -> pa.Table:
    times = [start + timedelta(hours=step_hours * i) for i in range(count)]
    return pa.table(
        {
            "timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
            "temp": pa.array([offset + i / 8 for i in range(count)], pa.float64()),
        }
    )


def add(pond: PondRunner, path: str, table: pa.Table) -> None:
    with Pond.open(pond.dir) as p:
        p.write_series(path, table)


def spec_block(**fields: str) -> str:
    """A block-style spec; a multi-line value becomes a literal block."""
    lines = [""]
    for key, value in fields.items():
        if "\n" in value:
            lines.append(f"  {key}: |")
            lines.extend(f"    {line}" for line in value.splitlines())
        else:
            lines.append(f"  {key}: {json.dumps(value)}")
    return "\n".join(lines)


def apply(pond: PondRunner, tmp_path: Path, name: str = "pages", **fields: str) -> None:
    pond.ok(
        "apply",
        "-f",
        str(yaml_file(tmp_path / f"{name}.yaml", doc("Template", name, spec_block(**fields)))),
    )


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def month_counts(table: pa.Table) -> Counter[str]:
    ts = table.column("timestamp")
    keys = zip(pc.year(ts).to_pylist(), pc.month(ts).to_pylist(), strict=True)
    return Counter(f"year={y}/month={m:02d}" for y, m in keys)


@pytest.fixture
def sites(pond: PondRunner) -> dict[str, pa.Table]:
    """/sites/north.series and /sites/south.series, across May-July 2025."""
    north = readings(T0, 60, 13, 10.0)
    south = readings(T0 + timedelta(days=20), 30, 5, 20.0)
    pond.ok("mkdir", "/sites")
    add(pond, "/sites/north.series", north)
    add(pond, "/sites/south.series", south)
    return {"north": north, "south": south}


def test_one_page_per_match_describes_its_output(
    pond: PondRunner, sites: dict[str, pa.Table], tmp_path: Path
) -> None:
    apply(pond, tmp_path, in_pattern="/sites/*.series", out_pattern="$0.md", template=PAGE)
    assert pond.paths("/template/pages/") == [
        "/template/pages/north.md",
        "/template/pages/south.md",
    ]
    assert [e["type"] for e in pond.json("list", "-l", "/template/pages")] == ["dynamic:dir"]
    for name, table in sites.items():
        text = pond.ok("cat", f"/template/pages/{name}.md").stdout
        ts = table.column("timestamp")
        lines = text.splitlines()
        assert lines[1] == f"# /sites/{name}.series"
        assert lines[2] == f"name={name}.md captures={name} at=/template/pages/{name}.md"
        assert lines[3] == (
            f"rows={table.num_rows} from={iso(pc.min(ts).as_py())} to={iso(pc.max(ts).as_py())}"
        )
        assert lines[4] == "time=timestamp type=file:series"
        assert "column timestamp timestamp[us, tz=UTC]\ncolumn temp double\n" in text
        files = [line.split() for line in lines if line.startswith("file ")]
        expected = month_counts(table)
        assert [(f[1], int(f[2])) for f in files] == [
            (f"sites/{name}.series/{k}/data.parquet", n) for k, n in sorted(expected.items())
        ]
        assert "all=north.md,south.md" in text
        assert "manifest=2 month parquet" in text


def test_file_names_are_those_pond_export_writes(
    pond: PondRunner, sites: dict[str, pa.Table], tmp_path: Path
) -> None:
    listing = "{% raw %}{% for f in manifest.files %}{{ f.file }}\n{% endfor %}{% endraw %}"
    apply(
        pond,
        tmp_path,
        in_pattern="/sites/*.series",
        out_pattern="$0.txt",
        template=listing,
        partition="year",
        format="csv",
    )
    out = tmp_path / "out"
    pond.ok(
        "export", "/sites/*.series", "--dir", str(out), "--partition", "year", "--format", "csv"
    )
    written = {p.relative_to(out).as_posix() for p in out.rglob("data.*")}
    page = pond.ok("cat", "/template/pages/north.txt").stdout
    assert set(page.split()) == written
    exported = json.loads((out / "manifest.json").read_text())
    assert [f["file"] for f in exported["files"]] == page.split()


def test_a_pond_template_file_and_its_update(
    pond: PondRunner, sites: dict[str, pa.Table], host: Path, tmp_path: Path
) -> None:
    template = host / "page.j2"
    template.write_text("v1 {{ output.rows }}\n")
    pond.ok("mkdir", "/templates")
    pond.ok("copy", str(template), "/templates/page.j2")
    apply(
        pond,
        tmp_path,
        in_pattern="/sites/*.series",
        out_pattern="page-$0.txt",
        template_file="/templates/page.j2",
    )
    assert pond.ok("cat", "/template/pages/page-north.txt").stdout == "v1 60\n"
    template.write_text("v2 {{ output.name }}\n")
    pond.ok("copy", str(template), "/templates/page.j2")
    assert pond.ok("cat", "/template/pages/page-north.txt").stdout == "v2 page-north.txt\n"


def test_a_host_template_file_is_read_each_time(
    pond: PondRunner, sites: dict[str, pa.Table], host: Path, tmp_path: Path
) -> None:
    template = host / "page.j2"
    template.write_text("first {{ output.rows }}\n")
    apply(
        pond,
        tmp_path,
        in_pattern="/sites/*.series",
        out_pattern="$0",
        template_file=f"host://{template}",
    )
    assert pond.ok("cat", "/template/pages/south").stdout == "first 30\n"
    template.write_text("second {{ output.rows }}\n")
    assert pond.ok("cat", "/template/pages/south").stdout == "second 30\n"


def test_a_new_input_version_changes_the_page(
    pond: PondRunner, sites: dict[str, pa.Table], tmp_path: Path
) -> None:
    apply(pond, tmp_path, in_pattern="/sites/*.series", out_pattern="$0.md", template=PAGE)
    before = pond.ok("cat", "/template/pages/north.md").stdout
    assert "rows=60 " in before
    extra = readings(datetime(2025, 9, 1, tzinfo=UTC), 4, 1, 0.0)
    add(pond, "/sites/north.series", extra)
    after = pond.ok("cat", "/template/pages/north.md").stdout
    assert "rows=64 " in after
    assert "file sites/north.series/year=2025/month=09/data.parquet 4" in after
    assert pond.ok("cat", "/template/pages/south.md").stdout.splitlines()[3].startswith("rows=30 ")


def test_derived_outputs_are_matched_too(
    pond: PondRunner, sites: dict[str, pa.Table], tmp_path: Path
) -> None:
    derived = doc(
        "SqlDerived",
        "warm",
        "{inputs: {s: /sites/north.series}, query: 'SELECT timestamp, temp FROM s WHERE temp >= 12'}",
    )
    pond.ok("apply", "-f", str(yaml_file(tmp_path / "warm.yaml", derived)))
    apply(pond, tmp_path, in_pattern="/sqlderived/*", out_pattern="$0.md", template=PAGE)
    text = pond.ok("cat", "/template/pages/warm.md").stdout
    north = sites["north"]
    kept = north.filter(pc.greater_equal(north.column("temp"), 12.0))
    assert f"rows={kept.num_rows} " in text
    assert "type=dynamic:file" in text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"out_pattern": "$0.md", "template": "x", "template_file": "/t.j2"},
            "exactly one of template and template_file",
        ),
        ({"out_pattern": "$0.md"}, "exactly one of template and template_file"),
        ({"out_pattern": "a/$0.md", "template": "x"}, "without '/'"),
        ({"out_pattern": "$1.md", "template": "x"}, "$1 names no capture"),
        ({"out_pattern": "$0", "template": "{% raw %}\n{% for x in y %}{% endraw %}"}, "line 2"),
        ({"out_pattern": "$0", "template_file": "page.j2"}, "host:///abs/path"),
        ({"out_pattern": "$0", "template_file": "host:///nowhere/page.j2"}, "cannot read"),
    ],
)
def test_a_bad_spec_is_refused_at_apply(
    pond: PondRunner, tmp_path: Path, fields: dict[str, str], message: str
) -> None:
    path = yaml_file(
        tmp_path / "bad.yaml",
        doc("Template", "bad", spec_block(in_pattern="/sites/*.series", **fields)),
    )
    error = pond.fails("apply", "-f", str(path))
    assert "bad.yaml" in error and message in error


def test_render_errors_and_name_clashes_are_one_line(
    pond: PondRunner, sites: dict[str, pa.Table], tmp_path: Path
) -> None:
    apply(
        pond,
        tmp_path,
        in_pattern="/sites/*.series",
        out_pattern="$0",
        template="{% raw %}ok\n{{ output.nope }}{% endraw %}",
    )
    error = pond.error("cat", "/template/pages/north")
    assert "/template/pages/north" in error and "line 2" in error and "nope" in error
    # Two inputs named alike would break every listing of the pond: refused at apply.
    clash = tmp_path / "clash.yaml"
    clash.write_text(
        doc(
            "Template",
            "clash",
            spec_block(in_pattern="/sites/*.series", out_pattern="same", template="x"),
        )
    )
    error = pond.fails("apply", "-f", str(clash))
    assert "document 1 (clash)" in error
    assert "/sites/north.series and /sites/south.series are both named 'same'" in error
    assert pond.paths("/template/**") == [
        "/template/pages",
        "/template/pages/north",
        "/template/pages/south",
    ]


def test_the_python_api(tmp_path: Path) -> None:
    with Pond.init(tmp_path / "pond", command=["test"]) as p:
        p.write_series("/s.series", readings(T0, 5, 24, 1.0))
        spec = tmp_path / "t.yaml"
        spec.write_text(
            doc(
                "Template",
                "one",
                "{in_pattern: /*.series, out_pattern: $0.json, "
                "template: '{% raw %}{{ output | tojson }}{% endraw %}'}",
            )
        )
        p.pipeline.apply([spec])
        record = json.loads(p.read_bytes("/template/one/s.json"))
    assert record["rows"] == 5 and record["path"] == "/s.series"
    assert [f["partition"] for f in record["files"]] == [
        {"year": 2025, "month": 5},
        {"year": 2025, "month": 6},
    ]
