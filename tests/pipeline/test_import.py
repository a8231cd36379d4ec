"""``kind: Import``: another pond mounted read-only, kept here, brought up to date by ``pond run``.

Every pond is real (a Delta table in ``tmp_path``); the source ponds collect with
their own Inbox resources, and every imported series is compared with what the
source's own ``pond cat`` prints.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from duckpond import Pond
from duckpond.errors import ReadOnlyError

from ..cli.conftest import PondRunner, assert_user_error, write

T0 = datetime(2025, 6, 1, tzinfo=UTC)


def csv_rows(start: datetime, count: int, base: float) -> str:
    lines = ["timestamp,Temperature.C,Depth.m"]
    for i in range(count):
        when = (start + timedelta(minutes=15 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f"{when},{base + i / 4},{1 + i / 100}")
    return "\n".join(lines) + "\n"


def yaml_doc(kind: str, name: str, spec: dict[str, Any]) -> str:
    return json.dumps({"apiVersion": "duckpond/v1", "kind": kind, "name": name, "spec": spec})


class Station:
    """A field station's pond, collecting CSV files from its inbox with ``pond run``."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.inbox = root / f"{name}-inbox"
        self.inbox.mkdir(parents=True)
        self.pond = PondRunner(root / f"{name}-pond")
        self.pond.ok("init")
        spec = {
            "pattern": f"{self.inbox}/*.csv",
            "format": "series",
            "path": "/data",
            "settle": "0s",
        }
        doc = write(root / f"{name}-inbox.yaml", yaml_doc("Inbox", "inbox", spec))
        self.pond.ok("apply", "-f", str(doc))

    def collect(self, file: str, text: str) -> None:
        write(self.inbox / file, text)
        report = self.pond.json("run")
        assert {r["outcome"] for r in report["results"]} == {"ok"}, report

    def cat(self, path: str) -> str:
        return self.pond.ok("cat", path, "--format", "csv").stdout


def importer(tmp_path: Path, *stations: Station, **spec: Any) -> PondRunner:
    pond = PondRunner(tmp_path / "hub")
    if not (tmp_path / "hub").exists():
        pond.ok("init")
    docs = [yaml_doc("Import", s.name, {"url": str(s.pond.dir), **spec}) for s in stations]
    pond.ok("apply", "-f", str(write(tmp_path / "imports.yaml", "\n---\n".join(docs))))
    return pond


def run(pond: PondRunner) -> dict[str, Any]:
    """``pond run``'s result per resource (the run may fail: exit 1 then)."""
    result = pond("--json", "run")
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    return {r["resource"]: r for r in report["results"]}


def test_an_import_keeps_up_with_a_pond_that_keeps_collecting(tmp_path: Path) -> None:
    north = Station(tmp_path, "north")
    hub = importer(tmp_path, north)
    mount = "/imports/north"

    # Round 1: one file, one version.
    north.collect("sonde.csv", csv_rows(T0, 40, 10.0))
    result = run(hub)["north"]
    assert result["outcome"] == "ok", result
    assert result["details"]["versions"] == 1
    assert hub.ok("cat", f"{mount}/data/sonde.csv", "--format", "csv").stdout == north.cat(
        "/data/sonde.csv"
    )

    # Round 2: the file grows (a second version overlapping the first) and a new one appears.
    north.collect("sonde.csv", csv_rows(T0, 60, 10.5))
    north.collect("logger.csv", csv_rows(T0 + timedelta(days=1), 30, 3.0))
    result = run(hub)["north"]
    assert result["outcome"] == "ok", result
    assert result["details"]["versions"] == 2  # only what is new: sonde v2 and logger v1
    for name in ("sonde", "logger"):
        assert hub.ok("cat", f"{mount}/data/{name}.csv", "--format", "csv").stdout == north.cat(
            f"/data/{name}.csv"
        )
    assert [v["version"] for v in hub.json("history", f"{mount}/data/sonde.csv")] == [1, 2]

    # Round 3: one more version of one file.
    north.collect("logger.csv", csv_rows(T0 + timedelta(days=1), 50, 3.25))
    result = run(hub)["north"]
    assert result["details"]["versions"] == 1
    for name in ("sonde", "logger"):
        assert hub.ok("cat", f"{mount}/data/{name}.csv", "--format", "csv").stdout == north.cat(
            f"/data/{name}.csv"
        )
    # Same bytes, same hashes as in the source.
    for name in ("sonde", "logger"):
        here = [
            (v["version"], v["sha256"]) for v in hub.json("history", f"{mount}/data/{name}.csv")
        ]
        there = [
            (v["version"], v["sha256"]) for v in north.pond.json("history", f"/data/{name}.csv")
        ]
        assert here == there

    # Links come along (an absolute target points into the mount); a removed file goes.
    north.pond.ok("ln", "-s", "/data/sonde.csv", "/data/latest")
    north.pond.ok("rm", "/data/logger.csv")
    assert run(hub)["north"]["details"]["removed"] == 1
    assert hub.ok("cat", f"{mount}/data/latest", "--format", "csv").stdout == north.cat(
        "/data/sonde.csv"
    )
    assert hub.paths(f"{mount}/data/") == [f"{mount}/data/latest", f"{mount}/data/sonde.csv"]
    north.pond.ok("rm", "/data/latest")
    run(hub)
    assert hub.paths(f"{mount}/data/") == [f"{mount}/data/sonde.csv"]

    # Nothing new: nothing imported; the other pond's resources never run here.
    result = run(hub)
    assert set(result) == {"north"} and result["north"]["details"].get("versions", 0) == 0
    assert [r["name"] for r in hub.json("resources")] == ["north"]
    assert not [p for p in hub.paths(f"{mount}/**") if p.startswith(f"{mount}/etc")]

    # Offline: the source gone, the imported series still read, aggregate and travel in time.
    shutil.rmtree(north.pond.dir)
    sql = 'SELECT count(*) AS n, avg("Temperature.C") AS t FROM source'
    [row] = hub.json("cat", f"{mount}/data/sonde.csv", "--sql", sql, "--format", "json")
    assert row["n"] == 60
    assert row["t"] == pytest.approx(sum(10.5 + i / 4 for i in range(60)) / 60)


