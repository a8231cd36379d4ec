"""The output interface: the run table (for the pipeline's commands) in text and JSON."""

from __future__ import annotations

import json

import pytest

from duckpond.cli.output import make_output

RUNS = [
    {"resource": "/etc/hydrovu", "status": "ok", "rows": 120},
    {"resource": "/etc/site", "status": "failed", "error": "timeout"},
]


def test_run_summary_as_json_is_one_record_per_run(capsys: pytest.CaptureFixture[str]) -> None:
    make_output(True).run_summary(RUNS)
    assert json.loads(capsys.readouterr().out) == RUNS


def test_run_summary_as_text_is_a_table_of_every_key(capsys: pytest.CaptureFixture[str]) -> None:
    make_output(False).run_summary(RUNS)
    out = capsys.readouterr().out
    for word in ("resource", "status", "rows", "error", "/etc/hydrovu", "failed", "120"):
        assert word in out
