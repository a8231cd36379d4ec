"""TinyFS: a storage-agnostic virtual filesystem over a ``Persistence``."""

from .dynamic import DynamicDir, DynamicFile, FactoryContext, register_factory
from .fs import FS, WD, Directory, File, GlobMatch, Node, NodePath, Symlink
from .memory import MemoryPersistence
from .persistence import (
    DIRECTORY,
    DYNAMIC_DIR,
    DYNAMIC_FILE,
    FILE_DATA,
    FILE_SERIES,
    FILE_TABLE,
    ROOT_ID,
    SYMLINK,
    DirEntry,
    Persistence,
    VersionInfo,
)

__all__ = [
    "DIRECTORY",
    "DYNAMIC_DIR",
    "DYNAMIC_FILE",
    "FILE_DATA",
    "FILE_SERIES",
    "FILE_TABLE",
    "FS",
    "ROOT_ID",
    "SYMLINK",
    "WD",
    "DirEntry",
    "Directory",
    "DynamicDir",
    "DynamicFile",
    "FactoryContext",
    "File",
    "GlobMatch",
    "MemoryPersistence",
    "Node",
    "NodePath",
    "Persistence",
    "Symlink",
    "VersionInfo",
    "register_factory",
]
