"""Class predictions for the web app from a deployed model, kept behind one small interface.

The app needs only ``load_predictor(...)`` and ``Predictor.top(path, k)``. This version reads
what ``audiorep export`` writes: ``pipeline.pt`` (TorchScript, raw features -> class
probabilities, ``labels()``) and ``export.json``. ``export.json`` does not record how the
features were extracted, so those settings come from ``export.json["feature_params"]``
where a deployment records them, or else from the feature store the model was trained on.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from ..extract import features_for_file
from ..features import FeatureParams
from ..store import read_store_metadata

log = logging.getLogger(__name__)

__all__ = ["Predictor", "load_predictor"]


class Predictor:
    """The most probable classes of an audio file, from a TorchScript pipeline and its feature settings."""

    def __init__(self, pipeline, labels: list[str], params: FeatureParams):
        self.pipeline = pipeline
        self.labels = list(labels)
        self.params = params

    def top(self, path, k: int = 3) -> list[dict]:
        """``[{"label": ..., "probability": ...}, ...]``, the ``k`` most probable classes first."""
        import torch

        x = features_for_file(path, self.params)
        with torch.no_grad():
            probabilities = self.pipeline(torch.from_numpy(np.ascontiguousarray(x))[None])[0].double().numpy()
        best = np.argsort(-probabilities, kind="stable")[:k]
        return [{"label": self.labels[i], "probability": float(probabilities[i])} for i in best]


def _feature_params(manifest: dict, features, where: Path) -> FeatureParams:
    if "feature_params" in manifest:
        params = manifest["feature_params"]
    elif features is None:
        raise ParameterError(f"{where} does not record how the model's features were extracted; "
                             "give the feature store it was trained on as well")
    elif isinstance(features, FeatureParams):
        return features
    elif isinstance(features, dict):
        params = features
    else:
        params = read_store_metadata(features).params
    try:
        return FeatureParams.from_dict(params)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"feature settings for {where.parent} are not usable ({exc})") from None


def load_predictor(model, *, features=None) -> Predictor:
    """Load a deployed classifier: the directory ``audiorep export --mlp`` wrote (or its ``pipeline.pt``).

    Parameters
    ----------
    model : path
        The export directory, holding ``pipeline.pt`` and ``export.json``.
    features : path, dict or FeatureParams, optional
        How the model's input features are extracted, needed when ``export.json`` does not
        say: the feature store (``.parquet``) it was trained on, or its parameters.

    Raises
    ------
    FileNotFoundError
        No ``pipeline.pt`` or ``export.json`` (an export without ``--mlp`` has no pipeline).
    ParameterError
        The feature settings are missing or do not give the number of features the model takes.
    """
    from ..export import load_torchscript

    directory = Path(model)
    if directory.name == "pipeline.pt":
        directory = directory.parent
    manifest_path = directory / "export.json"
    if not (directory / "pipeline.pt").is_file() or not manifest_path.is_file():
        raise FileNotFoundError(2, "no pipeline.pt and export.json here (made by audiorep export --mlp)",
                                str(directory))
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ParameterError(f"{manifest_path}: not a readable export manifest ({exc})") from None
    params = _feature_params(manifest, features, manifest_path)
    expected = manifest.get("n_features")
    if expected is not None and params.n_features != expected:
        raise ParameterError(f"the feature settings give {params.n_features} values per frame; "
                             f"the model in {directory} takes {expected}")
    pipeline = load_torchscript(directory / "pipeline.pt")
    labels = list(manifest.get("label_names") or pipeline.labels())
    log.info("model %s: %d classes, %s features", directory, len(labels), params.kind)
    return Predictor(pipeline, labels, params)
