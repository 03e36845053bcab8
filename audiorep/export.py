"""Export trained models as self-contained TorchScript files.

The files need only ``torch`` to run: the input standardisation and the label names are inside.
TorchScript is the format here because ``torch.export`` (torch 2.13) specialises an LSTM's
sequence length to the example's, and these models must accept any length.
"""

# No "from __future__ import annotations": TorchScript reads the class annotations below.

import contextlib
import copy
import json
import logging
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor, nn

from ._util import atomic_path
from .errors import ParameterError
from .models import MLPClassifier, Seq2SeqAutoencoder, Standardizer

log = logging.getLogger(__name__)

__all__ = ["export", "export_system", "load_system", "load_torchscript", "script"]

# torch 2.13 deprecates TorchScript with exactly these messages; users still deploy it, so the
# export path silences these three and nothing else.
JIT_DEPRECATION = r"`torch\.jit\.(script|save|load)` is deprecated"


@contextlib.contextmanager
def _jit_deprecation_silenced():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=JIT_DEPRECATION, category=DeprecationWarning)
        yield


def script(module: nn.Module) -> torch.jit.ScriptModule:
    """``torch.jit.script`` on an eval-mode copy of ``module``, without the deprecation warning.

    Examples
    --------
    >>> m = script(Seq2SeqAutoencoder(3, units=4, layers=1))
    >>> m.encode(torch.zeros(1, 5, 3)).shape
    torch.Size([1, 8])
    """
    module = copy.deepcopy(module).cpu().eval()
    with _jit_deprecation_silenced():
        return torch.jit.script(module)


