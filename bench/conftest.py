"""Benchmark session setup: find the package, print what is being compared."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

try:
    import audiorep  # noqa: F401
except ImportError:
    # A plain `pytest bench/...` from a source checkout with an in-place build
    # does not put the checkout on sys.path; `python -m pytest` and installs do.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def pytest_report_header(config):
    import audiorep

    lines = [f"audiorep {audiorep.__version__}: {audiorep.build_info()}"]
    for name in ("numpy", "scipy", "pyfftw", "torch"):
        try:
            module = importlib.import_module(name)
            lines.append(f"{name} {getattr(module, '__version__', '?')}")
        except ImportError:
            lines.append(f"{name} not installed")
    return lines
