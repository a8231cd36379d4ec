"""``pond apply``, ``pond resources``, and resource nodes, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import PondRunner, doc, yaml_file


def inbox_file(path: Path, inbox_dir: Path, name: str = "drop", extra: str = "") -> Path:
    inbox_dir.mkdir(exist_ok=True)
    return yaml_file(path, doc("Inbox", name, f"{{pattern: '{inbox_dir}/*.csv'{extra}}}"))


def test_apply_creates_resource_node_and_output_directory(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    f = inbox_file(tmp_path / "r.yaml", host / "in")
    result = pond.ok("apply", "-f", str(f))
    [line, made, done] = result.stdout.splitlines()
    assert line.startswith("created: drop (Inbox) uuid ")
    assert made == "created directory: /inbox/drop"
    assert done == "applied in txn 2"
    [entry] = pond.json("list", "/etc/resources/drop")
    assert entry["type"] == "resource"
    stored = json.loads(pond.cat_bytes("/etc/resources/drop"))
    assert stored == {
        "apiVersion": "duckpond/v1",
        "kind": "Inbox",
        "name": "drop",
        "spec": {
            "pattern": f"{host}/in/*.csv",
            "path": "/inbox/drop",
            "format": "data",
            "csv": {
                "source_format": None,
                "compression": None,
                "delimiter": None,
                "header": True,
                "tz": None,
                "timestamp_column": None,
                "encoding": None,
                "decimal": ".",
                "column_types": {},
                "timestamp_format": None,
                "skip_rows_after_header": 0,
                "null_values": [],
                "dst": "error",
                "time_column": None,
                "skip_rows": 0,
            },
            "settle": "1s",
            "series": None,
        },
    }
    assert pond.paths("/inbox/drop") == ["/inbox/drop"]
    [res] = pond.json("resources")
    assert res["name"] == "drop" and res["kind"] == "Inbox" and res["path"] == "/inbox/drop"
    assert res["uuid"] == line.rsplit(" ", 1)[1] and res["last_run"] is None
    described = pond.ok("describe", "/etc/resources/drop").stdout
    assert "  document:\n    apiVersion: duckpond/v1\n    kind: Inbox\n" in described
    assert "      format: data\n" in described


def test_reapply_unchanged_commits_nothing(pond: PondRunner, host: Path, tmp_path: Path) -> None:
    f = inbox_file(tmp_path / "r.yaml", host / "in")
    pond.ok("apply", "-f", str(f))
    before = pond.snapshot()
    out = pond.ok("apply", "-f", str(f)).stdout
    assert out.splitlines()[-1] == "nothing to apply: 1 resource(s) unchanged, no transaction"
    assert out.startswith("unchanged: drop (Inbox) uuid ")
    assert pond.snapshot() == before
    data = json.loads(pond.ok("--json", "apply", "-f", str(f)).stdout)
    assert data["changed"] is False and data["txn_seq"] is None
    assert data["resources"][0]["action"] == "unchanged"


def test_update_keeps_the_uuid(pond: PondRunner, host: Path, tmp_path: Path) -> None:
    f = inbox_file(tmp_path / "r.yaml", host / "in")
    first = json.loads(pond.ok("--json", "apply", "-f", str(f)).stdout)["resources"][0]
    g = inbox_file(tmp_path / "r2.yaml", host / "in", extra=", format: series")
    second = json.loads(pond.ok("--json", "apply", "-f", str(g)).stdout)["resources"][0]
    assert second["action"] == "updated" and second["uuid"] == first["uuid"]
    assert [v["version"] for v in pond.json("history", "/etc/resources/drop")] == [1, 2]
    assert json.loads(pond.cat_bytes("/etc/resources/drop"))["spec"]["format"] == "series"
    # Time travel reads the first document.
    old = json.loads(pond.cat_bytes("/etc/resources/drop", "--at-txn", "2"))
    assert old["spec"]["format"] == "data"


def test_dry_run_writes_nothing(pond: PondRunner, host: Path, tmp_path: Path) -> None:
    f = inbox_file(tmp_path / "r.yaml", host / "in")
    before = pond.snapshot()
    out = pond.ok("apply", "-f", str(f), "--dry-run").stdout.splitlines()
    assert out[0].startswith("would create: drop (Inbox) uuid ")
    assert out[1:] == ["would create directory: /inbox/drop", "dry run: nothing written"]
    assert pond.snapshot() == before
    pond.ok("apply", "-f", str(f))
    g = inbox_file(tmp_path / "r2.yaml", host / "in", extra=", format: table")
    assert pond.ok("apply", "-f", str(g), "--dry-run").stdout.startswith("would update: drop")


def test_variables_from_the_command_line(pond: PondRunner, host: Path, tmp_path: Path) -> None:
    (host / "in").mkdir()
    f = yaml_file(tmp_path / "v.yaml", doc("Inbox", "{{ site }}", f"{{pattern: '{host}/in/*'}}"))
    pond.ok("apply", "-f", str(f), "-v", "site=noyo")
    assert [r["name"] for r in pond.json("resources")] == ["noyo"]


BAD = {
    "unknown kind": (doc("Nope", "x", "{}"), "document 1 (x): kind: unknown kind 'Nope'"),
    "unknown field": (
        doc("Inbox", "x", "{pattern: '/tmp/*', colour: red}"),
        "document 1 (x): spec.colour: unknown field",
    ),
    "csv option at the top": (
        doc("Inbox", "x", "{pattern: '/tmp/*', delimiter: ';', tz: UTC, header: true}"),
        "document 1 (x): spec.delimiter: a CSV option goes under csv: (csv: {delimiter: ...})",
    ),
    "bad duration": (
        doc("Inbox", "x", "{pattern: '/tmp/*', settle: soon}"),
        "document 1 (x): spec.settle: not a duration",
    ),
    "bad pattern": (
        doc("Inbox", "x", "{pattern: '/tmp/[ab'}"),
        "document 1 (x): spec.pattern: unterminated '['",
    ),
    "bad pond pattern": (
        doc("Relay", "x", "{inputs: ['/a/[b'], path: /r, log: /dev/null}"),
        "document 1 (x): spec.inputs.0: unterminated '['",
    ),
    "missing inbox directory": (
        doc("Inbox", "x", "{pattern: '/no/such/dir/*.csv'}"),
        "document 1 (x): spec.pattern: base directory /no/such/dir does not exist",
    ),
    "undefined variable": (doc("Inbox", "{{ who }}", "{}"), "undefined variable 'who'"),
    "literal secret": (
        doc("Vault", "x", "{token: sekrit-literal-value, path: /v}"),
        "document 1 (x): spec.token: a secret field takes a reference",
    ),
    "bad name": (doc("Inbox", "-x", "{pattern: '/tmp/*'}"), "document 1 (-x): name: a name is"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_documents_write_nothing(pond: PondRunner, tmp_path: Path, case: str) -> None:
    text, expected = BAD[case]
    good = doc("Inbox", "fine", f"{{pattern: '{tmp_path}/*'}}")
    # The good document comes first: validation must still stop everything.
    f = yaml_file(tmp_path / "bad.yaml", good, text.replace("document 1", "document 2"))
    message = pond.fails("apply", "-f", str(f))
    assert message.startswith(f"{f}: "), message
    assert expected.replace("document 1", "document 2") in message, message
    assert "sekrit" not in message


def test_duplicate_names_across_files(pond: PondRunner, tmp_path: Path) -> None:
    a = yaml_file(tmp_path / "a.yaml", doc("Inbox", "same", f"{{pattern: '{tmp_path}/*'}}"))
    b = yaml_file(tmp_path / "b.yaml", doc("Inbox", "same", f"{{pattern: '{tmp_path}/*.x'}}"))
    message = pond.fails("apply", "-f", str(a), "-f", str(b))
    assert message == (
        f"{b}: document 1 (same): name: duplicate name 'same' (also {a}: document 1 (same))"
    )


def test_dependency_cycle_names_the_resources(pond: PondRunner, tmp_path: Path) -> None:
    f = yaml_file(
        tmp_path / "c.yaml",
        doc("Relay", "a", "{inputs: ['/relay/b/*'], log: /dev/null}"),
        doc("Relay", "b", "{inputs: ['/relay/c/*'], log: /dev/null}"),
        doc("Relay", "c", "{inputs: ['/relay/a/**'], log: /dev/null}"),
    )
    message = pond.fails("apply", "-f", str(f))
    # Named at the first document of the cycle, and shown from it.
    assert message == f"{f}: document 1 (a): dependency cycle between resources: a -> c -> b -> a"


def test_cycle_of_two_names_the_file_and_document(pond: PondRunner, tmp_path: Path) -> None:
    f = yaml_file(
        tmp_path / "cycle.yaml",
        doc("Relay", "c1", "{inputs: ['/relay/c2/*'], log: /dev/null}"),
        doc("Relay", "c2", "{inputs: ['/relay/c1/*'], log: /dev/null}"),
    )
    message = pond.fails("apply", "-f", str(f))
    assert message == f"{f}: document 1 (c1): dependency cycle between resources: c1 -> c2 -> c1"


def test_cycle_through_a_stored_resource(pond: PondRunner, tmp_path: Path) -> None:
    a = yaml_file(
        tmp_path / "a.yaml", doc("Relay", "a", "{inputs: ['/relay/b/*'], log: /dev/null}")
    )
    pond.ok("apply", "-f", str(a))
    b = yaml_file(
        tmp_path / "b.yaml", doc("Relay", "b", "{inputs: ['/relay/a/*'], log: /dev/null}")
    )
    message = pond.fails("apply", "-f", str(b))
    assert message == (
        f"{b}: document 1 (b): dependency cycle between resources: b -> a -> b "
        "(a is already in the pond)"
    )


def test_two_resources_cannot_share_an_output_path(pond: PondRunner, tmp_path: Path) -> None:
    f = yaml_file(
        tmp_path / "p.yaml",
        doc("Inbox", "a", f"{{pattern: '{tmp_path}/*', path: /in}}"),
        doc("Inbox", "b", f"{{pattern: '{tmp_path}/*.csv', path: /in}}"),
    )
    assert "spec.path: /in is the output of both 'a' and 'b'" in pond.fails("apply", "-f", str(f))


def test_missing_file_is_a_clean_error(pond: PondRunner, tmp_path: Path) -> None:
    assert "no such file" in pond.fails("apply", "-f", str(tmp_path / "nope.yaml")).lower()


def test_rm_removes_the_resource_but_keeps_collected_data(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    f = inbox_file(tmp_path / "r.yaml", host / "in", extra=", settle: 0s")
    (host / "in" / "a.csv").write_text("x\n1\n")
    pond.ok("apply", "-f", str(f))
    pond.ok("run")
    pond.ok("rm", "/etc/resources/drop")
    assert pond.json("resources") == []
    assert pond.cat_bytes("/inbox/drop/a.csv") == b"x\n1\n"
    assert "nothing to run" in pond.ok("run").stdout