def load_torchscript(path, *, device="cpu") -> torch.jit.ScriptModule:
    """Load a file written by :func:`export`, in eval mode.

    Examples
    --------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> _ = export(Seq2SeqAutoencoder(3, units=4, layers=1), out_dir=out)
    >>> load_torchscript(out + "/encoder.pt")(torch.zeros(2, 5, 3)).shape
    torch.Size([2, 8])
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no TorchScript file at {path}")
    with _jit_deprecation_silenced():
        return torch.jit.load(str(path), map_location=device).eval()


class EncoderExport(nn.Module):
    """Raw features (batch, time, features) -> representations."""

    def __init__(self, autoencoder: Seq2SeqAutoencoder):
        super().__init__()
        self.autoencoder = autoencoder

    def forward(self, x: Tensor) -> Tensor:
        return self.autoencoder.encode(x)


class ClassifierExport(nn.Module):
    """Raw representations -> logits, standardisation included."""

    def __init__(self, mlp: MLPClassifier, scaler: Standardizer):
        super().__init__()
        self.scaler = scaler
        self.mlp = mlp

    def forward(self, r: Tensor) -> Tensor:
        return self.mlp(self.scaler(r))


class PipelineExport(nn.Module):
    """Raw features -> class probabilities; ``labels()`` names the columns."""

    label_names: List[str]

    def __init__(self, autoencoder: Seq2SeqAutoencoder, classifier: ClassifierExport, label_names: List[str]):
        super().__init__()
        self.autoencoder = autoencoder
        self.classifier = classifier
        self.label_names = label_names

    def forward(self, x: Tensor) -> Tensor:
        return torch.softmax(self.classifier(self.autoencoder.encode(x)), dim=1)

    @torch.jit.export
    def labels(self) -> List[str]:
        return self.label_names

    @torch.jit.export
    def predict(self, x: Tensor) -> List[str]:
        """Name of the most probable class of each clip."""
        best: List[int] = self.forward(x).argmax(dim=1).tolist()
        return [self.label_names[i] for i in best]


def _save_script(module: nn.Module, path: Path) -> None:
    scripted = script(module)
    with atomic_path(path) as tmp, _jit_deprecation_silenced():
        torch.jit.save(scripted, str(tmp))


def _as_scaler(scaler, n_inputs: int) -> Standardizer:
    if scaler is None:
        return Standardizer(n_inputs)
    if isinstance(scaler, Standardizer):
        if scaler.mean.shape != (n_inputs,):
            raise ParameterError(f"scaler has {scaler.mean.shape[0]} dimensions, the classifier takes {n_inputs}")
        return copy.deepcopy(scaler).cpu()
    if isinstance(scaler, (tuple, list)) and len(scaler) == 2:
        s = Standardizer(n_inputs)
        mean = torch.as_tensor(scaler[0], dtype=torch.float32).reshape(-1)
        std = torch.as_tensor(scaler[1], dtype=torch.float32).reshape(-1)
        if mean.shape != (n_inputs,) or std.shape != (n_inputs,):
            raise ParameterError(f"scaler mean and std must have {n_inputs} values")
        if not bool((std > 0).all()):
            raise ParameterError("scaler std must be positive")
        s.mean.copy_(mean)
        s.std.copy_(std)
        return s
    raise TypeError(f"scaler must be a Standardizer, a (mean, std) pair or None, got {type(scaler).__name__}")


def export(model: Seq2SeqAutoencoder, mlp: Optional[MLPClassifier] = None, *, out_dir, scaler=None,
           label_names: Optional[Sequence[str]] = None) -> Dict[str, Path]:
    """Write TorchScript files for deployment into ``out_dir`` (each written atomically).

    - ``encoder.pt``: raw features (batch, time, F) -> representations.
    - ``autoencoder.pt``: raw features -> reconstruction (``encode`` and ``decode`` methods too).
    - ``mlp.pt`` (with ``mlp``): representations -> logits, with the classifier's standardisation.
    - ``pipeline.pt`` (with ``mlp``): raw features -> class probabilities; ``labels()`` and
      ``predict(x)`` give class names.
    - ``export.json``: shapes, label names and torch version.

    Sequence length is free. Load with ``torch.jit.load``; audiorep is not needed.

    Parameters
    ----------
    model : Seq2SeqAutoencoder
        Trained autoencoder (its input standardisation is included).
    mlp : MLPClassifier, optional
        Trained classifier of the representations.
    out_dir : path
        Created if missing.
    scaler : Standardizer or (mean, std), optional
        Standardisation of the representations that ``mlp`` was trained on; None is identity.
    label_names : sequence of str, optional
        Class names in label order; default "0", "1", ...

    Returns
    -------
    dict
        File role -> path written.

    Examples
    --------
    >>> import tempfile
    >>> paths = export(Seq2SeqAutoencoder(3, units=4, layers=1), MLPClassifier(8, 2, hidden=(4,)),
    ...                out_dir=tempfile.mkdtemp(), label_names=["dog", "rain"])
    >>> sorted(paths)
    ['autoencoder', 'encoder', 'manifest', 'mlp', 'pipeline']
    """
    if not isinstance(model, Seq2SeqAutoencoder):
        raise TypeError(f"model must be a Seq2SeqAutoencoder, got {type(model).__name__}")
    if mlp is not None and not isinstance(mlp, MLPClassifier):
        raise TypeError(f"mlp must be an MLPClassifier or None, got {type(mlp).__name__}")
    ae = copy.deepcopy(model).cpu().eval()
    manifest = {"n_features": ae.n_features, "representation_size": ae.embedding_size,
                "autoencoder_config": ae.config, "torch": torch.__version__}
    # Everything is checked before the first file is written.
    classifier = None
    if mlp is not None:
        n_inputs, n_classes = mlp.config["n_inputs"], mlp.config["n_classes"]
        if n_inputs != ae.embedding_size:
            raise ParameterError(f"the classifier takes {n_inputs} inputs, the autoencoder gives "
                                 f"{ae.embedding_size}")
        if label_names is None:
            label_names = [str(i) for i in range(n_classes)]
        label_names = [str(x) for x in label_names]
        if len(label_names) != n_classes:
            raise ParameterError(f"got {len(label_names)} label_names for a {n_classes}-class classifier")
        classifier = ClassifierExport(copy.deepcopy(mlp).cpu().eval(), _as_scaler(scaler, n_inputs))
        manifest.update(n_classes=n_classes, label_names=label_names, classifier_config=mlp.config)
    elif scaler is not None or label_names is not None:
        raise ParameterError("scaler and label_names belong to the classifier; pass mlp as well")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: Dict[str, Path] = {"encoder": out / "encoder.pt", "autoencoder": out / "autoencoder.pt"}
    _save_script(EncoderExport(ae), paths["encoder"])
    _save_script(ae, paths["autoencoder"])
    if classifier is not None:
        paths["mlp"] = out / "mlp.pt"
        paths["pipeline"] = out / "pipeline.pt"
        _save_script(classifier, paths["mlp"])
        _save_script(PipelineExport(ae, classifier, list(label_names)), paths["pipeline"])
    with atomic_path(out / "export.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    paths["manifest"] = out / "export.json"
    log.info("exported %s to %s", ", ".join(sorted(paths)), out)
    return paths


# ---------------------------------------------------------------- deployable systems

MODEL_FORMAT = "audiorep-model"
MODEL_FORMAT_VERSION = 1


class PooledPart(nn.Module):
    """One view's frames (batch, time, F) -> their mean and std over time (batch, 2F)."""

    view: str

    def __init__(self, view: str):
        super().__init__()
        self.view = view

    def forward(self, views: Dict[str, Tensor]) -> Tensor:
        x = views[self.view]
        return torch.cat([x.mean(1), x.std(1, unbiased=False)], dim=1)


