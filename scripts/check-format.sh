#!/bin/sh
# Fails, naming the files, when a C file of the repo is not formatted as
# .clang-format says. Fix with: clang-format -i FILE...
set -eu
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null 2>&1 || scripts/deps.sh format
bad=""
for f in $(git ls-files '*.c' '*.h'); do
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
    echo "not formatted (clang-format -i these):$bad" >&2
    exit 1
fi
echo "format: every C file follows .clang-format"
