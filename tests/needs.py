"""Where the vendored test data is, and the one way a test skips: an external tool missing.

Everything a test reads lives under tests/ (see tests/data/README.md), so a plain clone runs
every test that does not need a program outside Python's test extras. Those few skip through
``missing()`` with one reason format, ``not installed: <tool> (<how to get it>)``, so that
``pytest -ra`` lists exactly what to install and nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import pytest

DATA = Path(__file__).resolve().parent / "data"
PLACEBO = DATA / "aws-captures" / "placebo"
WEBHOOKS = DATA / "github-webhooks"

SKIP_PREFIX = "not installed: "


def missing(tool: str, how: str) -> NoReturn:
    """Skip the calling test because ``tool`` (not a Python test extra) is not installed."""
    pytest.skip(f"{SKIP_PREFIX}{tool} ({how})")
