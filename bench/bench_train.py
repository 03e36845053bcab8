"""Autoencoder training: audiorep's epoch against a minimal hand-written PyTorch loop.

Same model (the recommended recipe's GRU, ``Recipe.default()``, pooled readout), same data
(320 clips x 125 frames x 128 features), same batches (64), same optimiser (Adam, gradient clipping) and one
thread each. audiorep's epoch also holds out 10 % of the clips and scores them, keeps the best
weights and writes a resumable checkpoint; the minimal loop trains on the same 90 % and does
nothing else, so the ratio is what that bookkeeping costs.

    python -m pytest bench/bench_train.py --benchmark-group-by=group --benchmark-json=train.json
    python bench/ratios.py train.json --ours audiorep
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiorep.models import Seq2SeqAutoencoder
from audiorep.pipeline import Recipe
from audiorep.train import train_autoencoder

CLIPS, FRAMES, FEATURES, BATCH, EPOCHS = 320, 125, 128, 64, 2


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).standard_normal((CLIPS, FRAMES, FEATURES)).astype(np.float32)


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config():
    return {**Recipe.default().autoencoder, "n_features": FEATURES}


def minimal_loop(x: np.ndarray) -> float:
    torch.manual_seed(0)
    rows = x[np.sort(np.random.default_rng(0).permutation(len(x))[round(0.1 * len(x)):])]
    model = Seq2SeqAutoencoder(**_config())
    model.scaler.fit(rows, per_dimension=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = torch.from_numpy(rows)
    loss = torch.zeros(())
    for _ in range(EPOCHS):
        model.train()
        for idx in torch.randperm(len(data)).split(BATCH):
            optimizer.zero_grad(set_to_none=True)
            z = model.scaler(data[idx])
            loss = torch.nn.functional.mse_loss(model.reconstruct_from(z, z), z)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
    return loss.item()


@pytest.mark.benchmark(group="autoencoder epochs (the recipe's GRU, 320 x 125 x 128)")
@pytest.mark.parametrize("impl", ["audiorep", "minimal loop"])
def test_epochs(benchmark, data, tmp_path, impl):
    benchmark.extra_info.update(impl=impl, threads=1, epochs=EPOCHS)
    if impl == "audiorep":
        def run():
            model, history = train_autoencoder(data, config=_config(), epochs=EPOCHS, batch_size=BATCH,
                                               patience=EPOCHS, progress=False, checkpoint_path=tmp_path / "ae.ckpt")
            return history["train_loss"][-1]
    else:
        def run():
            return minimal_loop(data)
    loss = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0)
    assert np.isfinite(loss)
