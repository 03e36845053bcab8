"""Write speed-perturbed copies of a dataset in the ESC class-folder layout (training-time augmentation).

Each clip is played at each of the given speeds (by default 10 % slower and 10 % faster; pitch and
tempo change together, like a tape), and written as WAV beside a copy of its class folder, keeping
the fold digit at the start of the name so the copies stay in their clip's fold:
``1-100032-A.ogg`` -> ``1-100032-A-speed0.9.wav``.
Usage: python scripts/esc10_speed.py [DATASET] [OUT] [--factors F...]
(defaults ../shared/data/esc10, work/esc10_speed, 0.9 1.1)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audiorep import load
from audiorep.datasets import load_dataset

FACTORS = (0.9, 1.1)
SR = 22050


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=Path("../shared/data/esc10"))
    parser.add_argument("out", nargs="?", type=Path, default=Path("work/esc10_speed"))
    parser.add_argument("--factors", type=float, nargs="+", default=list(FACTORS))
    args = parser.parse_args(argv)
    if any(not 0.5 <= f <= 2.0 for f in args.factors):
        parser.error(f"speed factors must lie in [0.5, 2], got {args.factors}")
    out = args.out
    dataset = load_dataset(args.data)
    for inst in dataset.instances:
        y, _ = load(inst.path, sr=SR)
        folder = out / Path(inst.filename).parent
        folder.mkdir(parents=True, exist_ok=True)
        for factor in args.factors:
            target = folder / f"{Path(inst.filename).stem}-speed{factor}.wav"
            if target.exists():
                continue
            # resampling to SR / factor and playing back at SR speeds the clip up by `factor`
            z = soxr.resample(y, SR, SR / factor, quality="HQ").astype(np.float32)
            tmp = target.with_name(target.name + ".tmp")
            sf.write(tmp, z, SR, format="WAV", subtype="FLOAT")
            tmp.replace(target)
    print(f"wrote {len(args.factors) * len(dataset.instances)} clips under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
