#!/usr/bin/env bash
# Install into a scratch prefix, then build examples/version.c out of tree the
# two ways a user would (pkg-config, CMake find_package) and run both.
# usage: test_install.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$1 SRC=$2
. "$SRC/tests/tools/lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp" "$OUT" "$ERR"' EXIT
prefix=$tmp/prefix

run cmake --install "$BUILD" --prefix "$prefix"
expect_status 0 "cmake --install"
for f in include/hybrid.h bin/hybridctl share/man/man7/hybrid.7 share/man/man3/hybrid_version.3 share/doc/libhybrid/LICENSE; do
	[ -e "$prefix/$f" ] && ok "installed $f" || { last=install; bad "missing $f"; }
done
pc=$(find "$prefix" -name hybrid.pc | head -1)
lib=$(dirname "$(find "$prefix" -name 'libhybrid.so' | head -1)")
[ -n "$pc" ] && [ -n "$lib" ] && ok "hybrid.pc and libhybrid.so installed" || { last=install; bad "no hybrid.pc or libhybrid.so"; }

# The public symbols are hybrid_* (versioned HYBRID_1.0) and the symbols the
# preload layer interposes (unversioned, so they stand in for glibc's).
run sh -c "nm -D --defined-only '$lib/libhybrid.so' | awk '\$2 ~ /[TDBWVR]/ {print \$3}'"
interposed='malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign valloc pvalloc malloc_usable_size mmap mmap64 munmap mremap mbind ioctl malloc_conf'
extra=$(grep -v '^hybrid_.*@@HYBRID_1\.0$' "$OUT" | grep -vxF "$(printf '%s\n' $interposed)")
[ -z "$extra" ] && ok "exports only hybrid_* and the interposed symbols" || { last="nm"; bad "exports something else: $extra"; }
for s in $interposed; do
	grep -qx "$s" "$OUT" || { last="nm"; bad "does not export $s (unversioned)"; }
done
expect_out '^hybrid_version@@HYBRID_1.0$' "versioned symbols"

export PKG_CONFIG_PATH=$(dirname "$pc")
run sh -c "cc '$SRC/examples/version.c' \$(pkg-config --cflags --libs hybrid) -o '$tmp/v-pc'"
expect_status 0 "builds with pkg-config (relocated prefix)"
LD_LIBRARY_PATH=$lib run "$tmp/v-pc"
expect_status 0 "pkg-config build runs, headers match library"
# the API examples: hybrid_mmap, hints, the heap, hybrid_where against the installed copy
for ex in where kvstore; do
	run sh -c "cc -Wall -Werror '$SRC/examples/$ex.c' \$(pkg-config --cflags --libs hybrid) -o '$tmp/$ex-pc'"
	expect_status 0 "$ex.c builds with pkg-config"
done
LD_LIBRARY_PATH=$lib run "$tmp/where-pc" 1
expect_status 0 "where (pkg-config build) runs"
expect_out '^hybrid +tier 0' "where reports per tier"
LD_LIBRARY_PATH=$lib run "$tmp/kvstore-pc" 1000 10000
expect_status 0 "kvstore (pkg-config build) runs"
for f in "$SRC"/man/hybrid_*.3; do
	[ -e "$prefix/share/man/man3/${f##*/}" ] && ok "installed man3/${f##*/}" || { last=install; bad "missing man3/${f##*/}"; }
done

mkdir -p "$tmp/proj"
cp "$SRC/examples/version.c" "$SRC/examples/hotcold.c" "$tmp/proj/"
cat >"$tmp/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(uses_hybrid C)
find_package(hybrid 0.1 REQUIRED)
add_executable(v version.c)
target_link_libraries(v PRIVATE hybrid::hybrid)
add_executable(hotcold hotcold.c)
target_link_libraries(hotcold PRIVATE hybrid::hybrid)
CM
run cmake -S "$tmp/proj" -B "$tmp/proj/b" -DCMAKE_PREFIX_PATH="$prefix"
expect_status 0 "find_package(hybrid) configures"
run cmake --build "$tmp/proj/b"
expect_status 0 "builds against hybrid::hybrid"
run "$tmp/proj/b/v"
expect_status 0 "find_package build runs"
expect_out '^libhybrid 0\.1\.0 \(headers 0\.1\.0\)$' "reports its version"
run "$tmp/proj/b/hotcold" 4 2
expect_status 0 "hotcold (find_package build) runs"
expect_out '^round 2 ' "hotcold runs its rounds"
finish
