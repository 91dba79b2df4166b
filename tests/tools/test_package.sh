#!/usr/bin/env bash
# A distribution's build (issue 19): configure with -DBUILD_TESTING=OFF where
# CUnit and libnuma cannot be found, build, install into a scratch prefix; then
# build a program against that prefix with only hybrid.pc and jemalloc.pc
# visible to pkg-config, and with CMake's find_package(hybrid), and run both.
# The build tree under test only lends its settings (compiler, warnings as
# errors); the packaged build is a fresh one of SOURCE_DIR.
# usage: test_package.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$1 SRC=$2
. "$SRC/tests/tools/lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp" "$OUT" "$ERR"' EXIT
unset $(env | grep -o '^HYBRID_[A-Z_]*') 2>/dev/null

command -v pkg-config >/dev/null || skip_all "no pkg-config here"
jemalloc_pc=$(pkg-config --variable=pcfiledir jemalloc 2>/dev/null)/jemalloc.pc
[ -r "$jemalloc_pc" ] || skip_all "jemalloc.pc not found (libjemalloc-dev): the library cannot build"
unset PKG_CONFIG_PATH   # from here on, PKG_CONFIG_LIBDIR alone says what is visible
cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt"; }

# pkg-config sees jemalloc.pc and nothing else of the system: no cunit.pc,
# numa.pc or memkind.pc (the project finds its dependencies through pkg-config
# only).  The hiding itself is checked, or the build below would prove nothing.
mkdir "$tmp/pc"
ln -s "$jemalloc_pc" "$tmp/pc/"
export PKG_CONFIG_LIBDIR=$tmp/pc
for m in cunit numa; do
	run pkg-config --exists "$m"
	expect_status 1 "$m.pc hidden from the packaged build"
done

# (a) configure, build, install, without the tests
b=$tmp/build prefix=$tmp/prefix
run cmake -S "$SRC" -B "$b" -DBUILD_TESTING=OFF -DCMAKE_INSTALL_PREFIX="$prefix" \
	-DCMAKE_C_COMPILER="$(cache CMAKE_C_COMPILER)" -DHYBRID_WERROR="$(cache HYBRID_WERROR)"
expect_status 0 "configures with BUILD_TESTING=OFF and no cunit.pc or numa.pc"
[ "$status" = 0 ] || { finish; exit; }   # the rest would only fail with it
# a look-up leaves its trace even when it is optional: pkg_check_modules
# prints "Checking for module 'cunit'" and caches CUNIT_*, a find_* its result
expect_no_out "module '(cunit|numa)'" "configure log: CUnit and libnuma not looked for"
run grep -iE 'cunit|numa' "$b/CMakeCache.txt"
expect_status 1 "CMakeCache.txt: no CUnit or libnuma entry"
run cmake --build "$b" -j1
expect_status 0 "builds"
[ "$status" = 0 ] || { finish; exit; }
# elf_files DIR: the ELF files below DIR (object files and CMake's probes aside)
elf_files() {
	(cd "$1" && find . -name CMakeFiles -prune -o -type f -print | sort |
		while read -r f; do head -c4 "$f" | grep -q ELF && echo "${f#./}"; done)
}
run elf_files "$b"
printf '%s\n' lib/libhybrid.so.0.1.0 tools/hybridctl | cmp -s - "$OUT" \
	&& ok "builds the library and hybridctl only" || bad "builds more than lib/libhybrid.so.0.1.0 and tools/hybridctl"
run ctest --test-dir "$b" -N
expect_out '^Total Tests: 0$' "registers no test"
run cmake --install "$b"
expect_status 0 "cmake --install"
[ "$status" = 0 ] || { finish; exit; }
for f in include/hybrid.h bin/hybridctl share/doc/libhybrid/LICENSE share/man/man7/hybrid.7; do
	[ -e "$prefix/$f" ] && ok "installed $f" || { last=install; bad "missing $f"; }
done
pcdir=$(dirname "$(find "$prefix" -name hybrid.pc | head -1)")
libdir=$(dirname "$(find "$prefix" -name libhybrid.so | head -1)")
[ -e "$pcdir/hybrid.pc" ] && [ -e "$libdir/libhybrid.so" ] && ok "hybrid.pc and libhybrid.so installed" \
	|| { last=install; bad "no hybrid.pc or libhybrid.so"; finish; exit; }
# the installed launcher preloads the installed library, found from its own place
run "$prefix/bin/hybridctl" -- sh -c 'echo "$LD_PRELOAD"'
expect_status 0 "installed hybridctl runs a program"
expect_out "^$(cd "$libdir" && pwd -P)/libhybrid\.so\.0\$" "installed hybridctl preloads the installed library"

# (b) a consumer, pkg-config: the prefix's hybrid.pc and jemalloc.pc only
export PKG_CONFIG_LIBDIR=$pcdir:$tmp/pc
run pkg-config --cflags --libs hybrid
expect_status 0 "pkg-config --cflags --libs hybrid with only hybrid.pc and jemalloc.pc"
expect_out "-lhybrid" "pkg-config gives -lhybrid"
run sh -c "'$(cache CMAKE_C_COMPILER)' -Wall -Werror '$SRC/examples/version.c' \$(pkg-config --cflags --libs hybrid) -o '$tmp/v-pc'"
expect_status 0 "a program builds with pkg-config"
LD_LIBRARY_PATH=$libdir run "$tmp/v-pc"
expect_status 0 "the pkg-config build runs"
expect_out '^libhybrid 0\.1\.0 \(headers 0\.1\.0\)$' "the pkg-config build reports the installed version"

# (b) a consumer, CMake: the installed package (it uses no pkg-config at all)
mkdir "$tmp/proj"
cp "$SRC/examples/version.c" "$tmp/proj/"
cat >"$tmp/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(uses_hybrid C)
find_package(hybrid 0.1 REQUIRED)
add_executable(v version.c)
target_link_libraries(v PRIVATE hybrid::hybrid)
CM
run cmake -S "$tmp/proj" -B "$tmp/proj/b" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$(cache CMAKE_C_COMPILER)"
expect_status 0 "find_package(hybrid) configures against the prefix"
run cmake --build "$tmp/proj/b"
expect_status 0 "a program builds against hybrid::hybrid"
run "$tmp/proj/b/v"
expect_status 0 "the find_package build runs"
expect_out '^libhybrid 0\.1\.0 \(headers 0\.1\.0\)$' "the find_package build reports the installed version"
finish
