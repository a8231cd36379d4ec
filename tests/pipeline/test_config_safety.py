"""Configurations are data, never code: resource files, Templates, reserved paths, secrets.

Each test drives ``pond`` (CliRunner) or ``Pond`` as a user would and
checks the whole kind of attack, not one instance: several template
escapes, several kinds of bad YAML, every spelling of a reserved path.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from duckpond import Pond
from duckpond.errors import ConfigError

from .conftest import PondRunner, doc, yaml_file
from .test_template import T0, add, readings, spec_block

# Server-side template injection payloads: attribute walks to os, |attr, the class
# hierarchy, format-string attribute access, huge values and endless loops.
ESCAPES = [
    "{{ cycler.__init__.__globals__.os.system('touch PWNED') }}",
    "{{ joiner.__init__.__globals__.os.popen('touch PWNED').read() }}",
    "{{ namespace.__init__.__globals__['os'].system('touch PWNED') }}",
    "{{ lipsum.__globals__['os'].system('touch PWNED') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ()|attr('__class__')|attr('__base__')|attr('__subclasses__')() }}",
    "{{ request|attr('application') }}",
    "{{ self.__init__.__globals__.__builtins__ }}",
    "{{ config.items() }}",
    "{{ '{0.__class__.__mro__}'.format(1) }}",
    "{{ 'a' * 10**9 }}",
    "{{ '%999999999s' % 'a' }}",
    "{% for i in range(10**9) %}{% endfor %}",
    "{% set x = [] %}{{ x.append(1) }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
]


def touch_path(tmp_path: Path, payload: str) -> str:
    return payload.replace("PWNED", str(tmp_path / "pwned"))


def synthetic(name: str, path: str | None = None, desc: str | None = None) -> str:
    spec = (
        "\n  start: 2025-01-01T00:00:00Z\n  end: 2025-01-02T00:00:00Z\n  interval: 1h\n"
        "  points: [{name: x, components: [{type: line}]}]\n"
    )
    if path is not None:
        spec += f"  path: {json.dumps(path)}\n"
    return doc("Synthetic", name, spec, desc=desc)


# -- pond apply: -v substitution only ---------------------------------------------------


@pytest.mark.parametrize("payload", ESCAPES)
@pytest.mark.parametrize("dry_run", [True, False])
def test_a_resource_file_never_runs_code(
    pond: PondRunner, tmp_path: Path, payload: str, dry_run: bool
) -> None:
    text = touch_path(tmp_path, payload)
    f = yaml_file(tmp_path / "r.yaml", synthetic("s", desc=json.dumps(text)))
    before = pond.snapshot()
    started = time.monotonic()
    error = pond.fails("apply", *(["--dry-run"] if dry_run else []), "-f", str(f))
    assert time.monotonic() - started < 10
    assert error.startswith(f"{f}: line 4: "), error
    assert not (tmp_path / "pwned").exists()
    assert pond.snapshot() == before


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("{{ site.__class__ }}", "an attribute (.name)"),
        ("{{ site['x'] }}", "a subscript ([...])"),
        ("{{ site ~ site }}", "the ~ operator"),
        ("{% if site %}x{% endif %}", "an if block"),
        ("{{ site|format('%s') }}", "the filter 'format' (allowed: default, lower, trim, upper)"),
        ("{{ site|default(site) }}", "a filter argument that is not a constant"),
        ("{% set site = 'x' %}", "a set"),
        ("{% macro m() %}{% endmacro %}", "a macro"),
    ],
)
def test_substitution_refusals_name_the_construct(
    pond: PondRunner, tmp_path: Path, text: str, found: str
) -> None:
    f = yaml_file(tmp_path / "r.yaml", synthetic("s", desc=json.dumps(text)))
    error = pond.fails("apply", "-v", "site=noyo", "-f", str(f))
    assert error == (
        f"{f}: line 4: only {{{{ name }}}} substitution is allowed in a resource file, not {found}"
    )


def test_substitution_still_substitutes(pond: PondRunner, tmp_path: Path) -> None:
    f = yaml_file(
        tmp_path / "r.yaml",
        synthetic(
            "{{ name }}",
            desc="\"{{ site|upper }} {{ missing|default('none') }} "
            '{# note #}{% raw %}{{ kept }}{% endraw %}"',
        ),
    )
    pond.ok("apply", "-v", "name=s", "-v", "site=noyo", "-f", str(f))
    stored = json.loads(pond.cat_bytes("/etc/resources/s"))
    assert stored["desc"] == "NOYO none {{ kept }}"
    # A value is substituted as it is, never rendered again.
    pond.ok("apply", "-v", "name=s", "-v", "site={{ 7*7 }}", "-f", str(f))
    assert json.loads(pond.cat_bytes("/etc/resources/s"))["desc"].startswith("{{ 7*7 }} ")


@pytest.mark.parametrize("value", ['a"\nevil: 1\nb: "', "x\n---\nkind: Inbox", "a\rb", "a\x1bb"])
def test_a_variable_cannot_change_the_files_structure(
    pond: PondRunner, tmp_path: Path, value: str
) -> None:
    f = yaml_file(tmp_path / "r.yaml", synthetic("s", desc='"{{ site }}"'))
    before = pond.ok("log").output
    error = pond.fails("apply", "-v", f"site={value}", "-f", str(f))
    assert "variable 'site'" in error and "line break or control character" in error
    assert "\n" not in error.strip()
    assert pond.ok("log").output == before


# -- Template resources: a bounded sandbox, one file ------------------------------------


@pytest.fixture
def one_series(pond: PondRunner) -> None:
    pond.ok("mkdir", "/sites")
    add(pond, "/sites/north.series", readings(T0, 5, 1, 1.0))


def template_doc(tmp_path: Path, template: str, name: str = "pages") -> Path:
    body = "{% raw %}" + template + "{% endraw %}"
    return yaml_file(
        tmp_path / f"{name}.yaml",
        doc(
            "Template",
            name,
            spec_block(in_pattern="/sites/*.series", out_pattern="$0.md", template=body),
        ),
    )


@pytest.mark.parametrize(
    "payload",
    [p for p in ESCAPES if "include" not in p and "import" not in p]
    + [
        "{% set a = ['xxxxxxxxxx'] %}{% set b = [a,a,a,a,a,a,a,a,a,a] %}"
        "{% set c = [b,b,b,b,b,b,b,b,b,b] %}{% set d = [c,c,c,c,c,c,c,c,c,c] %}"
        "{% set e = [d,d,d,d,d,d,d,d,d,d] %}{% set f = [e,e,e,e,e,e,e,e,e,e] %}"
        "{% set g = [f,f,f,f,f,f,f,f,f,f] %}{{ g }}",
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{{ 'a'|center(1000000000) }}",
        "{{ 'a'.ljust(1000000000) }}",
        "{{ '{:999999999}'.format(1) }}",
        "{{ ('a' * 1000000)|replace('', 'bbbbbbbbbb') }}",
        "{% set big = 'x' * 1000000 %}{{ ('{0}' * 1000).format(big) }}",
        "{% set big = 'x' * 1000000 %}{{ ('%(a)s' * 100) % {'a': big} }}",
        "{% set big = 'x' * 1000000 %}{{ big.join(range(100)|map('string')|list) }}",
        "{% set big = 'x' * 1000000 %}{{ (range(100)|map('string')|list)|join(big) }}",
    ],
)
def test_a_template_never_runs_code_and_is_bounded(
    pond: PondRunner, one_series: None, tmp_path: Path, payload: str
) -> None:
    pond.ok("apply", "-f", str(template_doc(tmp_path, touch_path(tmp_path, payload))))
    started = time.monotonic()
    error = pond.fails("cat", "/template/pages/north.md")
    assert time.monotonic() - started < 30
    assert error.startswith("/template/pages/north.md: template"), error
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("statement", "word"),
    [
        ("{% include 'header.md' %}", "include"),
        ("{% extends 'base.md' %}", "extends"),
        ("{% import 'macros.md' as m %}", "import"),
        ("{% from 'macros.md' import m %}", "import"),
    ],
)
def test_include_extends_import_are_refused_at_apply(
    pond: PondRunner, one_series: None, tmp_path: Path, statement: str, word: str
) -> None:
    before = pond.snapshot()
    f = template_doc(tmp_path, "# title\n" + statement)
    error = pond.fails("apply", "-f", str(f))
    assert error == (
        f"{f}: document 1 (pages): spec.template: template: line 2: {word} is not supported: "
        "a Template is one file (put the shared parts in it, as macros)"
    )
    assert pond.snapshot() == before


def test_include_in_a_host_or_pond_template_file_is_one_line(
    pond: PondRunner, one_series: None, tmp_path: Path
) -> None:
    host_file = tmp_path / "page.md.j2"
    host_file.write_text("{% include 'x' %}")
    f = yaml_file(
        tmp_path / "h.yaml",
        doc(
            "Template",
            "h",
            spec_block(
                in_pattern="/sites/*.series", out_pattern="$0", template_file=f"host://{host_file}"
            ),
        ),
    )
    assert "include is not supported" in pond.fails("apply", "-f", str(f))
    # A pond template file is checked at apply when it is there already...
    with Pond.open(pond.dir) as p:
        p.mkdir("/templates")
        p.write_bytes("/templates/page.md.j2", b"ok\n{% extends 'base' %}")
    spec = spec_block(
        in_pattern="/sites/*.series", out_pattern="$0", template_file="/templates/page.md.j2"
    )
    f = yaml_file(tmp_path / "p.yaml", doc("Template", "p", spec))
    assert pond.fails("apply", "-f", str(f)) == (
        f"{f}: document 1 (p): template_file: /templates/page.md.j2: line 2: extends is not "
        "supported: a Template is one file (put the shared parts in it, as macros)"
    )
    # ... and when pages are computed, if it comes (or changes) later: the same, one line.
    with Pond.open(pond.dir) as p:
        p.write_bytes("/templates/page.md.j2", b"ok\n")
    pond.ok("apply", "-f", str(f))
    with Pond.open(pond.dir) as p:
        p.write_bytes("/templates/page.md.j2", b"ok\n{% extends 'base' %}")
    error = pond.fails("cat", "/template/p/north")
    assert "line 2: extends is not supported" in error


def test_a_legitimate_template_still_renders(
    pond: PondRunner, one_series: None, tmp_path: Path
) -> None:
    page = (
        "{% macro row(c) %}| {{ c.name }} | {{ c.type }} |{% endmacro %}"
        "# {{ output.name|upper }} ({{ '%5.1f'|format(2.25) }})\n"
        "{% for c in output.columns %}{{ row(c) }}\n{% endfor %}"
        "{% for i in range(3) %}{{ loop.index }}{% endfor %} {{ 'ab' * 3 }} {{ 2 ** 10 }} "
        "{{ outputs|map(attribute='name')|join(',') }} {{ output.columns|tojson|length > 10 }}"
    )
    pond.ok("apply", "-f", str(template_doc(tmp_path, page)))
    text = pond.cat_bytes("/template/pages/north.md").decode()
    assert text.startswith("# NORTH.MD (  2.2)\n| timestamp | timestamp[us, tz=UTC] |\n")
    assert text.rstrip("\n").endswith("123 ababab 1024 north.md True")


# -- YAML: data only, bounded, no silent last-wins ---------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "apiVersion: duckpond/v1\nkind: Synthetic\nname: a\nname: b\n",
            "document 1: line 4: duplicate key 'name' (first on line 3)",
        ),
        (
            "apiVersion: duckpond/v1\nkind: Inbox\nname: a\nspec:\n  pattern: /x/*\n"
            "  format: series\n  pattern: /y/*\n",
            "document 1: line 7: duplicate key 'pattern' (first on line 5)",
        ),
        (
            "apiVersion: duckpond/v1\nkind: SqlDerived\nname: a\nspec:\n"
            "  inputs: {s: /a, s: /b}\n  query: SELECT 1\n",
            "document 1: line 5: duplicate key 's' (first on line 5)",
        ),
        (
            "apiVersion: duckpond/v1\nkind: Synthetic\nname: a\n---\n"
            "apiVersion: duckpond/v1\nkind: Synthetic\nkind: Inbox\n",
            "document 2: line 7: duplicate key 'kind' (first on line 6)",
        ),
        (
            "apiVersion: duckpond/v1\nkind: SqlDerived\nname: a\nspec:\n"
            "  inputs:\n    - {a: [{b: 1, c: 2, b: 3}]}\n",
            "document 1: line 6: duplicate key 'b' (first on line 6)",
        ),
        (
            "apiVersion: duckpond/v1\nkind: Inbox\nname: a\nspec: {1: x}\n",
            "document 1: line 4: key 1 is not a string (quote it)",
        ),
        (
            "apiVersion: duckpond/v1\nkind: Inbox\nname: a\nspec: {yes: x}\n",
            "document 1: line 4: key True is not a string (quote it)",
        ),
        (
            "apiVersion: duckpond/v1\nkind: Inbox\nname: a\nspec: {2024-01-01: x}\n",
            "document 1: line 4: key datetime.date(2024, 1, 1) is not a string (quote it)",
        ),
        ("? [a, b]\n: c\n", "document 1: line 1: key ['a', 'b'] is not a string"),
        ("a: &a [*a]\n", "document 1: line 1: an alias refers to itself"),
        ("a: " + "[" * 100 + "]" * 100 + "\n", "values nest deeper than 64 levels"),
        (
            "apiVersion: !!python/object/apply:os.system ['touch PWNED']\n",
            "document 1: line 1: not valid YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object/apply:os.system'",
        ),
        ("a: !!python/name:os.system\n", "not valid YAML: could not determine a constructor"),
        ("\x00\x01", "not valid YAML: unacceptable character #x0000"),
    ],
)
def test_bad_yaml_is_one_line_naming_document_and_line(
    pond: PondRunner, tmp_path: Path, text: str, expected: str
) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(touch_path(tmp_path, text))
    before = pond.snapshot()
    error = pond.fails("apply", "-f", str(f))
    assert error.startswith(f"{f}: ") and expected in error, error
    assert pond.snapshot() == before
    assert not (tmp_path / "pwned").exists()


def test_alias_bombs_are_bounded(pond: PondRunner, tmp_path: Path) -> None:
    lines = ["a: &a [x,x,x,x,x,x,x,x,x]"]
    for i in range(1, 9):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    f = tmp_path / "laughs.yaml"
    f.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    error = pond.fails("apply", "-f", str(f))
    assert time.monotonic() - started < 5
    assert error.startswith(f"{f}: document 1: line ") and "aliases expand to more than" in error
    # Aliases within the bound (merge keys, shared lists) still work.
    ok = tmp_path / "ok.yaml"
    ok.write_text(
        "apiVersion: duckpond/v1\nkind: Synthetic\nname: s\nspec:\n"
        "  start: 2025-01-01T00:00:00Z\n  end: 2025-01-02T00:00:00Z\n  interval: 1h\n"
        "  points:\n    - &p {name: x, components: [{type: line}]}\n"
        "    - {<<: *p, name: y}\n"
    )
    pond.ok("apply", "-f", str(ok))
    points = json.loads(pond.cat_bytes("/etc/resources/s"))["spec"]["points"]
    assert [p["name"] for p in points] == ["x", "y"]


def test_a_huge_file_is_refused_before_it_is_parsed(pond: PondRunner, tmp_path: Path) -> None:
    f = tmp_path / "huge.yaml"
    f.write_bytes(b"# " + b"x" * (17 * 1024 * 1024) + b"\n")
    assert pond.fails("apply", "-f", str(f)) == f"{f}: a resource file is at most 16 MiB"


# -- reserved paths ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/etc/runs.series", "/etc/runs.series"),
        ("/etc/resources", "/etc/resources"),
        ("/etc/resources/", "/etc/resources"),
        ("/etc", "/etc"),
        ("/etc/new/thing", "/etc/new/thing"),
        ("//etc//x", "/etc/x"),
        ("/a/../etc/runs.series", "/etc/runs.series"),
        ("/ETC/runs.series", "/ETC/runs.series"),
        ("/Etc", "/Etc"),
    ],
)
@pytest.mark.parametrize("kind", ["Synthetic", "Inbox"])
def test_outputs_over_reserved_paths_are_refused(
    pond: PondRunner, host: Path, tmp_path: Path, path: str, shown: str, kind: str
) -> None:
    if kind == "Synthetic":
        text = synthetic("x", path=path)
    else:
        text = doc("Inbox", "x", f"{{pattern: '{host}/*.csv', path: {json.dumps(path)}}}")
    f = yaml_file(tmp_path / "r.yaml", text)
    before = pond.snapshot()
    error = pond.fails("apply", "-f", str(f))
    assert error == (
        f"{f}: document 1 (x): spec.path: {shown} is reserved: "
        "/etc belongs to the pond itself (resources, runs record)"
    )
    assert pond.snapshot() == before


def test_the_root_is_no_output(pond: PondRunner, tmp_path: Path) -> None:
    f = yaml_file(tmp_path / "r.yaml", synthetic("x", path="/"))
    assert pond.fails("apply", "-f", str(f)).endswith(
        "spec.path: / is the whole pond, not an output path"
    )


def test_a_symlink_into_etc_is_followed_at_apply_and_at_run(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    pond.ok("mkdir", "/d")
    pond.ok("ln", "-s", "/etc", "/d/link")
    pond.ok("ln", "-s", "../d/link", "/hop")
    for path in ("/d/link/runs.series", "/hop/resources/x", "/hop"):
        f = yaml_file(tmp_path / "r.yaml", synthetic("x", path=path))
        error = pond.fails("apply", "--dry-run", "-f", str(f))
        assert f"spec.path: {path} leads to /etc" in error and "through a symlink" in error
    # A collector applied to a plain folder that becomes a symlink later: its run refuses.
    (host / "in").mkdir()
    (host / "in" / "a.csv").write_text("timestamp,v\n2025-01-01T00:00:00Z,1\n")
    f = yaml_file(
        tmp_path / "i.yaml",
        doc("Inbox", "drop", f"{{pattern: '{host}/in/*.csv', path: /data/drop}}"),
    )
    pond.ok("apply", "-f", str(f))
    pond.ok("rm", "-r", "/data")
    pond.ok("ln", "-s", "/etc", "/data")
    result = pond("run")
    assert result.exit_code == 1
    [record] = pond.json("query", "SELECT outcome, error FROM runs")
    assert record["outcome"] == "failed"
    assert "/data/drop leads to /etc/drop through a symlink" in record["error"]
    # Run records live beside the oplog, not in the tree.
    assert pond.paths("/etc/**") == ["/etc/resources", "/etc/resources/drop"]


def test_a_site_may_not_write_into_the_pond_directory(
    pond: PondRunner, pond_dir: Path, tmp_path: Path
) -> None:
    for out, words in (
        (pond_dir, "is inside the pond's own directory"),
        (pond_dir / "data" / "site", "is inside the pond's own directory"),
        (pond_dir.parent, "contains the pond's own directory"),
    ):
        f = yaml_file(
            tmp_path / "s.yaml",
            doc("Site", "web", f"{{title: t, out: '{out}', charts: [{{pattern: '/r/*'}}]}}"),
        )
        error = pond.fails("apply", "-f", str(f))
        assert error.startswith(f"{f}: document 1 (web): spec.out: {out} {words}"), error


def test_runs_keep_working_after_a_refused_reserved_output(
    pond: PondRunner, tmp_path: Path
) -> None:
    # The attack of the issue: a SqlDerived over the runs record.
    f = yaml_file(
        tmp_path / "r.yaml",
        doc(
            "SqlDerived",
            "evil",
            "{inputs: {s: /etc/runs.series}, query: SELECT 1, path: /etc/runs.series}",
        ),
    )
    pond.fails("apply", "-f", str(f))
    pond.ok("run")
    assert pond.json("query", "SELECT count(*) AS n FROM runs") == [{"n": 0}]


# -- secrets -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["e", "ab", "1234567"])
def test_short_secrets_are_refused_at_apply_and_at_run(
    pond: PondRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("DP_SHORT", value)
    f = yaml_file(
        tmp_path / "v.yaml", doc("Vault", "v", "{token: '${env:DP_SHORT}', path: /vault/v}")
    )
    error = pond.fails("apply", "-f", str(f))
    assert error == (
        f"{f}: document 1 (v): spec.token: secret DP_SHORT: its value is shorter than 8 "
        "characters, too short to keep out of messages (masking it would give it away); "
        "use the full credential"
    )
    g = yaml_file(
        tmp_path / "d.yaml",
        doc("Vault", "d", f"{{token: '${{env:DP_UNSET:-{value}}}', path: /v/d}}"),
    )
    # A default, short or long, is refused: it would be stored in the pond as written.
    assert "would be stored in the pond as written" in pond.fails("apply", "-f", str(g))
    # Applied where the variable was long, run where it is short: the run refuses it.
    monkeypatch.setenv("DP_SHORT", "long-enough-value")
    pond.ok("apply", "-f", str(f))
    monkeypatch.setenv("DP_SHORT", value)
    result = pond("run")
    assert result.exit_code == 1
    [record] = pond.json("query", "SELECT error FROM runs")
    assert "secret DP_SHORT: its value is shorter than 8 characters" in record["error"]
    everything = result.stdout + result.stderr + json.dumps(record)
    assert "***" not in everything


def test_a_secret_is_masked_as_a_whole_token(
    pond: PondRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-value-42"
    monkeypatch.setenv("DP_TOKEN", secret)
    f = yaml_file(
        tmp_path / "v.yaml",
        doc("Vault", "bad", "{token: '${env:DP_TOKEN}', path: /v/b, fail: true}"),
    )
    pond.ok("apply", "-f", str(f))
    result = pond("--json", "run")
    [record] = pond.json("query", "SELECT error FROM runs")
    assert record["error"] == "server refused token *** for bad"
    assert secret not in result.stdout + result.stderr


def test_mask_and_scrub_never_garble_or_leak() -> None:
    from duckpond.pipeline.secrets import mask

    secret = "abcdefgh1234"
    text = (
        f"the client e refused: client_secret={secret}&grant=x, token x{secret}y, "
        f'"{secret}" ({secret}) e'
    )
    assert mask(text, [secret, "e"]) == (
        'the client e refused: client_secret=***&grant=x, token ***, "***" (***) e'
    )
    assert mask("nothing here", [secret]) == "nothing here"


def test_secrets_never_reach_cli_errors(
    pond: PondRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from duckpond.cli.app import describe_error

    secret = "another-secret-value"
    monkeypatch.setenv("DP_CLI_SECRET", secret)
    from duckpond.pipeline.secrets import SecretRef

    SecretRef.parse("${env:DP_CLI_SECRET}").resolve()
    assert describe_error(ConfigError(f"server said {secret}")) == "server said ***"


def test_the_python_api_refuses_the_same(tmp_path: Path) -> None:
    with Pond.init(tmp_path / "pond", command=["test"]) as p:
        f = yaml_file(tmp_path / "r.yaml", synthetic("x", path="/etc/runs.series"))
        with pytest.raises(ConfigError, match="is reserved"):
            p.pipeline.apply([f])
        f = yaml_file(tmp_path / "r.yaml", synthetic("x", desc='"{{ cycler.__init__ }}"'))
        with pytest.raises(ConfigError, match=r"only .* substitution is allowed"):
            p.pipeline.apply([f], {"x": "y"}, dry_run=True)


def test_a_one_letter_hydrovu_client_id_is_refused_not_masked_letter_by_letter(
    pond: PondRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HV_ID", "e")
    monkeypatch.setenv("HV_SECRET", "a-long-enough-secret")
    f = tmp_path / "noyo.yaml"
    f.write_text(
        "apiVersion: duckpond/v1\nkind: HydroVu\nname: noyo\nspec:\n"
        "  client_id: ${env:HV_ID}\n  client_secret: ${env:HV_SECRET}\n"
        "  base_url: http://127.0.0.1:9/\n  since: 2024-01-01\n"
        "  devices:\n    - {name: A, id: 101}\n"
    )
    error = pond.fails("apply", "-f", str(f))
    assert error.startswith(f"{f}: document 1 (noyo): spec.client_id: secret HV_ID: its value")
    assert "***" not in error


def test_the_python_api_refuses_bad_yaml_too(tmp_path: Path) -> None:
    with Pond.init(tmp_path / "pond", command=["test"]) as p:
        f = tmp_path / "dup.yaml"
        f.write_text("apiVersion: duckpond/v1\nkind: Synthetic\nname: a\nname: b\n")
        with pytest.raises(ConfigError, match=r"document 1: line 4: duplicate key 'name'"):
            p.pipeline.apply([f], dry_run=True)


def test_a_secret_default_is_refused_at_apply_and_never_stored(
    pond: PondRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``${env:NAME:-value}`` would keep the value in the pond (and push it to backups):
    refused like a literal, naming the field, never quoting the value."""
    value = "S3cr3t-Ñandú-9f7q2z"
    f = yaml_file(
        tmp_path / "b.yaml",
        doc(
            "Backup",
            "offsite",
            f"{{url: 'file://{tmp_path}/nas', access_key_id: '${{env:DP_KEY}}', "
            f"secret_access_key: '${{env:DP_UNSET_SECRET:-{value}}}'}}",
        ),
    )
    monkeypatch.setenv("DP_KEY", "an-access-key-id")
    before = pond.json("log")
    error = pond.fails("apply", "-f", str(f))
    assert "spec.secret_access_key: secret DP_UNSET_SECRET: a default" in error
    assert value not in error
    assert pond.json("log") == before
    for path in pond.dir.rglob("*"):
        if path.is_file():
            assert value.encode() not in path.read_bytes(), path
