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


def _throughput(run, x, seconds: float) -> float:
    """Clips per second from the median call time (robust to other load on a shared machine)."""
    for _ in range(2):  # TorchScript's profiling executor optimises on the first calls per shape
        run(x)
    times, start = [], time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - t)
    return len(x) / statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--targets", default="encode,reconstruct")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, input {FRAMES} x {FEATURES}, "
          f"model {_model().config['layers']} x {_model().config['units']} {_model().config['cell']}")
    print(f"{'target':<12}{'path':<13}" + "".join(f"{f'batch {b} clips/s':>20}" for b in BATCHES))
    for target in args.targets.split(","):
        for path in ("eager", "torchscript", "compile"):
            start = time.perf_counter()
            run = _runner(target, path)
            setup = time.perf_counter() - start
            if run is None:
                print(f"{target:<12}{path:<13}{'skipped':>20}")
                continue
            cells = []
            for batch in BATCHES:
                _check_same(target, path, batch)
                cells.append(f"{_throughput(run, _input(batch), args.seconds):>20.1f}")
            print(f"{target:<12}{path:<13}" + "".join(cells) + f"   (setup {setup:.1f} s)")


if __name__ == "__main__":
    main()
