#!/usr/bin/env bash
# Shared memory read by another process while libhybrid migrates it, and the
# migrating process killed in the middle (issue 9), in the tiered VM (6.12,
# 2tier).  shm_migrate (tests/vm/shm_migrate.c) plays three roles:
#   writer  a MAP_SHARED memfd (the preload never manages shared mappings; the
#           API's hybrid_madvise takes them), filled once, moved between node 0
#           and node 1 again and again (HOT / COLD hints), under hybridctl
#           (so the library also runs as a preloaded, live-stats-publishing
#           process) with a 100 ms epoch and no promotion rate limit;
#   reader  a second process verifying every byte of the memfd pass after
#           pass, with pread(2) and through its own mapping, before, during
#           and after the kill;
#   killer  SIGKILL to the writer the moment one of its threads is inside
#           move_pages(2) (seen in /proc/PID/task/TID/syscall), once it has
#           completed at least 5 cycles.
# Checked: the writer really moved the range (cycles done, promotions and
# demotions counted), it died of SIGKILL inside move_pages, the reader saw
# every byte intact throughout (passes while the writer lived and after);
# the writer's live-stats entry (a memfd it held) went with it: `hybridctl
# stat PID` refuses it, `hybridctl stat` does not list it, and nothing of it
# is left on any file system.
#
#   test_shm_kill.sh host BUILD_DIR SOURCE_DIR        boots the VM
#   test_shm_kill.sh guest BUILD_DIR SOURCE_DIR       inside the VM
#
# Exit 0 pass, 1 fail, 77 no VM here (QEMU or kernel 6.12 missing).
set -u
role=$1 BUILD=$(cd "$2" && pwd) SRC=$(cd "$3" && pwd)
CTL=$BUILD/tools/hybridctl SHM=$BUILD/tests/vm/shm_migrate
MIB=32
. "$SRC/tests/tools/lib.sh"
status=0 last=""

if [ "$role" = guest ]; then
	unset $(env | grep -o '^HYBRID_[A-Z_]*') LD_PRELOAD 2>/dev/null
	tmp=$(mktemp -d)
	last="writer"
	"$CTL" --epoch=100ms --promote-rate=0 -- "$SHM" writer $MIB >"$tmp/w.out" 2>"$tmp/w.err" &
	w=$!
	for _ in $(seq 600); do grep -q '^ready' "$tmp/w.out" && break; kill -0 $w 2>/dev/null || break; sleep 0.1; done
	read -r _ wpid wfd < <(grep '^ready' "$tmp/w.out")
	[ "${wpid:-}" = "$w" ] && ok "writer ready (pid $w, memfd $wfd, $MIB MiB MAP_SHARED, hinted COLD)" \
		|| { bad "writer not ready: $(cat "$tmp/w.out" "$tmp/w.err")"; kill -9 $w 2>/dev/null; finish; exit; }
	"$SHM" reader "$w" "$wfd" $MIB "$tmp/stop" >"$tmp/r.out" 2>&1 &
	r=$!
	# let it migrate under the reader: 5 cycles (the first finds the range on node 0
	# already) and two passes of the reader's while the writer lives -- events, waited
	# for however long a busy host makes them (600-s ceiling: a hang)
	for _ in $(seq 6000); do
		grep -q '^cycle 5:' "$tmp/w.out" && grep -q '^reader: pass 1, writer alive$' "$tmp/r.out" && break
		kill -0 $w 2>/dev/null || break
		sleep 0.1
	done
	grep -q '^cycle 5:' "$tmp/w.out" && ok "5 migration cycles done while the reader reads" \
		|| bad "fewer than 5 cycles: $(tail -3 "$tmp/w.out") $(tail -3 "$tmp/w.err")"
	[ -n "$(live_fds "$w")" ] && ok "the writer publishes a live entry (a memfd it holds)" \
		|| bad "the writer holds no live entry (the check after the kill proves nothing)"
	# SIGKILL the moment a thread of the writer is in move_pages; the writer keeps
	# cycling, so that comes (300-s ceiling)
	"$SHM" killer "$w" 300 >"$tmp/k.out"
	kst=$?
	wait $w
	wst=$?
	cat "$tmp/k.out" | sed 's/^/     /'
	sed 's/^/     writer: /' "$tmp/w.out" "$tmp/w.err"
	[ $kst -eq 0 ] && ok "killed inside move_pages" || bad "not killed inside move_pages: $(cat "$tmp/k.out")"
	[ $wst -eq 137 ] && ok "writer died of SIGKILL (status $wst)" || bad "writer status $wst"
	last="stats"
	pro=$(sed -nE 's/.*promoted ([0-9]+) demoted ([0-9]+) pages.*/\1 \2/p' "$tmp/w.out" | tail -1)
	read -r np nd <<<"${pro:-0 0}"
	[ "$np" -gt 0 ] && [ "$nd" -gt 0 ] && ok "the shared range really moved: $np pages promoted, $nd demoted" \
		|| bad "promoted $np, demoted $nd"
	# the reader goes on after the kill: a whole pass begun after the writer was
	# gone (its line says so), however long a pass takes (120-s ceiling)
	for _ in $(seq 1200); do grep -q '^reader: pass [0-9]*, writer gone$' "$tmp/r.out" && break; sleep 0.1; done
	touch "$tmp/stop"
	wait $r
	rst=$?
	last="reader"
	grep -v '^reader: pass [0-9]*, writer' "$tmp/r.out" | sed 's/^/     /'
	res=$(grep -E '^reader: [0-9]+ passes' "$tmp/r.out")
	read -r during after <<<"$(sed -nE 's/^reader: ([0-9]+) passes while the writer lived, ([0-9]+) after.*/\1 \2/p' <<<"$res")"
	[ $rst -eq 0 ] && grep -q ', 0 differed$' <<<"$res" && ok "reader: every byte intact ($res)" \
		|| bad "reader: status $rst: $(tail -5 "$tmp/r.out")"
	[ "${during:-0}" -ge 2 ] && [ "${after:-0}" -ge 1 ] && ok "reader: $during passes during the migrations, $after after the kill" \
		|| bad "reader: passes during $during, after $after"

	# the live-stats entry of the killed writer: gone with it
	last="live entry"
	run "$CTL" stat "$w"
	[ "$status" -ne 0 ] && ok "hybridctl stat $w: refused (status $status: $(head -1 "$ERR"))" || bad "hybridctl stat $w showed the dead process"
	run "$CTL" stat
	expect_no_out "^$w " "hybridctl stat: the killed writer not listed"
	left=$(ls -d /dev/shm/libhybrid-* /run/user/*/libhybrid 2>/dev/null)
	[ -z "$left" ] && ok "nothing of $w left under /dev/shm or /run/user" || bad "left behind: $left"
	rm -rf "$tmp"
	finish
	exit
fi

# host
# the time limit only catches a hang: the guest waits for events, up to its ceilings
"$SRC/tests/vm/tiered-vm" --kernel 6.12 --topology 2tier --share "$BUILD" --timeout 1200 \
	-- "$SRC/tests/vm/test_shm_kill.sh" guest "$BUILD" "$SRC"
vm_exit $? 6.12
