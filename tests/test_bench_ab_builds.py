"""bench/ab_builds.py: two builds of the core timed in one process."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from audiorep import _core


@pytest.fixture(scope="module")
def ab(load_file_module):
    return load_file_module("bench/ab_builds.py")


def test_a_second_load_under_the_package_name_returns_the_first_module():
    # The pitfall the script avoids: CPython keeps one extension module per name.
    spec = importlib.util.spec_from_file_location("audiorep._core", _core.__file__)
    again = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(again)
    assert again is _core


def test_each_build_gets_its_own_module(ab, tmp_path):
    copy = tmp_path / Path(_core.__file__).name
    shutil.copy(_core.__file__, copy)
    first, second = ab.load_build(_core.__file__, 0), ab.load_build(str(copy), 1)
    assert first is not second and first is not _core
    assert first.__file__ != second.__file__
    x = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    np.testing.assert_array_equal(first.r2c(x, 1.0, 1), second.r2c(x, 1.0, 1))


def test_a_short_run_prints_one_line_per_case(ab, capsys):
    ab.main([_core.__file__, _core.__file__, "--cases", "r32:64,c64:48,i32:256", "--rounds", "2", "--calls", "1",
             "--points", "4096"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["r32:64", "c64:48", "i32:256"]
    assert all("b1:" in line for line in lines)


def test_a_bad_case_is_refused(ab):
    with pytest.raises(SystemExit, match="r16:64"):
        ab.main([_core.__file__, "--cases", "r16:64", "--rounds", "1"])
