"""``kind: Site`` in a real pond: apply, ``pond run`` and ``pond site build``."""

from __future__ import annotations

import json
from pathlib import Path

import duckpond

from .conftest import PondRunner
from .data import reduce_table

ABOUT = "---\ntitle: About\n---\nThe *harbor* sondes.\n"


def seed(pond_dir: Path) -> None:
    """Reduce-shaped series for two sites (as res=<R>.series files) and a Markdown page."""
    with duckpond.Pond.open(pond_dir) as p, p.transaction() as tx:
        tx.mkdir("/reduce/north", "/reduce/south", "/etc/site", parents=True)
        for site, level in (("north", 12.0), ("south", 15.0)):
            for res in ("1h", "1d"):
                table = reduce_table(res, {"Temperature.C": level}, days=20)
                tx.write_series(f"/reduce/{site}/res={res}.series", table)
        tx.write_file("/etc/site/about.md", ABOUT.encode())
        tx.write_file("/etc/site/notes.txt", b"not a page")


def site_yaml(path: Path, out: Path, **extra: str) -> Path:
    spec = {
        "title": "Harbor",
        "out": str(out),
        "pages": "/etc/site",
        "timezone": "America/Los_Angeles",
        "charts": [{"pattern": "/reduce/*", "title": "Water"}],
        **extra,
    }
    doc = {"apiVersion": "duckpond/v1", "kind": "Site", "name": "public", "spec": spec}
    path.write_text(json.dumps(doc))  # JSON is YAML
    return path


def test_pond_run_builds_the_site_from_reduce_outputs(
    pond: PondRunner, pond_dir: Path, host: Path, tmp_path: Path
) -> None:
    seed(pond_dir)
    out = host / "www"
    pond.ok("apply", "-f", str(site_yaml(tmp_path / "site.yaml", out)))
    report = pond.json("run")
    [result] = report["results"]
    assert result["outcome"] == "ok", result
    assert result["details"]["charts"] == 2 and result["details"]["pages"] == 5
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html"))
    assert pages == [
        "index.html",
        "pages/about.html",
        "params/temperature-c.html",
        "sites/north.html",
        "sites/south.html",
    ]
    assert "The <em>harbor</em> sondes." in (out / "pages/about.html").read_text()
    assert sorted(p.name for p in (out / "data/north-temperature-c").iterdir()) == ["1d", "1h"]
    [row] = pond.json("query", "SELECT resource, outcome FROM runs")
    assert row == {"resource": "public", "outcome": "ok"}


def test_site_build_on_demand_into_another_folder(
    pond: PondRunner, pond_dir: Path, host: Path, tmp_path: Path
) -> None:
    seed(pond_dir)
    pond.ok("apply", "-f", str(site_yaml(tmp_path / "site.yaml", host / "www")))
    before = pond.json("log")
    other = host / "preview"
    built = pond.json("site", "build", "public", "--out", str(other))
    assert (built["charts"], built["pages"]) == (2, 5)
    assert built["out"] == str(other)
    assert (other / "index.html").exists() and not (host / "www").exists()
    assert pond.json("log") == before  # building on demand writes nothing in the pond
    text = pond.ok("site", "build", "public", "--out", str(other)).stdout
    assert f"open {other / 'index.html'}" in text


def test_host_pages_and_a_pattern_of_series_files(
    pond: PondRunner, pond_dir: Path, host: Path, tmp_path: Path
) -> None:
    seed(pond_dir)
    pages = host / "pages"
    pages.mkdir()
    (pages / "index.md").write_text("Welcome **aboard**.")
    (pages / "methods.md").write_text("# Methods\n\nSondes.")
    f = site_yaml(
        tmp_path / "site.yaml",
        host / "www",
        pages=f"host://{pages}",
        charts=[{"pattern": "/reduce/north/res=*.series"}],  # type: ignore[dict-item]
    )
    pond.ok("apply", "-f", str(f))
    pond.ok("site", "build", "public")
    index = (host / "www/index.html").read_text()
    assert "Welcome <strong>aboard</strong>." in index
    assert (host / "www/pages/methods.html").exists()
    assert sorted(p.name for p in (host / "www/sites").iterdir()) == ["north.html"]


def test_site_errors_are_one_line(
    pond: PondRunner, pond_dir: Path, host: Path, tmp_path: Path
) -> None:
    seed(pond_dir)
    message = pond.fails("site", "build", "nope")
    assert message == "no Site resource named 'nope' (sites: none)"
    bad = site_yaml(tmp_path / "bad.yaml", host / "www", timezone="Mars/Olympus")
    assert "spec.timezone" in pond.fails("apply", "-f", str(bad))
    folder = site_yaml(tmp_path / "folder.yaml", host / "www", timezone="Pacific")
    assert "spec.timezone: unknown time zone" in pond.fails("apply", "-f", str(folder))
    relative = site_yaml(tmp_path / "rel.yaml", Path("www"))
    assert "spec.out" in pond.fails("apply", "-f", str(relative))

    mine = host / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep me")
    pond.ok("apply", "-f", str(site_yaml(tmp_path / "site.yaml", mine)))
    message = pond.error("site", "build", "public")
    assert "not a DuckPond site" in message and str(mine) in message
    assert (mine / "thesis.tex").read_text() == "keep me"
    report = pond("--json", "run")
    assert report.exit_code == 1
    [result] = json.loads(report.stdout)["results"]
    assert result["outcome"] == "failed" and "not a DuckPond site" in result["error"]
