"""TorchScript export: files load without audiorep and match eager outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from audiorep import ParameterError
from audiorep.evaluate import predict_proba
from audiorep.export import export, load_torchscript, script
from audiorep.models import MLPClassifier, Seq2SeqAutoencoder, Standardizer


pytestmark = pytest.mark.usefixtures("one_torch_thread")


LABELS = ["dog", "rain", "sea waves"]

# Runs in `python -I` (neither cwd nor PYTHON* variables on sys.path). audiorep may still be
# installed in site-packages, so an import hook refuses it and records any attempt to import it.
ISOLATED = textwrap.dedent("""
    import sys, warnings

    class RefuseAudiorep:
        attempts = []

        def find_spec(self, name, path=None, target=None):
            if name == "audiorep" or name.startswith("audiorep."):
                self.attempts.append(name)
                raise ImportError("audiorep is not available here")
            return None

    refuse = RefuseAudiorep()
    sys.meta_path.insert(0, refuse)
    try:
        import audiorep
    except ImportError:
        pass
    else:
        sys.exit("audiorep is importable: " + audiorep.__file__)
    refuse.attempts.clear()
    import numpy as np, torch
    warnings.filterwarnings("ignore", message="`torch.jit.load` is deprecated", category=DeprecationWarning)
    out, inputs = sys.argv[1], sys.argv[2:]
    enc = torch.jit.load(out + "/encoder.pt")
    ae = torch.jit.load(out + "/autoencoder.pt")
    mlp = torch.jit.load(out + "/mlp.pt")
    pipe = torch.jit.load(out + "/pipeline.pt")
    for name in inputs:
        x = torch.from_numpy(np.load(out + "/" + name + ".npy"))
        with torch.no_grad():
            r = enc(x)
            np.save(out + "/" + name + ".encoder.npy", r.numpy())
            np.save(out + "/" + name + ".autoencoder.npy", ae(x).numpy())
            np.save(out + "/" + name + ".mlp.npy", mlp(r).numpy())
            np.save(out + "/" + name + ".pipeline.npy", pipe(x).numpy())
        print(name, pipe.predict(x))
    print("labels", pipe.labels())
    if refuse.attempts:
        sys.exit("loading the exported files tried to import " + ", ".join(refuse.attempts))
""")


@pytest.fixture
def trained(rng):
    torch.manual_seed(0)
    model = Seq2SeqAutoencoder(6, units=8, layers=2, bidirectional_encoder=True)
    model.scaler.fit(rng.standard_normal((100, 6)) * 4 + 2)
    mlp = MLPClassifier(model.representation_size, 3, hidden=(10,), dropout=0.3)
    scaler = Standardizer(model.representation_size).fit(rng.standard_normal((50, model.representation_size)) + 0.5)
    return model.eval(), mlp.eval(), scaler


def test_exported_files_run_without_audiorep_and_match_eager(trained, tmp_path, rng):
    model, mlp, scaler = trained
    paths = export(model, mlp, out_dir=tmp_path, scaler=scaler, label_names=LABELS)
    assert set(paths) == {"encoder", "autoencoder", "mlp", "pipeline", "manifest"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())
    manifest = json.loads((tmp_path / "export.json").read_text())
    assert manifest["label_names"] == LABELS and manifest["n_features"] == 6

    inputs = {"short": rng.standard_normal((2, 5, 6)), "long": rng.standard_normal((3, 37, 6)) * 4 + 2}
    for name, x in inputs.items():
        np.save(tmp_path / f"{name}.npy", x.astype(np.float32))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-I", "-c", ISOLATED, str(tmp_path), *inputs], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"labels {LABELS}" in proc.stdout

    for name, x in inputs.items():
        x = torch.from_numpy(x.astype(np.float32))
        with torch.no_grad():
            reps = model.encode(x)
            logits = mlp(scaler(reps))
            expected = {"encoder": reps, "autoencoder": model(x), "mlp": logits,
                        "pipeline": torch.softmax(logits, dim=1)}
        for kind, value in expected.items():
            got = np.load(tmp_path / f"{name}.{kind}.npy")
            assert got.shape == tuple(value.shape), (name, kind)
            np.testing.assert_allclose(got, value.numpy(), rtol=0, atol=1e-5, err_msg=f"{name} {kind}")
        names = [LABELS[i] for i in expected["pipeline"].argmax(1).tolist()]
        assert f"{name} {names}" in proc.stdout
        np.testing.assert_allclose(expected["pipeline"].numpy(), predict_proba(mlp, scaler, reps.numpy()),
                                   rtol=1e-5, atol=1e-6)


def test_load_torchscript_in_process_matches_eager(trained, tmp_path, rng):
    model, mlp, scaler = trained
    export(model, mlp, out_dir=tmp_path, scaler=(scaler.mean.numpy(), scaler.std.numpy()))
    pipe = load_torchscript(tmp_path / "pipeline.pt")
    assert pipe.labels() == ["0", "1", "2"]
    x = torch.from_numpy(rng.standard_normal((4, 9, 6)).astype(np.float32))
    with torch.no_grad():
        torch.testing.assert_close(pipe(x), torch.softmax(mlp(scaler(model.encode(x))), 1), rtol=0, atol=1e-6)
    with pytest.raises(FileNotFoundError):
        load_torchscript(tmp_path / "nothing.pt")


def test_autoencoder_only_export_and_decode(tmp_path, rng):
    model = Seq2SeqAutoencoder(4, units=5, layers=1, cell="gru").eval()
    paths = export(model, out_dir=tmp_path / "sub")
    assert set(paths) == {"encoder", "autoencoder", "manifest"}
    ae = load_torchscript(paths["autoencoder"])
    z = torch.from_numpy(rng.standard_normal((2, model.representation_size)).astype(np.float32))
    with torch.no_grad():
        torch.testing.assert_close(ae.decode(z, 7), model.decode(z, 7), rtol=0, atol=1e-6)


def test_script_leaves_the_model_alone(trained):
    model, _, _ = trained
    model.train()
    scripted = script(model)
    assert model.training and not scripted.training


def test_export_rejects_bad_arguments(trained, tmp_path):
    model, mlp, scaler = trained
    with pytest.raises(TypeError, match="Seq2SeqAutoencoder"):
        export(mlp, out_dir=tmp_path)
    with pytest.raises(TypeError, match="MLPClassifier"):
        export(model, model, out_dir=tmp_path)
    with pytest.raises(ParameterError, match="takes 5 inputs"):
        export(model, MLPClassifier(5, 3), out_dir=tmp_path)
    with pytest.raises(ParameterError, match="2 label_names for a 3-class"):
        export(model, mlp, out_dir=tmp_path, label_names=["a", "b"])
    with pytest.raises(ParameterError, match="pass mlp"):
        export(model, out_dir=tmp_path, scaler=scaler)
    with pytest.raises(ParameterError, match="scaler has 3 dimensions"):
        export(model, mlp, out_dir=tmp_path, scaler=Standardizer(3))
    with pytest.raises(ParameterError, match="positive"):
        export(model, mlp, out_dir=tmp_path, scaler=(np.zeros(64), np.zeros(64)))
    with pytest.raises(TypeError, match="scaler must be"):
        export(model, mlp, out_dir=tmp_path, scaler="standard")
