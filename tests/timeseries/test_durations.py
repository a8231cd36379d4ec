import pytest

from duckpond.errors import ConfigError
from duckpond.pipeline.timeseries import format_duration, parse_duration, parse_resolutions


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("1h", 3_600_000_000),
        ("15m", 900_000_000),
        ("90min", 5_400_000_000),
        ("7d", 604_800_000_000),
        ("2w", 1_209_600_000_000),
        ("250ms", 250_000),
        ("30s", 30_000_000),
        (" 1 H ", 3_600_000_000),
    ],
)
def test_parse_duration(text: str, micros: int) -> None:
    assert parse_duration(text) == micros


@pytest.mark.parametrize("text", ["", "h", "1", "1y", "1mo", "-1h", "1.5h", "0h"])
def test_bad_durations_are_config_errors_naming_the_text(text: str) -> None:
    with pytest.raises(ConfigError, match="duration"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for text in ("1h", "6h", "1d", "1w", "15m", "30s", "250ms", "7us"):
        assert format_duration(parse_duration(text)) == text


def test_resolutions_sorted_finest_first_keep_their_names() -> None:
    found = parse_resolutions(["1d", "1h", "7d", "6h"])
    assert [r.name for r in found] == ["1h", "6h", "1d", "7d"]
    assert next(r.output for r in found) == "res=1h.series"


@pytest.mark.parametrize(
    ("resolutions", "message"),
    [
        (["1h", "90m"], "90m is not a whole multiple of 1h"),
        (["1h", "6h", "1d", "10d", "7d"], "10d is not a whole multiple of 7d"),
        (["60m", "1h"], "resolutions 60m and 1h are the same length"),
        ([], "no resolutions"),
        (["1h", "soon"], "not a resolution: 'soon'"),
    ],
)
def test_resolutions_must_nest(resolutions: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_resolutions(resolutions)
