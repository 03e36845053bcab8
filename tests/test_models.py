"""The autoencoder and classifier modules: shapes, gradients, scripting, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiorep import ParameterError
from audiorep.models import MLPClassifier, Seq2SeqAutoencoder, Standardizer


pytestmark = pytest.mark.usefixtures("one_torch_thread")


JIT_SCRIPT_DEPRECATED = "ignore:`torch\\.jit\\.script` is deprecated:DeprecationWarning"

CONFIGS = [
    dict(cell="lstm"),
    dict(cell="gru"),
    dict(cell="lstm", bidirectional_encoder=True),
    dict(cell="gru", bidirectional_encoder=True, bidirectional_decoder=True, teacher_forcing=1.0),
    dict(cell="lstm", teacher_forcing=0.5, dropout=0.3),
    dict(cell="lstm", reverse_targets=False, representation_size=7),
]


def _x(rng, batch=3, time=9, features=5):
    return torch.from_numpy(rng.standard_normal((batch, time, features)).astype(np.float32))


@pytest.mark.parametrize("config", CONFIGS)
def test_shapes_and_gradients(rng, config):
    torch.manual_seed(0)
    model = Seq2SeqAutoencoder(5, units=6, layers=2, **config)
    x = _x(rng)
    states = (2 if config["cell"] == "lstm" else 1) * 2 * (2 if config.get("bidirectional_encoder") else 1) * 6
    size = config.get("representation_size") or states
    assert model.representation_size == size
    z = model.encode(x)
    assert z.shape == (3, size)
    assert z.detach().abs().max().item() <= 1.0  # tanh
    y = model(x)
    assert y.shape == x.shape
    ((y - x) ** 2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_representation_is_tanh_of_concatenated_final_states(rng):
    torch.manual_seed(1)
    model = Seq2SeqAutoencoder(5, units=4, layers=2).eval()
    x = _x(rng)
    _, (h, c) = model.encoder.rnn(x)
    states = torch.cat([h.permute(1, 0, 2).reshape(3, -1), c.permute(1, 0, 2).reshape(3, -1)], dim=1)
    expected = torch.tanh(states @ model.to_representation.weight.T + model.to_representation.bias)
    torch.testing.assert_close(model.encode(x), expected)


def test_free_running_forward_equals_decode_and_reversal_only_flips(rng):
    torch.manual_seed(2)
    model = Seq2SeqAutoencoder(5, units=6, layers=2, reverse_targets=True).eval()
    forward_order = Seq2SeqAutoencoder(5, units=6, layers=2, reverse_targets=False).eval()
    forward_order.load_state_dict(model.state_dict())
    x = _x(rng, time=11)
    with torch.no_grad():
        y = model(x)
        torch.testing.assert_close(y, model.decode(model.encode(x), 11))
        # Without teacher forcing the decoded frames do not depend on the target order.
        torch.testing.assert_close(y, forward_order(x).flip(1))


def test_teacher_forcing_feeds_previous_target_frame(rng):
    # With full teacher forcing and no reversal, output frame t must not depend on targets t, t+1, ...
    # except through the representation; freeze the representation by perturbing after encoding.
    torch.manual_seed(3)
    model = Seq2SeqAutoencoder(5, units=6, layers=1, reverse_targets=False, teacher_forcing=1.0).eval()
    x = _x(rng, time=8)
    z = model.scaler(x)
    rep = model._encode_standardized(z)
    base = model._decode(rep, z, 8)
    changed = z.clone()
    changed[:, 5] += 1.0
    out = model._decode(rep, changed, 8)
    torch.testing.assert_close(out[:, :6], base[:, :6])
    assert (out[:, 6] - base[:, 6]).abs().max() > 1e-4


def test_eval_mode_is_deterministic_training_mode_teacher_forcing_is_random(rng):
    model = Seq2SeqAutoencoder(5, units=6, layers=1, teacher_forcing=0.5)
    x = _x(rng)
    model.eval()
    torch.testing.assert_close(model(x), model(x))
    model.train()
    torch.manual_seed(7)
    a = model(x)
    torch.manual_seed(7)
    torch.testing.assert_close(model(x), a)
    outs = {tuple(model(x).detach().flatten()[:20].tolist()) for _ in range(6)}
    assert len(outs) > 1


@pytest.mark.filterwarnings(JIT_SCRIPT_DEPRECATED)
@pytest.mark.parametrize("config", CONFIGS)
def test_scripted_equals_eager(rng, config):
    torch.manual_seed(4)
    model = Seq2SeqAutoencoder(5, units=6, layers=2, **config)
    model.scaler.fit(rng.standard_normal((50, 5)) * 3 + 1)
    model.eval()
    scripted = torch.jit.script(model)
    for time in (4, 13):
        x = _x(rng, time=time)
        with torch.no_grad():
            torch.testing.assert_close(scripted(x), model(x), rtol=0, atol=1e-6)
            torch.testing.assert_close(scripted.encode(x), model.encode(x), rtol=0, atol=1e-6)
            if not model.full_teacher_forcing:
                z = model.encode(x)
                torch.testing.assert_close(scripted.decode(z, 6), model.decode(z, 6), rtol=0, atol=1e-6)


def test_tiny_autoencoder_overfits_one_batch(rng):
    torch.manual_seed(5)
    model = Seq2SeqAutoencoder(4, units=32, layers=1)
    t = np.linspace(0, 2 * np.pi, 10, dtype=np.float32)
    phase = rng.uniform(0, 2 * np.pi, (8, 1, 1)).astype(np.float32)
    x = torch.from_numpy(np.sin(t[None, :, None] * np.arange(1, 5, dtype=np.float32)[None, None, :] + phase))
    model.scaler.fit(x.numpy())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(200):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model.reconstruct_standardized(x), model.scaler(x))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10


def test_standardizer_matches_numpy(rng):
    data = rng.standard_normal((40, 6, 3)) * [1.0, 5.0, 0.0] + [0.0, -2.0, 7.0]
    s = Standardizer(3).fit(data)
    flat = data.reshape(-1, 3)
    np.testing.assert_allclose(s.mean.numpy(), flat.mean(0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(s.std.numpy(), [flat[:, 0].std(), flat[:, 1].std(), 1.0], rtol=1e-6)
    z = s(torch.from_numpy(data.astype(np.float32)))
    np.testing.assert_allclose(z.reshape(-1, 3).mean(0).numpy(), [0, 0, 0], atol=1e-5)
    torch.testing.assert_close(s.inverse(z), torch.from_numpy(data.astype(np.float32)), rtol=1e-5, atol=1e-5)
    with pytest.raises(ParameterError, match="zero rows"):
        Standardizer(3).fit(np.zeros((0, 3)))


def test_mlp_shapes_and_structure():
    mlp = MLPClassifier(12, 4, hidden=(10, 8), dropout=0.25)
    assert mlp(torch.zeros(6, 12)).shape == (6, 4)
    kinds = [type(m).__name__ for m in mlp.layers]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert mlp.layers[2].p == 0.25
    linear = MLPClassifier(3, 2, hidden=())
    assert [type(m).__name__ for m in linear.layers] == ["Linear"]
    mlp.eval()
    x = torch.randn(5, 12)
    torch.testing.assert_close(mlp(x), mlp(x))


@pytest.mark.parametrize("kwargs,match", [
    (dict(cell="rnn"), "cell='rnn'"),
    (dict(units=0), "units=0"),
    (dict(layers=1.5), "layers=1.5"),
    (dict(dropout=1.0), "dropout=1.0"),
    (dict(teacher_forcing=1.5), "teacher_forcing=1.5"),
    (dict(bidirectional_decoder=True), "teacher_forcing=1.0"),
    (dict(representation_size=0), "representation_size=0"),
])
def test_autoencoder_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        Seq2SeqAutoencoder(5, **kwargs)
    with pytest.raises(ParameterError, match="n_features=0"):
        Seq2SeqAutoencoder(0)


def test_autoencoder_rejects_bad_input():
    model = Seq2SeqAutoencoder(5, units=4, layers=1)
    with pytest.raises(ValueError, match="3 dimensions|shape"):
        model(torch.zeros(4, 5))
    with pytest.raises(ValueError, match="expected 5 features"):
        model.encode(torch.zeros(2, 3, 6))
    with pytest.raises(ValueError, match="at least one time step"):
        model.encode(torch.zeros(2, 0, 5))
    with pytest.raises(ValueError, match="representations of shape"):
        model.decode(torch.zeros(2, 3), 4)
    tf = Seq2SeqAutoencoder(5, units=4, layers=1, teacher_forcing=1.0)
    with pytest.raises(ValueError, match="cannot decode without"):
        tf.decode(torch.zeros(2, tf.representation_size), 4)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_inputs=0, n_classes=2), "n_inputs=0"),
    (dict(n_inputs=3, n_classes=0), "n_classes=0"),
    (dict(n_inputs=3, n_classes=2, hidden=(4, 0)), "hidden"),
    (dict(n_inputs=3, n_classes=2, dropout=-0.1), "dropout"),
])
def test_mlp_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        MLPClassifier(**kwargs)


def test_pooled_readout_is_mean_std_max_of_the_encoder_outputs(rng):
    torch.manual_seed(0)
    x = torch.from_numpy(rng.standard_normal((3, 9, 5)).astype(np.float32))
    for cell in ("lstm", "gru"):
        model = Seq2SeqAutoencoder(5, units=6, layers=2, cell=cell, readout="pooled").eval()
        outputs, _ = model.encoder.rnn(model.scaler(x))  # the top layer's output at every step
        expected = torch.cat([outputs.mean(1), outputs.std(1, unbiased=False), outputs.amax(1)], 1)
        torch.testing.assert_close(model.encode(x), expected)
        assert model.embedding_size == 18 and model.representation_size == (24 if cell == "lstm" else 12)
        both = model.encode_as(x, "pooled+final")
        torch.testing.assert_close(both, torch.cat([expected, model.encode_as(x, "final")], 1))
        # the readout changes nothing else: same weights, same reconstruction as the auDeep readout
        final = Seq2SeqAutoencoder(5, units=6, layers=2, cell=cell)
        final.load_state_dict(model.state_dict())
        torch.testing.assert_close(final.eval()(x), model(x))


@pytest.mark.filterwarnings(JIT_SCRIPT_DEPRECATED)
def test_conv_front_end_keeps_one_step_per_frame_and_scripts(rng):
    torch.manual_seed(0)
    model = Seq2SeqAutoencoder(16, units=8, layers=1, cell="gru", conv_channels=[4, 6], readout="pooled+final")
    model.eval()
    x = torch.from_numpy(rng.standard_normal((2, 11, 16)).astype(np.float32))
    front = model.front_end(model.scaler(x))
    assert front.shape == (2, 11, 8) and (front >= 0).all()
    assert model.encode(x).shape == (2, model.embedding_size) == (2, 3 * 8 + 8)
    scripted = torch.jit.script(model)
    torch.testing.assert_close(scripted.encode(x), model.encode(x))
    torch.testing.assert_close(scripted(x), model(x))
    assert model.config["conv_channels"] == [4, 6] and model.config["readout"] == "pooled+final"
    # the front end's weights learn: gradients reach the first convolution
    model.train()
    model(x).pow(2).mean().backward()
    assert model.front_end.blocks[0].weight.grad.abs().sum() > 0


@pytest.mark.filterwarnings(JIT_SCRIPT_DEPRECATED)
def test_a_bottleneck_from_the_pooled_outputs_trains_what_the_pooled_readout_returns(rng):
    torch.manual_seed(0)
    x = torch.from_numpy(rng.standard_normal((3, 9, 5)).astype(np.float32))
    for cell in ("lstm", "gru"):
        model = Seq2SeqAutoencoder(5, units=6, layers=2, cell=cell, readout="pooled", bottleneck_from="pooled")
        model.eval()
        outputs, _ = model.encoder.rnn(model.scaler(x))
        pooled = torch.cat([outputs.mean(1), outputs.std(1, unbiased=False), outputs.amax(1)], 1)
        torch.testing.assert_close(model.encode(x), pooled)
        # the bottleneck reads the pooled values (a std of constant outputs still has a gradient)
        expected = torch.tanh(model.to_representation(torch.cat([outputs.mean(1), (
            outputs.var(1, unbiased=False) + 1e-6).sqrt(), outputs.amax(1)], 1)))
        torch.testing.assert_close(model.encode_as(x, "final"), expected)
        assert model.to_representation.in_features == 18 and model.config["bottleneck_from"] == "pooled"
        again = Seq2SeqAutoencoder(**model.config)
        again.load_state_dict(model.state_dict())
        torch.testing.assert_close(again.eval()(x), model(x))
        scripted = torch.jit.script(model)
        torch.testing.assert_close(scripted(x), model(x))
        # reconstruction's gradient reaches the encoder through the pooled values alone
        model.train()
        model.zero_grad()
        model(x).pow(2).mean().backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        assert model.encoder.rnn.weight_ih_l1.grad.abs().sum() > 0
    still = Seq2SeqAutoencoder(5, units=4, layers=1)
    assert "bottleneck_from" not in still.config  # models from before the setting keep their config
    with pytest.raises(ParameterError, match="bottleneck_from='mean'"):
        Seq2SeqAutoencoder(5, bottleneck_from="mean")


def test_models_from_before_the_readout_setting_load_unchanged():
    old = Seq2SeqAutoencoder(5, units=4, layers=1)
    assert "readout" not in old.config and "conv_channels" not in old.config
    again = Seq2SeqAutoencoder(**old.config)
    again.load_state_dict(old.state_dict())
    assert again.readout == "final" and again.embedding_size == again.representation_size == 8
    with pytest.raises(ParameterError, match="readout='mean'"):
        Seq2SeqAutoencoder(5, readout="mean")
    with pytest.raises(ParameterError, match="conv_channels"):
        Seq2SeqAutoencoder(5, conv_channels=[0])
