"""Benchmark session header: the versions and the SIMD path being compared."""

from __future__ import annotations

import importlib


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
