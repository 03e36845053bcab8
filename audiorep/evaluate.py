"""Cross-validated classification of representations with an MLP, and confusion matrices."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ._util import atomic_path, positive_int
from .errors import ParameterError
from .models import MLPClassifier, Standardizer
from .train import check_real_array, resolve_device, seed_everything, torch_threads

log = logging.getLogger(__name__)

__all__ = [
    "CVResult",
    "check_confusion",
    "cross_validate",
    "format_confusion",
    "fuse",
    "load_classifier",
    "nested_cross_validate",
    "predict_proba",
    "save_classifier",
    "stratified_folds",
    "train_classifier",
    "write_confusion_text",
]


def _check_reps(reps, name: str = "reps") -> np.ndarray:
    return check_real_array(reps, name, "N, D")


def _check_int_vector(values, n: int, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.shape != (n,):
        raise ParameterError(f"{name} must have shape ({n},), got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {values.dtype}")
    return values.astype(np.int64)


def _check_labels(labels, n: int, n_classes):
    labels = _check_int_vector(labels, n, "labels")
    if labels.min() < 0:
        raise ParameterError(f"labels must be non-negative, found {labels.min()}")
    if n_classes is None:
        n_classes = int(labels.max()) + 1
    n_classes = positive_int(n_classes, "n_classes")
    if labels.max() >= n_classes:
        raise ParameterError(f"label {labels.max()} is out of range for n_classes={n_classes}")
    return labels, n_classes


def _check_hyper(epochs, lr, dropout, batch_size):
    epochs = positive_int(epochs, "epochs")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ParameterError(f"lr={lr!r} must be a positive number")
    if not (isinstance(dropout, (int, float)) and 0 <= dropout < 1):
        raise ParameterError(f"dropout={dropout!r} must be in [0, 1)")
    if batch_size is not None:
        batch_size = positive_int(batch_size, "batch_size")
    return epochs, batch_size


def fuse(*reps) -> np.ndarray:
    """Concatenate representations of the same clips along the feature axis (early fusion).

    Examples
    --------
    >>> import numpy as np
    >>> fuse(np.zeros((4, 3)), np.ones((4, 2))).shape
    (4, 5)
    """
    if not reps:
        raise ParameterError("fuse needs at least one representation array")
    arrays = [_check_reps(r, f"reps[{i}]") for i, r in enumerate(reps)]
    sizes = {a.shape[0] for a in arrays}
    if len(sizes) != 1:
        rows = [a.shape[0] for a in arrays]
        raise ParameterError(f"fused representations must have the same number of rows, got {rows}")
    return np.concatenate(arrays, axis=1)


def stratified_folds(labels, k: int, *, seed: int = 0) -> np.ndarray:
    """Assign each clip one of ``k`` folds so that every class spreads evenly over the folds.

    Examples
    --------
    >>> import numpy as np
    >>> folds = stratified_folds(np.repeat([0, 1], 6), 3, seed=0)
    >>> np.bincount(folds[:6]).tolist(), np.bincount(folds[6:]).tolist()
    ([2, 2, 2], [2, 2, 2])
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ParameterError(f"labels must be one-dimensional, got shape {labels.shape}")
    k = positive_int(k, "k")
    if k < 2:
        raise ParameterError(f"k={k} must be at least 2 folds")
    if k > len(labels):
        raise ParameterError(f"k={k} folds need at least {k} clips, got {len(labels)}")
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        # Continuing the round-robin across classes keeps the fold sizes within one of each other.
        folds[idx] = (np.arange(len(idx)) + offset) % k
        offset = (offset + len(idx)) % k
    return folds


