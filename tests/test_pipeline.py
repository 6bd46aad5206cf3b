"""The weekly window: --since parsing and which ISO week an issue belongs to."""

from datetime import UTC, date, datetime, timedelta

import pytest

from digest.errors import ConfigError
from digest.pipeline import issue_week, parse_since


@pytest.mark.parametrize("text, delta", [("7d", timedelta(days=7)), ("2w", timedelta(weeks=2)),
                                         ("36h", timedelta(hours=36)), (None, timedelta(days=7))])
def test_since_durations(text, delta):
    today = date(2026, 11, 22)
    end = datetime.combine(today, datetime.max.time(), UTC)
    assert parse_since(text, today) == end - delta


def test_since_date_and_nonsense():
    assert parse_since("2026-11-16") == datetime(2026, 11, 16, tzinfo=UTC)
    with pytest.raises(ConfigError, match="7d"):
        parse_since("last tuesday")


@pytest.mark.parametrize("today, week", [
    (date(2026, 11, 23), "2026-W47"),  # Monday morning: the week that just ended
    (date(2026, 11, 22), "2026-W47"),  # Sunday
    (date(2026, 11, 20), "2026-W47"),  # Friday
    (date(2027, 1, 3), "2026-W53"),    # ISO years: 2026 has 53 weeks
])
def test_issue_week_is_the_week_most_of_the_window_falls_in(today, week):
    assert issue_week(parse_since(None, today), today)[0] == week


def test_a_long_window_still_makes_this_weeks_issue():
    today = date(2026, 11, 20)
    assert issue_week(parse_since("2000-01-01"), today)[0] == "2026-W47"
    assert issue_week(parse_since("2d", today), today)[0] == "2026-W47"
