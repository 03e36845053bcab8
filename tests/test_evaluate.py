"""Cross-validation, folds, fusion and confusion matrices."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from audiorep import ParameterError
from audiorep import evaluate
from audiorep.evaluate import (
    cross_validate,
    format_confusion,
    fuse,
    stratified_folds,
    train_classifier,
    write_confusion_text,
)
from audiorep.models import Standardizer
from audiorep.plot import plot_confusion


pytestmark = pytest.mark.usefixtures("one_torch_thread")


QUICK = dict(hidden=(16,), dropout=0.1, epochs=60, lr=1e-2)
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device")])]


def _blobs(rng, n_per_class=24, n_classes=3, dim=6, sep=4.0):
    labels = np.repeat(np.arange(n_classes), n_per_class)
    centres = rng.standard_normal((n_classes, dim)) * sep
    reps = (centres[labels] + rng.standard_normal((len(labels), dim))).astype(np.float32)
    # a large, shifted scale on one axis makes standardisation matter
    reps[:, 0] = reps[:, 0] * 100 + 1000
    return reps, labels


@pytest.mark.parametrize("device", DEVICES)
def test_easy_problem_is_learned_and_random_labels_are_not(rng, device):
    reps, labels = _blobs(rng)
    folds = np.tile(np.arange(4), len(labels) // 4)
    res = cross_validate(reps, labels, folds, repeats=2, seed=0, device=device, **QUICK)
    assert res.mean > 0.95
    assert res.fold_ids == [0, 1, 2, 3]
    assert res.fold_accuracies.shape == (2, 4)
    shuffled = np.random.default_rng(1).permutation(labels)
    chance = cross_validate(reps, shuffled, folds, repeats=2, seed=0, device=device, **QUICK)
    assert abs(chance.mean - 1 / 3) < 0.2


def test_cross_validation_never_leaks(rng, monkeypatch):
    reps, labels = _blobs(rng, n_per_class=10)
    folds = rng.integers(1, 4, len(labels))
    fitted = []
    original = Standardizer.fit

    def recording_fit(self, x, **kwargs):
        fitted.append(np.array(x, copy=True))
        return original(self, x, **kwargs)

    monkeypatch.setattr(Standardizer, "fit", recording_fit)
    res = cross_validate(reps, labels, folds, repeats=2, seed=0, **QUICK)
    assert len(fitted) == 2 * 3
    for i, fold in enumerate([1, 2, 3, 1, 2, 3]):
        np.testing.assert_array_equal(fitted[i], reps[folds != fold])
    # each clip is predicted exactly once per repeat, by the model that did not see its fold
    assert (res.predictions >= 0).all()
    for r in range(2):
        assert res.confusions[r].sum() == len(labels)
        np.testing.assert_array_equal(res.confusions[r].sum(1), np.bincount(labels, minlength=3))
        for j, fold in enumerate(res.fold_ids):
            test = folds == fold
            assert res.fold_accuracies[r, j] == pytest.approx(np.mean(res.predictions[r, test] == labels[test]))


def test_random_folds_are_stratified_and_redrawn_per_repeat(rng):
    labels = np.repeat([0, 1, 2], [10, 7, 13])
    folds = stratified_folds(labels, 5, seed=1)
    for c in range(3):
        counts = np.bincount(folds[labels == c], minlength=5)
        assert counts.max() - counts.min() <= 1
    sizes = np.bincount(folds, minlength=5)
    assert sizes.max() - sizes.min() <= 1
    assert not np.array_equal(folds, stratified_folds(labels, 5, seed=2))
    np.testing.assert_array_equal(folds, stratified_folds(labels, 5, seed=1))
    reps, y = _blobs(rng, n_per_class=8)
    res = cross_validate(reps, y, k=4, repeats=2, seed=0, **QUICK)
    assert res.fold_ids == [0, 1, 2, 3]
    assert [c.sum() for c in res.confusions] == [24, 24]


def test_result_statistics_and_json(rng):
    reps, labels = _blobs(rng, sep=0.7)
    res = cross_validate(reps, labels, k=3, repeats=2, seed=5, label_names=["a", "b", "c"], **QUICK)
    np.testing.assert_array_equal(res.confusion, res.confusions.sum(0))
    assert res.mean == pytest.approx(res.fold_accuracies.mean())
    assert res.std == pytest.approx(res.fold_accuracies.std())
    pred = res.predictions.ravel()
    true = np.tile(labels, 2)
    for c in range(3):
        assert res.recall[c] == pytest.approx(np.mean(pred[true == c] == c))
        assert res.precision[c] == pytest.approx(np.mean(true[pred == c] == c))
    np.testing.assert_allclose(res.repeat_accuracies, (res.predictions == labels).mean(1))
    doc = json.loads(res.to_json())
    assert doc["label_names"] == ["a", "b", "c"]
    assert np.array_equal(doc["confusion"], res.confusion)
    assert doc["mean"] == res.mean
    again = cross_validate(reps, labels, k=3, repeats=2, seed=5, label_names=["a", "b", "c"], **QUICK)
    np.testing.assert_array_equal(again.predictions, res.predictions)
    assert "accuracy" in str(res)


def test_train_classifier_minibatches(rng):
    reps, labels = _blobs(rng)
    mlp, scaler = train_classifier(reps, labels, batch_size=16, seed=0, **QUICK)
    np.testing.assert_allclose(scaler.mean.numpy(), reps.mean(0, dtype=np.float64), rtol=1e-5)
    probs = evaluate.predict_proba(mlp, scaler, reps)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    assert (probs.argmax(1) == labels).mean() > 0.95


def test_fuse_concatenates(rng):
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    fused = fuse(a, b)
    assert fused.dtype == np.float32
    np.testing.assert_allclose(fused, np.hstack([a, b]).astype(np.float32))
    with pytest.raises(ParameterError, match="same number of rows"):
        fuse(a, b[:4])
    with pytest.raises(ParameterError, match="at least one"):
        fuse()


def test_confusion_text_layout(tmp_path):
    # 3 true dogs (2 right, 1 called rain); 4 true rain, all right
    matrix = np.array([[2, 1], [0, 4]])
    text = format_confusion(matrix, label_names=["dog", "rain"])
    lines = text.splitlines()
    assert lines[0].split()[-2:] == ["dog", "rain"]
    assert lines[1].split() == ["dog", "2", "(", "66.7%)", "0", "(", "0.0%)"]
    assert lines[2].split() == ["rain", "1", "(", "33.3%)", "4", "(100.0%)"]
    write_confusion_text(matrix, tmp_path / "c.txt", label_names=["dog", "rain"])
    assert (tmp_path / "c.txt").read_text() == text + "\n"


def test_confusion_png(tmp_path):
    pytest.importorskip("matplotlib")
    matrix = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 6]])
    plot_confusion(matrix, tmp_path / "c.png", label_names=["dog", "rain", "sea waves"], title="ESC-10")
    data = (tmp_path / "c.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    image = imread(tmp_path / "c.png")
    assert image.ndim == 3 and min(image.shape[:2]) > 200
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]


@pytest.mark.parametrize("matrix,match", [
    (np.zeros((2, 3)), "square"),
    (np.array([[1, -1], [0, 1]]), "negative"),
    (np.array([[0.5, 0], [0, 1]]), "non-integer"),
])
def test_confusion_writers_reject_bad_matrices(matrix, match):
    with pytest.raises(ParameterError, match=match):
        format_confusion(matrix)
    with pytest.raises(ParameterError, match="label names"):
        format_confusion(np.eye(2, dtype=int), label_names=["a"])


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(labels=np.zeros(5, dtype=int)), ParameterError, r"shape \(6,\)"),
    (dict(labels=np.zeros(6)), TypeError, "integers"),
    (dict(labels=np.array([0, 1, 2, 0, 1, -1])), ParameterError, "non-negative"),
    (dict(n_classes=2), ParameterError, "out of range"),
    (dict(folds=np.zeros(6, dtype=int)), ParameterError, "at least 2 distinct folds"),
    (dict(label_names=["a"]), ParameterError, "label_names"),
    (dict(k=1), ParameterError, "k=1"),
    (dict(k=7), ParameterError, "k=7"),
    (dict(repeats=0), ParameterError, "repeats=0"),
    (dict(epochs=0), ParameterError, "epochs=0"),
    (dict(dropout=1.0), ParameterError, "dropout=1.0"),
    (dict(reps=np.zeros((6,))), ParameterError, "shape"),
    (dict(reps=np.full((6, 2), np.inf)), ParameterError, "infinite"),
])
def test_cross_validate_rejects_bad_arguments(kwargs, error, match):
    args = dict(reps=np.zeros((6, 2), dtype=np.float32), labels=np.array([0, 1, 2, 0, 1, 2]), epochs=1)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        cross_validate(args.pop("reps"), args.pop("labels"), args.pop("folds", None), **args)


def test_representations_per_fold(rng):
    reps, labels = _blobs(rng, n_per_class=12)
    folds = np.tile(np.arange(1, 5), len(labels) // 4)
    shared = cross_validate(reps, labels, folds, repeats=1, seed=3, **QUICK)
    same = cross_validate({f: reps for f in (1, 2, 3, 4)}, labels, folds, repeats=1, seed=3, **QUICK)
    np.testing.assert_array_equal(same.predictions, shared.predictions)
    # fold 2's classifier sees only its own (uninformative) representations
    noise = rng.standard_normal(reps.shape).astype(np.float32)
    mixed = cross_validate({1: reps, 2: noise, 3: reps, 4: reps}, labels, folds, repeats=2, seed=3, **QUICK)
    assert mixed.fold_accuracies[:, [0, 2, 3]].min() > 0.9
    assert mixed.fold_accuracies[:, 1].mean() < 0.7
    # folds may differ in width, e.g. when each fold uses a different fusion
    wide = np.concatenate([reps, noise], axis=1)
    res = cross_validate({1: reps, 2: wide, 3: reps, 4: wide}, labels, folds, repeats=1, seed=3, **QUICK)
    assert res.mean > 0.9


@pytest.mark.parametrize("reps,folds,match", [
    ({1: np.zeros((6, 2)), 2: np.zeros((6, 2))}, None, "need the folds"),
    ({}, np.array([1, 2, 1, 2, 1, 2]), "empty"),
    ({1: np.zeros((6, 2))}, np.array([1, 2, 1, 2, 1, 2]), r"fold\(s\) \[2\]"),
    ({1: np.zeros((6, 2)), 2: np.zeros((5, 2))}, np.array([1, 2, 1, 2, 1, 2]), "same number of rows"),
    ({1: np.zeros((6, 2)), 2: np.full((6, 2), np.nan)}, np.array([1, 2, 1, 2, 1, 2]), "NaN"),
])
def test_representations_per_fold_reject_bad_input(reps, folds, match):
    with pytest.raises(ParameterError, match=match):
        cross_validate(reps, np.array([0, 1, 2, 0, 1, 2]), folds, epochs=1)


def test_ensemble_averages_the_probabilities_of_differently_seeded_classifiers(rng):
    reps, labels = _blobs(rng, n_per_class=10, sep=1.0)
    folds = np.tile(np.arange(1, 4), len(labels) // 3)
    single = cross_validate(reps, labels, folds, repeats=1, seed=4, **QUICK)
    one = cross_validate(reps, labels, folds, repeats=1, seed=4, ensemble=1, **QUICK)
    np.testing.assert_array_equal(one.predictions, single.predictions)
    res = cross_validate(reps, labels, folds, repeats=1, seed=4, ensemble=3, **QUICK)
    expected = np.full(len(labels), -1)
    for j, fold in enumerate([1, 2, 3]):
        test = folds == fold
        probs = 0
        for m in range(3):
            s = evaluate._fold_seed(4, 0, j) if m == 0 else evaluate._member_seed(4, 0, j, m)
            mlp, scaler = train_classifier(reps[~test], labels[~test], seed=s, **QUICK)
            probs = probs + evaluate.predict_proba(mlp, scaler, reps[test])
        expected[test] = probs.argmax(1)
    np.testing.assert_array_equal(res.predictions[0], expected)
    assert not np.array_equal(res.predictions, single.predictions)
    with pytest.raises(ParameterError, match="ensemble=0"):
        cross_validate(reps, labels, folds, ensemble=0, **QUICK)


def test_nested_selection_with_one_candidate_equals_cross_validation(rng):
    reps, labels = _blobs(rng, n_per_class=8)
    folds = np.tile(np.arange(1, 5), len(labels) // 4)
    plain = cross_validate(reps, labels, folds, repeats=2, seed=2, **QUICK)
    nested = evaluate.nested_cross_validate({"only": reps}, labels, folds, repeats=2, seed=2, **QUICK)
    np.testing.assert_array_equal(nested.predictions, plain.predictions)
    assert nested.selected == ["only"] * 4
    assert len(nested.selection_scores["only"]) == 4


def test_nested_selection_never_looks_at_the_held_out_fold(rng, monkeypatch):
    reps, labels = _blobs(rng, n_per_class=8)
    folds = np.tile(np.arange(1, 5), len(labels) // 4)
    ids = np.arange(len(labels), dtype=np.float32)[:, None]  # a column that names each row
    candidates = {"a": np.concatenate([reps, ids], axis=1),
                  "b": {f: np.concatenate([reps[:, :2] + f, ids], axis=1) for f in (1, 2, 3, 4)}}
    calls = []
    original = evaluate.cross_validate

    def recording(x, y, f, **kwargs):
        calls.append((x, f))
        return original(x, y, f, **kwargs)

    monkeypatch.setattr(evaluate, "cross_validate", recording)
    res = evaluate.nested_cross_validate(candidates, labels, folds, repeats=1, seed=0, **QUICK)
    inner, outer = calls[:-1], calls[-1]
    assert len(inner) == 4 * 2
    for i, (x, f) in enumerate(inner):
        held_out = i // 2 + 1
        np.testing.assert_array_equal(x[:, -1], np.flatnonzero(folds != held_out))
        np.testing.assert_array_equal(f, folds[folds != held_out])
        if i % 2 == 1:  # candidate "b" uses the representations meant for the held-out fold
            np.testing.assert_array_equal(x[:, 0], reps[folds != held_out, 0] + held_out)
    for j, fold in enumerate(res.fold_ids):
        expected = candidates[res.selected[j]]
        expected = expected[fold] if isinstance(expected, dict) else expected
        np.testing.assert_array_equal(outer[0][fold], expected)
    assert set(res.selected) <= {"a", "b"}


def test_nested_selection_between_candidates_of_different_widths(rng):
    reps, labels = _blobs(rng, n_per_class=12)
    folds = np.tile(np.arange(1, 5), len(labels) // 4)
    noise = rng.standard_normal((len(labels), 9)).astype(np.float32)
    res = evaluate.nested_cross_validate({"noise": noise, "wide": np.concatenate([reps, noise], axis=1)}, labels,
                                         folds, repeats=1, seed=0, **QUICK)
    assert res.selected == ["wide"] * 4 and res.mean > 0.9


def test_nested_selection_with_drawn_folds_and_a_class_missing_from_a_training_part(rng):
    reps, labels = _blobs(rng, n_per_class=12)
    res = evaluate.nested_cross_validate({"a": reps, "b": reps[:, :2]}, labels, k=3, repeats=2, seed=1, **QUICK)
    assert res.fold_ids == [0, 1, 2] and res.confusion.sum() == 2 * len(labels)
    # class 2 lives only in fold 1: training parts for fold 1 never see it, yet 3 classes are kept
    folds = np.where(labels == 2, 1, np.tile(np.arange(1, 5), len(labels) // 4))
    res = evaluate.nested_cross_validate({"a": reps}, labels, folds, repeats=1, label_names=["x", "y", "z"],
                                         **QUICK)
    assert res.confusion.shape == (3, 3) and res.confusion[2].sum() == 12


def test_nested_selection_checks_every_candidate_before_training(rng, monkeypatch):
    reps, labels = _blobs(rng, n_per_class=8)
    folds = np.tile(np.arange(1, 5), len(labels) // 4)
    trained = []
    monkeypatch.setattr(evaluate, "train_classifier", lambda *a, **k: trained.append(1))
    for bad, match in (({1: reps, 2: reps, 3: reps}, "no representations for fold 4"),
                       (reps[:-1], "23 rows for 24 labels"),
                       ({f: reps if f < 4 else np.full_like(reps, np.nan) for f in (1, 2, 3, 4)}, "NaN")):
        with pytest.raises(ParameterError, match=match):
            evaluate.nested_cross_validate({"good": reps, "bad": bad}, labels, folds, **QUICK)
    assert trained == []
    with pytest.raises(ParameterError, match="non-empty strings"):
        evaluate.nested_cross_validate({1: reps}, labels, folds, **QUICK)
    with pytest.raises(ParameterError, match="integer fold ids"):
        cross_validate({"1": reps, 2: reps, 3: reps, 4: reps}, labels, folds, **QUICK)


@pytest.mark.parametrize("candidates,folds,match", [
    ({}, None, "non-empty"),
    ([np.zeros((12, 2))], None, "mapping"),
    ({"a": np.zeros((12, 2))}, np.tile([1, 2], 6), "at least 3 folds"),
    ({"a": {1: np.zeros((12, 2))}}, np.tile([1, 2, 3], 4), "no representations for fold 2"),
    ({"a": np.full((12, 2), np.nan)}, np.tile([1, 2, 3], 4), "NaN"),
])
def test_nested_selection_rejects_bad_input(candidates, folds, match):
    with pytest.raises(ParameterError, match=match):
        evaluate.nested_cross_validate(candidates, np.tile([0, 1], 6), folds, k=3, epochs=1)


def test_augment_rows_only_ever_train_on_other_folds(rng, monkeypatch):
    reps, labels = _blobs(rng, n_per_class=8)
    folds = np.tile(np.arange(1, 5), len(labels) // 4)
    extra = reps + 0.01
    extra[:, -1] = 1000 + np.arange(len(reps))  # a column that names each extra row
    trained = []
    original = evaluate.train_classifier

    def recording(x, y, **kwargs):
        trained.append((np.array(x), np.array(y)))
        return original(x, y, **kwargs)

    monkeypatch.setattr(evaluate, "train_classifier", recording)
    source = np.arange(len(reps))
    res = cross_validate(reps, labels, folds, repeats=1, seed=0, augment=(extra, source), **QUICK)
    for (x, y), fold in zip(trained, [1, 2, 3, 4]):
        n = int((folds != fold).sum())
        np.testing.assert_array_equal(x[:n], reps[folds != fold])
        used = x[n:, -1] - 1000
        np.testing.assert_array_equal(used, np.flatnonzero(folds != fold))
        np.testing.assert_array_equal(y[n:], labels[folds != fold])
    assert res.confusion.sum() == len(labels)  # tests stay on the original clips
    # per-fold representations take per-fold extra rows
    trained.clear()
    cross_validate({f: reps for f in (1, 2, 3, 4)}, labels, folds, repeats=1,
                   augment=({f: extra * f for f in (1, 2, 3, 4)}, source), **QUICK)
    n = int((folds != 3).sum())
    np.testing.assert_array_equal(trained[2][0][n:], (extra * 3)[folds != 3])


def test_extra_rows_take_fold_and_label_from_their_source_row(rng, monkeypatch):
    # Copies listed in any order, two per clip: each trains exactly where its clip trains, with its
    # clip's label, whatever folds are used; drawn folds included, which change every repeat.
    reps, labels = _blobs(rng, n_per_class=8)
    source = rng.permutation(np.repeat(np.arange(len(reps)), 2))
    extra = reps[source] + 0.01
    extra[:, -1] = 1000 + source  # a column that names the clip of each extra row
    trained = []
    original = evaluate.train_classifier
    monkeypatch.setattr(evaluate, "train_classifier",
                        lambda x, y, **kwargs: trained.append((np.array(x), np.array(y))) or original(x, y, **kwargs))
    res = cross_validate(reps, labels, None, k=4, repeats=2, seed=3, augment=(extra, source), **QUICK)
    assert len(trained) == 8
    for r in range(2):
        assignment = evaluate.stratified_folds(labels, 4, seed=evaluate._fold_seed(3, r, -1))
        for j in range(4):
            x, y = trained[4 * r + j]
            n = int((assignment != j).sum())
            clips = (x[n:, -1] - 1000).astype(int)
            assert sorted(clips.tolist()) == sorted(np.repeat(np.flatnonzero(assignment != j), 2).tolist())
            np.testing.assert_array_equal(y[n:], labels[clips])
            assert not np.isin(clips, np.flatnonzero(assignment == j)).any()
    assert res.confusion.sum() == 2 * len(labels)


@pytest.mark.parametrize("augment,per_fold,match", [
    ((np.zeros((4, 5)),), False, "pair"),
    ((np.zeros((4, 5)), np.zeros(4, int), np.ones(4, int)), False, "pair"),
    ((np.zeros((4, 3)), np.zeros(4, int)), False, "as wide"),
    ((np.zeros((4, 5)), np.zeros(3, int)), False, r"shape \(4,\)"),
    ((np.zeros((4, 5)), np.full(4, 12)), False, r"\[0, 12\)"),
    ((np.zeros((4, 5)), np.full(4, -1)), False, r"\[0, 12\)"),
    ((np.zeros((4, 5)), np.zeros(4)), False, "integers"),
    ((np.zeros((4, 5)), np.zeros(4, int)), True, "per fold exactly"),
    (({1: np.zeros((4, 5))}, np.zeros(4, int)), True, r"fold\(s\) \[2, 3\]"),
])
def test_augment_rejects_bad_input(augment, per_fold, match):
    reps = np.random.default_rng(0).standard_normal((12, 5)).astype(np.float32)
    folds = np.tile([1, 2, 3], 4)
    x = {f: reps for f in (1, 2, 3)} if per_fold else reps
    with pytest.raises((ParameterError, TypeError), match=match):
        cross_validate(x, np.tile([0, 1], 6), folds, epochs=1, augment=augment)


def test_augment_may_differ_per_held_out_fold(rng, monkeypatch):
    reps, labels = _blobs(rng, n_per_class=8)
    folds = np.tile(np.arange(1, 5), len(labels) // 4)
    trained = []
    original = evaluate.train_classifier
    monkeypatch.setattr(evaluate, "train_classifier",
                        lambda x, y, **kwargs: trained.append(len(x)) or original(x, y, **kwargs))
    # fold 1: one copy of each clip, fold 2: two, folds 3 and 4: none
    rows = np.arange(len(reps))
    per_fold = {1: (reps, rows), 2: (np.concatenate([reps, reps]), np.tile(rows, 2)), 3: None, 4: None}
    cross_validate(reps, labels, folds, repeats=1, augment=per_fold, **QUICK)
    n = int((folds != 1).sum())
    assert trained == [2 * n, 3 * n, n, n]
    with pytest.raises(ParameterError, match=r"missing fold\(s\) \[4\], unknown fold\(s\) \[\]"):
        cross_validate(reps, labels, folds, augment={1: None, 2: None, 3: None}, **QUICK)
    with pytest.raises(ParameterError, match=r"unknown fold\(s\) \[7\]"):
        cross_validate(reps, labels, folds, augment={1: None, 2: None, 3: None, 4: None, 7: None}, **QUICK)
    with pytest.raises(ParameterError, match="integer fold ids"):
        cross_validate(reps, labels, folds, augment={"1": None, 2: None, 3: None, 4: None}, **QUICK)
    # an empty set of extra rows is no extra rows
    trained.clear()
    empty = (np.zeros((0, reps.shape[1]), np.float32), np.zeros(0, int))
    cross_validate(reps, labels, folds, repeats=1, augment=empty, **QUICK)
    assert trained == [n, n, n, n]
    with pytest.raises(ParameterError, match="as wide"):
        cross_validate(reps, labels, folds, augment={1: (reps[:, :2], rows), 2: None, 3: None, 4: None}, **QUICK)


def test_nested_selection_with_augmentation_never_trains_on_held_out_clips(rng, monkeypatch):
    reps, labels = _blobs(rng, n_per_class=8)
    folds = np.tile(np.arange(1, 5), len(labels) // 4)
    # extra rows name the clip they come from in their last column
    ids = np.arange(len(labels), dtype=np.float32)[:, None]
    plain = np.concatenate([reps, ids], axis=1)
    extra = np.concatenate([reps + 0.01, 1000 + ids], axis=1)
    candidates = {"plain": plain, "more": {f: plain for f in (1, 2, 3, 4)}}
    rows = np.arange(len(labels))
    augment = {"more": ({f: extra for f in (1, 2, 3, 4)}, rows)}
    runs = []
    original = evaluate.train_classifier

    def recording(x, y, **kwargs):
        runs.append(np.array(x[:, -1]))
        return original(x, y, **kwargs)

    monkeypatch.setattr(evaluate, "train_classifier", recording)
    res = evaluate.nested_cross_validate(candidates, labels, folds, repeats=1, seed=0, augment=augment, **QUICK)
    inner, outer = runs[:-4], runs[-4:]
    assert len(inner) == 4 * 2 * 3  # per outer fold: two candidates, three inner folds each
    for i, used in enumerate(inner):
        held_out, candidate = i // 6 + 1, ("plain", "more")[i // 3 % 2]
        inner_fold = [f for f in (1, 2, 3, 4) if f != held_out][i % 3]
        originals, copies = used[used < 1000].astype(int), used[used >= 1000].astype(int) - 1000
        np.testing.assert_array_equal(originals, np.flatnonzero((folds != held_out) & (folds != inner_fold)))
        if candidate == "plain":
            assert len(copies) == 0
        else:
            np.testing.assert_array_equal(copies, np.flatnonzero((folds != held_out) & (folds != inner_fold)))
    for (fold, choice), used in zip(zip(res.fold_ids, res.selected), outer):
        copies = used[used >= 1000].astype(int) - 1000
        expected = np.flatnonzero(folds != fold) if choice == "more" else []
        np.testing.assert_array_equal(copies, expected)
    with pytest.raises(ParameterError, match="not candidates"):
        evaluate.nested_cross_validate(candidates, labels, folds, augment={"other": augment["more"]}, **QUICK)
    # drawn folds: copies follow their clips there too
    runs.clear()
    res = evaluate.nested_cross_validate({"plain": plain}, labels, k=4, repeats=1, seed=0,
                                         augment={"plain": (extra, rows)}, **QUICK)
    drawn = evaluate.stratified_folds(labels, 4, seed=evaluate._fold_seed(0, 0, -1))
    for fold, used in zip(range(4), runs[-4:]):
        copies = used[used >= 1000].astype(int) - 1000
        np.testing.assert_array_equal(copies, np.flatnonzero(drawn != fold))
    # extra rows only from the held-out fold's clips: the inner runs train without them
    one = folds == 1
    res = evaluate.nested_cross_validate({"plain": plain}, labels, folds, repeats=1,
                                         augment={"plain": (extra[one], rows[one])}, **QUICK)
    assert res.confusion.sum() == len(labels)
    with pytest.raises(ParameterError, match="augment for 'plain' reps must be per fold exactly"):
        evaluate.nested_cross_validate(candidates, labels, folds, augment={"plain": augment["more"]}, **QUICK)
