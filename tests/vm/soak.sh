#!/usr/bin/env bash
# A bounded soak on real tiers (issue 9): in the tiered VM (6.12, 2tier), one
# long-running managed process (hot_workload under hybridctl: a write-hot set
# in a larger heap) runs for DURATION seconds while the preload's stress
# programs (stress_mmap, stress_threads, stress_fork: threads mapping,
# remapping and unmapping, allocating, forking with copy-on-write checks) run
# one after the other under hybridctl beside it.  Every 10 s the long process
# is sampled: VmRSS and its number of mappings (/proc), and its live counters
# (hybridctl stat PID: epochs, managed bytes, promotions).  What is checked
# about the library waits for it, in epochs: a sample is taken once the epoch
# count has moved since the last one, the long process is stopped once it has
# had promotions, the warm-up is counted in epochs -- under TCG on a busy host
# a 200-ms epoch may take seconds.  Ceilings (60 s for an epoch, 120 s for the
# promotions and for the samples after the warm-up) only turn a stall into a
# failure.  Checked:
#   - counters grow sensibly: epochs rise at every sample, promotions happen,
#     the managed bytes of the unchanged heap stay what they were;
#   - no leak: after the warm-up (the first 30 s and 50 epochs) VmRSS grows
#     by at most 4 MiB and the mapping count by at most 8 over the rest of
#     the run;
#   - integrity: every stress run exits 0 with its ": ok" line, the long
#     process finds its data intact, and its live entry is gone after exit.
#
#   soak.sh host BUILD_DIR SOURCE_DIR [DURATION]        boots the VM (default 100 s)
#   soak.sh guest BUILD_DIR SOURCE_DIR DURATION          inside the VM
#
# Exit 0 pass, 1 fail, 77 no VM here (QEMU or kernels missing).
set -u
role=$1 BUILD=$(cd "$2" && pwd) SRC=$(cd "$3" && pwd) DURATION=${4:-100}
CTL=$BUILD/tools/hybridctl
WORK=$BUILD/tests/tools/hot_workload
STRESS=$BUILD/tests/preload
. "$SRC/tests/tools/lib.sh"

