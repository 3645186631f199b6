#!/usr/bin/env bash
# The aarch64 / NEON check of CI (issue 18 item 3), on an x86-64 Debian machine: the manylinux aarch64
# wheel that tools/build_dist.sh cross-builds and auditwheel-repairs, installed and run under user-mode
# QEMU with an aarch64 CPython and NumPy (tools/aarch64_env.sh installs and caches them):
#   0. the wheel's tags (cp311-cp311-manylinux_2_XX_aarch64) are among those the emulated interpreter
#      supports (packaging.tags.sys_tags, what pip on an arm64 Debian 12 would accept);
#   1. the wheel installed; import, the ISAs the emulated CPU offers (must include neon), FSRCNN_FAST_ISA=neon / ref honoured,
#      and an upscale of a real image with the shipped model on each;
#   2. the kernel tests, NEON against the scalar reference (tests/test_kernels.py, a subset);
#   3. the engine against the float64 oracle on small images, ref and neon (tests/test_isa_paths.py's
#      and test_engine_vs_oracle.py's small cases);
#   4. the scalar path's bits, the same as recorded on x86-64 (tests/test_scalar_bits.py).
# Emulation is ~15-25x slower than native, hence the subset. Fails loudly if anything is missing.
#   tools/aarch64_check.sh                 # builds the sdist and the aarch64 wheel first (ARCHS=aarch64 tools/build_dist.sh)
#   tools/aarch64_check.sh dist/fsrcnn_fast-V-cp311-cp311-manylinux_2_35_aarch64.whl   # checks that wheel (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
start=$SECONDS
die() { echo "aarch64_check: $*" >&2; exit 1; }

cache=$(tools/aarch64_env.sh | tail -n 1)
site=$cache/site-packages
host=$cache/host/bin
# The installed wheel (and the dist when built here) in a directory of this run's own, so that two
# checkouts can run the check at once on one cache.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
stage=$scratch/stage

run() {  # the aarch64 python under QEMU (a wrapper script made by aarch64_env.sh)
  PYTHONPATH=$stage:$site PYTHONDONTWRITEBYTECODE=1 "$cache/bin/python3" "$@"
}

# 1. The wheel: given, or built here the way a release builds it (from the sdist, cross-compiled,
#    auditwheel-repaired, its tag checked: tools/build_dist.sh).
if [[ $# -ge 1 ]]; then
  wheel=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
else
  dist=$scratch/dist
  ARCHS=aarch64 tools/build_dist.sh "$dist"
  wheel=$(ls "$dist"/fsrcnn_fast-*-cp311-cp311-manylinux_*_aarch64.whl)
fi
[[ -f $wheel ]] || die "no wheel $wheel"
[[ $(basename "$wheel") =~ ^fsrcnn_fast-[^-]+-(cp311-cp311-(manylinux_[0-9]+_[0-9]+_aarch64))\.whl$ ]] \
  || die "$(basename "$wheel") is not a cp311 manylinux aarch64 wheel (tools/build_dist.sh makes one)"
wheel_tag=${BASH_REMATCH[1]} wheel_plat=${BASH_REMATCH[2]}
PYTHONPATH=$site "$cache/bin/python3" -c '
import sys
from packaging.tags import parse_tag, sys_tags
if not set(parse_tag(sys.argv[1])) & set(sys_tags()):
    sys.exit(f"aarch64_check: the emulated interpreter does not support the wheel tag {sys.argv[1]}")
' "$wheel_tag"
# Installed (pip --target, for the wheel's platform, which the interpreter accepts) into a directory of
# its own, and everything below imports it from there.
"$host/pip" install -q --no-deps --target "$stage" --platform "$wheel_plat" --python-version 3.11 \
  --implementation cp --abi cp311 --only-binary=:all: "$wheel"
so=$(ls "$stage"/fsrcnn_fast/_core.cpython-311-aarch64-linux-gnu.so)
file -L "$so" | grep -q "ARM aarch64" || die "$so is not an aarch64 object"
echo "aarch64_check: installed $(basename "$wheel") after $((SECONDS - start)) s"

# 2. Smoke: import, ISAs, an upscale per ISA (from outside the source tree).
(cd "$cache" && run "$repo/tools/aarch64_smoke.py")

# 3. Tests: NEON vs ref kernels, engine vs oracle for ref and neon, scalar bits.
run -m pytest -q -p no:cacheprovider -x \
  tests/test_kernels.py -k "not test_engine_winograd_equals_direct and not bitwise_identical and not srcnn" \
  tests/test_scalar_bits.py \
  "tests/test_engine_vs_oracle.py::test_fsrcnn_deconv" "tests/test_engine_vs_oracle.py::test_fsrcnn_subpixel"
echo "aarch64_check: done in $((SECONDS - start)) s"
