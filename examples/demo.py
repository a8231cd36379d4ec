"""``make demo``: build a pond from the bundled example and query it.

Generates three sites of HydroVu-shaped readings (one CSV per site and
month), imports each month as a new version of the site's series, then
shows what the pond holds and answers a few questions in SQL, through the
same ``pond`` command a user would type.

Then the main job: the pipeline of examples/pipeline.yaml (an Inbox over
the loggers' CSV drop, a SqlDerived daily series, a Synthetic tide) is
applied and run, run again (nothing new), given one more file and run again
(one new file), and its results queried.

Then the stations of examples/stations.yaml: a HydroVu collector reads
four devices from a stand-in for the HydroVu API on 127.0.0.1 (real San
Francisco temperatures shipped by vega_datasets, and the example sites; see
examples/hydrovu_standin.py for what is real), downsamples them and builds
the public web site.

Last, the backup: a Backup resource pointing at a real S3 server (SeaweedFS's
``weed mini`` from the environment, on 127.0.0.1 with a temporary directory), pushed by
``pond run``; the backup read in place, restored into a new folder, verified, and a
series read from the restore.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import SITES, generate  # noqa: E402

WORK = Path(os.environ.get("DEMO_DIR", HERE.parent / "demo-pond"))
POND_BIN = Path(sys.executable).with_name("pond")


def pond(*args: str, env: dict[str, str] | None = None) -> None:
    print(f"\n$ pond {shlex.join(args)}", flush=True)
    subprocess.run(
        [str(POND_BIN), *args],
        check=True,
        env={**os.environ, "POND": str(WORK / "pond"), **(env or {})},
    )


def pipeline(files: list[Path]) -> None:
    """The pipeline part: apply, run, run again, a new file, run, query."""
    inbox = WORK / "inbox"
    inbox.mkdir()
    months = sorted({f.name.rsplit("-", 2)[-2] + "-" + f.name.rsplit("-", 1)[-1] for f in files})
    last = months[-1]
    for f in files:
        if not f.name.endswith(last):
            shutil.copy(f, inbox / f.name)
    pond("apply", "-f", str(HERE / "pipeline.yaml"), "-v", f"inbox={inbox}")
    pond("resources")
    pond("run")
    pond("run")  # nothing new: every file unchanged, nothing written
    newest = next(f for f in files if f.name == f"harbor-mouth-{last}")
    shutil.copy(newest, inbox / newest.name)
    print(f"\n# a new export arrives: {newest.name}")
    pond("run")
    pond("list", "-l", "/inbox/loggers/")
    pond("list", "-l", "/s*/*")
    # Computed on read from every file the inbox holds, then cached under cache/.
    pond("cat", "/sqlderived/daily", "--start", "2025-06-26", "--format", "csv")
    pond(
        "query",
        'SELECT d.timestamp AS day, d.temp_avg, round(avg(t."height.m"), 3) AS tide_avg_m '
        'FROM "/sqlderived/daily" d JOIN "/synthetic/tide" t '
        "ON date_bin(INTERVAL '1 day', t.timestamp) = d.timestamp "
        "GROUP BY 1, 2 ORDER BY 1 DESC LIMIT 3",
    )
    pond("query", "SELECT resource, outcome, rows, bytes FROM runs ORDER BY start")


def stations(csv_dir: Path) -> None:
    """HydroVu readings from the stand-in API, downsampled, published as a web site."""
    import hydrovu_standin

    server = hydrovu_standin.start(csv_dir, list(SITES))
    print(f"\n# a stand-in for the HydroVu API serves 4 devices at {server.base_url}")
    secrets = {"HYDROVU_CLIENT_ID": server.client_id, "HYDROVU_CLIENT_SECRET": server.client_secret}
    site = WORK / "site"
    try:
        pond(
            "apply",
            "-f",
            str(HERE / "stations.yaml"),
            "-v",
            f"hydrovu_url={server.base_url}",
            "-v",
            f"site={site}",
        )
        pond("hydrovu", "locations", "stations", env=secrets)
        pond("run", env=secrets)
        pond("run", "stations", env=secrets)  # nothing new since the last run
        pond(
            "cat",
            "/hydrovu/stations/SFTemps.series",
            "--sql",
            "SELECT date_trunc('month', timestamp) AS month, round(max(\"Temperature.F\"), 1) "
            'AS max_f, round(min("Temperature.F"), 1) AS min_f FROM source GROUP BY 1 ORDER BY 1',
        )
        pond("list", "/reduce/stations-down/SFTemps/")
        pond("describe", "/reduce/stations-down/SFTemps/res=7d.series")
        pond(
            "cat",
            "/reduce/stations-down/SFTemps/res=7d.series",
            "--end",
            "2010-02-01",
            "--format",
            "csv",
        )
    finally:
        server.stop()
    print(f"\nThe web site is built: open file://{site}/index.html in a browser")


BACKUP_YAML = """\
apiVersion: duckpond/v1
kind: Backup
name: offsite
spec:
  url: s3://demo-archive/pond
  endpoint: ${env:S3_ENDPOINT}
  access_key_id: ${env:S3_KEY}
  secret_access_key: ${env:S3_SECRET}
  allow_http: true
