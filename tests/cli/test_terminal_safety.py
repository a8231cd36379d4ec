"""No command lets a name or path drive the terminal: every line that shows a host path or
a pond name escapes control characters, as ``pond list`` does.

A pond directory, a pond file, a host folder and an inbox file are named with escape
sequences; the output of many commands (text and JSON, stdout and stderr, successes and
errors) is scanned for raw control characters.
"""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import PondRunner, host_url, write

EVIL = "x\x1b[2J\x1b]0;owned\x07\r\x9b31m"
# Control characters other than newline: C0, DEL and C1.
RAW = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def scan(pond: PondRunner, *args: str) -> str:
    result = pond(*args)
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        found = RAW.search(text)
        assert found is None, f"pond {args!r} printed {found[0]!r} raw on {name}: {text!r}"
    return result.stdout + result.stderr


def test_no_command_prints_a_raw_control_character(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    # The folder is part of the inbox glob: no brackets in its name.
    folder = host / "in\x1b(0\x07\x9b"
    folder.mkdir()
    write(folder / f"f{EVIL}.csv", "timestamp,v\n2025-01-01T00:00:00Z,1\n")
    write(folder / f"bad{EVIL}.csv", "timestamp;v\n2025-01-01T00:00:00Z;1\n")
    pond_dir = f"/d{EVIL}"
    pond_file = f"{pond_dir}/f{EVIL}.series"
    outputs = [
        scan(pond, "mkdir", pond_dir),
        scan(pond, "copy", "--format", "series", str(folder / f"f{EVIL}.csv"), pond_file),
        scan(pond, "copy", "--format", "series", str(folder / f"f{EVIL}.csv"), pond_file),
        scan(pond, "copy", str(folder / f"f{EVIL}.csv"), f"{pond_dir}/raw{EVIL}.csv"),
    ]
    for json_flag in ([], ["--json"]):
        for args in (
            ["list", "/**"],
            ["list", "-l", "/**"],
            ["describe", "/**"],
            ["history", pond_file],
            ["log"],
            ["cat", pond_file],
            ["cat", f"{pond_dir}/*", "--with-path"],
            ["cat", f"/nope{EVIL}"],
            ["describe", f"/nope{EVIL}/*"],
            ["query", "SELECT * FROM entries"],
            ["query", "SELECT * FROM nodes"],
            ["rm", f"/nope{EVIL}"],
            ["mv", f"/nope{EVIL}", "/elsewhere"],
            ["copy", f"{pond_dir}/*", host_url(host / f"out{EVIL}")],
            ["copy", str(host / f"missing{EVIL}"), "/x"],
            ["export", f"{pond_dir}/*", "--dir", str(host / f"exp{EVIL}")],
            ["fsck"],
        ):
            outputs.append(scan(pond, *json_flag, *args))
    resources = tmp_path / "inbox.yaml"
    resources.write_text(
        "apiVersion: duckpond/v1\nkind: Inbox\nname: drop\nspec:\n"
        f'  pattern: "{str(folder).encode("unicode_escape").decode()}/*.csv"\n'
        "  format: series\n  settle: 0s\n"
    )
    applied = scan(pond, "apply", "-f", str(resources))
    assert "created: drop" in applied, applied
    outputs.append(applied)
    for json_flag in ([], ["--json"]):
        outputs.append(scan(pond, *json_flag, "run"))
        outputs.append(scan(pond, *json_flag, "resources"))
        outputs.append(scan(pond, *json_flag, "query", "SELECT * FROM runs"))
    outputs.append(scan(pond, "list", "/inbox/drop/*"))
    # The names are shown, escaped.
    text = "\n".join(outputs)
    assert "\\x1b[2J" in text or "\\u001b[2J" in text
    assert "badx\\x1b[2J" in text  # the inbox file, in the run failure line
