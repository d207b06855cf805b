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
