#!/usr/bin/env bash
# libhybrid.so in a real program: bad configuration is one warning on stderr
# and the program runs unchanged (same stdout, same exit status).
# usage: test_library_start.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$1 SRC=$2
LIB=$BUILD/lib/libhybrid.so
. "$SRC/tests/tools/lib.sh"
unset $(env | grep -o '^HYBRID_[A-Z_]*') 2>/dev/null

prog() { sh -c 'echo "out: $1"; echo "err: $1" >&2; exit 3' sh hello; }
expected=$(mktemp); trap 'rm -f "$OUT" "$ERR" "$expected"' EXIT
prog >"$expected" 2>/dev/null

run env LD_PRELOAD="$LIB" sh -c 'echo "out: $1"; echo "err: $1" >&2; exit 3' sh hello
expect_status 3 "preloaded, good config: exit status kept"
cmp -s "$OUT" "$expected" && ok "preloaded: stdout unchanged" || bad "preloaded: stdout changed"
expect_err_lines 1 "preloaded, default config: silent"

for case in "HYBRID_EPOCH=5x|^libhybrid: HYBRID_EPOCH: invalid duration \"5x\".*; running unmanaged$" \
	    "HYBRID_SLOW_NODES=999|^libhybrid: HYBRID_SLOW_NODES: node 999 does not exist.*; running unmanaged$"; do
	var=${case%%|*} want=${case#*|}
	run env "$var" LD_PRELOAD="$LIB" sh -c 'echo "out: $1"; echo "err: $1" >&2; exit 3' sh hello
	expect_status 3 "$var: exit status kept"
	cmp -s "$OUT" "$expected" && ok "$var: stdout unchanged" || bad "$var: stdout changed"
	expect_err "$want" "$var: one warning"
	expect_err '^err: hello$' "$var: program's stderr intact"
	# the shell and env are both dynamically linked: one line per process image
	[ "$(grep -c '^libhybrid:' "$ERR")" -ge 1 ] && ok "$var: warned" || bad "$var: no warning"
done

# A HYBRID_ name that is no option: one line naming it and the nearest
# option, and the library runs.  `true` is one process image: one line.
TRUE=$(type -P true)
run env HYBRID_FROB=1 LD_PRELOAD="$LIB" "$TRUE"
expect_status 0 "HYBRID_FROB: runs"
expect_err '^libhybrid: not an option: HYBRID_FROB \(nearest: HYBRID_[A-Z_]+\); ignored$' "HYBRID_FROB: named with the nearest option"
expect_err_lines 1 "HYBRID_FROB: one line"
run env HYBRID_FROB=1 HYBRID_LOG_LEVEL=error LD_PRELOAD="$LIB" "$TRUE"
expect_err_lines 0 "HYBRID_FROB, log level error: silent"
# ... and managed: a loopback pair (node 0 twice, any machine) starts the
# engine, whose exit report only a running library prints.
run env HYBRID_FROB=1 HYBRID_FAST_NODES=0 HYBRID_SLOW_NODES=0 HYBRID_STATS=stderr LD_PRELOAD="$LIB" "$TRUE"
expect_status 0 "HYBRID_FROB, loopback: runs"
expect_err '^libhybrid: pid [0-9]+ \(true\), libhybrid .*2 tiers \(loopback\)' "HYBRID_FROB: the library ran managed"
[ "$(grep -c '^libhybrid: not an option' "$ERR")" -eq 1 ] && ok "HYBRID_FROB, loopback: said once" || bad "HYBRID_FROB, loopback: not said once"
# A bad value of a real option beside it still stops the library, in one line.
run env HYBRID_FROB=1 HYBRID_EPOCH=5x LD_PRELOAD="$LIB" "$TRUE"
expect_status 0 "bad value: the program runs"
expect_err '^libhybrid: HYBRID_EPOCH: invalid duration "5x".*; running unmanaged$' "bad value: named"
expect_err_lines 1 "bad value: one line"

# Asked for hybrid placement on a machine with one tier: said, then unchanged.
nodes=$(ls -d /sys/devices/system/node/node[0-9]* | wc -l)
if [ "$nodes" -eq 1 ]; then
	run env HYBRID_MODE=hybrid LD_PRELOAD="$LIB" "$BUILD/examples/version"
	expect_status 0 "one tier, mode hybrid: runs"
	expect_err '^libhybrid: one memory tier \(nodes 0\): running the program unchanged$' "one tier: said"
	expect_out '^libhybrid [0-9.]+ \(headers [0-9.]+\)$' "one tier: output intact"
fi
run "$BUILD/examples/version"
expect_status 0 "example: headers and library agree"
expect_out 'error -EINVAL reads: Invalid argument' "hybrid_strerror"
expect_err_lines 0 "linked, default config: silent"
finish
