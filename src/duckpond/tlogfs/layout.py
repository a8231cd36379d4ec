"""Names of a pond's files and directories (docs/architecture.md, "On-disk format")."""

from __future__ import annotations

DATA_DIR = "data"
LARGE_FILES_DIR = "_large_files"
LOCK_FILE = "write.lock"

# Content of this many bytes or more lives in a content-addressed blob.
LARGE_FILE_THRESHOLD = 65536

BLOB_PREFIX = "sha256="
TEMP_PREFIX = ".tmp-"
