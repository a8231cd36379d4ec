"""Names of a pond's files and directories (docs/architecture.md, "On-disk format")."""

from __future__ import annotations

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
"""Where a backup keeps its push records (``duckpond.backup.layout``), beside ``data/``: a
store prefix holding any is a backup, read-only, even where its first commit says the
pond it came from was kept on S3 and written in place."""
