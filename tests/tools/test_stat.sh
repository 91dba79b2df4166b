#!/usr/bin/env bash
# The live statistics channel (lib/export_chan.c, the writer lib/export.c) and `hybridctl stat`: published
# while a process runs, readable only by its user and root, gone when it ends,
# a stale entry (kill -9, pid reused, exec) ignored and removed; the exit
# report's file rules; no malloc and no system call on the publishing side.
# export_probe drives the exporter without the preload layer; hot_workload
# runs under hybridctl for the real thing.
# usage: test_stat.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$(cd "$1" && pwd) SRC=$2
CTL=$BUILD/tools/hybridctl
PROBE=$BUILD/tests/tools/export_probe
WORK=$BUILD/tests/tools/hot_workload
. "$SRC/tests/tools/lib.sh"
unset $(env | grep -o '^HYBRID_[A-Z_]*') 2>/dev/null
tmp=$(mktemp -d)
jobs_=()
cleanup() {
	for j in "${jobs_[@]}"; do kill -9 "$j" 2>/dev/null; done
	rm -rf "$tmp" "$OUT" "$ERR"
}
trap cleanup EXIT
chmod 755 "$tmp"

"$PROBE" start >"$tmp/start" 2>&1
case $? in
0) ;;
77) skip_all "$(cat "$tmp/start")" ;;
*) echo "export_probe cannot publish here: $(cat "$tmp/start")"; exit 1 ;;
esac

uid=$(id -u)
# entry_of PID: this user's entry file(s) for PID
entry_of() { ls -d /run/user/"$uid"/libhybrid/"$1"-* /dev/shm/libhybrid-"$uid"/"$1"-* 2>/dev/null; }
# field 22 of /proc/PID/stat
start_of() { sed 's/.*) //' /proc/"$1"/stat | cut -d' ' -f20; }
# json FIELD < json: a value by python path, e.g. '["counters"]["epochs"]'
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# probe MODE ARGS...: in the background until it says "ready PID"; sets ppid
probe() {
	"$PROBE" "$@" >"$tmp/probe.out" 2>"$tmp/probe.err" &
	pjob=$!
	jobs_+=("$pjob")
	for _ in $(seq 200); do grep -q '^ready' "$tmp/probe.out" && break; sleep 0.05; done
	ppid=$(awk '/^ready/ {print $2}' "$tmp/probe.out")
	[ -n "$ppid" ] || { echo "export_probe $* did not start: $(cat "$tmp/probe.out" "$tmp/probe.err")"; exit 1; }
}

# --- a live process: its entry, its counters, its end ------------------------
probe live 120 # ended by SIGUSR1 below, once the checks are done
entry=$(entry_of "$ppid")
[ -n "$entry" ] && ok "live: entry published" || { last="ls"; bad "live: no entry for $ppid"; }
[ "${entry##*/}" = "$ppid-$(start_of "$ppid")" ] && ok "live: named PID-STARTTIME" \
	|| { last="ls"; bad "live: entry named ${entry##*/}, not $ppid-$(start_of "$ppid")"; }
[ "$(stat -c '%a %u %F' "$entry")" = "600 $uid regular file" ] && ok "live: file 0600, ours" \
	|| { last="stat"; bad "live: file is $(stat -c '%a %u %F' "$entry")"; }
