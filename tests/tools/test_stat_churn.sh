#!/usr/bin/env bash
# The live statistics leave nothing behind (issue 18): every managed process
# publishes a live entry, and however it ends -- _exit without exit handlers
# (10,000 forked children), kill -9 while live (100) -- nothing of it is left
# on any file system, `hybridctl stat` lists none of them and still lists a
# live one, and `hybridctl stat DEADPID` says in one line that it is gone.
# churn_probe (tests/tools/churn_probe.c) forks the children under the
# preload, on the loopback pair; each child checks that it held its entry
# before it ended.  Processes of other users or sessions may come and go
# meanwhile: only ours are judged.
# usage: test_stat_churn.sh BUILD_DIR SOURCE_DIR
# (CHURN_EXIT, CHURN_KILL: other counts than 10000 and 100)
set -u
BUILD=$(cd "$1" && pwd) SRC=$2
CTL=$BUILD/tools/hybridctl
LIB=$BUILD/lib/libhybrid.so
PROBE=$BUILD/tests/tools/churn_probe
N_EXIT=${CHURN_EXIT:-10000} N_KILL=${CHURN_KILL:-100}
. "$SRC/tests/tools/lib.sh"
unset $(env | grep -o '^HYBRID_[A-Z_]*') 2>/dev/null
tmp=$(mktemp -d)
jobs_=()
cleanup() {
	exec 3>&- 4>&- 2>/dev/null
	for j in "${jobs_[@]}"; do kill -9 "$j" 2>/dev/null; done
	rm -rf "$tmp" "$OUT" "$ERR"
}
trap cleanup EXIT

# preloaded on the loopback pair: the whole process is hybrid, goes live at
# its first malloc
managed=(env LD_PRELOAD="$LIB" HYBRID_MODE=hybrid HYBRID_FAST_NODES=0 HYBRID_SLOW_NODES=0)
# hold N FD TAG: churn_probe hold N in the background (env execs it: $! is
# the probe), its stdin a fifo kept open as FD; waits (3 min at most) for
# "ready N"; sets hjob; the children are killed at the end in any case
hold() {
	mkfifo "$tmp/$3.in"
	"${managed[@]}" "$PROBE" hold "$1" "$tmp/$3.rec" <"$tmp/$3.in" >"$tmp/$3.out" 2>"$tmp/$3.err" &
	hjob=$!
	jobs_+=("$hjob")
	eval "exec $2>\"\$tmp/\$3.in\""
	for _ in $(seq 1800); do grep -q '^ready' "$tmp/$3.out" && break; kill -0 "$hjob" 2>/dev/null || break; sleep 0.1; done
	jobs_+=($(awk '/^child/ {print $2}' "$tmp/$3.out"))
	grep -q "^ready $1\$" "$tmp/$3.out"
}
# listed: the pids `hybridctl stat --json` lists, one a line
listed() {
	"$CTL" stat --json | python3 -c 'import json, sys; print("\n".join(str(p["pid"]) for p in json.load(sys.stdin)))'
}
now() { date +%s.%N; }

run "$CTL" -F 0 -S 0 --show
[ "$status" -eq 0 ] || skip_all "no loopback pair here: $(cat "$ERR")"

# --- a live process, running all along -----------------------------------
if ! hold 1 3 keeper; then
	last="churn_probe hold 1"; bad "no managed process goes live: $(cat "$tmp/keeper.out" "$tmp/keeper.err")"
	finish; exit
fi
keeper=$(awk '/^child/ {print $2}' "$tmp/keeper.out") kjob=$hjob
[ -n "$(live_fds "$keeper")" ] && ok "a live process ($keeper) holds its entry" || bad "the live process $keeper holds no entry"

# --- N_EXIT children that end by _exit, no exit handler run ------------------
t0=$(now)
run "${managed[@]}" "$PROBE" exit "$N_EXIT" "$tmp/exit.rec"
t1=$(now)
expect_status 0 "_exit: churn_probe ran"
expect_out "^exited $N_EXIT: $N_EXIT with an entry, 0 without, 0 otherwise\$" \
	"_exit: $N_EXIT children, each held a live entry when it called _exit"
echo "     ($N_EXIT forks in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s)"

# --- N_KILL children killed with kill -9 while live --------------------------
if ! hold "$N_KILL" 4 victims; then
	last="churn_probe hold"; bad "kill -9: the children did not all go live: $(tail -3 "$tmp/victims.out" "$tmp/victims.err")"
	finish; exit
