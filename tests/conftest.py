import os

import pytest


@pytest.fixture
def root_only():
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces)")
