"""What a backup costs: push, restore, an incremental push, a run with a Backup, memory.

    .venv/bin/python bench/bench_backup.py [--quick] [--only push,push1,restore,run,memory]
                                           [--size-mb 500] [--blob-mb 2048]

Every figure is a whole process against a real S3 server (SeaweedFS ``weed mini`` on
127.0.0.1, started here on a temporary directory), set against the raw library doing the
same work in a bare script:

- push (b.push): ``pond backup push`` of a pond of about ``--size-mb`` (many small
  versions and some large blobs) to an empty prefix, against a bare obstore script
  uploading the same files at the same concurrency (8) (target: within 1.25x); and
  against ``restic backup`` of the pond directory to the same server (target: faster),
  when restic is installed (``apt-get install restic``; skipped with a message otherwise).
- push1 (b.push1): ``pond backup push`` after a one-file change of that pond (target:
  under 1 s), with the bytes it sent.
- restore (b.restore): ``pond restore`` of that pond, every byte checked, against a bare
  obstore script downloading the same objects at the same concurrency (target: within
  1.25x), and against ``restic restore``.
- run (b.run): ``pond run`` of a pond whose one resource is a Backup with nothing new to
  push, against ``pond run`` of the same pond without it (target: under 0.3 s more).
- memory (b.mem_push, b.mem_restore): peak RSS of a push and of a restore of a pond
  holding one ``--blob-mb`` blob (target: under 300 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
from pathlib import Path

from duckpond.pond import Pond
from duckpond.testing.s3server import S3Server
from harness import (
    PYTHON,
    ChildRun,
    Figure,
    Figures,
    header,
    median,
    pond_env,
    prepare,
    run_child,
    workdir,
    write_json,
)

BUCKET = "bench"
CONCURRENCY = 8
POND = [PYTHON, "-m", "duckpond.cli"]

UPLOAD = """\
import os, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import obstore
from obstore.store import S3Store
root, bucket, prefix = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
store = S3Store(bucket, prefix=prefix, endpoint=os.environ["AWS_ENDPOINT_URL"],
                region="us-east-1", client_options={"allow_http": True})
files = [p for p in (root / "data").rglob("*") if p.is_file()]
def put(p):
    obstore.put(store, str(p.relative_to(root)), p)
with ThreadPoolExecutor(WORKERS) as pool:
    list(pool.map(put, files))
""".replace("WORKERS", str(CONCURRENCY))

DOWNLOAD = """\
import os, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import obstore
from obstore.store import S3Store
dest, bucket, prefix = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
store = S3Store(bucket, prefix=prefix, endpoint=os.environ["AWS_ENDPOINT_URL"],
                region="us-east-1", client_options={"allow_http": True})
keys = [m["path"] for chunk in obstore.list(store) for m in chunk]
def get(key):
    out = dest / key
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        for chunk in obstore.get(store, key).stream(min_chunk_size=8 << 20):
            f.write(chunk)
with ThreadPoolExecutor(WORKERS) as pool:
    list(pool.map(get, keys))