def test_a_file_url_names_a_pond_or_its_backup(tmp_path: Path) -> None:
    north = Station(tmp_path, "north")
    north.collect("sonde.csv", csv_rows(T0, 12, 4.0))
    hub = PondRunner(tmp_path / "hub")
    hub.ok("init")
    doc = yaml_doc("Import", "north", {"url": f"file://{north.pond.dir}"})
    hub.ok("apply", "-f", str(write(tmp_path / "i.yaml", doc)))
    assert run(hub)["north"]["outcome"] == "ok"
    assert hub.ok("cat", "/imports/north/data/sonde.csv", "--format", "csv").stdout == north.cat(
        "/data/sonde.csv"
    )


def test_imports_are_not_transitive(tmp_path: Path) -> None:
    north = Station(tmp_path, "north")
    north.collect("sonde.csv", csv_rows(T0, 10, 1.0))
    # A regional pond imports north and collects its own.
    region = Station(tmp_path, "region")
    region.collect("own.csv", csv_rows(T0, 5, 2.0))
    doc = write(tmp_path / "r.yaml", yaml_doc("Import", "north", {"url": str(north.pond.dir)}))
    region.pond.ok("apply", "-f", str(doc))
    assert region.pond.json("run")["results"][-1]["outcome"] == "ok"
    assert "/imports/north/data/sonde.csv" in region.pond.paths("/**")

    hub = importer(tmp_path, region)
    assert run(hub)["region"]["outcome"] == "ok"
    files = [p for p in hub.paths("/imports/**") if p.endswith(".csv")]
    assert files == ["/imports/region/data/own.csv"]


def test_writes_under_the_mount_are_refused(tmp_path: Path) -> None:
    north = Station(tmp_path, "north")
    north.collect("sonde.csv", csv_rows(T0, 10, 1.0))
    hub = importer(tmp_path, north)
    run(hub)
    csv = write(tmp_path / "x.csv", csv_rows(T0, 3, 0.0))
    for args in (
        ("copy", str(csv), "/imports/north/data/"),
        ("copy", "--format", "series", str(csv), "/imports/north/data/sonde.csv"),
        ("mkdir", "/imports/north/mine"),
        ("rm", "/imports/north/data/sonde.csv"),
        ("rm", "-r", "/imports"),
        ("mv", "/imports/north/data", "/elsewhere"),
    ):
        assert "read-only" in hub.fails(*args) or "remove that resource" in hub.fails(*args)
    # A symlink into the mount does not get around it.
    hub.ok("ln", "-s", "/imports/north/data", "/shortcut")
    assert "read-only" in hub.fails("copy", str(csv), "/shortcut/")
    hub.ok("rm", "/shortcut")  # the link itself is not in the mount
    with Pond.open(hub.dir) as p, pytest.raises(ReadOnlyError):
        p.write_bytes("/imports/north/data/note.txt", b"x")
    # No other resource puts its outputs there either.
    inbox = yaml_doc(
        "Inbox", "sneak", {"pattern": f"{tmp_path}/*.csv", "path": "/imports/north/more"}
    )
    message = hub.fails("apply", "-f", str(write(tmp_path / "sneak.yaml", inbox)))
    assert "spec.path" in message and "imported by north" in message
    # Next to the mount is fine; removing the resource frees its directory.
    hub.ok("mkdir", "/imports/notes")
    hub.ok("rm", "/etc/resources/north")
    hub.ok("rm", "-r", "/imports/north")


