#!/usr/bin/env bash
# The aarch64 / NEON check of CI (issue 18 item 3), on an x86-64 Debian machine: cross-compiles the
# extension for aarch64 (tools/aarch64-linux-gnu.cmake) and runs a smoke subset under user-mode QEMU
# with an aarch64 CPython and NumPy (tools/aarch64_env.sh installs and caches them):
#   1. the wheel (cross-built by scikit-build-core) installed; import, the ISAs the emulated CPU offers (must include neon), FSRCNN_FAST_ISA=neon / ref honoured,
#      and an upscale of a real image with the shipped model on each;
#   2. the kernel tests, NEON against the scalar reference (tests/test_kernels.py, a subset);
#   3. the engine against the float64 oracle on small images, ref and neon (tests/test_isa_paths.py's
#      and test_engine_vs_oracle.py's small cases);
#   4. the scalar path's bits, the same as recorded on x86-64 (tests/test_scalar_bits.py).
# Emulation is ~15-25x slower than native, hence the subset. Fails loudly if anything is missing.
#   tools/aarch64_check.sh            # build dir and tool chain under ~/.cache/fsrcnn_fast/aarch64
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
start=$SECONDS

cache=$(tools/aarch64_env.sh | tail -n 1)
sysroot=$cache/sysroot
site=$cache/site-packages
build=$cache/build-$(printf %s "$repo" | sha1sum | cut -c1-12)  # one per checkout: CMake ties a build dir to its source
stage=$cache/stage

# 1. Cross-build the wheel with the project's own backend (scikit-build-core): the toolchain file, the
#    sysroot's Python headers, and the target's platform tag and extension suffix (_PYTHON_HOST_PLATFORM,
#    SETUPTOOLS_EXT_SUFFIX, which scikit-build-core reads when cross-compiling). The build directory is
#    kept in the cache, so a rebuild is incremental. Then the wheel is installed (pip --target, for the
#    aarch64 platform) into a directory of its own, and everything below imports it from there.
host=$cache/host/bin
wheels=$cache/wheelhouse
rm -rf "$wheels" "$stage"
(cd "$repo" && _PYTHON_HOST_PLATFORM=linux-aarch64 SETUPTOOLS_EXT_SUFFIX=.cpython-311-aarch64-linux-gnu.so \
  "$host/pip" wheel -q --no-build-isolation --no-deps -w "$wheels" . \
  -C build-dir="$build" \
  -C cmake.define.CMAKE_TOOLCHAIN_FILE="$repo/tools/aarch64-linux-gnu.cmake" \
  -C cmake.define.Python_INCLUDE_DIR="$sysroot/usr/include/python3.11" \
  -C cmake.define.Python_SOABI=cpython-311-aarch64-linux-gnu \
  -C cmake.define.PYTHON_MODULE_EXTENSION=.cpython-311-aarch64-linux-gnu.so \
  -C "cmake.define.CMAKE_CXX_FLAGS=-idirafter $sysroot/usr/include")  # pyconfig.h includes <aarch64-linux-gnu/...>
wheel=$(ls "$wheels"/fsrcnn_fast-*-cp311-cp311-linux_aarch64.whl)
"$host/pip" install -q --no-deps --target "$stage" --platform linux_aarch64 --python-version 3.11 \
  --implementation cp --abi cp311 --only-binary=:all: "$wheel"
so=$(ls "$stage"/fsrcnn_fast/_core.cpython-311-aarch64-linux-gnu.so)
file -L "$so" | grep -q "ARM aarch64" || { echo "aarch64_check: $so is not an aarch64 object" >&2; exit 1; }
echo "aarch64_check: cross-built $(basename "$wheel") in $((SECONDS - start)) s"

run() {  # the aarch64 python under QEMU (a wrapper script made by aarch64_env.sh)
  PYTHONPATH=$stage:$site PYTHONDONTWRITEBYTECODE=1 "$cache/bin/python3" "$@"
}

# 2. Smoke: import, ISAs, an upscale per ISA (from outside the source tree).
(cd "$cache" && run "$repo/tools/aarch64_smoke.py")

# 3. Tests: NEON vs ref kernels, engine vs oracle for ref and neon, scalar bits.
run -m pytest -q -p no:cacheprovider -x \
  tests/test_kernels.py -k "not test_engine_winograd_equals_direct and not bitwise_identical and not srcnn" \
  tests/test_scalar_bits.py \
  "tests/test_engine_vs_oracle.py::test_fsrcnn_deconv" "tests/test_engine_vs_oracle.py::test_fsrcnn_subpixel"
echo "aarch64_check: done in $((SECONDS - start)) s"
