"""Documents: validation, variables, secrets, durations, patterns, ordering (unit tests)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from duckpond.pipeline.documents import (
    DocumentError,
    format_duration,
    load_documents,
    parse_duration,
)
from duckpond.pipeline.graph import CycleError, order, pattern_reaches
from duckpond.pipeline.secrets import Secret, SecretRef, scrub

from .conftest import doc, yaml_file


def inbox(name: str, spec: str) -> str:
    return doc("Inbox", name, spec)


def load_error(path: Path, variables: dict[str, str] | None = None) -> str:
    with pytest.raises(DocumentError) as info:
        load_documents([path], variables)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_valid_document_gets_its_default_path(tmp_path: Path) -> None:
    f = yaml_file(tmp_path / "a.yaml", inbox("drop", f"{{pattern: '{tmp_path}/*.csv'}}"))
    [d] = load_documents([f])
    assert d.name == "drop" and d.kind.name == "Inbox" and d.path == "/inbox/drop"
    assert d.as_json()["spec"]["path"] == "/inbox/drop"
    assert d.canonical().startswith(b'{"apiVersion":"duckpond/v1","kind":"Inbox"')


def test_error_names_file_document_and_field(tmp_path: Path) -> None:
    f = yaml_file(
        tmp_path / "noyo.yaml",
        inbox("first", f"{{pattern: '{tmp_path}/*'}}"),
        inbox("bdock", "{format: series}"),
    )
    assert load_error(f) == f"{f}: document 2 (bdock): spec.pattern: field required"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "apiVersion: duckpond/v2\nkind: Inbox\nname: x\nspec: {}\n",
            "apiVersion: input should be",
        ),
        ("apiVersion: duckpond/v1\nkind: Nope\nname: x\nspec: {}\n", "kind: unknown kind 'Nope'"),
        ("apiVersion: duckpond/v1\nkind: Inbox\nname: Bad_Name\nspec: {}\n", "name: a name is"),
        (
            "apiVersion: duckpond/v1\nkind: Inbox\nname: x\nextra: 1\nspec: {}\n",
            "extra: unknown field",
        ),
        ("- just a list\n", "a document is a mapping"),
        ("apiVersion: [unclosed\n", "line 2: not valid YAML"),
    ],
)
def test_envelope_errors(tmp_path: Path, text: str, expected: str) -> None:
    message = load_error(yaml_file(tmp_path / "e.yaml", text))
    assert message.startswith(f"{tmp_path}/e.yaml: ")
    assert expected in message


def test_unknown_kind_lists_known_kinds(tmp_path: Path) -> None:
    message = load_error(yaml_file(tmp_path / "k.yaml", doc("Inboks", "x", "{}")))
    assert "document 1 (x): kind: unknown kind 'Inboks' (known kinds: " in message
    assert "Inbox" in message


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ("{pattern: '/tmp/*', colour: red}", "spec.colour", "unknown field"),
        ("{pattern: '/tmp/*', settle: 5 minutes}", "spec.settle", "not a duration"),
        ("{pattern: '/tmp/*', settle: 10}", "spec.settle", "not a duration"),
        ("{pattern: '/tmp/[ab'}", "spec.pattern", "unterminated '['"),
        ("{pattern: 'relative/*.csv'}", "spec.pattern", "absolute"),
        ("{pattern: '/tmp/*', path: 'no/slash'}", "spec.path", "starts with '/'"),
        ("{pattern: '/tmp/*', path: '/a/*'}", "spec.path", "no wildcards"),
        ("{pattern: '/tmp/*', format: csv}", "spec.format", "input should be"),
        ("{pattern: '/tmp/*', csv: {tz: Mars/Olympus}}", "spec.csv.tz", "unknown time zone"),
        ("{pattern: '/tmp/*', csv: {tz: Pacific}}", "spec.csv.tz", "unknown time zone"),
        # CSV options on raw bytes would do nothing: refused, saying the way in.
        ("{pattern: '/tmp/*', csv: {skip_rows: 1, tz: UTC}}", "spec.csv", "format: series"),
        ("{pattern: '/tmp/*', format: data, csv: {null_values: [NA]}}", "spec.csv", "null_values"),
        ("{pattern: '/tmp/*', csv: {delim: ';'}}", "spec.csv.delim", "unknown field"),
        ("{pattern: '/tmp/*', csv: {delimiter: ';;'}}", "spec.csv.delimiter", "one character"),
    ],
)
def test_spec_errors_name_the_field(tmp_path: Path, spec: str, field: str, words: str) -> None:
    f = yaml_file(tmp_path / "s.yaml", inbox("x", spec))
    message = load_error(f)
    assert message.startswith(f"{f}: document 1 (x): {field}: "), message
    assert words in message


def test_every_error_inside_csv_is_shown_with_its_siblings(tmp_path: Path) -> None:
    """One apply names every cause: unknown CSV keys beside misspelled spec keys."""
    spec = "{patern: '/tmp/*', fromat: series, csv: {skip-rows: 1, time_zone: UTC, delimter: ';'}}"
    f = yaml_file(tmp_path / "c.yaml", inbox("x", spec))
    message = load_error(f)
    for part in (
        "spec.pattern: field required",
        "spec.patern: unknown field (did you mean pattern?)",
        "spec.fromat: unknown field (did you mean format?)",
        "spec.csv.skip-rows: unknown field; did you mean skip_rows?",
        "spec.csv.time_zone: unknown field; did you mean tz?",
        "spec.csv.delimter: unknown field; did you mean delimiter?",
    ):
        assert part in message, message
    # A CSV option at the top of the spec says where it goes, beside the other errors.
    f = yaml_file(
        tmp_path / "d.yaml", inbox("x", "{pattern: '/tmp/*', delimiter: ';', csv: {tz: X/Y}}")
    )
    message = load_error(f)
    assert "spec.delimiter: a CSV option goes under csv: (csv: {delimiter: ...})" in message
    assert "spec.csv.tz: unknown time zone" in message


def test_variables_are_rendered_and_undefined_ones_named(tmp_path: Path) -> None:
    f = yaml_file(tmp_path / "v.yaml", inbox("{{ site }}", f"{{pattern: '{tmp_path}/*'}}"))
    [d] = load_documents([f], {"site": "noyo"})
    assert d.name == "noyo"
    assert load_error(f) == f"{f}: undefined variable 'site' (give it with -v site=VALUE)"


def test_secret_fields_take_references_only(tmp_path: Path) -> None:
    good = yaml_file(tmp_path / "g.yaml", doc("Vault", "v", "{token: '${env:TOKEN:-x}', path: /v}"))
    [d] = load_documents([good])
    assert d.as_json()["spec"]["token"] == "${env:TOKEN:-x}"
    bad = yaml_file(tmp_path / "b.yaml", doc("Vault", "v", "{token: hunter2-literal, path: /v}"))
    message = load_error(bad)
    assert message.startswith(f"{bad}: document 1 (v): spec.token: a secret field takes")
    assert "hunter2" not in message


def test_secret_resolution_is_masked_and_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DP_TEST_SECRET", "correct-horse-battery")
    secret = SecretRef.parse("${env:DP_TEST_SECRET}").resolve()
    assert isinstance(secret, Secret) and secret.reveal() == "correct-horse-battery"
    assert "correct" not in f"{secret} {secret!r} {secret:>30}"
    assert scrub("token correct-horse-battery refused") == "token *** refused"
    assert SecretRef.parse("${env:DP_UNSET_VAR:-fallback}").resolve().reveal() == "fallback"
    with pytest.raises(Exception, match="DP_UNSET_VAR"):
        SecretRef.parse("${env:DP_UNSET_VAR}").resolve()


@pytest.mark.parametrize(
    ("text", "seconds", "shown"),
    [
        ("15m", 900, "15m"),
        ("1h", 3600, "1h"),
        ("1d", 86400, "1d"),
        ("7d", 604800, "1w"),
        ("90s", 90, "90s"),
    ],
)
def test_durations(text: str, seconds: int, shown: str) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert format_duration(parse_duration(text)) == shown


@pytest.mark.parametrize(
    ("pattern", "path", "reaches"),
    [
        ("/hydrovu/noyo/BDock*.series", "/hydrovu/noyo", True),
        ("/join/bdock", "/join/bdock", True),
        ("/reduce/bdock-down/*", "/reduce/bdock-down", True),
        ("/**/*.series", "/a/b", True),
        ("/a/*", "/b", False),
        ("/a", "/a/b", False),
        ("/a/x*/y", "/a/zz", False),
    ],
)
def test_pattern_reaches(pattern: str, path: str, reaches: bool) -> None:
    assert pattern_reaches(pattern, path) is reaches


def test_order_and_cycles() -> None:
    assert order({"c": {"b"}, "b": {"a"}, "a": set()}) == ["a", "b", "c"]
    with pytest.raises(
        CycleError, match=r"dependency cycle between resources: (a -> b -> a|b -> a -> b)"
    ):
        order({"a": {"b"}, "b": {"a"}})


@pytest.mark.parametrize(
    ("kind", "spec", "said"),
    [
        # A misspelled optional key: nothing is missing, the place's own keys are asked.
        (
            "Reduce",
            "{in_pattern: '/raw/*.series', resolutions: [1d], time_zone: UTC}",
            "spec.time_zone: unknown field (did you mean timezone?)",
        ),
        (
            "Site",
            "{title: T, out: /tmp/www, charts: [{pattern: '/r/*'}, {pattern: '/s/*', colums: [a]}]}",
            "spec.charts.1.colums: unknown field (did you mean columns?)",
        ),
        (
            "Site",
            "{title: T, out: /tmp/www, charts: [{pattern: '/r/*', labels: {a: {unti: C}}}]}",
            "spec.charts.0.labels.a.unti: unknown field (did you mean unit?)",
        ),
    ],
)
def test_an_unknown_key_names_the_closest_key_of_its_place(
    tmp_path: Path, kind: str, spec: str, said: str
) -> None:
    message = load_error(yaml_file(tmp_path / "k.yaml", doc(kind, "x", spec)))
    assert said in message, message


def test_an_unknown_key_far_from_any_gets_no_guess(tmp_path: Path) -> None:
    spec = "{in_pattern: '/raw/*.series', resolutions: [1d], zzzz: 1}"
    message = load_error(yaml_file(tmp_path / "k.yaml", doc("Reduce", "x", spec)))
    assert "spec.zzzz: unknown field" in message and "did you mean" not in message, message
