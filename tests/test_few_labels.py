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


def test_it_scores_every_system_of_a_run_on_full_held_out_folds(few, tmp_path):
    from audiorep.examples import write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "data", clips_per_class=5, seconds=0.5, sr=16000, seed=0)
    recipe = dataclasses.replace(pipeline.Recipe.demo(epochs=1), export=False,
                                 classifier={"hidden": (8,), "dropout": 0.0, "epochs": 20, "lr": 1e-2,
                                             "repeats": 1})
    pipeline.run(data, tmp_path / "run", recipe)
    assert few.main([str(tmp_path / "run"), "--k", "2", "--draws", "2", "--seeds", "1"]) == 0
    result = json.loads((tmp_path / "run" / "few_labels_k2.json").read_text())
    assert set(result["systems"]) == {"learned", "pooled", "fused", "pooled_input"}
    for system in result["systems"].values():
        assert len(system["per_draw"]) == 2 and len(system["per_fold"]) == 5
        assert all(0.0 <= v <= 1.0 for v in system["per_fold"])
    paired = result["paired"]["fused - pooled"]
    fused, pooled = result["systems"]["fused"]["per_draw"], result["systems"]["pooled"]["per_draw"]
    assert paired["per_draw"] == pytest.approx([f - p for f, p in zip(fused, pooled)])
