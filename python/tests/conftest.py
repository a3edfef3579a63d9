"""Shared fixtures for the tinv Python tests.

Fixture sets are read from $TINV_FIXTURES (default ../shared/fixtures relative to the repo
root). Without them the tests that need them are skipped with a message, except under
CI=true where missing fixtures fail.
"""

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "python"))  # so a bare `pytest python/tests` finds tinv

_REPORT = []


def fixtures_root():
    env = os.environ.get("TINV_FIXTURES")
    if not env:
        return os.path.normpath(os.path.join(REPO, "..", "shared", "fixtures"))
    if os.path.isabs(env) or os.path.isdir(env):
        return os.path.abspath(env)
    return os.path.normpath(os.path.join(REPO, env))  # relative to the repo root


def require(path, what):
    """Return `path` if it exists; else skip (or fail under CI=true) with a message."""
    if os.path.exists(path):
        return path
    msg = "%s not found at %s (set TINV_FIXTURES)" % (what, path)
    if os.environ.get("CI") == "true":
        pytest.fail(msg + "; fixtures are required under CI=true", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def sd1_dir():
    return require(os.path.join(fixtures_root(), "sd1-tiny"), "fixture set sd1-tiny")


@pytest.fixture(scope="session")
def report():
    """A list of lines printed at the end of the run (e.g. golden comparison errors)."""
    return _REPORT


def pytest_terminal_summary(terminalreporter):
    for line in _REPORT:
        terminalreporter.write_line(line)
