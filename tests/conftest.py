import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

#: set by .ci/run: tiers that need root, namespaces or Debian tools fail instead of skip
REQUIRE = os.environ.get("LANES_TEST_REQUIRE") == "1"


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/scenarios/*/expected.prom (and other generated files) from the current code")


@pytest.fixture
def update_golden(request):
    return request.config.getoption("--update-golden")


def pytest_collection_modifyitems(config, items):
    """The soak tier (long fuzzing, 10,000 scrapes) runs only when asked: ``-m soak``."""
    if "soak" in (config.option.markexpr or ""):
        return
    keep, skipped = [], []
    for item in items:
        (skipped if item.get_closest_marker("soak") else keep).append(item)
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = keep
