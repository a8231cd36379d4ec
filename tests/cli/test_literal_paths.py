"""Paths are names, not patterns: an existing literal path is taken literally."""

from __future__ import annotations

from pathlib import Path

from .conftest import PondRunner, host_url, write


def test_a_name_with_glob_characters_is_taken_literally(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/out")
    pond.ok("copy", str(write(host / "a.csv", "x\n1\n")), "/out/export[1].csv")
    pond.ok("copy", str(write(host / "b.csv", "x\n2\n")), "/out/export1.csv")
    # As a pattern '[1]' would match only 'export1.csv'; the existing name wins.
    assert pond.paths("/out/export[1].csv") == ["/out/export[1].csv"]
    # A pattern that does not name an existing node is still a pattern.
    assert pond.paths("/out/export?1?.csv") == ["/out/export[1].csv"]
    out = host / "copied"
    pond.ok("copy", "/out/export[1].csv", host_url(out))
    assert (out / "export[1].csv").read_text() == "x\n1\n"
