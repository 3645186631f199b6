# CMake toolchain file: cross-compile the extension for aarch64 Linux with Debian's
# g++-aarch64-linux-gnu (see tools/aarch64_check.sh, which also points FindPython at the aarch64
# CPython headers of the sysroot that tools/aarch64_env.sh unpacks).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Libraries and headers come from the cross compiler's own target tree; programs (python3 for
# FindPython's interpreter queries, pybind11's CMake files) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
