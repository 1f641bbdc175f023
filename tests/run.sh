#!/usr/bin/env bash
# run.sh -- every test: installs what is missing, builds the normal and the ASan+UBSan
# trees, and runs ctest in the normal tree (which also runs the sanitizer build's programs).
# The ctest summary is the last thing printed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh --test
jobs=$(nproc)
cmake -B build-asan -S . -DRN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
CC=clang cmake -B build-fuzz -S . -DRN_FUZZ=ON -DRN_TESTS=OFF -DRN_BUILD_WEB=OFF >/dev/null
cmake --build build-fuzz -j"$jobs" >/dev/null
cmake -B build -S . -DRN_WERROR=ON -DRN_ASAN_BIN_DIR="$PWD/build-asan/bin" -DRN_FUZZ_BIN_DIR="$PWD/build-fuzz/bin" \
  >/dev/null
cmake --build build -j"$jobs" >/dev/null
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error >/dev/null

cd build
exec ctest --output-on-failure -j"$jobs" "$@"
