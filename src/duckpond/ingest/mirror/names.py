"""How a pond name becomes a host name in a mirror, and back.

Any name the pond holds (no ``/``, no NUL) can be written on a POSIX host,
but not every one should be: a control character breaks listings and
scripts, a name over 255 bytes cannot be created, and two names that differ
only in case are one file on macOS, on Windows and on most shared drives.
The rule, the same on every host so that a mirror copied anywhere stays
whole:

1. ``%``, C0 and C1 control characters and DEL are written as ``%XX``, the
   hex of each of their UTF-8 bytes (``a\\nb`` -> ``a%0Ab``, ``50%`` ->
   ``50%25``).  A name that would start ``.pond-mirror`` (this mirror's own
   files) has its leading dot written ``%2E``.
2. A table or series gets the extension of the format it is written in
   (``temp.series`` -> ``temp.series.parquet``) unless its name already ends
   with it.
3. In one directory, names equal after ``str.casefold`` are a collision.  The
   one that held the host name in this mirror already keeps it; else a name
   written as it is (a raw ``a.parquet``) before one given an extension by
   rule 2 (the series ``a``); else the one already in lower case (equal to its
   casefold), else the first in code-point order.  Each other one has every
   character that changes under ``casefold`` written as ``%XX`` as well
   (``README`` beside ``readme`` -> ``%52%45%41%44%4D%45``).
4. A host name still over 255 bytes, or still colliding (``a.parquet`` beside
   a series ``a``: no escape tells them apart), is refused: the node is not
   mirrored, and the run names it and the name that holds its host name.

Reading a host name back (``host_to_pond``) undoes rule 1 and 3: every
``%XX`` of two hex digits is that byte; any other ``%`` is itself.  Rule 2 is
undone by the mirror's record, which knows what each file was made from.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass

MAX_NAME_BYTES = 255
"""The longest file name ext4, APFS, NTFS and most others accept, in bytes."""

RESERVED_PREFIX = ".pond-mirror"
"""The mirror's own files in DIR (the record, its journal, its lock, temporaries)."""

_ALWAYS = re.compile(r"[%\x00-\x1f\x7f-\x9f]")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def _escape_char(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def escape(name: str) -> str:
    """Rule 1: ``name`` with ``%`` and control characters written as ``%XX``."""
    out = _ALWAYS.sub(lambda m: _escape_char(m[0]), name)
    if out.startswith(RESERVED_PREFIX):
        out = "%2E" + out[1:]
    return out


def _escape_case(name: str) -> str:
    """Rule 3: every character that ``casefold`` changes written as ``%XX`` too."""
    return "".join(_escape_char(char) if char.casefold() != char else char for char in escape(name))


def host_to_pond(name: str) -> str:
    """The pond name a host name stands for: every ``%XX`` decoded (rules 1 and 3).

    Raises ``ValueError`` (``UnicodeError`` among them) when the host name is not
    UTF-8, or decodes to something that is no single pond name (``%2F``, ``%2E%2E``).
    """
    name.encode("utf-8")  # a name the host gave as undecodable bytes fails here
    if "%" not in name:
        return name
    raw = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(name):
        raw += name[pos : m.start()].encode("utf-8")
        raw.append(int(m[1], 16))
        pos = m.end()
    raw += name[pos:].encode("utf-8")
    decoded = raw.decode("utf-8")
    if decoded in (".", "..") or "/" in decoded or "\x00" in decoded:
        raise ValueError(f"{name!r} stands for {decoded!r}, which is not a pond name")
    return decoded


def not_canonical(rel: str, known: Container[str]) -> str | None:
    """Why the new host entry ``rel`` is left, when a name in it is not the mirror's own
    spelling of the pond name it stands for (None: every new name is).

    ``new%zz`` stands for the pond name ``new%zz``, which the mirror writes
    ``new%25zz``; ``%41`` stands for ``A``, written ``A``.  Bringing such a file
    in would have the next run rename the user's file (or leave two host names
    for one node), so it is refused by name and left untouched.  Names in
    ``known`` (host paths the record holds) are the mirror's own and are not asked.
    Raises ``ValueError`` as ``host_to_pond`` does.
    """
    parts = rel.split("/")
    for i, part in enumerate(parts):
        if "/".join(parts[: i + 1]) in known:
            continue
        name = host_to_pond(part)
        canonical = escape(name)
        if canonical != part:
            return (
                f"its host name {part} stands for the pond name {name}, which a mirror writes"
                f" {canonical}: rename it to {canonical} on the host to bring it in"
            )
    return None


@dataclass(frozen=True)
class Refused:
    """A pond name that has no host name in this directory, and why."""

    name: str
    reason: str


def host_names(
    entries: Iterable[tuple[str, str]], held: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[Refused]]:
    """Host names for the entries of one pond directory.

    ``entries`` are ``(pond name, extension)`` pairs, the extension ("" or
    ``.parquet``/``.csv``) added by rule 2.  ``held`` maps a pond name to the
    host name it had in the mirror so far.  Returns pond name -> host name for
    every entry that has one, and the refused ones (rule 4).

    Who keeps a contested host name, in this order: an entry that held it
    already (a mirror never hands one node's host file to another); then a
    name written as it is over one given an extension (a raw ``a.parquet``
    over the series ``a``), then rule 3's order.
    """
    wanted: dict[str, str] = {}
    added: dict[str, bool] = {}
    for name, ext in entries:
        host = escape(name)
        added[name] = bool(ext) and not host.lower().endswith(ext)
        if added[name]:
            host += ext
        wanted[name] = host
    held = held or {}
    taken: dict[str, str] = {}  # casefolded host name -> pond name holding it
    chosen: dict[str, str] = {}
    refused: list[Refused] = []

    def order(name: str) -> tuple[bool, bool, bool, str]:
        # A lower-case name keeps its plain form (nothing in it could be escaped), then
        # code-point order decides; the order is fixed, so every run chooses alike.
        return (held.get(name) != wanted[name], added[name], name.casefold() != name, name)

    for name in sorted(wanted, key=order):
        host = wanted[name]
        if host.casefold() in taken:
            ext = host[len(escape(name)) :]
            host = _escape_case(name) + ext
        holder = taken.get(host.casefold())
        if holder is not None:
            refused.append(
                Refused(name, f"its host name {host} is taken by {holder!r}: rename one of them")
            )
            continue
        if len(host.encode("utf-8")) > MAX_NAME_BYTES:
            refused.append(Refused(name, f"its host name would be over {MAX_NAME_BYTES} bytes"))
            continue
        taken[host.casefold()] = name
        chosen[name] = host
    return chosen, refused