class LearnedPart(nn.Module):
    """One view's frames -> an autoencoder's representation (its own readout)."""

    view: str

    def __init__(self, view: str, autoencoder: Seq2SeqAutoencoder):
        super().__init__()
        self.view = view
        self.autoencoder = autoencoder

    def forward(self, views: Dict[str, Tensor]) -> Tensor:
        return self.autoencoder.encode(views[self.view])


class SystemExport(nn.Module):
    """Feature views -> class probabilities: every part, fused in order, then the classifier.

    ``forward`` takes a dict of view name -> (batch, time, F) raw features, computed as the
    manifest's ``views`` say; ``labels()`` names the probability columns.
    """

    label_names: List[str]

    def __init__(self, parts: List[nn.Module], classifier: ClassifierExport, label_names: List[str]):
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.classifier = classifier
        self.label_names = label_names

    def forward(self, views: Dict[str, Tensor]) -> Tensor:
        fused: List[Tensor] = []
        for part in self.parts:
            fused.append(part(views))
        return torch.softmax(self.classifier(torch.cat(fused, dim=1)), dim=1)

    @torch.jit.export
    def labels(self) -> List[str]:
        return self.label_names


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifest_checksum(manifest: dict) -> str:
    import hashlib

    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def export_system(parts: Sequence[dict], views: Dict[str, dict], mlp: MLPClassifier, scaler, label_names,
                  out_dir, *, info: Optional[dict] = None) -> Dict[str, Path]:
    """Write a deployable system: ``system.pt`` (feature views -> probabilities) and ``model.json``.

    Parameters
    ----------
    parts : sequence of dict
        The fused representation, in order: ``{"kind": "pooled", "view": NAME}`` or
        ``{"kind": "learned", "view": NAME, "autoencoder": Seq2SeqAutoencoder}``.
    views : dict of str -> dict
        Each view's :class:`~audiorep.features.FeatureParams` settings (a fixed ``sr`` each).
    mlp, scaler, label_names
        The classifier of the fused representation, its input standardisation, the class names.
    out_dir : path
        Created if missing; ``model.json`` is written last, so a directory without it is incomplete.
    info : dict, optional
        Provenance kept in the manifest (how the system was evaluated, its inputs).

    Returns
    -------
    dict
        ``{"system": path, "manifest": path}``.
    """
    from . import __version__

    if not isinstance(mlp, MLPClassifier):
        raise TypeError(f"mlp must be an MLPClassifier, got {type(mlp).__name__}")
    modules, described, width = [], [], 0
    for i, part in enumerate(parts):
        view = part.get("view")
        if view not in views:
            raise ParameterError(f"part {i} reads view {view!r}, which is not one of {sorted(views)}")
        if part.get("kind") == "pooled":
            size = 2 * _view_width(views[view])
            modules.append(PooledPart(view))
            described.append({"kind": "pooled", "view": view, "size": size})
        elif part.get("kind") == "learned":
            ae = part.get("autoencoder")
            if not isinstance(ae, Seq2SeqAutoencoder):
                raise TypeError(f"part {i} needs an autoencoder, got {type(ae).__name__}")
            if ae.n_features != _view_width(views[view]):
                raise ParameterError(f"part {i}: the autoencoder reads {ae.n_features} values per frame, view "
                                     f"{view!r} has {_view_width(views[view])}")
            size = ae.embedding_size
            modules.append(LearnedPart(view, copy.deepcopy(ae).cpu().eval()))
            described.append({"kind": "learned", "view": view, "size": size, "readout": ae.readout,
                              "autoencoder_config": ae.config})
        else:
            raise ParameterError(f"part {i} has kind {part.get('kind')!r}; expected 'pooled' or 'learned'")
        width += size
    rates = {name: v.get("sr") for name, v in views.items()}
    if any(r is None for r in rates.values()) or len(set(rates.values())) != 1:
        raise ParameterError(f"a deployable system needs one fixed sample rate for every view, got {rates}; "
                             "extract the features with --sr")
    n_inputs, n_classes = mlp.config["n_inputs"], mlp.config["n_classes"]
    if n_inputs != width:
        raise ParameterError(f"the classifier takes {n_inputs} inputs, the parts give {width}")
    label_names = [str(x) for x in label_names]
    if len(label_names) != n_classes:
        raise ParameterError(f"got {len(label_names)} label names for a {n_classes}-class classifier")
    system = SystemExport(modules, ClassifierExport(copy.deepcopy(mlp).cpu().eval(), _as_scaler(scaler, n_inputs)),
                          label_names)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"system": out / "system.pt", "manifest": out / "model.json"}
    _save_script(system, paths["system"])
    manifest = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "audiorep_version": __version__,
                "torch_version": torch.__version__, "sample_rate": next(iter(rates.values())),
                "views": views, "parts": described, "label_names": label_names,
                "classifier_config": mlp.config, "files": {"system.pt": _sha256(paths["system"])},
                "info": info or {}}
    manifest["checksum"] = _manifest_checksum(manifest)
    with atomic_path(paths["manifest"]) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    log.info("exported a %d-class system of %d part(s) to %s", n_classes, len(parts), out)
    return paths


