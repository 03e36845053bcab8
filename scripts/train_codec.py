"""Train the codec's autoencoder on ESC-10 folds 1-4 (fold 5 is kept for evaluation).

    python scripts/train_codec.py --data ../shared/data/esc10 --out audiorep/codec_model/default.npz

Repeatable: one ``--seed`` fixes the crops, the noise and the initialisation; the
run uses one CPU thread. Training minimises the mean squared error of the
standardised log-mel reconstruction with additive uniform noise of random width
on the codes (a differentiable stand-in for quantisation at every step size the
codec uses), plus a small penalty on the code energy that keeps uninformative
codes near zero, where they cost almost nothing after entropy coding.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audiorep import codec  # noqa: E402
from audiorep.audio import load  # noqa: E402


def clip_logmels(root, folds):
    mels, names = [], []
    for path in sorted(Path(root).glob("*/*.ogg")):
        if int(path.name[0]) in folds:
            y, _ = load(path, sr=codec.SR)
            mels.append(codec.logmel(y))
            names.append(path.name)
    return mels, names


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--crop", type=int, default=64, help="feature frames per training crop")
    p.add_argument("--latent-dim", type=int, default=64)
    p.add_argument("--channels", type=int, default=160)
    p.add_argument("--stride", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--code-penalty", type=float, default=0.001)
    p.add_argument("--max-noise", type=float, default=0.5,
                   help="widest quantiser step simulated in training (log-uniform down to the finest)")
    p.add_argument("--loud-weight", type=float, default=1.0,
                   help="extra weight of bins in proportion to their linear magnitude (favours loud parts)")
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    start = time.perf_counter()
    train, _ = clip_logmels(args.data, {1, 2, 3, 4})
    held, _ = clip_logmels(args.data, {5})
    print(f"{len(train)} training clips, {len(held)} held-out clips; features in {time.perf_counter() - start:.0f} s",
          flush=True)
    allframes = np.concatenate(train, axis=1)
    model = codec.CodecAutoencoder(n_mels=codec.N_MELS, latent_dim=args.latent_dim, channels=args.channels,
                                   stride=args.stride)
    model.mean.copy_(torch.from_numpy(allframes.mean(axis=1)))
    model.std.copy_(torch.from_numpy(allframes.std(axis=1) + 1e-3))
    std = model.std[:, None]
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    log_lo, log_hi = math.log(codec.entropy.STEP_AT_Q100), math.log(args.max_noise)

    def crop():
        m = train[rng.integers(len(train))]
        t = rng.integers(0, m.shape[1] - args.crop + 1)
        return m[:, t: t + args.crop]

    n_mels = codec.N_MELS
    bands = np.arange(n_mels)[:, None]

    def batch():
        # 320 clips are few: without augmentation the model learns ESC-10's spectra, not spectra in general.
        xs = []
        for _ in range(args.batch_size):
            x = crop()
            if rng.random() < 0.5:  # a mixture of two sounds (power sum)
                x = 10.0 * np.log10(10.0 ** (x / 10.0) + 10.0 ** ((crop() + rng.uniform(-10, 10)) / 10.0))
            shift = int(rng.integers(-8, 9))  # move the spectrum up or down a few mel bands
            if shift > 0:
                x = np.concatenate([np.repeat(x[:1], shift, axis=0), x[:-shift]])
            elif shift < 0:
                x = np.concatenate([x[-shift:], np.repeat(x[-1:], -shift, axis=0)])
            if rng.random() < 0.5:  # a range of bands in digital silence, as band-limited sources have
                lo = int(rng.integers(0, n_mels))
                hi = int(rng.integers(lo + 1, n_mels + 1))
                x = x.copy()
                x[lo:hi] = codec.DB_FLOOR
            tilt = rng.uniform(-15.0, 15.0) * (bands / (n_mels - 1) - 0.5)  # brighter or duller
            gain = rng.uniform(-20.0, 20.0)  # level changes
            xs.append(np.maximum(x + tilt + gain, codec.DB_FLOOR).astype(np.float32))
        return torch.from_numpy(np.stack(xs))

    model.train()
    for step in range(1, args.steps + 1):
        x = batch()
        z = model.encode(x)
        width = torch.exp(torch.empty(x.shape[0], 1, 1).uniform_(log_lo, log_hi))
        noisy = z + (torch.rand_like(z) - 0.5) * width
        recon = model.decode(noisy)
        mse = (((recon - x) / std) ** 2).mean()
        # Plain dB error treats quiet and loud bands alike; weighting each bin by its share of the crop's
        # linear magnitude (computed from the target, so it cannot run away) puts weight where the energy is.
        mag = torch.pow(10.0, (x - x.amax(dim=(1, 2), keepdim=True)) / 20.0)
        weight = 1.0 + args.loud_weight * mag / mag.mean(dim=(1, 2), keepdim=True)
        loud = (weight * ((recon - x) / std) ** 2).mean() / (1.0 + args.loud_weight)
        loss = loud + args.code_penalty * (z ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0 or step == 1:
            rms = z.pow(2).mean().sqrt().item()
            print(f"step {step}: mse {mse.item():.4f} weighted {loud.item():.4f} code rms {rms:.3f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)

    model.eval()
    with torch.no_grad():
        for q in (0, 50, 100):
            s = codec.quality_to_step(q)
            errs = []
            for m in held:
                x = torch.from_numpy(m[:, : m.shape[1] // args.stride * args.stride])[None]
                z = model.encode(x)
                r = model.decode(torch.round(z / s) * s)
                errs.append(((r - x) ** 2).mean().item())
            print(f"held-out fold 5, quality {q} (step {s:.3f}): rms error {math.sqrt(np.mean(errs)):.2f} dB",
                  flush=True)
    info = {"data": "ESC-10 folds 1-4", "seed": args.seed, "steps": args.steps, "batch_size": args.batch_size,
            "crop": args.crop, "lr": args.lr, "code_penalty": args.code_penalty, "max_noise": args.max_noise,
            "augmentation": "mix 0.5, shift +-8 bands, silent band range 0.5, tilt +-7.5 dB, gain +-20 dB",
            "loud_weight": args.loud_weight, "latent_dim": args.latent_dim, "channels": args.channels,
            "seconds": round(time.perf_counter() - start, 1)}
    codec.save_codec_model(args.out, model, info=info)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.2f} MB) in {info['seconds']} s; "
          f"{json.dumps(info)}")


if __name__ == "__main__":
    main()
