"""Fixtures of the engine tests: the folder of SpiffWorkflow's public conformance diagrams."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "spiffworkflow"
# A copy kept in the repository, so that a clean clone on a fresh machine runs these tests too.
VENDORED = Path(__file__).resolve().parent / "data" / "conformance" / "spiffworkflow"


def _candidate_dirs() -> list[Path]:
    found = [Path(os.environ["KMOP_CONFORMANCE_DIR"])] if os.environ.get("KMOP_CONFORMANCE_DIR") else []
    return [*found, SHARED, VENDORED]


@pytest.fixture(scope="session")
def conformance() -> Path:
    """The folder with SpiffWorkflow's diagrams; its absence is a failure, never a skip."""
    for candidate in _candidate_dirs():
        if candidate.is_dir():
            return candidate
    looked = ", ".join(str(c) for c in _candidate_dirs())
    pytest.fail(
        f"the conformance diagrams are missing (looked in: {looked}); put SpiffWorkflow's test diagrams "
        "there or set KMOP_CONFORMANCE_DIR to the folder that holds them",
        pytrace=False,
    )
