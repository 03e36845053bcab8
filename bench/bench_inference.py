"""Inference throughput of the autoencoder: eager vs TorchScript vs torch.compile, on the CPU.

Same model (2 x 256 LSTM, the default), same input (125 frames x 128 features) for every path.

    python -m pytest bench/bench_inference.py --benchmark-group-by=group
    PYTHONPATH=. python bench/bench_inference.py --seconds 2    # a plain clips/s table (source tree)
"""

from __future__ import annotations

import argparse
import copy
import functools
import statistics
import time
import warnings

import pytest
import torch

from audiorep.export import script
from audiorep.models import Seq2SeqAutoencoder

FRAMES, FEATURES = 125, 128
BATCHES = (1, 64)


class _Encoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.encode(x)


@functools.lru_cache(maxsize=None)
def _model() -> Seq2SeqAutoencoder:
    torch.manual_seed(0)
    return Seq2SeqAutoencoder(FEATURES).eval()


def _input(batch: int) -> torch.Tensor:
    return torch.randn(batch, FRAMES, FEATURES, generator=torch.Generator().manual_seed(batch))


@functools.lru_cache(maxsize=None)
def _runner(target: str, path: str):
    """A no-grad callable for ``target`` (encode / reconstruct) on ``path``, or None if unavailable."""
    model = _model()
    module = _Encoder(model) if target == "encode" else model
    if path == "eager":
        fn = module
    elif path == "torchscript":
        fn = script(module)
    elif path == "compile":
        if target != "encode":
            # torch.compile unrolls the 125-step decoding loop; compiling that takes minutes.
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fn = torch.compile(copy.deepcopy(module), dynamic=False)
                with torch.no_grad():
                    for batch in BATCHES:
                        fn(_input(batch))
        except Exception as exc:  # no compiler toolchain, unsupported op, ...
            print(f"torch.compile unavailable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            return None
    else:
        raise ValueError(path)

    def run(x):
        with torch.no_grad():
            return fn(x)

    return run


def _check_same(target: str, path: str, batch: int) -> None:
    x = _input(batch)
    expected = _runner(target, "eager")(x)
    torch.testing.assert_close(_runner(target, path)(x), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("path", ["eager", "torchscript", "compile"])
@pytest.mark.parametrize("target", ["encode", "reconstruct"])
def test_inference(benchmark, target, path, batch):
    run = _runner(target, path)
    if run is None:
        pytest.skip(f"torch.compile is not used for {target}")
    _check_same(target, path, batch)
    benchmark.group = f"{target} batch={batch}"
    benchmark.extra_info["clips"] = batch
    x = _input(batch)
    benchmark.pedantic(run, args=(x,), rounds=5 if batch == 1 or target == "encode" else 2, warmup_rounds=1)
    benchmark.extra_info["clips_per_s"] = batch / benchmark.stats.stats.median


def _interleaved_clips_per_s(runs: dict, x: torch.Tensor, seconds: float) -> dict:
    """Clips/s per path from median call times, calling the paths in turn.

    Round-robin calls spread any outside load over all paths alike, so their ratios hold on a
    shared machine even when the absolute figures wobble.
    """
    for run in runs.values():
        for _ in range(2):  # TorchScript's profiling executor optimises on the first calls per shape
            run(x)
    times = {path: [] for path in runs}
    start = time.perf_counter()
    while min(len(t) for t in times.values()) < 3 or time.perf_counter() - start < seconds * len(runs):
        for path, run in runs.items():
            t = time.perf_counter()
            run(x)
            times[path].append(time.perf_counter() - t)
    return {path: len(x) / statistics.median(t) for path, t in times.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per path and measurement")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--targets", default="encode,reconstruct")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = _model().config
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, input {FRAMES} x {FEATURES}, "
          f"model {config['layers']} x {config['units']} {config['cell']}")
    print(f"{'target':<12}{'path':<13}" + "".join(f"{f'batch {b} clips/s':>20}" for b in BATCHES) + "   setup")
    for target in args.targets.split(","):
        runs, setup = {}, {}
        for path in ("eager", "torchscript", "compile"):
            start = time.perf_counter()
            run = _runner(target, path)
            setup[path] = time.perf_counter() - start
            if run is not None:
                runs[path] = run
        table = {}
        for batch in BATCHES:
            for path in runs:
                _check_same(target, path, batch)
            table[batch] = _interleaved_clips_per_s(runs, _input(batch), args.seconds)
        for path in ("eager", "torchscript", "compile"):
            if path not in runs:
                print(f"{target:<12}{path:<13}{'skipped':>20}")
                continue
            cells = "".join(f"{table[b][path]:>20.1f}" for b in BATCHES)
            print(f"{target:<12}{path:<13}{cells}   {setup[path]:.1f} s")


if __name__ == "__main__":
    main()
