"""Shared fixtures: seeded signals, the ESC-10 data when it is there."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ESC10 = Path(os.environ.get("AUDIOREP_ESC10", ROOT.parent / "shared" / "data" / "esc10"))


def pytest_report_header(config):
    import audiorep

    lines = [f"audiorep {audiorep.__version__}: {audiorep.build_info()}", f"numpy {np.__version__}"]
    for name in ("scipy", "torch", "soundfile", "soxr", "pyarrow", "hypothesis"):
        try:
            module = __import__(name)
            lines.append(f"{name} {getattr(module, '__version__', '?')}")
        except ImportError:
            lines.append(f"{name} not installed")
    return lines


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)


@pytest.fixture(scope="session")
def esc10_dir() -> Path:
    if not (ESC10 / "001 - Dog bark").is_dir():
        pytest.skip(f"ESC-10 data not found at {ESC10}")
    return ESC10
