"""Autoencoder training: repeatability, checkpoints, resume, interruption, model files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiorep import Cancelled, ParameterError
from audiorep.models import Seq2SeqAutoencoder
from audiorep.train import load_model, represent, save_model, train_autoencoder


pytestmark = pytest.mark.usefixtures("one_torch_thread")


CONFIG = {"units": 8, "layers": 1, "teacher_forcing": 0.5, "dropout": 0.1}
FAST = dict(config=CONFIG, batch_size=8, lr=3e-3, patience=50, progress=False)


@pytest.fixture
def features(rng):
    t = np.linspace(0, 1, 12, dtype=np.float32)
    freq = rng.uniform(1, 3, (40, 1, 1)).astype(np.float32)
    x = np.sin(2 * np.pi * freq * t[None, :, None] * np.arange(1, 4, dtype=np.float32))
    return (3 * x + 5 + 0.1 * rng.standard_normal(x.shape)).astype(np.float32)


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=0, atol=0, msg=key)


def test_training_reduces_loss_and_is_repeatable(features):
    model, history = train_autoencoder(features, seed=3, epochs=6, **FAST)
    assert not model.training
    assert len(history["train_loss"]) == len(history["val_loss"]) == 6
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["best_loss"] == min(history["val_loss"])
    again, history2 = train_autoencoder(features, seed=3, epochs=6, **FAST)
    _same_state(model, again)
    assert history == history2
    other, _ = train_autoencoder(features, seed=4, epochs=1, **FAST)
    assert not torch.equal(other.to_representation.weight, model.to_representation.weight)


def test_standardisation_uses_training_statistics(features):
    model, _ = train_autoencoder(features, seed=0, epochs=1, validation_share=0.0, **FAST)
    flat = features.reshape(-1, features.shape[2])
    np.testing.assert_allclose(model.scaler.mean.numpy(), flat.mean(0), rtol=1e-5)
    np.testing.assert_allclose(model.scaler.std.numpy(), flat.std(0), rtol=1e-5)
    held_out, _ = train_autoencoder(features, seed=0, epochs=1, validation_share=0.25, **FAST)
    # 10 of 40 clips are held out, so the statistics differ from the full-data ones.
    assert not np.allclose(held_out.scaler.mean.numpy(), flat.mean(0), rtol=1e-4)


def test_global_scaling_uses_one_mean_and_std(features):
    model, _ = train_autoencoder(features, seed=0, epochs=1, validation_share=0.0, scaling="global", **FAST)
    np.testing.assert_allclose(model.scaler.mean.numpy(), np.full(3, features.mean()), rtol=1e-5)
    np.testing.assert_allclose(model.scaler.std.numpy(), np.full(3, features.std()), rtol=1e-5)
    # the relative scale of the dimensions survives: their standardised stds keep the raw ratios
    z = model.scaler(torch.from_numpy(features)).numpy().reshape(-1, 3)
    np.testing.assert_allclose(z.std(0) / z.std(0)[0], features.reshape(-1, 3).std(0) / features[..., 0].std(),
                               rtol=1e-4)
    per_dim, _ = train_autoencoder(features, seed=0, epochs=1, validation_share=0.0, **FAST)
    assert not np.allclose(per_dim.scaler.std.numpy(), model.scaler.std.numpy())


def test_resume_accepts_checkpoints_from_before_the_scaling_setting(features, tmp_path):
    path = tmp_path / "old.ckpt"
    full, _ = train_autoencoder(features, seed=2, epochs=3, **FAST)
    train_autoencoder(features, seed=2, epochs=1, checkpoint_path=path, **FAST)
    ckpt = torch.load(path, weights_only=True)
    del ckpt["settings"]["scaling"]
    torch.save(ckpt, path)
    resumed, _ = train_autoencoder(features, seed=2, epochs=3, checkpoint_path=path, resume=True, **FAST)
    _same_state(full, resumed)
    with pytest.raises(ParameterError, match="scaling='dimension' there, 'global' now"):
        train_autoencoder(features, seed=2, epochs=4, checkpoint_path=path, resume=True, scaling="global", **FAST)


def test_early_stopping_restores_best_weights(features):
    model, history = train_autoencoder(features, seed=1, epochs=40, config=CONFIG, batch_size=8, lr=0.5,
                                       patience=2, progress=False)
    assert history["stopped_early"]
    assert len(history["val_loss"]) - history["best_epoch"] == 2
    assert history["best_loss"] == history["val_loss"][history["best_epoch"] - 1]


def test_resume_equals_uninterrupted(features, tmp_path):
    full, full_history = train_autoencoder(features, seed=5, epochs=4, checkpoint_path=tmp_path / "a.ckpt", **FAST)
    train_autoencoder(features, seed=5, epochs=2, checkpoint_path=tmp_path / "b.ckpt", **FAST)
    resumed, history = train_autoencoder(features, seed=5, epochs=4, checkpoint_path=tmp_path / "b.ckpt",
                                         resume=True, **FAST)
    _same_state(full, resumed)
    assert history == full_history
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ckpt", "b.ckpt"]


def test_keyboard_interrupt_leaves_resumable_checkpoint(features, tmp_path):
    path = tmp_path / "run.ckpt"
    class InterruptInThirdEpoch:  # a cancel token whose 12th check is hit by Ctrl-C
        calls = 0

        def is_set(self):
            self.calls += 1
            if self.calls == 12:  # 36 training clips in batches of 8: 5 batches per epoch
                raise KeyboardInterrupt
            return False

    interrupt_in_third_epoch = InterruptInThirdEpoch()
    with pytest.raises(KeyboardInterrupt):
        train_autoencoder(features, seed=6, epochs=4, checkpoint_path=path, cancel=interrupt_in_third_epoch, **FAST)
    saved = torch.load(path, weights_only=True)
    assert saved["epoch"] == 2
    model, params = load_model(path)
    assert isinstance(model, Seq2SeqAutoencoder) and params == {}
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]

    resumed, history = train_autoencoder(features, seed=6, epochs=4, checkpoint_path=path, resume=True, **FAST)
    full, full_history = train_autoencoder(features, seed=6, epochs=4, **FAST)
    _same_state(full, resumed)
    assert history == full_history


def test_interrupt_while_writing_never_corrupts_the_checkpoint(features, tmp_path, monkeypatch):
    path = tmp_path / "run.ckpt"
    real_save = torch.save
    calls = {"n": 0}

    def save_interrupted_midway(obj, f):
        calls["n"] += 1
        if calls["n"] >= 2:  # epoch 2's write and the rescue write both stop halfway, as Ctrl-C would
            with open(f, "wb") as handle:
                handle.write(b"PK\x03\x04 truncated")
            raise KeyboardInterrupt
        return real_save(obj, f)

    monkeypatch.setattr(torch, "save", save_interrupted_midway)
    with pytest.raises(KeyboardInterrupt):
        train_autoencoder(features, seed=0, epochs=4, checkpoint_path=path, **FAST)
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]
    assert calls["n"] == 3
    assert torch.load(path, weights_only=True)["epoch"] == 1
    load_model(path)


def test_cancel_before_first_epoch_raises_cancelled_and_saves(features, tmp_path):
    path = tmp_path / "run.ckpt"
    with pytest.raises(Cancelled):
        train_autoencoder(features, seed=0, epochs=3, checkpoint_path=path, cancel=_set_event(), **FAST)
    assert torch.load(path, weights_only=True)["epoch"] == 0
    with pytest.raises(ParameterError, match="is_set"):
        train_autoencoder(features, epochs=1, cancel=lambda: True, **FAST)


def _set_event():
    import threading

    event = threading.Event()
    event.set()
    return event


def test_resume_refuses_a_different_run(features, tmp_path):
    path = tmp_path / "run.ckpt"
    train_autoencoder(features, seed=0, epochs=1, checkpoint_path=path, **FAST)
    with pytest.raises(ParameterError, match="seed=0 there, 1 now"):
        train_autoencoder(features, seed=1, epochs=2, checkpoint_path=path, resume=True, **FAST)
    with pytest.raises(ParameterError, match="config"):
        train_autoencoder(features, seed=0, epochs=2, checkpoint_path=path, resume=True,
                          **{**FAST, "config": {**CONFIG, "units": 9}})
    with pytest.raises(ParameterError, match="data="):
        train_autoencoder(features + 1, seed=0, epochs=2, checkpoint_path=path, resume=True, **FAST)


def test_progress_bar_goes_to_stderr(features, capsys):
    train_autoencoder(features, seed=0, epochs=1, **{**FAST, "progress": True})
    captured = capsys.readouterr()
    assert "autoencoder" in captured.err and "loss=" in captured.err
    assert captured.out == ""
    train_autoencoder(features, seed=0, epochs=1, **FAST)
    assert capsys.readouterr().err == ""


def test_represent_and_model_file_round_trip(features, tmp_path):
    model, _ = train_autoencoder(features, seed=0, epochs=1, **FAST)
    reps = represent(model, features, batch_size=7)
    assert reps.shape == (40, model.representation_size) and reps.dtype == np.float32
    with torch.no_grad():
        np.testing.assert_allclose(reps, model.encode(torch.from_numpy(features)).numpy(), rtol=1e-5, atol=1e-6)
    params = {"kind": "melspectrogram", "n_mels": 3, "sr": 16000, "fmax": None}
    save_model(tmp_path / "ae.pt", model, feature_params=params)
    loaded, stored = load_model(tmp_path / "ae.pt", expected_feature_params=params)
    assert stored == params
    np.testing.assert_array_equal(represent(loaded, features), reps)
    with pytest.raises(ParameterError, match="n_mels: model 3, given 4"):
        load_model(tmp_path / "ae.pt", expected_feature_params={**params, "n_mels": 4})
    with pytest.raises(ParameterError, match="features have 2 dimensions"):
        represent(model, features[:, :, :2])


def test_load_model_rejects_other_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ParameterError, match="not a readable model file"):
        load_model(tmp_path / "junk.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ParameterError, match="not an audiorep autoencoder file"):
        load_model(tmp_path / "other.pt")
    with pytest.raises(TypeError, match="Seq2SeqAutoencoder"):
        save_model(tmp_path / "x.pt", torch.nn.Linear(2, 2))


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(features=np.zeros((4, 5))), ParameterError, "shape"),
    (dict(features=[[[1.0]]]), TypeError, "numpy array"),
    (dict(features=np.full((4, 5, 2), np.nan, dtype=np.float32)), ParameterError, "NaN"),
    (dict(epochs=0), ParameterError, "epochs=0"),
    (dict(batch_size=-1), ParameterError, "batch_size=-1"),
    (dict(lr=0.0), ParameterError, "lr=0.0"),
    (dict(validation_share=1.0), ParameterError, "validation_share=1.0"),
    (dict(resume=True), ParameterError, "checkpoint_path"),
    (dict(config={"n_features": 3}), ParameterError, "n_features=3"),
    (dict(config={"cell": "rnn"}), ParameterError, "cell='rnn'"),
    (dict(seed=-1), ParameterError, "seed=-1"),
    (dict(device="tpu:0"), ParameterError, "device='tpu:0'"),
    (dict(scaling="minmax"), ParameterError, "scaling='minmax'"),
])
def test_train_rejects_bad_arguments(kwargs, error, match):
    args = dict(features=np.zeros((4, 5, 2), dtype=np.float32), epochs=1, progress=False)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        train_autoencoder(args.pop("features"), **args)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_cuda_matches_cpu_representation(features):
    model, history = train_autoencoder(features, seed=0, epochs=2, device="cuda", **FAST)
    assert next(model.parameters()).device.type == "cuda"
    assert history["train_loss"][-1] < history["train_loss"][0]
    reps = represent(model, features)
    on_cpu = represent(model.cpu(), features)
    np.testing.assert_allclose(reps, on_cpu, rtol=1e-4, atol=1e-5)


def test_augment_copies_follow_their_clips(features, tmp_path):
    # copies sit 100 above their clips: the scaler's mean shows exactly which copies were used
    copies = features + 100
    source = np.arange(len(features))
    plain, _ = train_autoencoder(features, seed=0, epochs=1, validation_share=0.25, **FAST)
    model, _ = train_autoencoder(features, seed=0, epochs=1, validation_share=0.25, augment=(copies, source), **FAST)
    # the 30 training clips and their 30 copies; the held-out clips' copies are left out
    np.testing.assert_allclose(model.scaler.mean.numpy(), plain.scaler.mean.numpy() + 50, rtol=1e-5)
    # two copies per clip, one list: the same rule
    both, _ = train_autoencoder(features, seed=0, epochs=1, validation_share=0.25,
                                augment=(np.concatenate([copies, copies + 100]), np.tile(source, 2)), **FAST)
    np.testing.assert_allclose(both.scaler.mean.numpy(), plain.scaler.mean.numpy() + 100, rtol=1e-5)
    path = tmp_path / "run.ckpt"
    train_autoencoder(features, seed=0, epochs=1, checkpoint_path=path, augment=(copies, source), **FAST)
    with pytest.raises(ParameterError, match="augment="):
        train_autoencoder(features, seed=0, epochs=2, checkpoint_path=path, resume=True, **FAST)


@pytest.mark.parametrize("augment,match", [
    (np.zeros((2, 12, 3), np.float32), "tuple"),
    ((np.zeros((2, 11, 3), np.float32), np.array([0, 1])), "shape"),
    ((np.full((2, 12, 3), np.nan, np.float32), np.array([0, 1])), "NaN"),
    ((np.zeros((2, 12, 3), np.float32), np.array([0.0, 1.0])), "integer row numbers"),
    ((np.zeros((2, 12, 3), np.float32), np.array([0])), "integer row numbers"),
    ((np.zeros((2, 12, 3), np.float32), np.array([0, 40])), r"\[0, 40\)"),
])
def test_augment_rejects_bad_input(features, augment, match):
    with pytest.raises(ParameterError, match=match):
        train_autoencoder(features, epochs=1, augment=augment, **FAST)


def test_corrupt_masks_spans_and_adds_noise():
    from audiorep.train import corrupt

    z = torch.ones(64, 50, 20)
    masked = corrupt(z, mask_time=0.3, mask_freq=0.2, generator=torch.Generator().manual_seed(0))
    frames = (masked == 0).all(2).float().mean(1)
    bands = (masked == 0).all(1).float().mean(1)
    assert 0.1 < frames.mean() <= 0.3 and 0.05 < bands.mean() <= 0.2
    assert ((masked == 0) | (masked == 1)).all()
    again = corrupt(z, mask_time=0.3, mask_freq=0.2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(masked, again)
    noisy = corrupt(torch.zeros(200, 50, 20), noise=0.5)
    assert abs(float(noisy.std()) - 0.5) < 0.01
    assert torch.equal(corrupt(z), z)


def test_denoising_training_feeds_the_encoder_a_corrupted_copy_and_scores_the_clean_one(features, monkeypatch):
    seen = []
    original = Seq2SeqAutoencoder.reconstruct_from

    def recording(self, z_in, z):
        seen.append((z_in.detach().clone(), z.detach().clone()))
        return original(self, z_in, z)

    monkeypatch.setattr(Seq2SeqAutoencoder, "reconstruct_from", recording)
    model, history = train_autoencoder(features, seed=0, epochs=2, mask_time=0.25, noise=0.1, **FAST)
    assert seen
    clean = model.scaler(torch.from_numpy(features))  # the scaler is fitted once, before the first batch
    # training batches reach the encoder corrupted; the early-stopping loss is on clean input
    assert sum(not torch.equal(z_in, z) for z_in, z in seen) == 2 * 5  # 36 training clips in batches of 8
    for z_in, z in seen:
        gaps = (z[:, None] - clean[None]).abs().amax(dim=(2, 3)).amin(dim=1)
        assert float(gaps.max()) == 0.0  # every target is a clean training sequence
    with pytest.raises(ParameterError, match="mask_time=1.5"):
        train_autoencoder(features, mask_time=1.5, **FAST)


def test_resume_refuses_other_denoising_settings_and_on_epoch_sees_every_epoch(features, tmp_path):
    ckpt = tmp_path / "ae.ckpt"
    epochs = []
    train_autoencoder(features, seed=0, epochs=2, mask_freq=0.2, checkpoint_path=ckpt,
                      on_epoch=lambda epoch, model, history: epochs.append((epoch, model.training,
                                                                            len(history["val_loss"]))), **FAST)
    assert epochs == [(1, False, 1), (2, False, 2)]
    with pytest.raises(ParameterError, match="mask_freq=0.2 there, 0.0 now"):
        train_autoencoder(features, seed=0, epochs=3, checkpoint_path=ckpt, resume=True, **FAST)
    model, history = train_autoencoder(features, seed=0, epochs=3, mask_freq=0.2, checkpoint_path=ckpt, resume=True,
                                       **FAST)
    assert len(history["train_loss"]) == 3


def test_represent_reads_the_same_encoder_another_way(features):
    model = Seq2SeqAutoencoder(3, units=4, layers=1, cell="gru")
    assert represent(model, features).shape == (40, 4)
    assert represent(model, features, readout="pooled").shape == (40, 12)
    with pytest.raises(ParameterError, match="readout='x'"):
        represent(model, features, readout="x")


def test_two_views_crop_and_mask_each_sequence_differently():
    from audiorep.train import two_views

    z = torch.arange(2 * 50 * 3, dtype=torch.float32).reshape(2, 50, 3) + 1
    a, b = two_views(z, crop=0.6, mask_time=0.0, mask_freq=0.0, generator=torch.Generator().manual_seed(1))
    assert a.shape == b.shape == (2, 30, 3)
    for view in (a, b):
        for i in range(2):  # a contiguous window of the sequence's own frames
            start = int((view[i, 0, 0] - z[i, 0, 0]) // 3)
            torch.testing.assert_close(view[i], z[i, start:start + 30])
    masked, _ = two_views(z, generator=torch.Generator().manual_seed(1))
    assert bool((masked == 0).any())


def test_contrastive_loss_matches_a_numpy_reference():
    from audiorep.train import contrastive_loss

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    both = np.concatenate([a, b])
    both /= np.linalg.norm(both, axis=1, keepdims=True)
    sim = both @ both.T / 0.1
    np.fill_diagonal(sim, -np.inf)
    logp = sim - np.log(np.exp(sim).sum(1, keepdims=True))
    expected = -np.mean([logp[i, (i + 5) % 10] for i in range(10)])
    got = contrastive_loss(torch.tensor(a), torch.tensor(b), temperature=0.1)
    assert abs(float(got) - expected) < 1e-9


def test_contrastive_training_resumes_exactly(features, tmp_path):
    full, history_full = train_autoencoder(features, seed=5, epochs=3, contrastive=0.5,
                                           checkpoint_path=tmp_path / "a.ckpt", **FAST)
    train_autoencoder(features, seed=5, epochs=1, contrastive=0.5, checkpoint_path=tmp_path / "b.ckpt", **FAST)
    assert "head" in torch.load(tmp_path / "b.ckpt", weights_only=True)
    resumed, history = train_autoencoder(features, seed=5, epochs=3, contrastive=0.5,
                                         checkpoint_path=tmp_path / "b.ckpt", resume=True, **FAST)
    _same_state(full, resumed)
    assert history == history_full and all(np.isfinite(history["train_loss"]))
    plain, plain_history = train_autoencoder(features, seed=5, epochs=3, **FAST)
    assert plain_history["train_loss"] != history["train_loss"]  # the term changes what is learnt
    with pytest.raises(ParameterError, match="contrastive=0.5 there, 0.0 now"):
        train_autoencoder(features, seed=5, epochs=4, checkpoint_path=tmp_path / "b.ckpt", resume=True, **FAST)
    with pytest.raises(ParameterError, match="contrastive"):
        train_autoencoder(features, epochs=1, contrastive=-1.0, **FAST)


def test_contrastive_alone_leaves_the_decoder_untouched(features):
    from audiorep.train import seed_everything

    model, history = train_autoencoder(features, seed=3, epochs=3, contrastive=1.0, reconstruction=0.0, **FAST)
    seed_everything(3)
    initial = Seq2SeqAutoencoder(**model.config)
    decoder = {k: v for k, v in model.state_dict().items() if k.startswith("decoder.")}
    assert decoder
    for name, value in decoder.items():  # the reconstruction path takes no step
        torch.testing.assert_close(value, initial.state_dict()[name])
    encoder = [k for k in model.state_dict() if k.startswith("encoder.")]
    assert any(not torch.equal(model.state_dict()[k], initial.state_dict()[k]) for k in encoder)
    assert all(np.isfinite(history["val_loss"])) and history["val_loss"][0] > 0  # held-out contrastive term
    with pytest.raises(ParameterError, match="nothing to learn"):
        train_autoencoder(features, epochs=1, reconstruction=0.0, **FAST)


def test_the_predictive_term_is_the_error_of_predicting_frames_ahead(features):
    from audiorep.train import _predictive_term

    torch.manual_seed(0)
    model = Seq2SeqAutoencoder(3, **CONFIG).eval()  # no dropout: the same outputs twice
    predictor = torch.nn.Linear(model.pooled_size // 3, 3)
    z = torch.from_numpy(features[:4])
    outputs = model.encoder_outputs(z)
    want = np.abs(predictor(outputs[:, :-2]).detach().numpy() - features[:4, 2:]).mean()
    assert abs(float(_predictive_term(model, predictor, z, 2).detach()) - want) < 1e-6
    # a sequence too short to hold a frame ahead gives 0, with every parameter still in the graph
    short = _predictive_term(model, predictor, z[:, :2], 2)
    assert float(short.detach()) == 0.0 and short.requires_grad


def test_predictive_training_alone_trains_the_encoder_resumes_and_stops_on_held_out_clips(features, tmp_path):
    from audiorep.train import seed_everything

    model, history = train_autoencoder(features, seed=3, epochs=4, predictive=1.0, reconstruction=0.0,
                                       predict_ahead=2, checkpoint_path=tmp_path / "a.ckpt", **FAST)
    seed_everything(3)
    initial = Seq2SeqAutoencoder(**model.config)
    for name, value in model.state_dict().items():
        if name.startswith("decoder."):  # the reconstruction path takes no step
            torch.testing.assert_close(value, initial.state_dict()[name])
    assert any(not torch.equal(model.state_dict()[k], initial.state_dict()[k]) for k in model.state_dict()
               if k.startswith("encoder."))
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert all(np.isfinite(history["val_loss"])) and history["val_loss"][-1] < history["val_loss"][0]
    assert "predictor" in torch.load(tmp_path / "a.ckpt", weights_only=True)
    train_autoencoder(features, seed=3, epochs=2, predictive=1.0, reconstruction=0.0, predict_ahead=2,
                      checkpoint_path=tmp_path / "b.ckpt", **FAST)
    resumed, again = train_autoencoder(features, seed=3, epochs=4, predictive=1.0, reconstruction=0.0,
                                       predict_ahead=2, checkpoint_path=tmp_path / "b.ckpt", resume=True, **FAST)
    _same_state(model, resumed)
    assert again == history
    with pytest.raises(ParameterError, match="predict_ahead=2 there, 3 now"):
        train_autoencoder(features, seed=3, epochs=5, predictive=1.0, reconstruction=0.0,
                          checkpoint_path=tmp_path / "b.ckpt", resume=True, **FAST)
    with pytest.raises(ParameterError, match="one-directional encoder"):
        train_autoencoder(features, epochs=1, predictive=1.0,
                          **{**FAST, "config": {**CONFIG, "bidirectional_encoder": True}})
    with pytest.raises(ParameterError, match="predict_ahead"):
        train_autoencoder(features, epochs=1, predictive=1.0, predict_ahead=0, **FAST)
