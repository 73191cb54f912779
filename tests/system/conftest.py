"""Fixtures of the system tests (root, real traffic, booted kernels)."""

import pytest

from harness.vm.image import other_images


@pytest.fixture(scope="session")
def debian_image() -> str:
    """A kernel image in /boot besides the running one (make test installs Debian's)."""
    images = other_images()
    if not images:
        pytest.fail("no kernel image in /boot besides the running one: make test installs "
                    "linux-image-amd64", pytrace=False)
    return images[-1]