def big_csv(start: datetime, count: int) -> str:
    """A CSV whose series is stored as a blob (64 KiB and more)."""
    return csv_rows(start, count, 5.0)


def test_a_corrupt_or_diverged_source_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    north = Station(tmp_path, "north")
    north.collect("sonde.csv", big_csv(T0, 6000))
    hub = importer(tmp_path, north)
    assert run(hub)["north"]["outcome"] == "ok"
    mount_file = "/imports/north/data/sonde.csv"
    before = hub.ok("cat", mount_file, "--format", "csv").stdout
    history = hub.json("history", mount_file)

    # A new version in the source whose blob is then damaged on disk (the file changed
    # from its first row, so the Inbox stores it whole: an append would be a few rows).
    north.collect("sonde.csv", csv_rows(T0, 6500, 6.0))
    *_, latest = north.pond.json("history", "/data/sonde.csv")
    assert latest["version"] == 2
    blob = north.pond.dir / "data" / "_large_files" / f"sha256={latest['sha256']}"
    assert blob.is_file()
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    result = run(hub)["north"]
    assert result["outcome"] == "failed"
    assert "sha256" in result["error"]
    assert hub.json("history", mount_file) == history
    assert hub.ok("cat", mount_file, "--format", "csv").stdout == before
    assert assert_user_error(hub("run")) == "1 of 1 run(s) failed: north"

    # Another pond at the same place: refused as diverged, nothing touched.
    shutil.rmtree(north.pond.dir)
    shutil.rmtree(north.inbox)
    other = Station(tmp_path, "north")
    other.collect("sonde.csv", csv_rows(T0, 10, 99.0))
    result = run(hub)["north"]
    assert result["outcome"] == "failed"
    assert "another pond" in result["error"]
    assert hub.json("history", mount_file) == history
    assert hub.ok("cat", mount_file, "--format", "csv").stdout == before


def test_a_site_charts_every_imported_station(tmp_path: Path) -> None:
    north, south = Station(tmp_path, "north"), Station(tmp_path, "south")
    north.collect("sonde.csv", csv_rows(T0, 96, 12.0))
    south.collect("sonde.csv", csv_rows(T0, 96, 15.0))
    hub = importer(tmp_path, north, south, patterns=["/data/*.csv"])
    out = tmp_path / "www"
    docs = [
        yaml_doc(
            "Reduce",
            "down",
            {
                "in_pattern": "/imports/*/data/sonde.csv",
                "out_pattern": "$0",
                "resolutions": ["1h", "1d"],
                "aggregations": [{"type": "avg"}, {"type": "min"}, {"type": "max"}],
            },
        ),
        yaml_doc(
            "Site",
            "public",
            {"title": "Stations", "out": str(out), "charts": [{"pattern": "/reduce/down/*"}]},
        ),
    ]
    hub.ok("apply", "-f", str(write(tmp_path / "site.yaml", "\n---\n".join(docs))))
    results = run(hub)
    assert {k: v["outcome"] for k, v in results.items()} == {
        "north": "ok",
        "south": "ok",
        "public": "ok",
    }
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("sites/*.html"))
    assert pages == ["sites/north.html", "sites/south.html"]

    # The chart's hourly averages are the source's own, computed in the source pond.
    sql = (
        "SELECT date_trunc('hour', timestamp) AS h, avg(\"Temperature.C\") AS t "
        "FROM source GROUP BY 1 ORDER BY 1"
    )
    for station, base in ((north, 12.0), (south, 15.0)):
        expected = station.pond.json("cat", "/data/sonde.csv", "--sql", sql, "--format", "json")
        assert len(expected) == 24
        chunks = sorted((out / "data").glob(f"{station.name}-temperature-c/1h/*.js"))
        assert chunks, sorted(p.name for p in (out / "data").iterdir())
        values: list[float] = []
        for chunk in chunks:
            # DuckPond.data("<chart>","1h",<chunk>,{payload});
            text = chunk.read_text().strip()
            assert text.startswith("DuckPond.data(") and text.endswith(");")
            values += json.loads(text[len("DuckPond.data(") : -2].split(",", 3)[3])["a"]
        assert values == pytest.approx([row["t"] for row in expected], rel=1e-5)
        # Readings at :00, :15, :30 and :45 of the first hour: base + (0+1+2+3)/16.
        assert values[0] == pytest.approx(base + 0.375, rel=1e-5)