def train_classifier(reps, labels, *, n_classes: int | None = None, hidden: Sequence[int] = (150, 150),
                     dropout: float = 0.4, epochs: int = 400, lr: float = 1e-3, batch_size: int | None = None,
                     weight_decay: float = 0.0, seed: int = 0, device="cpu"):
    """Standardise ``reps`` and train an :class:`MLPClassifier` on them with Adam and cross-entropy.

    Parameters
    ----------
    reps : ndarray, shape (N, D)
        Training representations.
    labels : ndarray of int, shape (N,)
        Class of each row.
    n_classes : int, optional
        Number of classes; defaults to ``labels.max() + 1``.
    hidden, dropout : sequence of int, float
        MLP shape (see :class:`MLPClassifier`).
    epochs, lr, batch_size, weight_decay : int, float, int or None, float
        A fixed number of passes; ``batch_size=None`` means full-batch steps.
    seed : int
        Seeds initialisation, shuffling and dropout.
    device : str or torch.device
        Where to train.

    Returns
    -------
    mlp : MLPClassifier
        In eval mode.
    scaler : Standardizer
        Fitted on ``reps``; feed ``scaler(x)`` to ``mlp``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)
    >>> y = (x[:, 0] > 0).astype(int)
    >>> mlp, scaler = train_classifier(x, y, hidden=(8,), epochs=100, lr=1e-2)
    >>> float((predict_proba(mlp, scaler, x).argmax(1) == y).mean()) > 0.8
    True
    """
    reps = _check_reps(reps)
    labels, n_classes = _check_labels(labels, len(reps), n_classes)
    epochs, batch_size = _check_hyper(epochs, lr, dropout, batch_size)
    dev = resolve_device(device)
    generator = seed_everything(seed)
    scaler = Standardizer(reps.shape[1]).fit(reps)
    mlp = MLPClassifier(reps.shape[1], n_classes, hidden=hidden, dropout=dropout).to(dev)
    x = scaler(torch.from_numpy(reps)).to(dev)
    y = torch.from_numpy(labels).to(dev)
    optimizer = torch.optim.Adam(mlp.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    n = len(x)
    full = batch_size is None or batch_size >= n
    mlp.train()
    with torch_threads(1):
        for _ in range(epochs):
            batches = [None] if full else torch.randperm(n, generator=generator).to(dev).split(batch_size)
            for idx in batches:
                xb, yb = (x, y) if idx is None else (x[idx], y[idx])
                optimizer.zero_grad(set_to_none=True)
                loss_fn(mlp(xb), yb).backward()
                optimizer.step()
    return mlp.eval(), scaler.to(dev)


def predict_proba(mlp: MLPClassifier, scaler: Standardizer, reps) -> np.ndarray:
    """Class probabilities (N, n_classes) for raw representations.

    Examples
    --------
    See :func:`train_classifier`.
    """
    reps = _check_reps(reps)
    dev = next(mlp.parameters()).device
    was_training = mlp.training
    mlp.eval()
    with torch.no_grad(), torch_threads(1):
        probs = torch.softmax(mlp(scaler(torch.from_numpy(reps).to(dev))), dim=1).cpu().numpy()
    mlp.train(was_training)
    return probs


@dataclasses.dataclass
class CVResult:
    """Outcome of :func:`cross_validate`.

    Attributes
    ----------
    fold_ids : list of int
        The folds, in the order of the columns of ``fold_accuracies``.
    fold_accuracies : ndarray, shape (repeats, folds)
        Accuracy on each held-out fold.
    repeat_accuracies : ndarray, shape (repeats,)
        Accuracy over all clips of each repeat.
    mean, std : float
        Mean and (population) standard deviation of ``fold_accuracies``.
    confusions : ndarray, shape (repeats, n_classes, n_classes)
        ``confusions[r, i, j]``: clips of true class i predicted as j in repeat r.
    confusion : ndarray, shape (n_classes, n_classes)
        ``confusions`` summed over repeats.
    precision, recall : ndarray, shape (n_classes,)
        Per class, from ``confusion`` (0 where undefined).
    predictions : ndarray, shape (repeats, N)
        Predicted class of every clip when it was held out.
    label_names : list of str
    selected : list of str or None
        With :func:`nested_cross_validate`: the candidate chosen for each fold (same order as
        ``fold_ids``).
    selection_scores : dict or None
        With :func:`nested_cross_validate`: for each candidate, its inner cross-validated accuracy
        on each fold's training part.
    """

    fold_ids: list
    fold_accuracies: np.ndarray
    repeat_accuracies: np.ndarray
    mean: float
    std: float
    confusions: np.ndarray
    confusion: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    predictions: np.ndarray
    label_names: list
    selected: list | None = None
    selection_scores: dict | None = None

    def to_dict(self) -> dict:
        """Plain Python types, ready for JSON."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = value.tolist() if isinstance(value, np.ndarray) else value
        return out

    def to_json(self, **kwargs) -> str:
        """The result as a JSON document (``kwargs`` go to ``json.dumps``)."""
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        return (f"accuracy {100 * self.mean:.1f}% +- {100 * self.std:.1f}% over {self.fold_accuracies.size} "
                f"fold runs ({len(self.fold_ids)} folds x {len(self.fold_accuracies)} repeats)")


def _fold_seed(seed: int, repeat: int, fold: int) -> int:
    return int(np.random.SeedSequence([seed, repeat, fold + 1]).generate_state(1)[0])


def _augment_rows(pair, fold, n: int, width: int, what: str):
    """Check one set of extra rows (reps (M, D), source (M,)) for held-out ``fold``; None if M = 0."""
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ParameterError(f"{what} must be a pair (reps, source): the extra rows and, for each, the row of "
                             "the clip it was made from")
    extra, source = pair
    source = np.asarray(source)
    if isinstance(extra, np.ndarray) and extra.ndim == 2 and len(extra) == 0 and source.shape == (0,):
        return None  # an empty set of extra rows is no extra rows
    extra = _check_reps(extra, f"{what} reps")
    if extra.shape[1] != width:
        raise ParameterError(f"{what} representations must be as wide as reps (augment, reps): "
                             f"{{{fold!r}: ({extra.shape[1]}, {width})}}")
    source = _check_int_vector(source, extra.shape[0], f"{what} source")
    if source.min() < 0 or source.max() >= n:
        raise ParameterError(f"{what} source rows must lie in [0, {n}), the rows of reps")
    return extra, source


def _fold_keys(mapping: Mapping, what: str) -> dict:
    bad = [f for f in mapping if isinstance(f, bool) or not isinstance(f, (int, np.integer))]
    if bad:
        raise ParameterError(f"{what} must be keyed by integer fold ids, got {bad}")
    return {int(f): value for f, value in mapping.items()}


def _check_augment(augment, fold_ids, per_fold: bool, reps, n: int, what: str = "augment") -> dict:
    """Resolve ``augment`` to {fold: (reps, source) or None}, the extra rows for each held-out fold."""

    def width(fold):
        return (reps[fold] if per_fold else reps).shape[1]

    if isinstance(augment, Mapping):
        # One set of extra rows per held-out fold (None for none); the sets may differ in size.
        augment = _fold_keys(augment, what)
        missing = sorted(set(fold_ids) - set(augment))
        unknown = sorted(set(augment) - set(fold_ids))
        if missing or unknown:
            raise ParameterError(f"{what} needs an entry for every fold (None for no extra rows): "
                                 f"missing fold(s) {missing}, unknown fold(s) {unknown}")
        return {fold: None if augment[fold] is None
                else _augment_rows(augment[fold], fold, n, width(fold), f"{what}[{fold}]")
                for fold in fold_ids}
    if not isinstance(augment, (tuple, list)) or len(augment) != 2:
        raise ParameterError(f"{what} must be a pair (reps, source): the extra rows and, for each, the row of "
                             "the clip it was made from")
    extra, source = augment
    if per_fold != isinstance(extra, Mapping):
        raise ParameterError(f"{what} reps must be per fold exactly when reps are")
    if not per_fold:
        checked = _augment_rows(augment, "all", n, width(None), what)
        return {fold: checked for fold in fold_ids}
    extra = _fold_keys(extra, f"{what} reps")
    missing = sorted(set(fold_ids) - set(extra))
    if missing:
        raise ParameterError(f"no {what} representations for fold(s) {missing}")
    m = {np.shape(extra[f])[:1] for f in fold_ids}
    if len(m) != 1:
        raise ParameterError(f"{what} representations per fold must all have the same number of rows")
    return {fold: _augment_rows((extra[fold], source), fold, n, width(fold), what) for fold in fold_ids}


def _member_seed(seed: int, repeat: int, fold: int, member: int) -> int:
    return int(np.random.SeedSequence([seed, repeat, fold + 1, member]).generate_state(1)[0])


def cross_validate(reps, labels, folds=None, *, k: int = 5, n_classes: int | None = None,
                   label_names: Sequence[str] | None = None, repeats: int = 5, seed: int = 0,
                   hidden: Sequence[int] = (150, 150), dropout: float = 0.4, epochs: int = 400, lr: float = 1e-3,
                   batch_size: int | None = None, weight_decay: float = 0.0, ensemble: int = 1, augment=None,
                   device="cpu", progress: bool = False) -> CVResult:
    """Cross-validate an MLP on representations: train on all folds but one, score that one.

    Standardisation statistics come from the training folds only. Each repeat retrains every
    fold with different seeds; with ``folds=None`` each repeat also draws fresh stratified folds.

    Parameters
    ----------
    reps : ndarray, shape (N, D), or mapping of fold to ndarray (N, D)
        Representations (see :func:`fuse` to combine several). A mapping gives each held-out fold
        its own representations of all N clips, e.g. from an autoencoder trained without that
        fold's audio; the classifier for fold f trains and tests on ``reps[f]``. A mapping needs
        ``folds`` and an entry for every fold; the widths D may differ between folds.
    labels : ndarray of int, shape (N,)
    folds : ndarray of int, shape (N,), optional
        Predefined fold of each clip (e.g. ESC-50's 1..5). None means ``k`` random stratified folds.
    k : int
        Number of folds when ``folds`` is None.
    n_classes : int, optional
        Defaults to ``labels.max() + 1``.
    label_names : sequence of str, optional
        Names of the classes, in label order.
    repeats : int
        Independent repetitions.
    seed : int
        Seeds everything; the same seed gives the same result.
    hidden, dropout, epochs, lr, batch_size, weight_decay, device
        See :func:`train_classifier`.
    ensemble : int
        Classifiers trained per fold with different seeds; their class probabilities are averaged.
        The first has the seed a single classifier would get, so ``ensemble=1`` is one MLP.
    augment : tuple (reps, source) or mapping of fold to such a tuple or None, optional
        Extra rows used only for training, e.g. the representations of altered copies of the
        clips: ``reps`` (M, D) (or a mapping of fold to (M, D), like ``reps``) and ``source``
        (M,), the row of ``reps`` holding the clip each was made from (see
        :func:`audiorep.augment.source_rows`). An extra row takes its label and fold from its
        source row, so it follows its clip, into drawn folds too: the classifier for fold f
        trains on the rows of the other folds plus the extra rows whose clip is not in fold f,
        and is tested on original clips only. A mapping of fold to tuple gives each held-out
        fold its own set of extra rows (None: none), which may differ in size between folds.
    progress : bool
        Show a tqdm bar over the fold runs on stderr.

    Returns
    -------
    CVResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 20); x = rng.standard_normal((40, 3)).astype(np.float32) + y[:, None] * 3
    >>> res = cross_validate(x, y, k=4, repeats=1, hidden=(8,), epochs=100, lr=1e-2)
    >>> res.mean > 0.9, int(res.confusion.sum())
    (True, 40)
    """
    per_fold = isinstance(reps, Mapping)
    if per_fold:
        if folds is None:
            raise ParameterError("representations per fold need the folds they belong to (folds=None)")
        if not reps:
            raise ParameterError("the mapping of representations per fold is empty")
        reps = {f: _check_reps(r, f"reps[{f}]") for f, r in _fold_keys(reps, "representations per fold").items()}
        # Each fold may have its own width (e.g. a different fusion chosen per fold), not its own rows.
        rows = {r.shape[0] for r in reps.values()}
        if len(rows) != 1:
            raise ParameterError(f"representations per fold must all have the same number of rows, got {sorted(rows)}")
        n = rows.pop()
    else:
        reps = _check_reps(reps)
        n = len(reps)
    labels, n_classes = _check_labels(labels, n, n_classes)
    repeats = positive_int(repeats, "repeats")
    _check_hyper(epochs, lr, dropout, batch_size)
    ensemble = positive_int(ensemble, "ensemble")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed={seed!r} must be a non-negative integer")
    if label_names is None:
        label_names = [str(c) for c in range(n_classes)]
    label_names = [str(name) for name in label_names]
    if len(label_names) != n_classes:
        raise ParameterError(f"got {len(label_names)} label_names for {n_classes} classes")
    if folds is not None:
        folds = _check_int_vector(folds, n, "folds")
        if len(np.unique(folds)) < 2:
            raise ParameterError(f"cross-validation needs at least 2 distinct folds, got {np.unique(folds).tolist()}")
    else:
        k = positive_int(k, "k")

    fold_ids = np.unique(folds).tolist() if folds is not None else list(range(k))
    if augment is not None:
        augment = _check_augment(augment, fold_ids, per_fold, reps, n)
    if per_fold:
        missing = sorted(set(fold_ids) - set(reps))
        if missing:
            raise ParameterError(f"no representations for fold(s) {missing}; got folds {sorted(reps)}")
    fold_acc = np.zeros((repeats, len(fold_ids)))
    confusions = np.zeros((repeats, n_classes, n_classes), dtype=np.int64)
    predictions = np.full((repeats, n), -1, dtype=np.int64)

    from tqdm.auto import tqdm

    with tqdm(total=repeats * len(fold_ids), desc="cross-validation", unit="fold", disable=not progress) as bar:
        for r in range(repeats):
            assignment = folds if folds is not None else stratified_folds(labels, k, seed=_fold_seed(seed, r, -1))
            for j, fold in enumerate(fold_ids):
                test = assignment == fold
                train = ~test
                if not test.any():
                    raise ParameterError(f"fold {fold} has no clips")
                x = reps[fold] if per_fold else reps
                x_train, y_train = x[train], labels[train]
                if augment is not None and augment[fold] is not None:
                    extra_x, source = augment[fold]
                    keep = train[source]  # copies follow their clip: none of a test clip's trains
                    x_train = np.concatenate([x_train, extra_x[keep]])
                    y_train = np.concatenate([y_train, labels[source[keep]]])
                probs = 0.0
                for m in range(ensemble):
                    member_seed = _fold_seed(seed, r, j) if m == 0 else _member_seed(seed, r, j, m)
                    mlp, scaler = train_classifier(x_train, y_train, n_classes=n_classes, hidden=hidden,
                                                   dropout=dropout, epochs=epochs, lr=lr, batch_size=batch_size,
                                                   weight_decay=weight_decay, seed=member_seed, device=device)
                    probs = probs + predict_proba(mlp, scaler, x[test])
                pred = probs.argmax(1)
                predictions[r, test] = pred
                fold_acc[r, j] = float((pred == labels[test]).mean())
                np.add.at(confusions[r], (labels[test], pred), 1)
                bar.update(1)
            log.info("repeat %d: accuracy %.4f", r + 1, float(np.trace(confusions[r]) / n))

    confusion = confusions.sum(0)
    diag = np.diag(confusion).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(diag / confusion.sum(0), nan=0.0)
        recall = np.nan_to_num(diag / confusion.sum(1), nan=0.0)
    return CVResult(fold_ids=[int(f) for f in fold_ids], fold_accuracies=fold_acc,
                    repeat_accuracies=np.trace(confusions, axis1=1, axis2=2) / n, mean=float(fold_acc.mean()),
                    std=float(fold_acc.std()), confusions=confusions, confusion=confusion, precision=precision,
                    recall=recall, predictions=predictions, label_names=label_names)


def nested_cross_validate(candidates: Mapping, labels, folds=None, *, k: int = 5, inner_repeats: int = 1,
                          seed: int = 0, n_classes: int | None = None, augment: Mapping | None = None,
                          **kwargs) -> CVResult:
    """Cross-validate a choice among candidate representations, made inside each training part.

    For each held-out fold, every candidate is scored by cross-validation on the other folds
    alone (leaving one of them out at a time), and the best one (the first on ties) is trained on
    all of them and tested on the held-out fold. The test fold never influences which candidate
    it is scored with, so the result is an honest estimate for the whole procedure "pick the best
    of these by cross-validation", unlike the best of several separately cross-validated results.

    Parameters
    ----------
    candidates : mapping of str to ndarray (N, D) or to a mapping of fold to ndarray (N, D)
        Named alternatives (e.g. different fusions of representation files), in order of
        preference for ties; per-fold mappings as in :func:`cross_validate`.
    labels : ndarray of int, shape (N,)
    folds : ndarray of int, shape (N,), optional
        The folds; None draws ``k`` stratified folds once (from ``seed``) and keeps them for every
        repeat.
    inner_repeats : int
        Repeats of each inner cross-validation.
    seed : int
        Seeds the inner and outer runs. The outer runs are seeded as in :func:`cross_validate`, so
        with one candidate and given ``folds`` the result equals ``cross_validate`` on it.
    n_classes : int, optional
        Defaults to ``labels.max() + 1`` over all clips (a class may be missing from a training part).
    augment : mapping of candidate name to tuple (reps, source), optional
        Extra training rows for some candidates, as ``augment`` of :func:`cross_validate` (``reps``
        per fold when the candidate's are), so that e.g. "with and without augmented copies" or
        "with more or fewer copies" can be chosen between. Rows from the held-out fold's clips are
        never used, in the inner runs nor in the outer one; in an inner run, neither are rows from
        that run's held-out inner fold.
    **kwargs
        Classifier settings, ``ensemble``, ``device`` and ``label_names``, as for
        :func:`cross_validate`, apply to the inner and the outer runs; ``repeats`` and
        ``progress`` only to the outer runs.

    Returns
    -------
    CVResult
        With ``selected`` and ``selection_scores`` filled in.

    Notes
    -----
    The choice is made once per held-out fold and used by every outer repeat. With per-fold
    candidates (e.g. an autoencoder trained without fold f), the inner cross-validation for fold f
    runs on that candidate's representations, whose autoencoder saw the inner folds' audio (but
    no labels, and never fold f); this may favour such candidates in the choice, but it cannot
    leak the held-out fold.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 20); folds = np.tile([1, 2, 3, 4], 10)
    >>> good = rng.standard_normal((40, 3)).astype(np.float32) + y[:, None] * 3
    >>> noise = rng.standard_normal((40, 3)).astype(np.float32)
    >>> res = nested_cross_validate({"noise": noise, "good": good}, y, folds, repeats=1, hidden=(8,),
    ...                             epochs=100, lr=1e-2)
    >>> res.selected, res.mean > 0.9
    (['good', 'good', 'good', 'good'], True)
    """
    if not isinstance(candidates, Mapping) or not candidates:
        raise ParameterError("candidates must be a non-empty mapping of names to representations")
    bad_names = [name for name in candidates if not isinstance(name, str) or not name]
    if bad_names:
        raise ParameterError(f"candidate names must be non-empty strings, got {bad_names}")
    labels = np.asarray(labels)
    labels, n_classes = _check_labels(labels, len(labels), n_classes)
    if folds is None:
        folds = stratified_folds(labels, k, seed=_fold_seed(seed, 0, -1))
    folds = _check_int_vector(folds, len(labels), "folds")
    fold_ids = np.unique(folds).tolist()
    if len(fold_ids) < 3:
        raise ParameterError(f"nested cross-validation needs at least 3 folds, got {fold_ids}")
    inner_repeats = positive_int(inner_repeats, "inner_repeats")
    inner_kwargs = {key: value for key, value in kwargs.items() if key not in ("repeats", "progress")}

    # Check every candidate for every fold before any training, so bad input fails at once.
    tables = {}
    for name, candidate in candidates.items():
        for fold in fold_ids:
            if isinstance(candidate, Mapping):
                if fold not in candidate:
                    raise ParameterError(f"candidate {name!r} has no representations for fold {fold}")
                x = candidate[fold]
            else:
                x = candidate
            x = _check_reps(x, f"candidate {name!r}")
            if len(x) != len(labels):
                raise ParameterError(f"candidate {name!r} has {len(x)} rows for {len(labels)} labels")
            tables[name, fold] = x

    augment = {} if augment is None else augment
    if not isinstance(augment, Mapping):
        raise ParameterError("augment must map candidate names to pairs (reps, source)")
    unknown = sorted(set(augment) - set(candidates))
    if unknown:
        raise ParameterError(f"augment names {unknown}, which are not candidates")
    extras = {}
    for name, pair in augment.items():
        per_fold = isinstance(candidates[name], Mapping)
        reps = {f: tables[name, f] for f in fold_ids} if per_fold else tables[name, fold_ids[0]]
        resolved = _check_augment(pair, fold_ids, per_fold, reps, len(labels), f"augment for {name!r}")
        for fold in fold_ids:
            extras[name, fold] = resolved[fold]

    scores = {name: [] for name in candidates}
    selected, chosen, chosen_extra = [], {}, {}
    for j, fold in enumerate(fold_ids):
        train = folds != fold
        position = np.cumsum(train) - 1  # row numbers within the training part
        for name in candidates:
            inner_augment = None
            if extras.get((name, fold)) is not None:
                extra_x, source = extras[name, fold]
                keep = train[source]
                if keep.any():
                    inner_augment = (extra_x[keep], position[source[keep]])
            # _member_seed(..., 0) equals _fold_seed(seed, 0, j) (SeedSequence pads with zeros);
            # the inner runs derive their own per-fold seeds from it, so the streams still differ.
            inner = cross_validate(tables[name, fold][train], labels[train], folds[train], n_classes=n_classes,
                                   repeats=inner_repeats, seed=_member_seed(seed, 0, j, 0), augment=inner_augment,
                                   **inner_kwargs)
            scores[name].append(inner.mean)
        best = max(candidates, key=lambda name: scores[name][j])  # max keeps the first of equal scores
        selected.append(best)
        chosen[fold] = tables[best, fold]
        chosen_extra[fold] = extras.get((best, fold))
        log.info("fold %s: chose %s (inner accuracy %.4f)", fold, best, scores[best][j])
    result = cross_validate(chosen, labels, folds, seed=seed, n_classes=n_classes, augment=chosen_extra, **kwargs)
    result.selected = selected
    result.selection_scores = scores
    return result


def check_confusion(matrix, label_names):
    """A confusion matrix (counts, true x predicted) checked, its label names, and column percentages."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 1:
        raise ParameterError(f"a confusion matrix must be square, got shape {matrix.shape}")
    if not np.issubdtype(matrix.dtype, np.integer):
        if not np.all(matrix == np.round(matrix)):
            raise ParameterError("a confusion matrix holds counts; got non-integer values")
    if (matrix < 0).any():
        raise ParameterError("a confusion matrix holds counts; got negative values")
    matrix = matrix.astype(np.int64)
    if label_names is None:
        label_names = [str(i) for i in range(len(matrix))]
    label_names = [str(x) for x in label_names]
    if len(label_names) != len(matrix):
        raise ParameterError(f"got {len(label_names)} label names for a {len(matrix)}-class confusion matrix")
    with np.errstate(invalid="ignore", divide="ignore"):
        # Laid out with true classes as columns: each column's percentages sum to 100.
        percent = np.nan_to_num(100.0 * matrix.T / matrix.sum(1)[None, :], nan=0.0)
    return matrix, label_names, percent


def format_confusion(matrix, *, label_names: Sequence[str] | None = None) -> str:
    """Text table of a confusion matrix: columns are true classes, rows predicted classes.

    ``matrix[i, j]`` counts clips of true class i predicted as j (as in :class:`CVResult`).
    Each cell shows the count and its percentage of the true class.

    Examples
    --------
    >>> print(format_confusion([[3, 1], [0, 4]], label_names=["dog", "rain"]))
    predicted \\ true         dog        rain
    dog               3 ( 75.0%)  0 (  0.0%)
    rain              1 ( 25.0%)  4 (100.0%)
    """
    matrix, names, percent = check_confusion(matrix, label_names)
    count_width = len(str(int(matrix.max())))
    cell_width = max(count_width + 10, max(len(n) for n in names))
    head_width = max(len("predicted \\ true"), max(len(n) for n in names))
    lines = ["predicted \\ true".ljust(head_width) + "".join(" " + n.rjust(cell_width) for n in names)]
    for p, name in enumerate(names):
        cells = "".join(" " + f"{matrix[t, p]:>{count_width}d} ({percent[p, t]:5.1f}%)".rjust(cell_width)
                        for t in range(len(names)))
        lines.append(name.ljust(head_width) + cells)
    return "\n".join(lines)


def write_confusion_text(matrix, path, *, label_names: Sequence[str] | None = None) -> None:
    """Write :func:`format_confusion` to ``path`` atomically.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "confusion.txt")
    >>> write_confusion_text([[1, 0], [0, 1]], path)
    >>> from pathlib import Path
    >>> Path(path).read_text().startswith("predicted")
    True
    """
    text = format_confusion(matrix, label_names=label_names) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


_CLASSIFIER_FORMAT = "audiorep-classifier-1"


def save_classifier(path, mlp: MLPClassifier, scaler: Standardizer, *, label_names: Sequence[str] | None = None) -> None:
    """Write a trained classifier, its input standardisation and the class names, atomically.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> x = np.random.default_rng(0).standard_normal((40, 3)).astype(np.float32)
    >>> y = (x[:, 0] > 0).astype(int)
    >>> mlp, scaler = train_classifier(x, y, hidden=(8,), epochs=20)
    >>> path = os.path.join(tempfile.mkdtemp(), "mlp.pt")
    >>> save_classifier(path, mlp, scaler, label_names=["neg", "pos"])
    >>> load_classifier(path)[2]
    ['neg', 'pos']
    """
    if not isinstance(mlp, MLPClassifier):
        raise TypeError(f"mlp must be an MLPClassifier, got {type(mlp).__name__}")
    names = list(label_names) if label_names is not None else None
    if names is not None and len(names) != mlp.config["n_classes"]:
        raise ParameterError(f"{len(names)} label names for {mlp.config['n_classes']} classes")
    state = {"format": _CLASSIFIER_FORMAT, "config": dict(mlp.config),
             "mlp": {k: v.detach().cpu() for k, v in mlp.state_dict().items()},
             "scaler": {k: v.detach().cpu() for k, v in scaler.state_dict().items()},
             "n_inputs": int(mlp.config["n_inputs"]), "label_names": names}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_classifier(path, *, device="cpu"):
    """Load what :func:`save_classifier` wrote: ``(mlp, scaler, label_names)``, the model in eval mode."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ParameterError(f"{path}: not a classifier file written by audiorep ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != _CLASSIFIER_FORMAT:
        raise ParameterError(f"{path}: not a classifier file written by audiorep")
    config = dict(state["config"])
    mlp = MLPClassifier(config["n_inputs"], config["n_classes"], hidden=tuple(config["hidden"]),
                        dropout=config["dropout"])
    mlp.load_state_dict(state["mlp"])
    scaler = Standardizer(state["n_inputs"])
    scaler.load_state_dict(state["scaler"])
    dev = resolve_device(device)
    return mlp.to(dev).eval(), scaler.to(dev), state["label_names"]
