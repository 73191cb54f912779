"""Root conftest.  kernel-lab's plugin is installed as the pytest11 entry point
``harness.plugin`` (``pip install -e .``); naming it here too makes ``pytest`` from a plain
checkout work the same (pytest loads a plugin once, by that name)."""

pytest_plugins = ["harness.plugin"]
