"""The browser-test harness itself: a missing Chromium fails CI and skips (with a reason) locally."""

from __future__ import annotations

import pytest

from tests.web import browser_support


def test_missing_chromium_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(browser_support, "CHROMIUM_PATH", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="need Chromium in CI"):
        browser_support.require_chromium()


def test_missing_chromium_skips_with_a_reason_outside_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(browser_support, "CHROMIUM_PATH", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        browser_support.require_chromium()


def test_present_chromium_lets_the_tests_run(monkeypatch, tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("")
    monkeypatch.setattr(browser_support, "CHROMIUM_PATH", fake)
    monkeypatch.setenv("CI", "true")
    browser_support.require_chromium()
