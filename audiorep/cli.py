"""The ``audiorep`` command line."""

from __future__ import annotations

import argparse
import logging
import sys

import numpy as np

log = logging.getLogger("audiorep")


def _demo(args: argparse.Namespace) -> int:
    from . import dsp

    sr = 16000
    t = np.arange(sr, dtype=np.float32) / sr
    # An embedded test tone: 440 Hz with a weaker 1320 Hz partial.
    y = np.sin(2 * np.pi * 440.0 * t) + 0.3 * np.sin(2 * np.pi * 1320.0 * t)
    spectrum = np.abs(dsp.rfft(y.astype(np.float32)))
    peak = int(np.argmax(spectrum))
    print(f"test tone: {len(y)} samples at {sr} Hz")
    print(f"spectrum peak: bin {peak} = {peak * sr / len(y):.1f} Hz (expected 440.0 Hz)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiorep", description="Learn representations from audio.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="compute the spectrum peak of an embedded test tone",
                          description="Compute the spectrum peak of an embedded test tone.\n\nExample: audiorep demo",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * args.verbose + 10 * args.quiet
    logging.basicConfig(level=max(logging.DEBUG, level), format="%(levelname)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
