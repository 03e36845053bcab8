"""bench/ratios.py: the ratio tables the README quotes."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def ratios(load_file_module):
    return load_file_module("bench/ratios.py")


def run(times: dict[tuple[str, str], float]) -> dict:
    """A pytest-benchmark file with one median time per (group, implementation), one thread each."""
    return {"benchmarks": [
        {"group": group, "name": f"test[{impl}]", "extra_info": {"impl": impl, "threads": 1},
         "stats": {"median": t, "min": t / 2, "mean": t}}
        for (group, impl), t in times.items()
    ]}


def table_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_one_run_gives_reference_over_ours(ratios):
    table = ratios.ratio_table(run({("g", "audiorep"): 2e-3, ("g", "torch"): 3e-3, ("g", "scipy"): 1e-3}))
    header = table.splitlines()[0]
    assert "scipy 1t" in header and "torch 1t" in header
    assert table_rows(table)["g"] == ["2.00", "0.50", "1.50"]


def test_several_runs_give_the_median_of_ratios_taken_within_each_run(ratios):
    # The second run was slowed down as a whole: its ratio is still 1.5, and the
    # median ratio ignores the outlier of the third run.
    runs = [
        run({("g", "audiorep"): 2e-3, ("g", "torch"): 3e-3}),
        run({("g", "audiorep"): 4e-3, ("g", "torch"): 6e-3}),
        run({("g", "audiorep"): 2e-3, ("g", "torch"): 20e-3}),
    ]
    rows = table_rows(ratios.ratio_table(runs))
    assert rows["g"] == ["2.00", "1.50"]
    assert "median of 3 runs" in ratios.ratio_table(runs).splitlines()[0]


def test_a_group_missing_from_a_run_uses_the_runs_that_have_it(ratios):
    runs = [run({("a", "audiorep"): 1e-3, ("a", "numpy"): 2e-3}),
            run({("a", "audiorep"): 1e-3, ("a", "numpy"): 4e-3, ("b", "audiorep"): 1e-3, ("b", "numpy"): 1e-3})]
    rows = table_rows(ratios.ratio_table(runs))
    assert rows["a"][1] == "3.00"
    assert rows["b"][1] == "1.00"


def test_the_command_line_reads_several_files(ratios, tmp_path, capsys):
    paths = []
    for i, slow in enumerate((1.0, 2.0)):
        path = tmp_path / f"r{i}.json"
        path.write_text(json.dumps(run({("g", "audiorep"): 1e-3 * slow, ("g", "torch"): 2e-3 * slow})))
        paths.append(str(path))
    assert ratios.main(paths + ["--stat", "min"]) == 0
    out = capsys.readouterr().out
    assert table_rows(out)["g"] == ["0.75", "2.00"]
