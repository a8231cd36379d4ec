"""Names of a pond's files and directories (docs/architecture.md, "On-disk format")."""

from __future__ import annotations

import re

DATA_DIR = "data"
LARGE_FILES_DIR = "_large_files"
LOCK_FILE = "write.lock"

# Content of this many bytes or more lives in a content-addressed blob.
LARGE_FILE_THRESHOLD = 65536

BLOB_PREFIX = "sha256="
TEMP_PREFIX = ".tmp-"

# The pond's own records beside the Delta table, in a directory Delta never
# touches (its vacuum and log cleanup skip names starting with "_"):
# file seals, archived commit metadata and the retention floor.
META_DIR = "_pond"
DELTA_LOG_DIR = "_delta_log"


BACKUP_RECORDS_PREFIX = "pushes/"
BACKUP_META_PREFIX = "meta/"
"""Where a backup keeps copies of ``data/_pond``'s retention files, by content
(``backup.layout``: ``meta/<sha256>-<name>``)."""
"""Where a backup keeps its push records (``duckpond.backup.layout``), beside ``data/``: a
store prefix holding any is a backup, read-only, even where its first commit says the
pond it came from was kept on S3 and written in place."""


# The names of the oplog files a pond seals (``seals``): Delta log entries and
# checkpoints in ``_delta_log/``, and the data files of each ``part_id=`` partition.
LOG_ENTRY_NAME = re.compile(r"(\d{20})\.json")
CHECKPOINT_NAME = re.compile(r"(\d{20})\.checkpoint\.parquet")
DATA_FILE_NAME = re.compile(r"part-\d{5}-[0-9a-f-]{36}-c\d{3}(\.[a-z0-9]+)?\.parquet")


def is_oplog_file(rel: str) -> bool:
    """Whether ``rel`` (relative to ``data/``) names a file a pond seals."""
    directory, _, name = rel.rpartition("/")
    if directory == DELTA_LOG_DIR:
        return bool(LOG_ENTRY_NAME.fullmatch(name) or CHECKPOINT_NAME.fullmatch(name))
    return (
        directory.startswith("part_id=")
        and "/" not in directory
        and bool(DATA_FILE_NAME.fullmatch(name))
    )