[ "$(stat -c '%a %u' "${entry%/*}")" = "700 $uid" ] && ok "live: directory 0700, ours" \
	|| { last="stat"; bad "live: directory is $(stat -c '%a %u' "${entry%/*}")"; }

run "$CTL" stat "$ppid"
expect_status 0 "stat PID"
expect_out "^pid $ppid \\(export_probe\\), libhybrid [0-9.]+, backend (async|sync|off), 2 tiers \\(loopback\\), epoch 50ms$" "stat PID: header"
expect_out '^up [0-9.]+ s, [0-9]+ epochs, policy thread CPU [0-9.]+ ms' "stat PID: epochs, policy CPU"
expect_out ', library memory [0-9.]+ [KMGT]?i?B$' "stat PID: the library's own memory"
expect_out '^ +tier 0 +tier 1 +total$' "stat PID: a column per tier"
expect_out '^nodes +0 +0$' "stat PID: nodes of each tier"
expect_out '^managed +[0-9.]+ [KMG]?i?B +[0-9.]+ [KMG]?i?B +16.0 MiB$' "stat PID: bytes per tier"
expect_out '^ +total +per second' "stat PID: totals and rates"
for row in 'promoted pages' 'promoted bytes' 'demoted pages' 'demoted bytes' 'failed: busy or pinned' \
	   'failed: shared' 'failed: no memory' 'failed: not present' 'failed: other' 'thrash pages'; do
	expect_out "^$row +[0-9]" "stat PID: $row"
done
expect_err_lines 0 "stat PID: nothing on stderr"

run "$CTL" stat "$ppid" --json
expect_status 0 "stat PID --json"
python3 -m json.tool <"$OUT" >/dev/null && ok "--json parses (python3 -m json.tool)" || bad "--json does not parse"
e1=$(json '["counters"]["epochs"]' <"$OUT") a1=$(json '["counters"]["pages_armed"]' <"$OUT")
[ "$(json '["pid"]' <"$OUT")" = "$ppid" ] && ok "--json: pid" || bad "--json: pid"
[ "$(json '["tiers"][1]["nodes"]' <"$OUT")" = "0" ] && ok "--json: tiers with nodes" || bad "--json: tiers"
sleep 0.6
run "$CTL" stat "$ppid" -j
e2=$(json '["counters"]["epochs"]' <"$OUT") a2=$(json '["counters"]["pages_armed"]' <"$OUT")
[ "$e2" -gt "$e1" ] && ok "counters grow: epochs $e1 -> $e2" || bad "epochs did not grow: $e1 -> $e2"
[ "$a2" -gt "$a1" ] && ok "counters grow: pages armed $a1 -> $a2" || bad "pages armed did not grow: $a1 -> $a2"
# self_bytes: set by every epoch; once one has ended (a second began), at least the
# tracker's bitmap of the 16 MiB managed (a bit a page) -- waited for, 30 s at most
for _ in $(seq 300); do
	run "$CTL" stat "$ppid" -j
	[ "$(json '["counters"]["epochs"]' <"$OUT")" -ge 2 ] && break
	sleep 0.1
done
self=$(json '["self_bytes"]' <"$OUT")
[ "$self" -ge $((16 << 20 >> 12 >> 3)) ] && ok "--json: self_bytes $self" \
	|| bad "--json: self_bytes $self, less than the 16 MiB's tracking bitmap"

run "$CTL" stat "$ppid" --interval=0.2 --count=3
expect_status 0 "stat PID -i -c"
[ "$(grep -c "^pid $ppid " "$OUT")" -eq 3 ] && ok "--count=3: three reports" || bad "--count=3: not three reports"
expect_out '^ +total +per second \(over 0\.[0-9] s\)$' "--interval: rates over the interval"
run "$CTL" stat "$ppid" -j -i 0.1 -c 2
[ "$(wc -l <"$OUT")" -eq 2 ] && python3 -m json.tool --json-lines <"$OUT" >/dev/null \
	&& ok "-j -i: one JSON object per line" || bad "-j -i: not JSON lines"

run "$CTL" stat
expect_status 0 "stat: list"
expect_out '^PID +COMMAND +BACKEND +TIERS +MANAGED +FAST TIER +PROMOTED +DEMOTED +EPOCHS +UPTIME$' "list: header"
expect_out "^$ppid +export_probe +(async|sync|off) +2 +16.0 MiB " "list: the process"
run "$CTL" stat --json
python3 -c "import json,sys; l=json.load(sys.stdin); sys.exit(0 if $ppid in [p['pid'] for p in l] else 1)" <"$OUT" \
	&& ok "list --json: an array holding the process" || bad "list --json"

kill -USR1 "$pjob"
wait "$pjob"
[ -z "$(entry_of "$ppid")" ] && ok "ended: entry removed" || { last="ls"; bad "ended: entry left"; }
run "$CTL" stat "$ppid"
expect_status 1 "ended: stat PID fails"
expect_err "^hybridctl: pid $ppid: no such process$" "ended: says so"
expect_err_lines 1 "ended: one line"
expect_empty_out "ended: nothing on stdout"
run "$CTL" stat
expect_no_out "^$ppid " "ended: not listed"

# --- kill -9: the entry stays behind, is ignored, and the lister removes it --
probe hang
entry=$(entry_of "$ppid")
kill -9 "$pjob"; wait "$pjob" 2>/dev/null
[ -e "$entry" ] && ok "kill -9: entry left behind" || { last="ls"; bad "kill -9: no entry left (case not exercised)"; }
cp "$entry" "$tmp/dead-entry"
run "$CTL" stat "$ppid"
expect_status 1 "kill -9: stat PID fails"
expect_err "pid $ppid: no such process" "kill -9: no such process"
run "$CTL" stat
expect_no_out "^$ppid " "kill -9: not listed"
[ ! -e "$entry" ] && ok "kill -9: stale entry removed by the lister" || { last="ls"; bad "kill -9: stale entry kept"; }

# --- a later managed process sweeps stale entries at its first epoch ----------
# (no hybridctl stat in between: entries of dead processes must not pile up)
probe hang
entry=$(entry_of "$ppid")
kill -9 "$pjob"; wait "$pjob" 2>/dev/null
sleep 30 & lpid=$!; jobs_+=("$lpid")	# a live process's entry must stay
live="${entry%/*}/$lpid-$(start_of "$lpid")"
cp "$tmp/dead-entry" "$live"; chmod 600 "$live"
[ -e "$entry" ] && ok "sweep: a dead process's entry left behind" || { last="ls"; bad "sweep: no entry left (case not exercised)"; }
"$CTL" -F 0 -S 0 -e 100ms -- "$WORK" 8 1 120 >"$tmp/s.out" 2>"$tmp/s.err" &
sjob=$!; jobs_+=("$sjob")
for _ in $(seq 200); do [ ! -e "$entry" ] && break; sleep 0.05; done
[ ! -e "$entry" ] && ok "sweep: removed by the next managed process's first epoch" || { last="ls"; bad "sweep: stale entry kept"; }
[ -e "$live" ] && ok "sweep: a live process's entry kept" || { last="ls"; bad "sweep: a live process's entry removed"; }
kill -USR1 "$sjob"; wait "$sjob" 2>/dev/null
rm -f "$live"; kill "$lpid" 2>/dev/null

# --- a pid reused: same pid, another start time ------------------------------
sleep 30 & spid=$!; jobs_+=("$spid")
sstart=$(start_of "$spid")
dir=${entry%/*}
python3 - "$tmp/dead-entry" "$dir/$spid-$((sstart + 1))" "$spid" "$((sstart + 1))" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
struct.pack_into("<i", b, 16, int(sys.argv[3]))     # pid
struct.pack_into("<Q", b, 24, int(sys.argv[4]))     # starttime
open(sys.argv[2], "wb").write(b)
PY
chmod 600 "$dir/$spid-$((sstart + 1))"
run "$CTL" stat "$spid"
expect_status 1 "pid reused: stat PID fails"
expect_err "pid $spid: no live statistics" "pid reused: not taken for the live process"
run "$CTL" stat
expect_no_out "^$spid " "pid reused: not listed"
[ ! -e "$dir/$spid-$((sstart + 1))" ] && ok "pid reused: stale entry removed" || { last="ls"; bad "pid reused: entry kept"; }
kill "$spid"

# --- exec into an unmanaged program: same pid and start, file no longer mapped
probe exec sleep 3
for _ in $(seq 100); do [ "$(cat /proc/"$ppid"/comm 2>/dev/null)" = sleep ] && break; sleep 0.05; done
entry=$(entry_of "$ppid")
[ -n "$entry" ] && ok "exec: entry of the old image still there" || { last="ls"; bad "exec: no entry (case not exercised)"; }
run "$CTL" stat "$ppid"
expect_status 1 "exec: stat PID fails"
expect_err "pid $ppid: no live statistics" "exec: the old image's view is not shown"
[ -z "$(entry_of "$ppid")" ] && ok "exec: stale entry removed" || { last="ls"; bad "exec: stale entry kept"; }
kill "$pjob" 2>/dev/null; wait "$pjob" 2>/dev/null

# --- fork: the child publishes its own view ----------------------------------
probe fork 3
for _ in $(seq 100); do grep -q '^child' "$tmp/probe.out" && break; sleep 0.05; done
cpid=$(awk '/^child/ {print $2}' "$tmp/probe.out")
sleep 0.3
run "$CTL" stat
expect_out "^$ppid +export_probe " "fork: parent listed"
expect_out "^${cpid:-none} +export_probe " "fork: child listed with its own pid"
run "$CTL" stat "${cpid:-0}" -j
[ "$(json '["pid"]' <"$OUT" 2>/dev/null)" = "$cpid" ] && ok "fork: the child's view is the child's" || bad "fork: child's view"
# the child works 1.5 s, the parent 3 s
for _ in $(seq 40); do [ -z "$(entry_of "$cpid")" ] && break; sleep 0.05; done
[ -z "$(entry_of "$cpid")" ] && ok "fork: child's entry gone with it" || { last="ls"; bad "fork: child's entry left"; }
[ -n "$(entry_of "$ppid")" ] && ok "fork: parent's entry untouched" || { last="ls"; bad "fork: parent's entry removed"; }
wait "$pjob"

# --- another user cannot read it ---------------------------------------------
if [ "$uid" -eq 0 ] && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
	asnobody() { setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups "$@"; }
	probe live 5
	entry=$(entry_of "$ppid")
	run asnobody "$CTL" stat "$ppid"
	expect_status 1 "other user: stat PID refused"
	expect_err "pid $ppid: permission denied" "other user: permission denied"
	expect_empty_out "other user: no counters shown"
	run asnobody "$CTL" stat "$ppid" --json
	expect_empty_out "other user: no JSON either"
	run asnobody "$CTL" stat
	expect_no_out "^$ppid " "other user: not in their list"
	run asnobody cat "$entry"
	[ "$status" -ne 0 ] && ok "other user: entry file unreadable" || bad "other user: read the entry"
	run asnobody ls "${entry%/*}"
	[ "$status" -ne 0 ] && ok "other user: directory unlistable" || bad "other user: listed the directory"
	run "$CTL" stat "$ppid"
	expect_status 0 "root reads it"
	kill "$pjob"; wait "$pjob" 2>/dev/null

	# a directory that is not private to the user is never used
	nuid=$(id -u nobody) ndir=/dev/shm/libhybrid-$(id -u nobody)
	if [ -e "$ndir" ] || [ -L "$ndir" ] || [ -d /run/user/"$nuid" ]; then
		skip "directory checks: $ndir or /run/user/$nuid exists already"
	else
		mkdir -m 0700 "$tmp/elsewhere" && chown nobody "$tmp/elsewhere"
		for how in "mode 0755|mkdir -m 0755 $ndir && chown nobody $ndir" \
			   "owned by root|mkdir -m 0700 $ndir" \
			   "a symbolic link|ln -s $tmp/elsewhere $ndir"; do
			what=${how%%|*}
			sh -c "${how#*|}"
			run asnobody "$PROBE" start
			expect_status 1 "directory $what: not used"
			expect_out '^start: (Operation not permitted|Permission denied|Not a directory)$' "directory $what: refused"
			[ -z "$(ls -A "$tmp/elsewhere")" ] && ok "directory $what: nothing written through it" \
				|| bad "directory $what: wrote through it"
			rm -rf "$ndir"
		done
		run asnobody "$PROBE" start
		expect_status 0 "fresh directory: created and used"
		[ "$(stat -c '%a %U' "$ndir" 2>/dev/null)" = "700 nobody" ] && ok "fresh directory: 0700, the user's" \
			|| bad "fresh directory: $(stat -c '%a %U' "$ndir" 2>&1)"
		rm -rf "$ndir"
	fi
else
	skip "other-user checks: not root (or no nobody/setpriv); they need both users"
fi

# --- the publishing side costs nothing: no malloc, no system call ------------
for mode in noalloc nosyscall; do
	run "$PROBE" $mode
	case $status in
	0) ok "$mode: $(tail -1 "$OUT")" ;;
	77) skip "$mode: $(tail -1 "$OUT")" ;;
	*) bad "$mode" ;;
	esac
done

# --- the exit report: where it goes ------------------------------------------
run "$PROBE" report "$tmp/r1"
expect_status 0 "report FILE"
[ "$(stat -c %a "$tmp/r1" 2>/dev/null)" = 600 ] && ok "report FILE: created 0600" || bad "report FILE: mode"
grep -qE '^pid [0-9]+ \(export_probe\)' "$tmp/r1" && grep -qE '^promoted pages +[0-9]+' "$tmp/r1" \
	&& ok "report FILE: the counters" || bad "report FILE: content"
expect_err_lines 0 "report FILE: silent"
echo keep >"$tmp/r2"
run "$PROBE" report "$tmp/r2"
expect_err "^libhybrid: HYBRID_STATS: $tmp/r2 exists; not overwritten \\(HYBRID_STATS=\\+$tmp/r2 appends\\)$" "report existing FILE: refused"
expect_err_lines 1 "report existing FILE: one line"
[ "$(cat "$tmp/r2")" = keep ] && ok "report existing FILE: unchanged" || bad "report existing FILE: changed"
run "$PROBE" report "+$tmp/r2"
run "$PROBE" report "+$tmp/r2"
[ "$(head -1 "$tmp/r2")" = keep ] && [ "$(grep -c '^pid ' "$tmp/r2")" -eq 2 ] \
	&& ok "report +FILE: appended, twice" || bad "report +FILE: $(grep -c '^pid ' "$tmp/r2") reports"
run "$PROBE" report "+$tmp/r3"
[ "$(stat -c %a "$tmp/r3" 2>/dev/null)" = 600 ] && ok "report +FILE: created 0600 when absent" || bad "report +new FILE"
ln -s "$tmp/target" "$tmp/link"
run "$PROBE" report "$tmp/link"
expect_err "$tmp/link exists; not overwritten" "report through a symlink: refused"
run "$PROBE" report "+$tmp/link"
expect_err "$tmp/link is a symbolic link; not followed" "report +symlink: refused"
[ ! -e "$tmp/target" ] && ok "report through a symlink: target untouched" || bad "report followed the symlink"
mkfifo "$tmp/fifo"
run timeout 10 "$PROBE" report "+$tmp/fifo"
expect_status 0 "report +FIFO: does not block"
expect_err "$tmp/fifo is not a regular file; nothing written" "report +FIFO: refused"
run "$PROBE" report stderr
expect_err '^libhybrid: pid [0-9]+ \(export_probe\)' "report stderr: the counters"
grep -qv '^libhybrid: ' "$ERR" && bad "report stderr: a line without the prefix" || ok "report stderr: every line prefixed"
expect_empty_out "report stderr: nothing on stdout"
run "$PROBE" report-closed
expect_err '^libhybrid: pid [0-9]+ \(export_probe\)' "report stderr: written though the program closed fd 2"

# --- the real thing: a program launched by hybridctl -------------------------
run "$CTL" -F 0 -S 0 --show
if [ "$status" -ne 0 ]; then
	skip "launched: no loopback pair here: $(cat "$ERR")"
else
	"$CTL" -F 0 -S 0 -e 100ms -- "$WORK" 32 8 120 >"$tmp/w.out" 2>"$tmp/w.err" & # ended by SIGUSR1
	wjob=$!; jobs_+=("$wjob")
	for _ in $(seq 200); do grep -q '^ready' "$tmp/w.out" && break; sleep 0.05; done
	[ "$(awk '/^ready/ {print $2}' "$tmp/w.out")" = "$wjob" ] && ok "launched: the command has hybridctl's pid (exec)" \
		|| bad "launched: pid $(cat "$tmp/w.out") is not $wjob"
	sleep 1.5
	run "$CTL" stat "$wjob" --json
	expect_status 0 "launched: stat PID"
	p1=$(json '["counters"]["promote_pages"]' <"$OUT" 2>/dev/null) e1=$(json '["counters"]["epochs"]' <"$OUT" 2>/dev/null)
	[ "$(json '["command"]' <"$OUT" 2>/dev/null)" = hot_workload ] && ok "launched: its command" || bad "launched: command"
	[ "${p1:-0}" -gt 0 ] && ok "launched: hot pages promoted ($p1)" || bad "launched: no promotions"
	sleep 0.5
	run "$CTL" stat "$wjob" --json
	e2=$(json '["counters"]["epochs"]' <"$OUT" 2>/dev/null)
	[ "${e2:-0}" -gt "${e1:-0}" ] && ok "launched: epochs grow ($e1 -> $e2)" || bad "launched: epochs $e1 -> $e2"
	kill -USR1 "$wjob"
	wait "$wjob"
	grep -q '^data intact$' "$tmp/w.out" && ok "launched: data intact" || { last=hot_workload; bad "launched: $(cat "$tmp/w.out")"; }
	[ -z "$(entry_of "$wjob")" ] && ok "launched: entry gone at exit" || { last="ls"; bad "launched: entry left"; }
fi

# --- stat's own usage errors: one line, exit 2 --------------------------------
for args in "abc|stat: \"abc\" is not a process id" "1 2|stat: one PID at most" \
	    "-i 0|stat --interval: invalid interval \"0\"" "-i x|invalid interval \"x\"" \
	    "--count=0|stat --count: invalid count \"0\"" "--frob|stat: unknown option --frob" \
	    "-i|stat: -i needs a value" "-z|stat: unknown option -z"; do
	a=${args%%|*} want=${args#*|}
	run "$CTL" stat $a
	expect_status 2 "stat $a: exit 2"; expect_err "$want" "stat $a: message"
	expect_err_lines 1 "stat $a: one line"; expect_empty_out "stat $a: no stdout"
done
run "$CTL" stat 1
expect_status 1 "stat 1: not managed"
expect_err "^hybridctl: pid 1: no live statistics" "stat 1: says so"
run "$CTL" stat 2147483647
expect_status 1 "stat of no process"
expect_err "no such process" "stat of no process: says so"
finish
