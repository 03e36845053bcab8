"""Shared fixtures: seeded signals, the ESC-10 data when it is there."""

from __future__ import annotations

import os
import threading
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


@pytest.fixture
def one_torch_thread():
    # The test models are tiny: extra intra-op threads only add synchronisation, and on a loaded
    # CI machine they make those tests several times slower.
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class _CancelAfter(threading.Event):
    """An event that reports itself set from its n-th check on: cancels mid-run, independent of speed."""

    def __init__(self, checks):
        super().__init__()
        self.checks = checks

    def is_set(self):
        self.checks -= 1
        return self.checks < 0 or super().is_set()


@pytest.fixture
def cancel_after():
    """``cancel_after(n)``: a cancel event that is not set for n checks, then is."""
    return _CancelAfter


@pytest.fixture(scope="session")
def load_file_module():
    """Returns a function that imports a repository file that is not part of the package
    (a script, a benchmark helper) as a module: ``load_file_module("scripts/x.py")``."""
    import importlib.util

    def load(relative: str):
        path = ROOT / relative
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
