#!/usr/bin/env bash
# The library's lazy start (issue 17): under the preload, with the engine
# configured (the loopback pair), a process that uses no managed memory opens
# no userfaultfd, starts no policy thread and publishes no live entry; the
# first managed mapping brings all three.  A forked child of a live process
# starts with none of them (the parent's are let go of) and gets its own at
# its first use of managed memory (a malloc).  lazy_probe reports from
# inside, without allocating; the entry is looked for from outside (in the
# process's descriptor table).
# usage: test_lazy_start.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$(cd "$1" && pwd) SRC=$2
LIB=$BUILD/lib/libhybrid.so
PROBE=$BUILD/tests/tools/lazy_probe
. "$SRC/tests/tools/lib.sh"
unset $(env | grep -o '^HYBRID_[A-Z_]*') 2>/dev/null
tmp=$(mktemp -d)
trap 'exec 3>&- 2>/dev/null; rm -rf "$tmp" "$OUT" "$ERR"' EXIT

# start MODE ARGS...: lazy_probe under the preload, its stdin a fifo (fd 3)
start() {
	rm -f "$tmp/in" "$tmp/out"
	mkfifo "$tmp/in"
	env LD_PRELOAD="$LIB" HYBRID_FAST_NODES=0 HYBRID_SLOW_NODES=0 "$PROBE" "$@" \
		<"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
	pj=$!
	exec 3>"$tmp/in"
}
# line TAG: wait for the report TAG (60-s ceiling: the probe may be slow to
# get there on a busy machine), set rpid ruffd rthreads
line() {
	local l
	for _ in $(seq 1200); do
		l=$(grep "^$1 " "$tmp/out") && break
		sleep 0.05
	done
	[ -n "${l:-}" ] || { last="lazy_probe"; cp "$tmp/out" "$OUT"; cp "$tmp/err" "$ERR"; bad "no report '$1'"; finish; exit 1; }
	set -- $l
	rpid=$2 ruffd=${3#uffd=} rthreads=${4#threads=}
}
tell() { echo go >&3; }
stop() { exec 3>&-; wait "$pj"; status=$?; }

# --- a process that manages nothing ---------------------------------------
start idle
line idle
[ "$ruffd" = 0 ] && ok "idle: no userfaultfd" || bad "idle: $ruffd userfaultfds"
[ "$rthreads" = 1 ] && ok "idle: no policy thread" || bad "idle: $rthreads threads"
[ -z "$(live_fds "$rpid")" ] && ok "idle: no live entry" || bad "idle: live entry $(live_fds "$rpid")"
tell; stop
[ "$status" = 0 ] && ok "idle: exit 0" || bad "idle: exit $status"
[ ! -s "$tmp/err" ] && ok "idle: silent" || { cp "$tmp/err" "$ERR"; bad "idle: said something"; }

# --- the first managed mapping brings them --------------------------------
start map 16
line map
[ "$rthreads" = 2 ] && ok "map: policy thread started" || bad "map: $rthreads threads"
tracking=1
if [ "$ruffd" = 1 ]; then
	ok "map: one userfaultfd"
else
	tracking=0
	skip "map: no userfaultfd here ($ruffd): tracking is off on this machine"
fi
[ -n "$(live_fds "$rpid")" ] && ok "map: live entry published" || bad "map: no live entry"
tell; stop
[ "$status" = 0 ] && ok "map: exit 0" || bad "map: exit $status"
run "$BUILD/tools/hybridctl" stat "$rpid"
expect_status 1 "map: no live view after exit"

# --- fork: the child starts with nothing, and goes live at its first malloc -
start fork 16
line parent
line child
cpid=$rpid
[ "$ruffd" = 0 ] && ok "child: the parent's userfaultfd let go of" || bad "child: $ruffd userfaultfds"
[ "$rthreads" = 1 ] && ok "child: no policy thread yet" || bad "child: $rthreads threads"
[ -z "$(live_fds "$cpid")" ] && ok "child: no live entry yet" || bad "child: live entry before use"
tell
line child-malloc
[ "$rthreads" = 2 ] && ok "child after malloc: its own policy thread" || bad "child after malloc: $rthreads threads"
if [ $tracking = 1 ]; then
	[ "$ruffd" = 1 ] && ok "child after malloc: its own userfaultfd" || bad "child after malloc: $ruffd userfaultfds"
fi
[ -n "$(live_fds "$cpid")" ] && ok "child after malloc: its own live entry" || bad "child after malloc: no live entry"
run "$BUILD/tools/hybridctl" stat "$cpid"
expect_out "^pid $cpid \\(lazy_probe\\)" "child after malloc: hybridctl stat shows the child's own view"
tell; stop
[ "$status" = 0 ] && ok "fork: exit 0" || bad "fork: exit $status"
finish
