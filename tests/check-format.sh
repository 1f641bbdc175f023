#!/usr/bin/env bash
# check-format.sh -- every C file of the project is formatted as .clang-format says
# (clang-format --dry-run -Werror); prints the first differences. Exit 77 (skipped) without
# clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format missing: skipped"; exit 77; }
if [ -d .git ] && command -v git >/dev/null; then
  mapfile -t files < <(git ls-files '*.c' '*.h')
else
  mapfile -t files < <(find common gateway generator tools bench fuzz tests -name '*.[ch]' \
                         -not -path '*/node_modules/*')
fi
clang-format --dry-run -Werror "${files[@]}" 2>&1 | head -40
exit "${PIPESTATUS[0]}"
