#!/usr/bin/env bash
# Packaging test driver, run by ctest (see tests/CMakeLists.txt).
#   check.sh find_package | add_subdirectory | pkgconfig
# Builds tests/consumer/main.cpp against eddy in the given way and runs it.
# Environment (set by ctest): EDDY_SOURCE_DIR EDDY_BINARY_DIR EDDY_SCRATCH_DIR EDDY_CMAKE
#   EDDY_GENERATOR EDDY_CXX EDDY_CXX_FLAGS EDDY_EXE_LINKER_FLAGS EDDY_BUILD_TYPE
set -euo pipefail

mode=${1:?usage: check.sh find_package|add_subdirectory|pkgconfig}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

: "${EDDY_SOURCE_DIR:?}" "${EDDY_BINARY_DIR:?}" "${EDDY_SCRATCH_DIR:?}"
cmake_bin=${EDDY_CMAKE:-cmake}
generator=${EDDY_GENERATOR:-Unix Makefiles}
cxx=${EDDY_CXX:-c++}
cxx_flags=${EDDY_CXX_FLAGS:-}
ld_flags=${EDDY_EXE_LINKER_FLAGS:-}
build_type=${EDDY_BUILD_TYPE:-}

scratch=$EDDY_SCRATCH_DIR
rm -rf "$scratch"
mkdir -p "$scratch"
prefix=$scratch/install

run() { echo "+ $*" >&2; "$@"; }

install_eddy() {
    run "$cmake_bin" --install "$EDDY_BINARY_DIR" --prefix "$prefix"
    test -f "$prefix/include/eddy/eddy.hpp" || { echo "eddy.hpp not installed" >&2; exit 1; }
}

cmake_consumer() { # <source dir> [extra -D args...]
    local src=$1; shift
    run "$cmake_bin" -S "$src" -B "$scratch/build" -G "$generator" \
        -DCMAKE_CXX_COMPILER="$cxx" \
        -DCMAKE_CXX_FLAGS="$cxx_flags" \
        -DCMAKE_EXE_LINKER_FLAGS="$ld_flags" \
        -DCMAKE_BUILD_TYPE="$build_type" \
        -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON \
        "$@"
    run "$cmake_bin" --build "$scratch/build" -j 2
    exe=$scratch/build/consumer
}

case $mode in
    find_package)
        install_eddy
        cmake_consumer "$here/find_package" \
            -DCMAKE_PREFIX_PATH="$prefix" -DEDDY_EXPECTED_PREFIX="$prefix"
        ;;
    add_subdirectory)
        cmake_consumer "$here/add_subdirectory" -DEDDY_SOURCE_DIR="$EDDY_SOURCE_DIR"
        ;;
    pkgconfig)
        install_eddy
        pc=$(find "$prefix" -name eddy.pc -print -quit)
        test -n "$pc" || { echo "eddy.pc not installed" >&2; exit 1; }
        pcdir=$(dirname "$pc")
        export PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
        run pkg-config --print-errors --exists eddy
        cflags=$(pkg-config --cflags eddy)
        libs=$(pkg-config --libs eddy)
        echo "pkg-config --cflags eddy: $cflags" >&2
        echo "pkg-config --libs eddy:   $libs" >&2
        # The include dir must resolve into the install tree under test.
        case " $cflags " in
            *" -I$prefix/include "*) ;;
            *) echo "eddy.pc Cflags do not point at $prefix/include" >&2; exit 1 ;;
        esac
        exe=$scratch/consumer
        # Libraries after the source file so --as-needed linkers keep -luring.
        # shellcheck disable=SC2086 # flag strings are intentionally word-split
        run "$cxx" -std=c++20 $cxx_flags $cflags "$here/main.cpp" -o "$exe" $ld_flags $libs
        ;;
    *)
        echo "unknown mode: $mode" >&2
        exit 2
        ;;
esac

run "$exe"
echo "packaging.$mode: OK"
