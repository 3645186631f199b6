#!/usr/bin/env bash
# Installs (once) and caches what tools/aarch64_check.sh needs to build and run the extension for
# aarch64 on an x86-64 Debian 12 machine:
#   - Debian's cross compiler (g++-aarch64-linux-gnu) and user-mode QEMU (qemu-user-static), by apt-get;
#   - a sysroot with an aarch64 CPython 3.11: Debian's arm64 .debs, unpacked with dpkg-deb -x (nothing is
#     installed into the host's dpkg database);
#   - site-packages for that Python: NumPy and safetensors (the package's two runtime dependencies) from
#     their manylinux2014 aarch64 wheels, pytest (pure Python);
#   - a host virtual environment with CMake, pybind11 and scikit-build-core for the cross-build.
# Everything lives in $FSRCNN_AARCH64_CACHE (default ~/.cache/fsrcnn_fast/aarch64), outside the repository;
# a second run finds it and returns in about a second. Any failure stops the script with a message: CI
# must not report a check that did not run.
# Prints the cache directory on its last line.
set -euo pipefail

cache=${FSRCNN_AARCH64_CACHE:-$HOME/.cache/fsrcnn_fast/aarch64}
sysroot=$cache/sysroot
site=$cache/site-packages
stamp=$cache/.complete-v5
# The newest NumPy with a manylinux2014 aarch64 wheel for CPython 3.11 in the package index used here.
numpy_version=${FSRCNN_AARCH64_NUMPY:-2.2.6}

die() { echo "aarch64_env: $*" >&2; exit 1; }

if [[ -f $stamp ]]; then
  echo "$cache"
  exit 0
fi

# 1. Host tools.
if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
  [[ $(id -u) == 0 ]] || die "need root to apt-get install g++-aarch64-linux-gnu qemu-user-static (or install them first)"
  command -v apt-get >/dev/null || die "apt-get not found: this script expects Debian/Ubuntu"
  apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    g++-aarch64-linux-gnu qemu-user-static >/dev/null || die "apt-get install of the cross tools failed"
fi

# 2. The arm64 .debs, downloaded by apt (needs the arm64 architecture in dpkg's list; packages are only
#    downloaded, never installed).
mkdir -p "$cache/debs"
debs=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libpython3.11-dev libpython3.11
      libc6 libgcc-s1 libstdc++6 zlib1g libexpat1 libffi8 libbz2-1.0 liblzma5 libssl3
      libsqlite3-0 libuuid1 libncursesw6 libtinfo6 libreadline8 libcrypt1 libnsl2 libtirpc3 libdb5.3
      libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1)
if ! ls "$cache"/debs/python3.11-minimal_*_arm64.deb >/dev/null 2>&1; then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    [[ $(id -u) == 0 ]] || die "need root to add the arm64 architecture to dpkg (for apt-get download)"
    dpkg --add-architecture arm64
  fi
  apt-get update -qq || die "apt-get update (arm64 lists) failed"
  (cd "$cache/debs" && chmod 777 . && apt-get download -qq "${debs[@]/%/:arm64}") || die "apt-get download of the arm64 .debs failed"
fi
rm -rf "$sysroot"
mkdir -p "$sysroot"
for deb in "$cache"/debs/*_arm64.deb; do dpkg-deb -x "$deb" "$sysroot"; done
[[ -x $sysroot/usr/bin/python3.11 ]] || die "no python3.11 in the unpacked sysroot"
[[ -f $sysroot/usr/include/python3.11/Python.h ]] || die "no Python.h in the unpacked sysroot"
# Absolute symlinks (e.g. lib/ld-linux-aarch64.so.1) point into the host's /: make them relative to the sysroot.
find "$sysroot" -type l -lname '/*' | while read -r link; do
  target=$(readlink "$link")
  ln -sfn "$sysroot$target" "$link"
done

# 3. Python packages for the aarch64 interpreter: wheels unpacked into one directory (PYTHONPATH).
rm -rf "$site" "$cache/wheels"
mkdir -p "$site" "$cache/wheels"
python3 -m pip download -q --dest "$cache/wheels" --platform manylinux2014_aarch64 --python-version 3.11 \
  --implementation cp --only-binary=:all: "numpy==$numpy_version" "safetensors>=0.4" \
  || die "pip download of the numpy / safetensors aarch64 wheels failed"
python3 -m pip download -q --dest "$cache/wheels" --only-binary=:all: --python-version 3.11 --platform any \
  "pytest>=8,<9" || die "pip download of pytest failed"
for whl in "$cache"/wheels/*.whl; do python3 -m zipfile -e "$whl" "$site"; done

# 4. The host side of the cross-build in its own environment: CMake, pybind11's headers and CMake files,
#    scikit-build-core (the project's build backend, which builds the aarch64 wheel).
rm -rf "$cache/host"
python3 -m venv "$cache/host" || die "python3 -m venv failed"
"$cache/host/bin/pip" install -q "pybind11>=2.12,<4" "cmake>=3.18,<5" "scikit-build-core>=0.10,<2" \
  || die "pip install of cmake / pybind11 / scikit-build-core failed"

# 5. $cache/bin/python3: the aarch64 interpreter under QEMU as one command. qemu's -0 sets argv[0], so
#    sys.executable is this script and tests that start a child interpreter (sys.executable) start an
#    emulated one too (no binfmt_misc registration is needed). PYTHONHOME: the prefix is not found from
#    the script's own location.
mkdir -p "$cache/bin"
cat > "$cache/bin/python3" <<WRAPPER
#!/bin/sh
export QEMU_LD_PREFIX="$sysroot" PYTHONHOME="$sysroot/usr"
exec qemu-aarch64-static -0 "\$0" "$sysroot/usr/bin/python3.11" "\$@"
WRAPPER
chmod +x "$cache/bin/python3"

# 6. Does it run?
PYTHONPATH=$site "$cache/bin/python3" -c \
  'import platform, numpy, safetensors; assert platform.machine() == "aarch64", platform.machine(); print("aarch64 python", platform.python_version(), "numpy", numpy.__version__)' >&2 \
  || die "the aarch64 Python does not run under qemu-aarch64-static"

touch "$stamp"
echo "$cache"