fi
vjob=$hjob
victims=$(awk '/^child/ {print $2}' "$tmp/victims.out")
listed >"$tmp/before"
n=$(grep -cxF -f <(echo "$victims") "$tmp/before")
[ "$n" -eq "$N_KILL" ] && ok "kill -9: before, all $N_KILL listed" || { last="hybridctl stat --json"; bad "kill -9: before, $n of $N_KILL listed"; }
t0=$(now)
"$CTL" stat >/dev/null
t1=$(now)
echo "     (hybridctl stat listed $(wc -l <"$tmp/before") processes of $(ls -d /proc/[0-9]* 2>/dev/null | wc -l) in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s)"
kill -9 $victims
# until reaped they are zombies: nothing of their entries is left all the same
for _ in $(seq 600); do
	z=0
	for p in $victims; do [ "$(awk '/^State:/ {print $2}' /proc/"$p"/status 2>/dev/null)" = Z ] && z=$((z + 1)); done
	[ "$z" -eq "$N_KILL" ] && break
	sleep 0.1
done
[ "$z" -eq "$N_KILL" ] && ok "kill -9: all $N_KILL killed, not reaped yet (zombies)" || bad "kill -9: $z of $N_KILL zombies"
zpid=${victims%%$'\n'*}
run "$CTL" stat "$zpid"
expect_status 1 "zombie: stat PID fails"
expect_err "^hybridctl: pid $zpid: no live statistics" "zombie: no live statistics"
expect_err_lines 1 "zombie: one line"
expect_empty_out "zombie: nothing on stdout"
listed >"$tmp/zombies"
n=$(grep -cxF -f <(echo "$victims") "$tmp/zombies")
[ "$n" -eq 0 ] && ok "zombie: none listed" || { last="hybridctl stat --json"; bad "zombie: $n listed"; }
echo reap >&4
for _ in $(seq 600); do grep -q '^reaped' "$tmp/victims.out" && break; sleep 0.1; done
grep -q "^reaped $N_KILL, $N_KILL by SIGKILL\$" "$tmp/victims.out" && ok "kill -9: all reaped, all died of SIGKILL" \
	|| { last="churn_probe hold"; bad "kill -9: $(tail -1 "$tmp/victims.out")"; }
exec 4>&-
wait "$vjob"

# --- afterwards ---------------------------------------------------------------
# nothing on any file system: the former channel's files, by exact name
# (PID-START of every child: other sessions' files are not ours to judge)
cat "$tmp/exit.rec" "$tmp/victims.rec" | awk '{ print $1 "-" $2; print "." $1 "-" $2 ".tmp" }' >"$tmp/names"
[ "$(wc -l <"$tmp/names")" -eq $((2 * (N_EXIT + N_KILL))) ] && ok "every child recorded ($((N_EXIT + N_KILL)))" \
	|| bad "$(($(wc -l <"$tmp/names") / 2)) children recorded, not $((N_EXIT + N_KILL))"
ls -A /dev/shm/libhybrid-* /run/user/*/libhybrid 2>/dev/null | grep -xF -f "$tmp/names" >"$tmp/left"
[ ! -s "$tmp/left" ] && ok "no file left under /dev/shm/libhybrid-* or /run/user/*/libhybrid" \
	|| { last="ls"; bad "$(wc -l <"$tmp/left") files left, e.g. $(head -3 "$tmp/left" | tr '\n' ' ')"; }

listed >"$tmp/after"
dead=$(cut -d' ' -f1 "$tmp/exit.rec" "$tmp/victims.rec")
# a dead child listed: its pid gone, or still a churn_probe (a pid given to
# another process since is that process's to be listed)
n=0
for p in $(grep -xF -f <(echo "$dead") "$tmp/after"); do
	c=$(cat /proc/"$p"/comm 2>/dev/null)
	[ -z "$c" ] || [ "$c" = churn_probe ] && n=$((n + 1))
done
[ "$n" -eq 0 ] && ok "hybridctl stat lists no dead process" || { last="hybridctl stat --json"; bad "$n dead children listed"; }
grep -qxF "$keeper" "$tmp/after" && ok "hybridctl stat still lists the live one ($keeper)" \
	|| { last="hybridctl stat --json"; bad "the live process $keeper not listed"; }
run "$CTL" stat "$keeper"
expect_status 0 "stat LIVEPID: shown"
expect_out "^pid $keeper \\(churn_probe\\)" "stat LIVEPID: its own view"

gone=
for p in $(tac "$tmp/victims.rec" "$tmp/exit.rec" | cut -d' ' -f1); do
	[ -e /proc/"$p" ] || { gone=$p; break; }
done
if [ -z "$gone" ]; then
	skip "stat DEADPID: every dead child's pid is in use again"
else
	run "$CTL" stat "$gone"
	expect_status 1 "stat DEADPID: fails"
	expect_err "^hybridctl: pid $gone: no such process\$" "stat DEADPID: says it is gone"
	expect_err_lines 1 "stat DEADPID: one line"
	expect_empty_out "stat DEADPID: nothing on stdout"
fi
# the live one ends too, and its parent reaps it
kill "$keeper"
echo reap >&3
exec 3>&-
wait "$kjob"
finish
