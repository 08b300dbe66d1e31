"""bench compare's "finished" dates: read as every other time of the report (text.parse_time)."""

import time

import pytest

from bench.render import compare, i18n


@pytest.fixture
def english():
    with i18n.activated("en"):
        yield


def test_finished_text_converts_zones_to_utc_and_never_uses_the_machines_zone(english, monkeypatch):
    assert compare.finished_text("2026-12-02T04:29:10.123+00:00") == "2026-12-02, 04:29 UTC"
    assert compare.finished_text("2026-12-02T08:59:00+04:30") == "2026-12-02, 04:29 UTC"
    # A timestamp without a zone is taken as written, whatever this machine's zone is.
    for zone in ("UTC", "Asia/Tehran", "America/New_York"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        assert compare.finished_text("2026-12-02T04:29:00") == "2026-12-02, 04:29 UTC"
    monkeypatch.delenv("TZ")
    time.tzset()
    assert compare.finished_text(None) == "not recorded"
    assert "yesterday" in compare.finished_text("yesterday")
