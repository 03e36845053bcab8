#!/usr/bin/env bash
# Build the compiled core with AddressSanitizer and UndefinedBehaviorSanitizer and run the tests
# that exercise it (FFT, autocorrelation, OBJ, bindings, codec) against that build. Any sanitizer
# report aborts the test process, so the script fails.
#
#   scripts/sanitize.sh [pytest arguments...]
#
# Runs in the environment that has audiorep's test dependencies installed (the CI venv). The
# sanitized module is built beside a copy of the Python sources in build/sanitize, and Python
# runs without site processing so that neither an installed nor an editable audiorep shadows it.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/sanitize
jobs="${AUDIOREP_SANITIZE_JOBS:-$(nproc)}"
rm -rf "$build/pkg"
mkdir -p "$build/pkg"
cp -r audiorep "$build/pkg/"
find "$build/pkg/audiorep" -name '_core*.so' -delete

pybind11_dir="$(python -c 'import pybind11; print(pybind11.get_cmake_dir())')"
cmake -S . -B "$build/cmake" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAUDIOREP_SANITIZE=ON \
  -DAUDIOREP_CUDA=OFF -Dpybind11_DIR="$pybind11_dir" -DPython_EXECUTABLE="$(command -v python)" \
  -DAUDIOREP_MODULE_DIR="$PWD/$build/pkg/audiorep" >/dev/null
cmake --build "$build/cmake" -j "$jobs"

# The interpreter is not instrumented, so the sanitizer runtime must be loaded before it, and
# libstdc++ with it: ASan finds the real __cxa_throw only in libraries loaded when it starts.
asan="$(c++ -print-file-name=libasan.so)"
cxx="$(c++ -print-file-name=libstdc++.so)"
site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
export LD_PRELOAD="$asan $cxx"
# CPython keeps its objects alive at exit by design; leak reports would only be noise.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export PYTHONPATH="$PWD/$build/pkg:$site"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

# From inside the copy, so that it (not the source tree in the working directory) is what imports.
repo="$PWD"
cd "$build/pkg"
python -S -c 'import audiorep._core as c; assert "/build/sanitize/" in c.__file__, c.__file__; print("sanitized core:", c.__file__)'
if [ "$#" -eq 0 ]; then
  set -- tests/test_fft.py tests/test_autocorr.py tests/test_mesh.py tests/test_layouts.py tests/test_mel.py \
    tests/test_pitch.py tests/test_cuda_harness.py tests/test_codec.py tests/test_codec_hardening.py -q
fi
args=()
for arg in "$@"; do
  case "$arg" in
    tests/*) args+=("$repo/$arg") ;;
    *) args+=("$arg") ;;
  esac
done
# --capture=sys: a sanitizer writes its report to file descriptor 2 and then aborts the process;
# capturing at the descriptor level would swallow the report with the process.
python -S -m pytest -c "$repo/pyproject.toml" --rootdir "$repo" -p no:cacheprovider --capture=sys "${args[@]}"