"""


def backup() -> None:
    """Back the pond up to a real S3 server, read the backup in place, restore it, verify."""
    from duckpond.testing.s3server import S3Server, weed_binary

    if weed_binary() is None:
        print("\n(the weed binary is not installed: the backup part is skipped)")
        return
    server = S3Server(WORK / "s3" / "weed", buckets=["demo-archive"])
    server.start()
    try:
        creds = server.env()
        env = {
            "S3_ENDPOINT": server.endpoint,
            "S3_KEY": creds["AWS_ACCESS_KEY_ID"],
            "S3_SECRET": creds["AWS_SECRET_ACCESS_KEY"],
        }
        doc = WORK / "backup.yaml"
        doc.write_text(BACKUP_YAML)
        pond("apply", "-f", str(doc), env=env)
        pond("run", "offsite", env=env)  # a run pushes; Backups run after everything else
        pond("backup", "list", env=env)
        pond("--pond", "s3://demo-archive/pond", "log", "--limit", "3", env=creds)
        restored = WORK / "restored-pond"
        pond("restore", "s3://demo-archive/pond", str(restored), env=creds)
        pond("--pond", str(restored), "fsck", env=creds)
        pond(
            "--pond",
            str(restored),
            "query",
            'SELECT count(*) AS readings FROM "/hydrovu/harbor-mouth.series"',
        )
        pond("backup", "verify", "offsite", "--deep", env=env)
        pond("status", env=env)
    finally:
        server.stop()


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    csv_dir = WORK / "csv"
    files = generate(csv_dir)
    print(f"generated {len(files)} CSV files in {csv_dir}")
    pond("init")
    pond("mkdir", "-p", "/hydrovu")
    for site in SITES:
        # Several files onto one series: one version per month, in order.
        months = [str(m) for m in sorted(csv_dir.glob(f"{site}-*.csv"))]
        pond("copy", "--format", "series", *months, f"/hydrovu/{site}.series")
    pond("copy", str(csv_dir), "/raw")
    pond("list", "-l", "/hydrovu/")
    pond("describe", "/hydrovu/harbor-mouth.series")
    pond(
        "cat",
        "/hydrovu/silver-lake.series",
        "--sql",
        "SELECT date_bin(INTERVAL '1 day', timestamp) AS day, round(avg(\"Temperature.C\"), 3) "
        'AS avg_temp_c, round(min("Dissolved Oxygen.mg/L"), 3) AS min_do FROM source '
        "GROUP BY day ORDER BY day LIMIT 7",
    )
    pond(
        "cat",
        "/hydrovu/*.series",
        "--start",
        "2025-06-01",
        "--end",
        "2025-06-01T01:00Z",
        "--format",
        "csv",
    )
    pond(
        "query",
        'SELECT count(*) AS readings, max("Specific Conductivity.uS/cm") AS max_conductivity '
        'FROM "/hydrovu/harbor-mouth.series"',
    )
    pond("query", "SELECT file_type, count(*) AS versions FROM nodes GROUP BY file_type ORDER BY 1")
    pond("log", "--limit", "3")
    pond("list", "--at-txn", "2")
    pipeline(files)
    stations(csv_dir)
    backup()
    print(f"\nThe pond is in {WORK / 'pond'}; try: POND={WORK / 'pond'} .venv/bin/pond list")


if __name__ == "__main__":
    main()
