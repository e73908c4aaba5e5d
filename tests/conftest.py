"""Shared test options and Hypothesis profiles."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.libvirt_host import libvirt_workdir

settings.register_profile("default", max_examples=60, deadline=None)
# The other Pythons and the lowest dependencies in CI: the same properties with fewer examples,
# to show the code behaves the same there; the ci profile, on the main Python, hunts for bugs.
settings.register_profile("compat", max_examples=20, deadline=None)
settings.register_profile(
    "ci",
    max_examples=500,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the expected files of the golden cases from the current output",
    )


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A fresh directory for files libvirt or QEMU open (disk images, serial logs, firmware vars).

    It lies under ``$STABLE_RESCUE_LIBVIRT_WORKDIR`` (default: a temporary directory), which a
    libvirt daemon in another root sees at the same path; ``tmp_path`` would not be.
    """
    path = Path(tempfile.mkdtemp(prefix="test-", dir=libvirt_workdir()))
    yield path
    shutil.rmtree(path, ignore_errors=True)
