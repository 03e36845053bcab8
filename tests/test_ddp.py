"""Autoencoder training under torchrun: two processes follow the one-process loss curve, and resume."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from audiorep import ParameterError, pipeline
from audiorep.store import write_store
from audiorep.train import load_model, train_autoencoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Per-epoch losses of 2 processes against 1 with the same global batch. The two add the same
# terms in another order (each process averages its half of a batch; gloo sums the halves), so
# they differ by float32 rounding: about 1e-7 relative per step, compounding through Adam.
RTOL = 1e-5
OPTIONS = ["--batch-size", "8", "--units", "8", "--layers", "1", "--lr", "3e-3", "--patience", "50", "--seed", "5",
           "--no-progress"]


@pytest.fixture
def store(tmp_path, rng):
    # 20 sequences, 2 held out for early stopping: 18 training rows split evenly between 2 processes.
    t = np.linspace(0, 1, 10, dtype=np.float32)
    freq = rng.uniform(1, 3, (20, 1, 1))
    x = np.sin(2 * np.pi * freq * t[None, :, None] * np.arange(1, 5)) + 0.1 * rng.standard_normal((20, 10, 4))
    names = [f"1-{i:05d}-A.wav" for i in range(20)]
    return write_store(tmp_path / "tiny.parquet", dict(filename=names, label_nominal=["tone"] * 20,
                                                       label_numeric=[0] * 20, cv_folds=[(1,)] * 20, fold=[1] * 20),
                       features=list(x.astype(np.float32)), label_map={0: "tone"}, params={"kind": "demo"})


def _launcher_env() -> dict:
    """The environment of a torchrun launch: this audiorep importable, one thread, no stale rank settings."""
    import audiorep

    package_root = str(Path(audiorep.__file__).resolve().parents[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def _torchrun(store: Path, output: Path, *args: str) -> subprocess.CompletedProcess:
    env = _launcher_env()
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "audiorep", "train", str(store), "-o", str(output), *OPTIONS, *args],
                          capture_output=True, text=True, env=env, timeout=300, cwd=output.parent)


def test_two_processes_follow_the_one_process_loss_curve_and_resume(store, tmp_path):
    reference = pipeline.train(store, tmp_path / "one.pt", config={"units": 8, "layers": 1}, seed=5, epochs=3,
                               batch_size=8, lr=3e-3, patience=50)
    output = tmp_path / "two.pt"
    first = _torchrun(store, output, "--epochs", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    # Rank 0 alone reports and writes; the checkpoint holds both ranks' random states.
    assert first.stdout.count("trained on 20 sequences") == 1, first.stdout
    ckpt = torch.load(f"{output}.ckpt", weights_only=True)
    assert ckpt["epoch"] == 2 and len(ckpt["rng_ranks"]) == 2
    for key in ("train_loss", "val_loss"):
        np.testing.assert_allclose(ckpt["history"][key], reference.history[key][:2], rtol=RTOL, err_msg=key)

    again = _torchrun(store, output, "--epochs", "3", "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    history = torch.load(f"{output}.ckpt", weights_only=True)["history"]
    for key in ("train_loss", "val_loss"):
        np.testing.assert_allclose(history[key], reference.history[key], rtol=RTOL, err_msg=key)
    assert history["train_loss"][-1] < history["train_loss"][0]
    two, one = load_model(output)[0].state_dict(), load_model(tmp_path / "one.pt")[0].state_dict()
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5, msg=name)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_two_nodes_meeting_at_a_rendezvous_address_train_as_one_job(store, tmp_path):
    """Multi-node torchrun, both "nodes" on this machine: one process each, joined through the
    rendezvous address of node 0, as two machines would be."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = _launcher_env()
    output = tmp_path / "nodes.pt"
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--node_rank={rank}",
                               "--nproc_per_node=1", "--master_addr=127.0.0.1", f"--master_port={port}",
                               "-m", "audiorep", "train", str(store), "-o", str(output), *OPTIONS, "--epochs", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
             for rank in (0, 1)]
    results = [node.communicate(timeout=300) for node in nodes]
    for node, (out, err) in zip(nodes, results):
        assert node.returncode == 0, err[-3000:]
    assert results[0][0].count("trained on 20 sequences") == 1 and "trained on" not in results[1][0]
    reference = pipeline.train(store, tmp_path / "one.pt", config={"units": 8, "layers": 1}, seed=5, epochs=2,
                               batch_size=8, lr=3e-3, patience=50)
    history = torch.load(f"{output}.ckpt", weights_only=True)["history"]
    for key in ("train_loss", "val_loss"):
        np.testing.assert_allclose(history[key], reference.history[key], rtol=RTOL, err_msg=key)


def test_distributed_training_outside_torchrun_says_how_to_start_it(monkeypatch, rng):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    with pytest.raises(ParameterError, match="torchrun --nproc_per_node=N"):
        train_autoencoder(x, config={"units": 4, "layers": 1}, epochs=1, progress=False, distributed=True)


@pytest.mark.parametrize("n", [18, 19])
def test_the_ranks_batches_together_are_the_one_process_batches(n):
    from audiorep.train import _batches

    one = _batches(n, 8, seed=5, epoch=3)
    halves = [_batches(n, 4, seed=5, epoch=3, rank=r, world=2) for r in (0, 1)]
    assert len(halves[0]) == len(halves[1]) == len(one)
    together = [sorted(a + b) for a, b in zip(*halves)]
    if n % 2 == 0:
        assert together == [sorted(batch) for batch in one]
    else:  # one row is drawn twice so that both ranks get as many rows
        assert sorted(sum(together, [])) == sorted(list(range(n)) + [one[0][0]])
    assert _batches(n, 8, seed=5, epoch=4) != one  # each epoch is shuffled anew


def test_every_parameter_takes_part_in_every_step_under_ddp():
    # DDP with a static graph needs the same parameters in every step; a batch of one has no
    # contrastive term, so the projection head joins with a zero gradient instead.
    from audiorep.models import Seq2SeqAutoencoder
    from audiorep.train import _ProjectionHead, _TrainingLoss

    model = Seq2SeqAutoencoder(3, units=4, layers=1)
    head = _ProjectionHead(3 * 4, out=8)
    x = torch.randn(1, 6, 3)
    for every_parameter in (True, False):
        step = _TrainingLoss(model, head, 0.5, every_parameter=every_parameter)
        step.zero_grad(set_to_none=True)
        step(x, None, torch.Generator().manual_seed(0)).backward()
        grads = [p.grad for p in head.parameters()]
        if every_parameter:
            assert all(g is not None and not g.any() for g in grads)
        else:
            assert all(g is None for g in grads)
    step.zero_grad(set_to_none=True)
    step(torch.randn(4, 6, 3), None, torch.Generator().manual_seed(0)).backward()
    assert all(p.grad is not None and p.grad.any() for p in head.parameters())
