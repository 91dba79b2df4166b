#!/usr/bin/env bash
# A real program under the fault-injecting build of the library
# (build/lib/fi/libhybrid.so: lib/fault.h compiled in), on the loopback tier
# pair so that the engine works for real: whatever the kernel refuses, the
# program's output and exit status are those of a plain run, the counters
# show the failures, and the policy thread's CPU stays bounded (no retry
# storm).
# usage: test_faults_preload.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$1 SRC=$2
LIB=$BUILD/lib/fi/libhybrid.so
PROG=$BUILD/tests/tools/hot_workload
. "$SRC/tests/tools/lib.sh"
unset $(env | grep -o '^HYBRID_[A-Z_]*') 2>/dev/null
[ -x "$PROG" ] && [ -e "$LIB" ] || skip_all "$PROG or $LIB not built"
tmp=$(mktemp -d); trap 'rm -rf "$tmp" "$OUT" "$ERR"' EXIT

# the program prints its pid: compare without it
norm() { sed 's/^ready [0-9]*$/ready PID/' "$1"; }

run "$PROG" 32 8 2
expect_status 0 "plain run"
norm "$OUT" >"$tmp/plain"

# faults=SPEC  counter-line-that-must-be-nonzero-or-"-"  expected-libhybrid-stderr-regex
check() {
	local spec=$1 counter=$2 msg=$3 stats="$tmp/stats.$RANDOM"

	run env LD_PRELOAD="$LIB" LIBHYBRID_TEST_FAULTS="$spec" HYBRID_FAST_NODES=0 \
		HYBRID_SLOW_NODES=0 HYBRID_EPOCH=100ms HYBRID_TRACK_OVERHEAD=100 \
		HYBRID_STATS="$stats" "$PROG" 32 8 2
	expect_status 0 "$spec: same exit status"
	norm "$OUT" | cmp -s - "$tmp/plain" && ok "$spec: same output" ||
		bad "$spec: output differs from the plain run"
	if [ -n "$msg" ]; then
		[ "$(grep -c '^libhybrid:' "$ERR")" -eq 1 ] && expect_err "$msg" "$spec: said once" ||
			bad "$spec: want exactly one libhybrid line on stderr"
	else
		! grep -q '^libhybrid:' "$ERR" && ok "$spec: silent" || bad "$spec: stderr has libhybrid lines"
	fi
	[ -s "$stats" ] && ok "$spec: report written" || { bad "$spec: no report"; return; }
	if [ "$counter" != - ]; then
		n=$(awk -v c="$counter" 'index($0, c) == 1 { print $(NF - 1) }' "$stats")
		[ "${n:-0}" -gt 0 ] && ok "$spec: '$counter' counted ($n)" ||
			bad "$spec: '$counter' not counted"
	fi
	n=$(awk '$1 == "promoted" && $2 == "pages" { print $3 }' "$stats")
	[ "${n:-x}" = 0 ] && ok "$spec: nothing promoted" || bad "$spec: promoted $n pages"
	# policy thread CPU as a share of the run, "(0.93%)": far below 10%
	pct=$(grep -o 'policy thread CPU [0-9.]* ms ([0-9.]*%)' "$stats" | grep -o '[0-9.]*%' | tr -d %)
	awk -v p="${pct:-100}" 'BEGIN { exit !(p < 10) }' && ok "$spec: policy CPU ${pct}%" ||
		bad "$spec: policy CPU ${pct:-?}% (retry storm?)"
}

check move_pages=ENOMEM "failed: no memory" ""
check move_pages=EIO "failed: other" "move_pages: Input/output error"
check move_status=EBUSY "failed: busy or pinned" ""
check move_status=EACCES "failed: shared" ""
check uffd_open=EPERM - "access tracking off"
check pagemap_scan=EIO - ""

# the live entry cannot be made (a kernel without memfd_create): the process
# simply has no live view, and nothing else changes
env LD_PRELOAD="$LIB" LIBHYBRID_TEST_FAULTS=memfd=ENOSYS HYBRID_FAST_NODES=0 HYBRID_SLOW_NODES=0 \
	HYBRID_EPOCH=100ms "$PROG" 32 8 120 >"$tmp/m.out" 2>"$tmp/m.err" & # ended by SIGUSR1
m=$!
for _ in $(seq 600); do grep -q '^ready' "$tmp/m.out" && break; kill -0 "$m" 2>/dev/null || break; sleep 0.1; done
run "$BUILD/tools/hybridctl" stat "$m"
expect_status 1 "memfd=ENOSYS: no live view"
expect_err "^hybridctl: pid $m: no live statistics" "memfd=ENOSYS: hybridctl stat says so"
[ -z "$(live_fds "$m")" ] && ok "memfd=ENOSYS: no entry descriptor" || bad "memfd=ENOSYS: entry at $(live_fds "$m")"
kill -USR1 "$m"; wait "$m"; st=$?
last="hot_workload under memfd=ENOSYS"
[ "$st" -eq 0 ] && ok "memfd=ENOSYS: same exit status" || bad "memfd=ENOSYS: exit status $st"
norm "$tmp/m.out" | cmp -s - "$tmp/plain" && ok "memfd=ENOSYS: same output" || bad "memfd=ENOSYS: output $(cat "$tmp/m.out")"
! grep -q '^libhybrid:' "$tmp/m.err" && ok "memfd=ENOSYS: silent" || bad "memfd=ENOSYS: $(cat "$tmp/m.err")"
finish