if [ "$role" = guest ]; then
	unset $(env | grep -o '^HYBRID_[A-Z_]*') LD_PRELOAD 2>/dev/null
	tmp=$(mktemp -d)
	run "$CTL" --hardware
	expect_out '^tiers: 2 ' "two tiers"
	# 96 MiB heap, its first 24 MiB written continuously; stopped with SIGUSR1
	# (its own end, an hour, never comes)
	"$CTL" --epoch=200ms -- "$WORK" 96 24 3600 >"$tmp/work.out" 2>"$tmp/work.err" &
	w=$!
	for _ in $(seq 600); do grep -q '^ready' "$tmp/work.out" && break; sleep 0.1; done
	last="hot_workload"
	grep -q "^ready $w\$" "$tmp/work.out" && ok "long process ready" || { bad "not ready: $(cat "$tmp/work.out" "$tmp/work.err")"; finish; exit; }

	# the stress programs, one after another, until the time is up
	(
		end=$((SECONDS + DURATION)) runs=0 bad=0
		while [ $SECONDS -lt $end ]; do
			for s in stress_mmap stress_threads stress_fork; do
				"$CTL" --epoch=200ms -- "$STRESS/$s" 0.03 >"$tmp/$s.out" 2>"$tmp/$s.err"
				st=$? runs=$((runs + 1))
				if [ $st -ne 0 ] || ! grep -q "^$s: ok\$" "$tmp/$s.out" || grep -q '^libhybrid:' "$tmp/$s.err"; then
					bad=$((bad + 1))
					echo "soak: $s failed (status $st):" >&2
					tail -5 "$tmp/$s.out" "$tmp/$s.err" >&2
				fi
			done
		done
		echo "$runs $bad" >"$tmp/stress.result"
	) &
	sp=$!

	# samples: seconds rss_kib maps epochs managed_bytes promoted_pages
	sample() {
		local rss maps ep man pro
		rss=$(awk '/^VmRSS:/ { print $2 }' /proc/$w/status 2>/dev/null)
		maps=$(wc -l </proc/$w/maps 2>/dev/null)
		"$CTL" stat "$w" >"$tmp/stat" 2>&1
		ep=$(sed -nE 's/^up .*, ([0-9]+) epochs,.*/\1/p' "$tmp/stat")
		man=$(awk '$1 == "managed" { v = $(NF - 1); u = $NF; m = u == "GiB" ? 1073741824 : u == "MiB" ? 1048576 : u == "KiB" ? 1024 : 1; printf "%d\n", v * m }' "$tmp/stat")
		pro=$(awk '$1 == "promoted" && $2 == "pages" { print $3 }' "$tmp/stat")
		echo "$1 ${rss:-0} ${maps:-0} ${ep:-0} ${man:-0} ${pro:-0}"
	}
	# count PATTERN: a figure of `hybridctl stat PID` now (sed, empty if none)
	count() { "$CTL" stat "$w" 2>/dev/null | sed -nE "$1"; }
	epochs_now() { count 's/^up .*, ([0-9]+) epochs,.*/\1/p'; }
	# take: a sample once the epoch count has moved since the last one (60 s
	# at most: a stall is then seen by the check over the samples)
	WARM=50 prev=-1
	take() {
		local end=$((SECONDS + 60))
		while ! [ "$(epochs_now)" -gt "$prev" ] 2>/dev/null && [ $SECONDS -lt $end ] &&
			kill -0 "$w" 2>/dev/null; do
			sleep 0.5
		done
		sample $((SECONDS - t0)) >>"$tmp/samples"
		prev=$(tail -1 "$tmp/samples" | awk '{ print $4 }')
	}
	t0=$SECONDS
	: >"$tmp/samples"
	# every 10 s for DURATION, then on until two samples are past the warm-up
	# (120 s more at most)
	while kill -0 "$w" 2>/dev/null; do
		el=$((SECONDS - t0))
		if [ $el -ge "$DURATION" ]; then
			[ "$(awk -v n=$WARM '$1 >= 30 && $4 >= n' "$tmp/samples" | wc -l)" -ge 2 ] && break
			[ $el -lt $((DURATION + 120)) ] || break
		fi
		take
		sleep 10
	done
	wait "$sp"
	# promotions: the hot set is promoted in some epoch; waited for (120 s
	# at most) before the program is stopped
	end=$((SECONDS + 120))
	while ! [ "$(count 's/^promoted pages +([0-9]+).*/\1/p')" -gt 0 ] 2>/dev/null &&
		[ $SECONDS -lt $end ] && kill -0 "$w" 2>/dev/null; do
		sleep 0.5
	done
	take
	kill -USR1 "$w"
	wait "$w"; wst=$?
	echo "soak: t(s) VmRSS(KiB) mappings epochs managed(B) promoted(pages)"
	sed 's/^/soak: /' "$tmp/samples"
	cp "$tmp/stat" "$tmp/stat.last"

	last="samples"
	read -r runs nbad <"$tmp/stress.result"
	echo "soak: stress runs $runs, failed $nbad"
	[ "$runs" -ge 3 ] && [ "$nbad" -eq 0 ] && ok "stress programs: $runs runs, all intact" || bad "stress programs: $nbad of $runs failed"
	[ "$wst" -eq 0 ] && grep -q '^data intact$' "$tmp/work.out" && ok "long process: data intact" \
		|| bad "long process: status $wst, $(tail -2 "$tmp/work.out")"
	n=$(wc -l <"$tmp/samples")
	[ "$n" -ge 4 ] && ok "$n samples" || bad "only $n samples"
	awk 'NR > 1 && $4 <= prev { bad = 1 } { prev = $4 } END { exit bad }' "$tmp/samples" \
		&& ok "epochs rise at every sample" || bad "epochs stalled: $(awk '{ printf "%s ", $4 }' "$tmp/samples")"
	pro=$(tail -1 "$tmp/samples" | awk '{ print $6 }')
	[ "$pro" -gt 0 ] && ok "promotions: $pro pages" || bad "no promotions"
	# after the warm-up: first sample at >= 30 s and WARM epochs against the last
	rss0=0 maps0=0 man0=0
	read -r _ rss0 maps0 _ man0 _ < <(awk -v n=$WARM '$1 >= 30 && $4 >= n' "$tmp/samples" | head -1)
	[ "$(awk -v n=$WARM '$1 >= 30 && $4 >= n' "$tmp/samples" | wc -l)" -ge 2 ] && ok "samples after the warm-up" \
		|| bad "fewer than 2 samples after the warm-up (30 s and $WARM epochs)"
	read -r _ rss1 maps1 _ man1 _ < <(tail -1 "$tmp/samples")
	echo "soak: after warm-up VmRSS ${rss0} -> ${rss1} KiB, mappings ${maps0} -> ${maps1}, managed ${man0} -> ${man1} B"
	[ $((rss1 - rss0)) -le 4096 ] && ok "VmRSS bounded (+$((rss1 - rss0)) KiB)" || bad "VmRSS grew by $((rss1 - rss0)) KiB"
	[ $((maps1 - maps0)) -le 8 ] && ok "mappings bounded (+$((maps1 - maps0)))" || bad "mappings grew by $((maps1 - maps0))"
	[ "$man0" -gt 0 ] && [ "$man1" -ge $((man0 * 95 / 100)) ] && [ "$man1" -le $((man0 * 105 / 100)) ] \
		&& ok "managed bytes steady ($man0 -> $man1)" || bad "managed bytes $man0 -> $man1"
	# the live entry is a memfd the process held (lib/export_chan.h): gone with
	# it, and no directory of the former channel made on the way
	run "$CTL" stat "$w"
	expect_status 1 "live entry gone after exit"
	left=$(ls -d /dev/shm/libhybrid-* /run/user/*/libhybrid 2>/dev/null)
	[ -z "$left" ] && ok "nothing left under /dev/shm or /run/user" || bad "left behind: $left"
	rm -rf "$tmp"
	finish
	exit
fi

# host
# the time limit only catches a hang: the guest waits for epochs, up to its ceilings
"$SRC/tests/vm/tiered-vm" --kernel 6.12 --topology 2tier --share "$BUILD" --timeout $((DURATION + 600)) \
	-- "$SRC/tests/vm/soak.sh" guest "$BUILD" "$SRC" "$DURATION"
vm_exit $? 6.12