""".replace("WORKERS", str(CONCURRENCY))


def backup_yaml(url: str, server: S3Server) -> str:
    return (
        "apiVersion: duckpond/v1\nkind: Backup\nname: offsite\nspec:\n"
        f"  url: {url}\n  endpoint: {server.endpoint}\n  allow_http: true\n"
    )


def make_pond(path: Path, work: Path, size_mb: int, server: S3Server) -> None:
    """About ``size_mb`` MB: 300 small versions, the rest in blobs of 1-24 MB."""
    rng = random.Random(16)
    pond = Pond.init(path, command=["bench", "backup"])
    pond.mkdir("/small", "/big")
    for i in range(300):
        pond.write_bytes(f"/small/f{i % 40}.txt", rng.randbytes(rng.randint(100, 4000)))
    left = size_mb * 1_000_000 - 300 * 2000
    i = 0
    while left > 0:
        size = min(left, rng.choice([1, 4, 8, 24]) * 1_000_000)
        pond.write_bytes(f"/big/b{i}.bin", os.urandom(size))
        left -= size
        i += 1
    doc = work / "backup.yaml"
    doc.write_text(backup_yaml(f"s3://{BUCKET}/unused", server))
    pond.close()


def set_url(pond_dir: Path, work: Path, url: str, server: S3Server) -> None:
    doc = work / "backup.yaml"
    doc.write_text(backup_yaml(url, server))
    with Pond.open(pond_dir) as pond:
        pond.pipeline.apply([str(doc)])


def env_for(server: S3Server, pond_dir: Path) -> dict[str, str]:
    return {**pond_env(pond_dir), **server.env(), "RESTIC_PASSWORD": "bench-only"}


def pond_push(server: S3Server, pond_dir: Path) -> tuple[ChildRun, dict[str, object]]:
    out = pond_dir.parent / "push.json"
    with open(out, "wb") as f:
        run = run_child(
            [*POND, "--json", "backup", "push"], env=env_for(server, pond_dir), stdout=f
        )
    return run, json.loads(out.read_text())[0]


def bench_push_restore(work: Path, server: S3Server, size_mb: int, repeat: int) -> list[Figure]:
    pond_dir = work / "pond"
    make_pond(pond_dir, work, size_mb, server)
    env = env_for(server, pond_dir)
    total = sum(p.stat().st_size for p in (pond_dir / "data").rglob("*") if p.is_file())
    mb = total / 1e6
    figures: list[Figure] = []
    pushes, bares, push_cpu, bare_cpu = [], [], [], []
    url = ""
    for r in range(repeat):
        # Interleaved, the order alternating: whichever goes second meets a server still
        # writing out what the first sent.
        url = f"s3://{BUCKET}/pond-{r}"
        set_url(pond_dir, work, url, server)
        # A first push to this URL (the Backup specs cached by the apply stay, as for a user).
        (pond_dir / "backups" / "offsite.json").unlink(missing_ok=True)
        if r % 2:
            run, _ = pond_push(server, pond_dir)
        bare = run_child([PYTHON, "-c", UPLOAD, str(pond_dir), BUCKET, f"bare-{r}"], env=env)
        if not r % 2:
            run, _ = pond_push(server, pond_dir)
        pushes.append(run.seconds)
        bares.append(bare.seconds)
        push_cpu.append(run.cpu_seconds)
        bare_cpu.append(bare.cpu_seconds)
    value, base = median(pushes), median(bares)
    figures.append(
        Figure(
            "b.push",
            f"`pond backup push` of a {mb:.0f} MB pond, empty remote",
            value,
            "s",
            baseline=base,
            baseline_label=f"bare obstore upload, {CONCURRENCY} at once",
            target="<= 1.25x",
            met=value <= 1.25 * base,
            samples=pushes,
            cpu=median(push_cpu),
            baseline_cpu=median(bare_cpu),
        )
    )
    restic = shutil.which("restic")
    restic_repo = f"s3:{server.endpoint}/{BUCKET}/restic"
    if restic:
        subprocess.run(
            [restic, "-r", restic_repo, "init"], env=env, check=True, capture_output=True
        )
        run = run_child([restic, "-r", restic_repo, "backup", "--quiet", str(pond_dir)], env=env)
        figures.append(
            Figure(
                "b.push_restic",
                f"`pond backup push` of the {mb:.0f} MB pond, against restic",
                value,
                "s",
                baseline=run.seconds,
                baseline_label="`restic backup` of the pond directory",
                target="faster",
                met=value < run.seconds,
                cpu=median(push_cpu),
                baseline_cpu=run.cpu_seconds,
            )
        )
    else:
        print("restic is not installed: the restic comparisons are skipped", flush=True)

    # Restore of the last full push, against a bare download of the same objects.
    restores, downloads, restore_cpu, download_cpu = [], [], [], []
    for r in range(repeat):
        dest = work / f"restored-{r}"
        bare_dest = work / f"downloaded-{r}"
        # Interleaved, the order alternating, as for the push.
        for pond_turn in (r % 2 == 0, r % 2 == 1):
            if pond_turn:
                run = run_child([*POND, "restore", url, str(dest)], env=env)
                shutil.rmtree(dest)
            else:
                bare = run_child(
                    [PYTHON, "-c", DOWNLOAD, str(bare_dest), BUCKET, url.split("/", 3)[3]],
                    env=env,
                )
                shutil.rmtree(bare_dest)
        restores.append(run.seconds)
        restore_cpu.append(run.cpu_seconds)
        downloads.append(bare.seconds)
        download_cpu.append(bare.cpu_seconds)
    value, base = median(restores), median(downloads)
    figures.append(
        Figure(
            "b.restore",
            f"`pond restore` of the {mb:.0f} MB pond, every byte checked",
            value,
            "s",
            baseline=base,
            baseline_label=f"bare obstore download, {CONCURRENCY} at once",
            target="<= 1.25x",
            met=value <= 1.25 * base,
            samples=restores,
            cpu=median(restore_cpu),
            baseline_cpu=median(download_cpu),
        )
    )
    if restic:
        dest = work / "restic-restore"
        run = run_child(
            [restic, "-r", restic_repo, "restore", "latest", "--target", str(dest)], env=env
        )
        shutil.rmtree(dest, ignore_errors=True)
        figures.append(
            Figure(
                "b.restore_restic",
                f"`pond restore` of the {mb:.0f} MB pond, against restic",
                value,
                "s",
                baseline=run.seconds,
                baseline_label="`restic restore latest`",
                target="faster",
                met=value < run.seconds,
                cpu=median(restore_cpu),
                baseline_cpu=run.cpu_seconds,
            )
        )

    # One small file changed, then a push: whole process, and the bytes it sent.
    times, sent, cpus = [], [], []
    for i in range(max(3, repeat)):
        with Pond.open(pond_dir) as pond:
            pond.write_bytes("/small/changed.txt", f"change {i}\n".encode())
        run, report = pond_push(server, pond_dir)
        times.append(run.seconds)
        cpus.append(run.cpu_seconds)
        sent.append(int(report["bytes_sent"]))  # type: ignore[call-overload]
    value = median(times)
    figures.append(
        Figure(
            "b.push1",
            f"`pond backup push` after a one-file change of the {mb:.0f} MB pond",
            value,
            "s",
            target="< 1 s",
            met=value < 1.0,
            note=f"sent {median(sent) / 1024:.1f} KiB",
            samples=times,
            cpu=median(cpus),
        )
    )
    return figures


def bench_run(work: Path, server: S3Server, repeat: int) -> list[Figure]:
    with_backup, without = work / "run-with", work / "run-without"
    for path in (with_backup, without):
        with Pond.init(path, command=["bench", "backup"]) as pond:
            pond.write_bytes("/a.txt", b"a")
    set_url(with_backup, work, f"s3://{BUCKET}/run", server)
    run_child([*POND, "run"], env=env_for(server, with_backup))  # the first push
    a, b, a_cpu, b_cpu = [], [], [], []
    for _ in range(repeat):
        with_run = run_child([*POND, "run"], env=env_for(server, with_backup))
        without_run = run_child([*POND, "run"], env=env_for(server, without))
        a.append(with_run.seconds)
        b.append(without_run.seconds)
        a_cpu.append(with_run.cpu_seconds)
        b_cpu.append(without_run.cpu_seconds)
    value, base = median(a), median(b)
    return [
        Figure(
            "b.run",
            "`pond run` with a Backup and nothing new to push",
            value,
            "s",
            baseline=base,
            baseline_label="`pond run` of the pond without it",
            target="< +0.3 s",
            met=value - base < 0.3,
            samples=a,
            cpu=median(a_cpu),
            baseline_cpu=median(b_cpu),
        )
    ]


def bench_memory(work: Path, server: S3Server, blob_mb: int) -> list[Figure]:
    pond_dir = work / "pond-big"
    host = work / "big.bin"
    with open(host, "wb") as f:
        for _ in range(blob_mb):
            f.write(os.urandom(1 << 20))
    env = env_for(server, pond_dir)
    run_child([*POND, "init"], env=env)
    run_child([*POND, "copy", str(host), "/big.bin"], env=env)
    host.unlink()
    url = f"s3://{BUCKET}/big"
    set_url(pond_dir, work, url, server)
    push, _ = pond_push(server, pond_dir)
    dest = work / "big-restored"
    restore = run_child([*POND, "restore", url, str(dest)], env=env)
    shutil.rmtree(dest)
    label = f"{blob_mb / 1024:.1f} GB" if blob_mb >= 1024 else f"{blob_mb} MB"
    return [
        Figure(
            "b.mem_push",
            f"peak RSS of `pond backup push` of one {label} blob",
            push.max_rss_mb,
            "MB",
            target="< 300 MB",
            met=push.max_rss_mb < 300,
            note=f"{push.seconds:.1f} s",
        ),
        Figure(
            "b.mem_restore",
            f"peak RSS of `pond restore` of one {label} blob",
            restore.max_rss_mb,
            "MB",
            target="< 300 MB",
            met=restore.max_rss_mb < 300,
            note=f"{restore.seconds:.1f} s",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--only", metavar="KEYS", help="comma-separated benchmark names to run")
    parser.add_argument("--size-mb", type=int, default=None, help="the pond's size (500)")
    parser.add_argument("--blob-mb", type=int, default=None, help="the big blob (2048)")
    args = parser.parse_args()
    size_mb = args.size_mb or (60 if args.quick else 500)
    blob_mb = args.blob_mb or (200 if args.quick else 2048)
    repeat = 1 if args.quick else 4
    only = set(args.only.split(",")) if args.only else None

    def chosen(name: str) -> bool:
        return only is None or name in only

    header("backup and restore" + (" (quick)" if args.quick else ""))
    prepare()
    figures = Figures()
    with workdir("backup") as work, S3Server(work / "weed", buckets=[BUCKET]) as server:
        if chosen("push") or chosen("restore") or chosen("push1"):
            figures.add(bench_push_restore(work, server, size_mb, repeat))
        if chosen("run"):
            figures.add(bench_run(work, server, 5 if args.quick else 11))
        if chosen("memory"):
            figures.add(bench_memory(work, server, blob_mb))
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
