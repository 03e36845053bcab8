"""Autoencoder training: audiorep's epoch against a minimal hand-written PyTorch loop.

Same model (the recommended recipe's GRU, ``Recipe.default()``, pooled readout), same data
(320 clips x 125 frames x 128 features), same batches (64), same optimiser (Adam, gradient clipping) and one
thread each. audiorep's epoch also holds out 10 % of the clips and scores them, keeps the best
weights and writes a resumable checkpoint; the minimal loop trains on the same 90 % and does
nothing else, so the ratio is what that bookkeeping costs.

    python -m pytest bench/bench_train.py --benchmark-group-by=group --benchmark-json=train.json
    python bench/ratios.py train.json --ours audiorep

On a shared machine whose speed drifts over minutes, the paired form is steadier: each round
runs both, back to back in alternating order, and the ratio is taken within the round:

    python bench/bench_train.py --rounds 5 [--warmup 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

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


def audiorep_epochs(x: np.ndarray, checkpoint: Path) -> float:
    model, history = train_autoencoder(x, config=_config(), epochs=EPOCHS, batch_size=BATCH, patience=EPOCHS,
                                       progress=False, checkpoint_path=checkpoint)
    return history["train_loss"][-1]


@pytest.mark.benchmark(group="autoencoder epochs (the recipe's GRU, 320 x 125 x 128)")
@pytest.mark.parametrize("impl", ["audiorep", "minimal loop"])
def test_epochs(benchmark, data, tmp_path, impl):
    benchmark.extra_info.update(impl=impl, threads=1, epochs=EPOCHS)
    if impl == "audiorep":
        def run():
            return audiorep_epochs(data, tmp_path / "ae.ckpt")
    else:
        def run():
            return minimal_loop(data)
    loss = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0)
    assert np.isfinite(loss)


def paired(rounds: int, warmup: int = 1) -> list[tuple[float, float]]:
    """(audiorep seconds, minimal-loop seconds) per round, the two run back to back, order alternating;
    the first ``warmup`` rounds (imports, first allocations) are run but not kept."""
    torch.set_num_threads(1)
    x = np.random.default_rng(0).standard_normal((CLIPS, FRAMES, FEATURES)).astype(np.float32)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"audiorep": lambda: audiorep_epochs(x, Path(tmp) / "ae.ckpt"), "minimal": lambda: minimal_loop(x)}
        for r in range(warmup + rounds):
            took = {}
            for name in (["audiorep", "minimal"] if r % 2 == 0 else ["minimal", "audiorep"]):
                start = time.process_time()
                runs[name]()
                took[name] = time.process_time() - start
            if r < warmup:
                continue
            times.append((took["audiorep"], took["minimal"]))
            print(f"round {r + 1 - warmup}: audiorep {took['audiorep']:.2f} s, minimal loop {took['minimal']:.2f} s, "
                  f"ratio {took['minimal'] / took['audiorep']:.3f}", flush=True)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="paired rounds: minimal-loop time / audiorep time")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="rounds run first and not counted")
    args = parser.parse_args(argv)
    ratios = sorted(m / a for a, m in paired(args.rounds, args.warmup))
    print(f"median ratio over {args.rounds} rounds: {float(np.median(ratios)):.3f} "
          f"(range {ratios[0]:.3f}-{ratios[-1]:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
