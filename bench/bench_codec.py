"""Rate-distortion benchmark of the learned codec against Opus and a plain log-mel quantiser, on ESC-10 fold 5.

    python bench/bench_codec.py --data ../shared/data/esc10 [--clips 80] [--out docs]

Every clip is resampled to 16 kHz mono; that signal is the reference for every
codec. Measures, averaged over clips:

* real bitrate: file bytes x 8 / duration (container and header included);
* LSD: log-spectral distance in dB, per frame the RMS over the 257 bins of a
  512-point, hop-256 power spectrogram of the dB difference, averaged over frames,
  both spectra floored 80 dB below the reference's peak (so silence is not scored
  by how many decibels below audibility it lands);
* mel SNR: 10 log10(sum M^2 / sum (M - M_hat)^2) over 64-band mel magnitude spectrograms;
* SI-SDR: scale-invariant signal-to-distortion ratio of the waveform, in dB.

Systems: ``arep`` (this codec, by quality setting), ``opus`` (libopus through
libsndfile's Ogg/Opus writer; libsndfile maps ``compression_level`` c onto a
nominal bitrate of about 256 - 250 c kbit/s), and ``mel-q`` (the same log-mel
view quantised directly in dB steps, time-differenced, entropy-coded with the
same coder and phase-recovered with the same Griffin-Lim, with the same 52-byte
header; ``mel-q/4`` first averages blocks of 4 frames, the codec's own time
downsampling): what the learned transform adds over quantising the features.
Speed is the real-time factor (processing seconds per audio second) on one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audiorep import codec, dsp  # noqa: E402
from audiorep.codec import bitstream, entropy, synthesis  # noqa: E402
from audiorep.audio import load  # noqa: E402

SR = codec.SR


# ---------------------------------------------------------------- metrics

def _power_db(y):
    return 10 * np.log10(np.maximum(synthesis.power_spectrogram(y, 512, 256), 1e-10))


def lsd(ref, est):
    a, b = _power_db(ref), _power_db(est)
    floor = a.max() - 80.0
    a, b = np.maximum(a, floor), np.maximum(b, floor)
    return float(np.mean(np.sqrt(np.mean((a - b) ** 2, axis=1))))


def mel_snr(ref, est):
    a = dsp.melspectrogram(ref.astype(np.float64), SR, n_fft=512, hop_length=256, n_mels=64, power=1.0, log=False)
    b = dsp.melspectrogram(est.astype(np.float64), SR, n_fft=512, hop_length=256, n_mels=64, power=1.0, log=False)
    return float(10 * np.log10(np.sum(a ** 2) / max(np.sum((a - b) ** 2), 1e-20)))


def si_sdr(ref, est):
    ref = ref.astype(np.float64) - ref.mean()
    est = est.astype(np.float64) - est.mean()
    target = (est @ ref) / max(ref @ ref, 1e-20) * ref
    noise = est - target
    return float(10 * np.log10(max(target @ target, 1e-20) / max(noise @ noise, 1e-20)))


# ---------------------------------------------------------------- systems

def run_arep(y, tmp, quality):
    path = os.path.join(tmp, "x.arep")
    t0 = time.perf_counter()
    codec.encode(y, path, sr=SR, quality=quality)
    t1 = time.perf_counter()
    z, _ = codec.decode(path)
    t2 = time.perf_counter()
    return z, os.path.getsize(path), t1 - t0, t2 - t1


def run_opus(y, tmp, kbps):
    path = os.path.join(tmp, "x.opus")
    level = min(max((256.0 - kbps) / 250.0, 0.0), 1.0)
    t0 = time.perf_counter()
    sf.write(path, y, SR, format="OGG", subtype="OPUS", compression_level=level)
    t1 = time.perf_counter()
    z, sr = sf.read(path, dtype="float32")
    t2 = time.perf_counter()
    assert sr == SR, sr
    z = np.pad(z, (0, max(0, len(y) - len(z))))[: len(y)]
    return z, os.path.getsize(path), t1 - t0, t2 - t1


def run_melq(y, tmp, step_db, decim):
    t0 = time.perf_counter()
    m = codec.logmel(y)
    n = m.shape[1]
    if decim > 1:
        pad = -n % decim
        m = np.concatenate([m, np.repeat(m[:, -1:], pad, axis=1)], axis=1)
        m = m.reshape(m.shape[0], -1, decim).mean(axis=2)
    q = np.rint(m / step_db).astype(np.int32)
    d = np.diff(q, axis=1, prepend=0)
    _, payload = entropy.pack_codes(d)
    size = bitstream.OVERHEAD_BYTES + len(payload)
    t1 = time.perf_counter()
    r = np.cumsum(d, axis=1) * step_db
    if decim > 1:
        r = np.repeat(r, decim, axis=1)
    z = codec.synthesize(r[:, :n].astype(np.float32), len(y))
    t2 = time.perf_counter()
    return z, size, t1 - t0, t2 - t1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "esc10"))
    p.add_argument("--clips", type=int, default=80, help="fold-5 clips used (the same number from each class)")
    p.add_argument("--out", default="docs")
    p.add_argument("--qualities", type=float, nargs="+", default=[0, 20, 40, 60, 100])
    p.add_argument("--opus", type=float, nargs="+", default=[6, 8, 12, 16, 24])
    p.add_argument("--melq", type=str, nargs="+", default=["24:4", "12:4", "6:4", "12:1", "6:1"],
                   help="STEP_DB:DECIM pairs for the plain quantiser")
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    classes = sorted(d for d in Path(args.data).iterdir() if d.is_dir())
    per_class = max(1, args.clips // len(classes))
    files = [f for d in classes for f in sorted(d.glob("5-*.ogg"))[:per_class]]
    print(f"{len(files)} fold-5 clips from {len(classes)} classes", flush=True)

    systems = [("arep", f"q={q:g}", lambda y, t, q=q: run_arep(y, t, q)) for q in args.qualities]
    systems += [("opus", f"{k:g} kbps", lambda y, t, k=k: run_opus(y, t, k)) for k in args.opus]
    for spec in args.melq:
        step, decim = spec.split(":")
        name = "mel-q" if int(decim) == 1 else f"mel-q/{decim}"
        systems.append((name, f"{float(step):g} dB", lambda y, t, s=float(step), d=int(decim): run_melq(y, t, s, d)))

    rows = {(s, setting): [] for s, setting, _ in systems}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, f in enumerate(files):
            y, _ = load(f, sr=SR)
            dur = len(y) / SR
            for system, setting, fn in systems:
                z, size, enc, dec = fn(y, tmp)
                rows[(system, setting)].append(dict(kbps=size * 8 / dur / 1000, lsd=lsd(y, z), mel_snr=mel_snr(y, z),
                                                    si_sdr=si_sdr(y, z), enc_rtf=enc / dur, dec_rtf=dec / dur))
            print(f"{i + 1}/{len(files)} {f.name} ({time.perf_counter() - start:.0f} s)", flush=True)

    table = []
    for (system, setting), rs in rows.items():
        mean = {k: float(np.mean([r[k] for r in rs])) for k in rs[0]}
        table.append(dict(system=system, setting=setting, clips=len(rs), **mean))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"Rate-distortion on {len(files)} ESC-10 fold-5 clips (16 kHz mono reference; means over clips; "
             "RTF = processing seconds per audio second, one thread).", "",
             "| system | setting | kbit/s | LSD (dB) | mel SNR (dB) | SI-SDR (dB) | encode RTF | decode RTF |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in table:
        lines.append(f"| {r['system']} | {r['setting']} | {r['kbps']:.2f} | {r['lsd']:.2f} | {r['mel_snr']:.2f} | "
                     f"{r['si_sdr']:.2f} | {r['enc_rtf']:.4f} | {r['dec_rtf']:.4f} |")
    text = "\n".join(lines) + "\n"
    (out / "codec_rd.md").write_text(text)
    (out / "codec_rd.json").write_text(json.dumps(table, indent=1))
    print(text)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, key, label in zip(axes, ("lsd", "mel_snr", "si_sdr"), ("LSD (dB, lower is better)",
                                                                   "mel SNR (dB)", "SI-SDR (dB)")):
        for system in dict.fromkeys(r["system"] for r in table):
            pts = sorted((r["kbps"], r[key]) for r in table if r["system"] == system)
            ax.plot(*zip(*pts), marker="o", label=system)
        ax.set_xscale("log")
        ax.set_xlabel("bitrate (kbit/s)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"ESC-10 fold 5 ({len(files)} clips, 16 kHz)")
    fig.tight_layout()
    tmp_png = out / ".codec_rd.png.tmp"
    fig.savefig(tmp_png, dpi=110, format="png")
    os.replace(tmp_png, out / "codec_rd.png")
    print(f"wrote {out / 'codec_rd.md'}, {out / 'codec_rd.png'} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
