"""Fixtures shared by the unit and system tests of the harness."""

import pytest


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private kernel-lab cache (``$XDG_CACHE_HOME/kernel-lab``) for the test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "kernel-lab"