def test_import_documents_are_checked(tmp_path: Path) -> None:
    hub = PondRunner(tmp_path / "hub")
    hub.ok("init")

    def apply(spec: dict[str, Any]) -> str:
        doc = write(tmp_path / "bad.yaml", yaml_doc("Import", "x", spec))
        return hub.fails("apply", "-f", str(doc))

    assert "spec.url" in apply({"url": "relative/pond"})
    assert "spec.url" in apply({"url": "s3://Not_A_Bucket/pond"})
    assert "spec.url" in apply({"url": "ftp://host/pond"})
    assert "spec.url" in apply({"url": "file://host/pond"})
    assert "spec.url" in apply({"url": str(tmp_path / "nowhere")})
    assert "spec.patterns" in apply({"url": str(hub.dir), "patterns": []})
    assert "spec.nope" in apply({"url": str(hub.dir), "nope": 1})

    # The default path, and a pond importing itself.
    doc = write(tmp_path / "self.yaml", yaml_doc("Import", "me", {"url": str(hub.dir)}))
    hub.ok("apply", "-f", str(doc))
    [info] = hub.json("resources")
    assert info["path"] == "/imports/me"
    result = run(hub)["me"]
    assert result["outcome"] == "failed" and "cannot import itself" in result["error"]


def test_raw_files_and_tables_come_byte_for_byte_with_their_history(tmp_path: Path) -> None:
    source = PondRunner(tmp_path / "source")
    source.ok("init")
    source.ok("mkdir", "-p", "/notes", "/ref", "/.private")
    source.ok("copy", str(write(tmp_path / "readme.txt", "calibrated\n")), "/notes/")
    big = bytes(range(256)) * 400  # 100 KiB: a blob
    source.ok("copy", str(write(tmp_path / "raw.bin", big)), "/notes/")
    source.ok("copy", str(write(tmp_path / "secret.txt", "hidden")), "/.private/")
    lookup = tmp_path / "lookup.csv"
    source.ok("copy", "--format", "table", str(write(lookup, "code,name\n1,a\n")), "/ref/lookup")
    source.ok(
        "copy", "--format", "table", str(write(lookup, "code,name\n1,a\n2,b\n")), "/ref/lookup"
    )
    hub = PondRunner(tmp_path / "hub")
    hub.ok("init")
    doc = yaml_doc("Import", "src", {"url": str(source.dir)})
    hub.ok("apply", "-f", str(write(tmp_path / "i.yaml", doc)))
    assert run(hub)["src"]["outcome"] == "ok"
    for path in ("/notes/readme.txt", "/notes/raw.bin", "/ref/lookup"):
        assert hub.cat_bytes(f"/imports/src{path}") == source.cat_bytes(path)
        there = [(v["version"], v["sha256"]) for v in source.json("history", path)]
        assert [
            (v["version"], v["sha256"]) for v in hub.json("history", f"/imports/src{path}")
        ] == there
    assert hub.cat_bytes("/imports/src/notes/raw.bin") == big
    # Hidden names are left out, as a glob leaves them out.
    assert not [p for p in hub.paths("/imports/**", "-a") if "private" in p]


def test_an_import_from_a_backup_on_s3(tmp_path: Path, s3_url: str) -> None:
    """The station pushes its backup to S3 (its own Backup resource); the hub imports that."""
    north = Station(tmp_path, "north")
    backup = yaml_doc("Backup", "offsite", {"url": s3_url})
    north.pond.ok("apply", "-f", str(write(tmp_path / "backup.yaml", backup)))
    north.collect("sonde.csv", csv_rows(T0, 20, 6.0))  # its run also pushes the backup
    hub = PondRunner(tmp_path / "hub")
    hub.ok("init")
    doc = yaml_doc("Import", "north", {"url": s3_url})
    hub.ok("apply", "-f", str(write(tmp_path / "i.yaml", doc)))
    for rows in (20, 35):
        if rows != 20:
            north.collect("sonde.csv", csv_rows(T0, rows, 6.5))
        result = run(hub)["north"]
        assert result["outcome"] == "ok", result
        assert result["details"]["versions"] == 1
        # The second run reads the backup's log tail through the store.
        assert result["details"]["compared"] == ("all" if rows == 20 else "tail")
        assert hub.ok(
            "cat", "/imports/north/data/sonde.csv", "--format", "csv"
        ).stdout == north.cat("/data/sonde.csv")
    # What the hub imported is its own: the S3 copy is not needed to read it.
    assert not [p for p in hub.paths("/imports/north/**") if "/etc" in p]
