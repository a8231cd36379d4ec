"""What verifying reads costs: blobs hashed against their names before their bytes are used.

    .venv/bin/python bench/bench_verify.py [--quick] [--only cat,cat-sha256,api,sql]

Each figure sets DuckPond as it is against the same code with verification switched off
(the blob store's read and path lookup patched not to hash), so the ratio is the cost of
verifying and nothing else.  Versions written now are checked against the XXH3-128 their
row records; ``--only cat-sha256`` measures the fallback for versions written before it
(the same file, its recorded checksum removed, so the read hashes it with sha256).

- cat (v.cat): ``pond cat`` of a 100 MB data file to /dev/null, a whole process
  (target: at most 1.1x).
- cat-sha256 (v.cat_sha256): the same for a version whose row records no fast checksum
  (an older pond's): the read falls back to sha256.
- api (v.api): ``Pond.read_bytes`` of the same file in a fresh pond handle; every
  round hashes it again, as a new process would.
- sql (v.sql): ``pond cat --sql`` over a series whose one version is a ~50 MB blob
  (a whole process: the engine reads the file itself, verification hashes it first).
"""

from __future__ import annotations

import os
from pathlib import Path

import duckpond.tlogfs.blobs as blobs
from duckpond.pond import Pond
from harness import (
    PYTHON,
    ChildRun,
    Figure,
    Figures,
    cpu_of,
    header,
    interleaved,
    make_series,
    median,
    parse_args,
    pond_env,
    run_child,
    selected,
    timed,
    workdir,
    write_json,
)

# The ``pond`` command, optionally with blob verification switched off.
POND_MAIN = """\
import sys
if sys.argv[1] == "unverified":
    import duckpond.tlogfs.blobs as blobs
    read = blobs.BlobStore.read
    blobs.BlobStore.read = lambda self, sha256, verify=True, xxh3=None: read(self, sha256, verify=False)
    blobs.BlobStore.verified_path = lambda self, sha256, xxh3=None: self.path(sha256)
del sys.argv[1]
from duckpond.cli import main
sys.argv[0] = "pond"
sys.exit(main())
"""

COMMAND = ["bench", "verify"]


def pond_argv(verified: bool, *args: str) -> list[str]:
    return [PYTHON, "-c", POND_MAIN, "verified" if verified else "unverified", *args]


def whole_process_figure(
    key: str,
    label: str,
    pond_dir: Path,
    args: list[str],
    repeat: int,
    target: str = "",
) -> Figure:
    env = pond_env(pond_dir)

    def verified() -> ChildRun:
        return run_child(pond_argv(True, *args), env=env)

    def unverified() -> ChildRun:
        return run_child(pond_argv(False, *args), env=env)

    samples = interleaved({"verified": verified, "unverified": unverified}, repeat)
    value, base = median(samples["verified"]), median(samples["unverified"])
    return Figure(
        key,
        label,
        value,
        "s",
        baseline=base,
        baseline_label="the same, verification off",
        target=target,
        met=value <= 1.1 * base if target else None,
        samples=samples["verified"],
        cpu=cpu_of(samples, "verified"),
        baseline_cpu=cpu_of(samples, "unverified"),
    )


def bench_cat(work: Path, size: int, repeat: int) -> list[Figure]:
    pond_dir = work / "pond-cat"
    pond = Pond.init(pond_dir, command=COMMAND)
    pond.write_bytes("/big.bin", os.urandom(size))
    pond.close()
    mb = size / 1e6
    return [
        whole_process_figure(
            "v.cat",
            f"`pond cat` of a {mb:.0f} MB file > /dev/null (whole process)",
            pond_dir,
            ["cat", "/big.bin"],
            repeat,
            target="<= 1.1x",
        )
    ]


def bench_cat_sha256(work: Path, size: int, repeat: int) -> list[Figure]:
    """As ``bench_cat``, for a version written before the fast checksum was recorded."""
    import duckpond.tlogfs.reads as reads

    def no_checksum(data: object) -> None:
        return None

    pond_dir = work / "pond-cat-sha256"
    record = blobs.fast_checksum
    # The row records no usable checksum (null), as an older pond's rows have none.
    reads.fast_checksum = no_checksum  # type: ignore[attr-defined,assignment]
    try:
        pond = Pond.init(pond_dir, command=COMMAND)
        pond.write_bytes("/big.bin", os.urandom(size))
        pond.close()
    finally:
        reads.fast_checksum = record  # type: ignore[attr-defined]
    mb = size / 1e6
    return [
        whole_process_figure(
            "v.cat_sha256",
            f"`pond cat` of a {mb:.0f} MB file written without the fast checksum (sha256)",
            pond_dir,
            ["cat", "/big.bin"],
            repeat,
        )
    ]


def bench_api(work: Path, size: int, repeat: int) -> list[Figure]:
    pond_dir = work / "pond-api"
    pond = Pond.init(pond_dir, command=COMMAND)
    pond.write_bytes("/big.bin", os.urandom(size))
    pond.close()
    read = blobs.BlobStore.read

    def unverified_read(
        self: blobs.BlobStore, sha256: str, *, verify: bool = True, xxh3: str | None = None
    ) -> bytes:
        return read(self, sha256, verify=False)

    def verified() -> float:
        blobs._verified.clear()  # as a new process would find it
        handle = Pond.open(pond_dir)
        return timed(lambda: handle.read_bytes("/big.bin"))

    def unverified() -> float:
        handle = Pond.open(pond_dir)
        blobs.BlobStore.read = unverified_read  # type: ignore[method-assign]
        try:
            return timed(lambda: handle.read_bytes("/big.bin"))
        finally:
            blobs.BlobStore.read = read  # type: ignore[method-assign]

    samples = interleaved({"verified": verified, "unverified": unverified}, repeat)
    value, base = median(samples["verified"]), median(samples["unverified"])
    return [
        Figure(
            "v.api",
            f"`Pond.read_bytes` of a {size / 1e6:.0f} MB file (first read in a process)",
            value,
            "s",
            baseline=base,
            baseline_label="the same, verification off",
            samples=samples["verified"],
        )
    ]


def bench_sql(work: Path, rows: int, repeat: int) -> list[Figure]:
    pond_dir = work / "pond-sql"
    src = work / "series.parquet"
    make_series(src, rows, compression="none", row_group_size=256 * 1024)
    pond = Pond.init(pond_dir, command=COMMAND)
    pond.copy_in([src], "/s.series", format="series")
    pond.close()
    mb = src.stat().st_size / 1e6
    sql = "SELECT count(*) AS n, avg(value) AS a, max(other) AS m FROM source"
    return [
        whole_process_figure(
            "v.sql",
            f"`pond cat --sql` aggregate over a {mb:.0f} MB series version (whole process)",
            pond_dir,
            ["cat", "/s.series", "--sql", sql, "--format", "csv"],
            repeat,
        )
    ]


def main() -> None:
    args = parse_args(__doc__ or "")
    header("verifying reads" + (" (quick)" if args.quick else ""))
    size = 20_000_000 if args.quick else 100_000_000
    rows = 400_000 if args.quick else 2_000_000
    repeat = 5 if args.quick else 11
    figures = Figures()
    with workdir("verify") as work:
        if selected(args, "cat"):
            figures.add(bench_cat(work, size, repeat))
        if selected(args, "cat-sha256"):
            figures.add(bench_cat_sha256(work, size, repeat))
        if selected(args, "api"):
            figures.add(bench_api(work, size, repeat))
        if selected(args, "sql"):
            figures.add(bench_sql(work, rows, repeat))
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