def _view_width(view: dict) -> int:
    from .features import FeatureParams

    return FeatureParams(**view).n_features


def load_system(path, *, device="cpu"):
    """Read a directory written by :func:`export_system`: ``(manifest, system)``, both checked.

    The manifest's checksum and every file's SHA-256 must match, so a damaged or edited
    artefact is refused (``ParameterError`` naming the file) rather than run.
    """
    from .features import FeatureParams

    out = Path(path)
    manifest_path = out / "model.json" if out.is_dir() else out
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no deployed model at {path} (expected a directory with model.json)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParameterError(f"{manifest_path}: not a model manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MODEL_FORMAT:
        raise ParameterError(f"{manifest_path}: not an audiorep model manifest")
    if manifest.get("format_version", 0) > MODEL_FORMAT_VERSION:
        raise ParameterError(f"{manifest_path}: model format {manifest.get('format_version')} is newer than this "
                             f"audiorep reads ({MODEL_FORMAT_VERSION})")
    if manifest.get("checksum") != _manifest_checksum(manifest):
        raise ParameterError(f"{manifest_path}: the manifest does not match its checksum (edited or damaged)")
    for name, digest in manifest["files"].items():
        file = manifest_path.parent / name
        if not file.is_file():
            raise FileNotFoundError(f"{file}: missing from the deployed model")
        if _sha256(file) != digest:
            raise ParameterError(f"{file}: does not match the checksum in {manifest_path} (edited or damaged)")
    for name, view in manifest["views"].items():
        FeatureParams(**{k: v for k, v in view.items() if k in FeatureParams.__dataclass_fields__})
    return manifest, load_torchscript(manifest_path.parent / "system.pt", device=device)
