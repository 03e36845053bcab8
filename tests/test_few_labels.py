"""scripts/few_labels.py: the recipe's systems with a few labelled clips per class."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from audiorep import pipeline

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def few(load_file_module):
    return load_file_module("scripts/few_labels.py")


def test_a_draw_takes_k_rows_of_each_class_from_the_candidates_only(few):
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 0, 1, 2])
    candidates = np.array([0, 1, 2, 3, 4, 6, 9])
    rng = np.random.default_rng(0)
    for _ in range(20):
        rows = few.draw(labels, candidates, 2, rng)
        assert set(rows) <= set(candidates)
        assert len(set(rows)) == len(rows)
        counts = np.bincount(labels[rows], minlength=3)
        assert counts.tolist() == [2, 2, 2]
    # a class with fewer candidates than k gives all it has
    rows = few.draw(labels, candidates, 5, rng)
    assert np.bincount(labels[rows], minlength=3).tolist() == [3, 2, 2]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from audiorep.examples import write_synthetic_dataset

    tmp = tmp_path_factory.mktemp("few")
    data = write_synthetic_dataset(tmp / "data", clips_per_class=5, seconds=0.5, sr=16000, seed=0)
    recipe = dataclasses.replace(pipeline.Recipe.demo(epochs=1), export=False,
                                 classifier={"hidden": (8,), "dropout": 0.0, "epochs": 20, "lr": 1e-2,
                                             "repeats": 1})
    pipeline.run(data, tmp / "run", recipe)
    return tmp / "run"


def test_it_scores_every_system_of_a_run_on_full_held_out_folds(few, run_dir):
    assert few.main([str(run_dir), "--k", "2", "--draws", "2", "--seeds", "1"]) == 0
    result = json.loads((run_dir / "few_labels_k2.json").read_text())
    assert set(result["systems"]) == {"learned", "pooled", "fused", "pooled_input"}
    for system in result["systems"].values():
        assert len(system["per_draw"]) == 2 and len(system["per_fold"]) == 5
        assert all(0.0 <= v <= 1.0 for v in system["per_fold"])
    paired = result["paired"]["fused - pooled"]
    fused, pooled = result["systems"]["fused"]["per_draw"], result["systems"]["pooled"]["per_draw"]
    assert paired["per_draw"] == pytest.approx([f - p for f, p in zip(fused, pooled)])
    assert set(result["paired"]) == {"learned - pooled_input", "fused - pooled"}


def test_the_control_needs_the_untrained_encoders_and_then_joins_the_same_draws(few, run_dir, load_file_module):
    with pytest.raises(SystemExit) as exc:
        few.main([str(run_dir), "--k", "2", "--draws", "1", "--seeds", "1", "--control"])
    assert exc.value.code == 2
    load_file_module("scripts/untrained_control.py").main([str(run_dir)])
    assert few.main([str(run_dir), "--k", "2", "--draws", "1", "--seeds", "1", "--control"]) == 0
    result = json.loads((run_dir / "few_labels_k2_control.json").read_text())
    assert set(result["systems"]) == {"learned", "pooled", "fused", "pooled_input", "untrained", "untrained+pooled"}
    assert result["systems"]["untrained"]["inputs"] == [str(run_dir / "untrained_x{fold}.parquet")]
    assert {"learned - untrained", "fused - untrained+pooled"} <= set(result["paired"])
