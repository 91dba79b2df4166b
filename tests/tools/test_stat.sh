#!/usr/bin/env bash
# The live statistics channel (lib/export_chan.c, the writer lib/export.c) and `hybridctl stat`: published
# while a process runs, in a sealed one-page memfd the process holds (found
# through /proc/PID/fd), readable only by its user and root, gone with the
# process however it ends (exit, kill -9, exec), a parent's entry held by a
# child never shown as the child's, an entry whose descriptor the program
# closed simply not found; the exit report's file rules; no malloc and no
# system call on the publishing side.
# export_probe drives the exporter without the preload layer; hot_workload
# runs under hybridctl for the real thing.  (tools.test_stat_churn: thousands
# of processes ending without exit handlers leave nothing behind.)
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
# field 22 of /proc/PID/stat
start_of() { sed 's/.*) //' /proc/"$1"/stat | cut -d' ' -f20; }
# old_entry PID START: a file the former channel would have made for the
# process (PID, START) -- there must never be one again
old_entry() {
	ls -d /dev/shm/libhybrid-*/"$1-$2" /dev/shm/libhybrid-*/".$1-$2.tmp" \
		/run/user/*/libhybrid/"$1-$2" /run/user/*/libhybrid/".$1-$2.tmp" 2>/dev/null
	return 0
}
# json FIELD < json: a value by python path, e.g. '["counters"]["epochs"]'
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# adds_up PID WHAT: the columns of PID's tier table add up to its total: in
# JSON exactly (managed_bytes = absent_bytes + each tier's bytes), in the text
# within the rounding of each column (0.05 of its unit)
adds_up() {
	run "$CTL" stat "$1" --json
	python3 -c '
import json, sys
d = json.load(sys.stdin)
parts = [t["bytes"] for t in d["tiers"]] + [d["absent_bytes"]]
sys.exit(0 if d["managed_bytes"] == sum(parts) and d["managed_bytes"] > 0 else 1)' <"$OUT" \
		&& ok "$2: JSON managed_bytes = absent_bytes + the tiers' bytes" || bad "$2: JSON columns do not add up"
	run "$CTL" stat "$1"
	python3 -c '
import re, sys
u = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
row = [l for l in sys.stdin if l.startswith("managed bytes ")][0].split()[2:]
v = [(float(row[i]), u[row[i + 1]]) for i in range(0, len(row), 2)]
cols, (tot, tu) = v[:-1], v[-1]
slack = sum(0.05 * un for _, un in v)
sys.exit(0 if len(cols) >= 3 and abs(sum(x * un for x, un in cols) - tot * tu) <= slack else 1)' <"$OUT" \
		&& ok "$2: text: tier columns + absent = total" || bad "$2: text columns do not add up"
}
# probe_said WORD: the probe's output has a line starting with WORD (or it died)
probe_said() { grep -q "^$1" "$tmp/probe.out" || ! kill -0 "$pjob" 2>/dev/null; }
# probe MODE ARGS...: in the background until it says "ready PID"; sets ppid
probe() {
	rm -f "$tmp/probe.out" # not the last probe's "ready" while this one starts
	"$PROBE" "$@" >"$tmp/probe.out" 2>"$tmp/probe.err" &
	pjob=$!
	jobs_+=("$pjob")
	wait_until probe_said ready
	ppid=$(awk '/^ready/ {print $2}' "$tmp/probe.out")
	[ -n "$ppid" ] || { echo "export_probe $* did not start: $(cat "$tmp/probe.out" "$tmp/probe.err")"; exit 1; }
}

# --- a live process: its entry, its counters, its end ------------------------
probe live 120 # ended by SIGUSR1 below, once the checks are done
pstart=$(start_of "$ppid")
fds=$(live_fds "$ppid")
fd=${fds%%$'\n'*}
[ -n "$fds" ] && ok "live: entry published (a memfd, descriptor $fd)" || { last="ls /proc/$ppid/fd"; bad "live: no entry for $ppid"; }
[ "$(wc -w <<<"$fds")" -le 1 ] && ok "live: one entry" || { last="ls /proc/$ppid/fd"; bad "live: entries at $fds"; }
[ "${fd:-0}" -ge 512 ] && ok "live: descriptor out of the program's way (>= 512)" || bad "live: descriptor ${fd:-none}"
# fdinfo's flags are octal: O_CLOEXEC is 02000000
flags=$(awk '/^flags:/ {print $2}' /proc/"$ppid"/fdinfo/"${fd:-x}" 2>/dev/null)
[ -n "$flags" ] && [ $((8#$flags & 8#2000000)) -ne 0 ] && ok "live: close-on-exec" || bad "live: flags ${flags:-unreadable}"
run python3 -c '
import fcntl, os, stat, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
st = os.fstat(fd)
seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
want = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
print(stat.S_ISREG(st.st_mode), st.st_size, seals & want == want)' "/proc/$ppid/fd/${fd:-x}"
[ "$(cat "$OUT")" = "True 4096 True" ] && ok "live: one page, sealed against shrinking, growing, more seals" \
	|| bad "live: regular, size, sealed: $(cat "$OUT")"
[ -z "$(old_entry "$ppid" "$pstart")" ] && ok "live: no file in a directory" || { last="ls"; bad "live: $(old_entry "$ppid" "$pstart")"; }

run "$CTL" stat "$ppid"
expect_status 0 "stat PID"
expect_out "^pid $ppid \\(export_probe\\), libhybrid [0-9.]+, backend (async|sync|off), 2 tiers \\(loopback\\), epoch 50ms$" "stat PID: header"
expect_out '^up [0-9.]+ s, [0-9]+ epochs, policy thread CPU [0-9.]+ ms' "stat PID: epochs, policy CPU"
expect_out ', library memory [0-9.]+ [KMGT]?i?B$' "stat PID: the library's own memory"
expect_out '^ +tier 0 +tier 1 +absent +total$' "stat PID: a column per tier, absent, total"
expect_out '^nodes +0 +0$' "stat PID: nodes of each tier"
expect_out '^managed bytes +[0-9.]+ [KMG]?i?B +[0-9.]+ [KMG]?i?B +[0-9.]+ [KMG]?i?B +16.0 MiB$' "stat PID: bytes per tier"
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
[ "$(json '["managed_bytes"]' <"$OUT")" = $((16 << 20)) ] && ok "--json: managed_bytes, the C structure's name" \
	|| bad "--json: managed_bytes"
# grown: both counters, once an epoch or more has ended since
grown() {
	run "$CTL" stat "$ppid" -j
	e2=$(json '["counters"]["epochs"]' <"$OUT") a2=$(json '["counters"]["pages_armed"]' <"$OUT")
	[ "$e2" -gt "$e1" ] && [ "$a2" -gt "$a1" ]
}
wait_until grown
[ "$e2" -gt "$e1" ] && ok "counters grow: epochs $e1 -> $e2" || bad "epochs did not grow: $e1 -> $e2"
[ "$a2" -gt "$a1" ] && ok "counters grow: pages armed $a1 -> $a2" || bad "pages armed did not grow: $a1 -> $a2"
# self_bytes: set by every epoch; once one has ended (a second began), at least the
# tracker's bitmap of the 16 MiB managed (a bit a page) -- waited for
two_epochs() { run "$CTL" stat "$ppid" -j; [ "$(json '["counters"]["epochs"]' <"$OUT")" -ge 2 ]; }
wait_until two_epochs
self=$(json '["self_bytes"]' <"$OUT")
adds_up "$ppid" "stat PID"

[ "$self" -ge $((16 << 20 >> 12 >> 3)) ] && ok "--json: self_bytes $self" \
	|| bad "--json: self_bytes $self, less than the 16 MiB's tracking bitmap"

# -i: vmstat's habit: a title, a header, one row per interval; the header again
# every screen ($LINES lines: a header and LINES-1 rows)
row_re='^ +[0-9]+\.[0-9]s +[0-9]+ +[0-9.]+ [KMG]?i?B +[0-9.]+ [KMG]?i?B +[0-9.]+ [KMG]?i?B +[0-9]+\.[0-9] +[0-9]+\.[0-9] +[0-9]+\.[0-9]$'
head_re='^ +uptime +epochs +tier 0 +tier 1 +absent +promoted/s +demoted/s +failed/s$'
run "$CTL" stat "$ppid" --interval=0.2 --count=3
expect_status 0 "stat PID -i -c"
[ "$(grep -c "^pid $ppid " "$OUT")" -eq 1 ] && head -1 "$OUT" | grep -q "^pid $ppid (export_probe)" \
	&& ok "-i: the process named once, first" || bad "-i: title"
[ "$(grep -cE "$head_re" "$OUT")" -eq 1 ] && ok "-i: one header (a screen holds it)" || bad "-i: headers"
[ "$(grep -cE "$row_re" "$OUT")" -eq 3 ] && [ "$(wc -l <"$OUT")" -eq 5 ] \
	&& ok "--count=3: three rows, nothing else" || bad "--count=3: not three rows"
# the rows' bytes: 16 MiB between the tiers and absent (the probe's range)
python3 -c '
import sys
u = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
rows = [l.split() for l in sys.stdin if l.strip()[:1].isdigit()]
ok = rows and all(abs(sum(float(r[i]) * u[r[i + 1]] for i in (2, 4, 6)) - (16 << 20)) <= 0.15 * (1 << 20) for r in rows)
sys.exit(0 if ok else 1)' <"$OUT" && ok "-i: each row's tiers and absent add up to the 16 MiB" || bad "-i: row bytes"
run env LINES=4 "$CTL" stat "$ppid" -i 0.05 -c 7
[ "$(grep -cE "$head_re" "$OUT")" -eq 3 ] && [ "$(grep -cE "$row_re" "$OUT")" -eq 7 ] \
	&& [ "$(sed -n '2p;6p;10p' "$OUT" | grep -cE "$head_re")" -eq 3 ] \
	&& ok "-i, LINES=4: the header every 3 rows (7 rows, 3 headers)" || bad "-i: header every screen"
run "$CTL" stat "$ppid" -c 2
[ "$(grep -cE "$row_re" "$OUT")" -eq 2 ] && ok "--count alone: rows every second" || bad "--count alone"
run "$CTL" stat "$ppid" -j -i 0.1 -c 2
[ "$(wc -l <"$OUT")" -eq 2 ] && python3 -m json.tool --json-lines <"$OUT" >/dev/null \
	&& ok "-j -i: one JSON object per line" || bad "-j -i: not JSON lines"

run "$CTL" stat
expect_status 0 "stat: list"
expect_out '^PID +COMMAND +BACKEND +TIERS +MANAGED +FAST TIER +PROMOTED +DEMOTED +EPOCHS +UPTIME +USER$' "list: header"
expect_out "^$ppid +export_probe +(async|sync|off) +2 +16.0 MiB .* $(id -un)\$" "list: the process, its user"
run "$CTL" stat --json
python3 -c "import json,sys; l=json.load(sys.stdin); sys.exit(0 if $ppid in [p['pid'] for p in l] else 1)" <"$OUT" \
	&& ok "list --json: an array holding the process" || bad "list --json"

kill -USR1 "$pjob"
wait "$pjob"
run "$CTL" stat "$ppid"
expect_status 1 "ended: stat PID fails"
expect_err "^hybridctl: pid $ppid: no such process$" "ended: says so"
expect_err_lines 1 "ended: one line"
expect_empty_out "ended: nothing on stdout"
run "$CTL" stat
expect_no_out "^$ppid " "ended: not listed"
[ -z "$(old_entry "$ppid" "$pstart")" ] && ok "ended: nothing left behind" || { last="ls"; bad "ended: $(old_entry "$ppid" "$pstart")"; }

# --- any command name gives valid JSON ---------------------------------------
# The name is the executable's (a symbolic link's) name: a byte that is no UTF-8
# (0xe9), UTF-8 (é, an emoji), a quote, a backslash, a control character; and a
# long one that the kernel cuts to 15 bytes inside a 4-byte character.
odd=$'p\xe9\xc3\xa9"\\\x01\xf0\x9f\x98\x80' cut=$'abcdefghijklm\xf0\x9f\x98\x80z'
for name in "$odd" "$cut"; do
	ln -sf "$PROBE" "$tmp/$name"
	rm -f "$tmp/probe.out"
	"$tmp/$name" live 60 >"$tmp/probe.out" 2>"$tmp/probe.err" & # ended by SIGUSR1
	pjob=$!; jobs_+=("$pjob")
	wait_until probe_said ready
	for args in "$pjob --json" "--json"; do
		run "$CTL" stat $args
		# strict: the bytes must decode as UTF-8, then parse as JSON
		python3 -c '
import json, sys
d = json.loads(sys.stdin.buffer.read().decode("utf-8", "strict"))
d = [p for p in d if p["pid"] == int(sys.argv[1])][0] if isinstance(d, list) else d
want = {"odd": "p\u00e9\u00e9\"\\\x01\U0001F600", "cut": "abcdefghijklm\u00f0\u009f"}[sys.argv[2]]
sys.exit(0 if d["command"] == want else "command %r, want %r" % (d["command"], want))' \
			"$pjob" "$([ "$name" = "$odd" ] && echo odd || echo cut)" <"$OUT" \
			&& ok "odd name ($([ "$name" = "$odd" ] && echo mixed || echo cut short)): stat $args is valid UTF-8 JSON, name kept" \
			|| bad "odd name: stat $args: $(python3 -c 'import sys; print(repr(sys.stdin.buffer.read()[:200]))' <"$OUT")"
	done
	kill -USR1 "$pjob"; wait "$pjob"
done

# --- stat PID --plot FILE.png: samples in FILE.csv, drawn by gnuplot --------
run env PATH=/nonexistent "$CTL" stat 1 --plot "$tmp/x.png"
expect_status 1 "--plot without gnuplot: exit 1"
expect_err "^hybridctl: stat --plot needs gnuplot, which is not in PATH" "--plot without gnuplot: says so"
expect_err_lines 1 "--plot without gnuplot: one line"
run "$CTL" stat --plot "$tmp/x.png"
expect_status 2 "--plot without a PID: exit 2"
run "$CTL" stat 1 --plot "$tmp/x.png" --json
expect_status 2 "--plot with --json: exit 2"
if ! command -v gnuplot >/dev/null; then
	skip "--plot: no gnuplot here (Debian: gnuplot-nox, which scripts/setup installs)"
else
	# what gnuplot is given: a shim first in PATH keeps its script, then runs it
	mkdir -p "$tmp/bin"
	printf '#!/bin/sh\ntee "%s" | exec "%s" "$@"\n' "$tmp/gp.script" "$(command -v gnuplot)" >"$tmp/bin/gnuplot"
	chmod +x "$tmp/bin/gnuplot"
	# png_ok FILE: a PNG (magic, 1200x800 from its IHDR) of some substance
	png_ok() {
		python3 -c '
import struct, sys
b = open(sys.argv[1], "rb").read()
ok = b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR" and struct.unpack(">II", b[16:24]) == (1200, 800)
sys.exit(0 if ok and len(b) > 20000 else 1)' "$1"
	}
	probe live 120 # ended by SIGUSR1 below
	run env PATH="$tmp/bin:$PATH" "$CTL" stat "$ppid" --plot "$tmp/p.png" -i 0.05 -c 12
	expect_status 0 "--plot -c 12: exit 0"
	expect_err "^hybridctl: 12 samples in $tmp/p.csv, plotted in $tmp/p.png$" "--plot: says where"
	expect_out "^pid $ppid \\(export_probe\\)" "--plot: the rows on stdout meanwhile"
	[ "$(head -1 "$tmp/p.csv")" = "time_s,epochs,tier0_bytes,tier1_bytes,absent_bytes,promote_pages,demote_pages,promote_per_s,demote_per_s" ] \
		&& ok "--plot: CSV columns" || bad "--plot: CSV header $(head -1 "$tmp/p.csv")"
	# 12 rows of numbers; time, epochs and the totals never go back; the tiers
	# and absent hold the probe's 16 MiB in every row
	python3 -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
num = [{k: float(v) for k, v in r.items()} for r in rows]
mono = lambda k: all(a[k] <= b[k] for a, b in zip(num, num[1:]))
ok = len(num) == 12 and all(r["tier0_bytes"] + r["tier1_bytes"] + r["absent_bytes"] == 16 << 20 for r in num) \
	and mono("time_s") and mono("epochs") and mono("promote_pages") and num[-1]["time_s"] > num[0]["time_s"]
sys.exit(0 if ok else 1)' "$tmp/p.csv" && ok "--plot: 12 samples, tiers + absent = 16 MiB each, time and totals grow" \
		|| bad "--plot: CSV rows: $(cat "$tmp/p.csv")"
	png_ok "$tmp/p.png" && ok "--plot: a 1200x800 PNG ($(stat -c %s "$tmp/p.png") bytes)" || bad "--plot: PNG: $(file "$tmp/p.png")"
	for series in "tier 0 (DRAM, nodes 0)" "tier 1 (slow, nodes 0)" absent promoted demoted; do
		grep -qF "title '$series'" "$tmp/gp.script" && ok "--plot: gnuplot draws '$series'" || bad "--plot: no series '$series'"
	done
	for col in $(head -1 "$tmp/p.csv" | tr , ' '); do
		case $col in epochs | promote_pages | demote_pages) continue ;; esac
		grep -q "'$col'" "$tmp/gp.script" && ok "--plot: gnuplot reads column $col" || bad "--plot: column $col unused"
	done
	grep -qF "set output '$tmp/p.png'" "$tmp/gp.script" && grep -qF "plot '$tmp/p.csv'" "$tmp/gp.script" \
		&& ok "--plot: from the CSV into the PNG" || bad "--plot: files in the script"
	# without a count: until the process ends (then the plot all the same) ...
	rm -f "$tmp/q.csv" "$tmp/q.png"
	"$CTL" stat "$ppid" --plot "$tmp/q.png" -i 0.05 >"$tmp/q.out" 2>"$tmp/q.err" &
	qjob=$!; jobs_+=("$qjob")
	rows3() { [ "$(wc -l <"$tmp/q.csv" 2>/dev/null || echo 0)" -ge 4 ]; }
	wait_until rows3
	kill -USR1 "$pjob"; wait "$pjob"
	wait "$qjob"; qst=$?
	[ $qst -eq 0 ] && grep -q "^hybridctl: pid $ppid ended$" "$tmp/q.err" && png_ok "$tmp/q.png" \
		&& ok "--plot: the process ended, plotted ($(($(wc -l <"$tmp/q.csv") - 1)) samples)" \
		|| { last="stat --plot until the end"; bad "--plot until the end: status $qst: $(cat "$tmp/q.err")"; }
	# ... or until Ctrl-C, which ends the sampling, not the plot
	probe live 120
	rm -f "$tmp/q.csv" "$tmp/q.png"
	"$CTL" stat "$ppid" --plot "$tmp/q.png" -i 0.05 >"$tmp/q.out" 2>"$tmp/q.err" &
	qjob=$!; jobs_+=("$qjob")
	wait_until rows3
	kill -INT "$qjob"; wait "$qjob"; qst=$?
	[ $qst -eq 0 ] && grep -q "samples in $tmp/q.csv, plotted" "$tmp/q.err" && png_ok "$tmp/q.png" \
		&& ok "--plot: SIGINT ends the sampling, the plot is made" \
		|| { last="stat --plot, SIGINT"; bad "--plot SIGINT: status $qst: $(cat "$tmp/q.err")"; }
	kill -USR1 "$pjob"; wait "$pjob"
fi

# --- kill -9: the entry goes with the process --------------------------------
probe hang
pstart=$(start_of "$ppid")
[ -n "$(live_fds "$ppid")" ] && ok "kill -9: entry published before" || { last="ls /proc/$ppid/fd"; bad "kill -9: no entry (case not exercised)"; }
kill -9 "$pjob"; wait "$pjob" 2>/dev/null
run "$CTL" stat "$ppid"
expect_status 1 "kill -9: stat PID fails"
expect_err "^hybridctl: pid $ppid: no such process$" "kill -9: no such process"
expect_err_lines 1 "kill -9: one line"
run "$CTL" stat
expect_no_out "^$ppid " "kill -9: not listed"
[ -z "$(old_entry "$ppid" "$pstart")" ] && ok "kill -9: nothing left behind" || { last="ls"; bad "kill -9: $(old_entry "$ppid" "$pstart")"; }

# --- exec into an unmanaged program: close-on-exec drops the entry -----------
probe exec sleep 120 # killed once the checks are done
is_sleep() { [ "$(cat /proc/"$ppid"/comm 2>/dev/null)" = sleep ]; }
wait_until is_sleep
[ "$(cat /proc/"$ppid"/comm 2>/dev/null)" = sleep ] && ok "exec: same pid, now sleep" || bad "exec: did not exec (case not exercised)"
[ -z "$(live_fds "$ppid")" ] && ok "exec: no entry descriptor left in the new image" || { last="ls /proc/$ppid/fd"; bad "exec: entry at $(live_fds "$ppid")"; }
run "$CTL" stat "$ppid"
expect_status 1 "exec: stat PID fails"
expect_err "^hybridctl: pid $ppid: no live statistics" "exec: the old image's view is not shown"
expect_err_lines 1 "exec: one line"
kill "$pjob" 2>/dev/null; wait "$pjob" 2>/dev/null

# --- fork: the child publishes its own view ----------------------------------
probe fork 120 # the child ended by SIGUSR1 first, then the parent
wait_until probe_said child
cpid=$(awk '/^child/ {print $2}' "$tmp/probe.out")
# the child's own entry: published by its first epoch
child_listed() { run "$CTL" stat; grep -qE "^${cpid:-none} +export_probe " "$OUT"; }
wait_until child_listed
run "$CTL" stat
expect_out "^$ppid +export_probe " "fork: parent listed"
expect_out "^${cpid:-none} +export_probe " "fork: child listed with its own pid"
run "$CTL" stat "${cpid:-0}" -j
[ "$(json '["pid"]' <"$OUT" 2>/dev/null)" = "$cpid" ] && ok "fork: the child's view is the child's" || bad "fork: child's view"
[ "$(live_fds "${cpid:-0}" | wc -l)" -eq 1 ] && ok "fork: the child holds one entry (the parent's let go of)" \
	|| { last="ls /proc/$cpid/fd"; bad "fork: the child holds entries at $(live_fds "${cpid:-0}" | tr '\n' ' ')"; }
# the child ends (a zombie until the parent reaps it, or gone)
kill -USR1 "${cpid:-0}" 2>/dev/null
child_gone() { case $(awk '/^State:/ {print $2}' /proc/"${cpid:-0}"/status 2>/dev/null) in Z | X | "") return 0 ;; esac; return 1; }
wait_until child_gone
run "$CTL" stat "${cpid:-0}"
expect_status 1 "fork: the child's view gone with it"
run "$CTL" stat "$ppid"
expect_status 0 "fork: the parent's view untouched"
kill -USR1 "$pjob"; wait "$pjob"

# --- a child that still holds its parent's entry is not shown as the parent --
# (a child before its atfork handler let go of it, or one cloned without them)
probe forkhold 120 # both ended by SIGUSR1
wait_until probe_said child
cpid=$(awk '/^child/ {print $2}' "$tmp/probe.out")
[ -n "$(live_fds "${cpid:-0}")" ] && ok "forkhold: the child holds the parent's entry" \
	|| { last="ls /proc/$cpid/fd"; bad "forkhold: the child holds no entry (case not exercised)"; }
run "$CTL" stat "${cpid:-0}"
expect_status 1 "forkhold: stat CHILD fails"
expect_err "^hybridctl: pid ${cpid:-0}: no live statistics" "forkhold: the parent's view not shown for the child"
expect_empty_out "forkhold: nothing on stdout"
run "$CTL" stat
expect_no_out "^${cpid:-none} " "forkhold: the child not listed"
[ "$(grep -c "^$ppid " "$OUT")" -eq 1 ] && ok "forkhold: the parent listed once" || bad "forkhold: the parent listed $(grep -c "^$ppid " "$OUT") times"
kill -USR1 "$pjob" "${cpid:-}" 2>/dev/null; wait "$pjob"

# --- a process in a pid namespace of its own (a container): found by its pid here
if ! unshare --pid --fork true 2>/dev/null; then
	skip "pid namespace: unshare --pid refused here (needs CAP_SYS_ADMIN)"
else
	rm -f "$tmp/probe.out"
	unshare --pid --fork "$PROBE" live 60 >"$tmp/probe.out" 2>"$tmp/probe.err" & # ended by SIGUSR1
	pjob=$!; jobs_+=("$pjob")
	wait_until probe_said ready
	nspid=$(pgrep -P "$pjob" | head -1)
	[ "$(awk '/^ready/ {print $2}' "$tmp/probe.out")" = 1 ] && [ -n "$nspid" ] \
		&& ok "pid namespace: the probe is pid 1 there, $nspid here" \
		|| bad "pid namespace: not started as pid 1: $(cat "$tmp/probe.out" "$tmp/probe.err")"
	run "$CTL" stat "${nspid:-0}"
	expect_status 0 "pid namespace: stat PID (its pid here)"
	expect_out "^pid ${nspid:-none} \\(export_probe\\)" "pid namespace: shown with its pid here"
	run "$CTL" stat
	expect_out "^${nspid:-none} +export_probe " "pid namespace: listed with its pid here"
	kill -USR1 "${nspid:-0}" 2>/dev/null; wait "$pjob" 2>/dev/null
fi

# --- the program closes the entry's descriptor: not found, nothing broken ----
probe closefd 60 # ended by SIGUSR1
wait_until probe_said closed
cfd=$(awk '/^closed/ {print $2}' "$tmp/probe.out")
[ -n "$cfd" ] && [ -z "$(live_fds "$ppid")" ] && ok "closefd: the program closed descriptor $cfd" \
	|| { last="export_probe closefd"; bad "closefd: $(cat "$tmp/probe.out")"; }
run "$CTL" stat "$ppid"
expect_status 1 "closefd: stat PID fails"
expect_err "^hybridctl: pid $ppid: no live statistics \(.*closed the descriptor" "closefd: says it does not publish"
expect_err_lines 1 "closefd: one line"
expect_empty_out "closefd: nothing on stdout"
run "$CTL" stat
expect_no_out "^$ppid " "closefd: not listed"
kill -USR1 "$pjob"; wait "$pjob"; pst=$?
[ $pst -eq 0 ] && grep -q "^kept $cfd\$" "$tmp/probe.out" \
	&& ok "closefd: ran on, withdrew without closing the program's file at $cfd" \
	|| { last="export_probe closefd"; bad "closefd: status $pst: $(cat "$tmp/probe.out" "$tmp/probe.err")"; }

# --- who sees whom: the kernel's rule for /proc/PID/fd -----------------------
if [ "$uid" -eq 0 ] && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
	asnobody() { setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups "$@"; }
	probe live 60 # root's
	fd=$(live_fds "$ppid")
	run asnobody "$CTL" stat "$ppid"
	expect_status 1 "other user: stat PID refused"
	expect_err "^hybridctl: pid $ppid: permission denied" "other user: permission denied"
	expect_err_lines 1 "other user: one line"
	expect_empty_out "other user: no counters shown"
	run asnobody "$CTL" stat "$ppid" --json
	expect_empty_out "other user: no JSON either"
	run asnobody "$CTL" stat
	expect_no_out "^$ppid " "other user: not in their list"
	run asnobody cat "/proc/$ppid/fd/${fd:-x}"
	[ "$status" -ne 0 ] && ok "other user: entry unreadable" || bad "other user: read the entry"
	run "$CTL" stat "$ppid"
	expect_status 0 "root reads it"
	kill -USR1 "$pjob"; wait "$pjob" 2>/dev/null

	probe_as_nobody() { # MODE SECONDS: like probe, as nobody
		rm -f "$tmp/probe.out"
		setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups "$PROBE" "$@" \
			>"$tmp/probe.out" 2>"$tmp/probe.err" &
		pjob=$!
		jobs_+=("$pjob")
		wait_until probe_said ready
		ppid=$(awk '/^ready/ {print $2}' "$tmp/probe.out")
	}
	if ! asnobody test -x "$PROBE"; then
		skip "a user's own process: nobody cannot run $PROBE (a private build directory)"
	elif probe_as_nobody live 60; [ -z "$ppid" ]; then
		last="export_probe live, as nobody"; bad "a user's own process: did not start: $(cat "$tmp/probe.out" "$tmp/probe.err")"
	else
		run asnobody "$CTL" stat "$ppid"
		expect_status 0 "own process: the user reads it"
		run asnobody "$CTL" stat
		expect_out "^$ppid +export_probe " "own process: in the user's list"
		run "$CTL" stat
		expect_out "^$ppid +export_probe .* nobody$" "root lists every user's processes, with their user"
		run "$CTL" stat "$ppid" --json
		[ "$(json '["uid"]' <"$OUT" 2>/dev/null)" = "$(id -u nobody)" ] && ok "root reads another user's process" \
			|| bad "root reads another user's process"
		kill -USR1 "$pjob"; wait "$pjob" 2>/dev/null

		probe_as_nobody nodump 60
		if [ -z "$ppid" ]; then
			last="export_probe nodump, as nobody"; bad "not dumpable: did not start: $(cat "$tmp/probe.out" "$tmp/probe.err")"
		else
			run asnobody "$CTL" stat "$ppid"
			expect_status 1 "not dumpable: its own user cannot read it"
			expect_err "^hybridctl: pid $ppid: permission denied" "not dumpable: permission denied"
			run "$CTL" stat "$ppid"
			expect_status 0 "not dumpable: root reads it"
			run "$CTL" stat
			expect_out "^$ppid +export_probe .* nobody$" "not dumpable: in root's list, with its user"
			kill -USR1 "$pjob"; wait "$pjob" 2>/dev/null
		fi
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
run timeout 120 "$PROBE" report "+$tmp/fifo"
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
	wait_until grep -q '^ready' "$tmp/w.out"
	[ "$(awk '/^ready/ {print $2}' "$tmp/w.out")" = "$wjob" ] && ok "launched: the command has hybridctl's pid (exec)" \
		|| bad "launched: pid $(cat "$tmp/w.out") is not $wjob"
	# promotions: the hot set found, however many epochs a busy machine takes
	promoted() {
		run "$CTL" stat "$wjob" --json
		p1=$(json '["counters"]["promote_pages"]' <"$OUT" 2>/dev/null)
		e1=$(json '["counters"]["epochs"]' <"$OUT" 2>/dev/null)
		[ "${p1:-0}" -gt 0 ]
	}
	wait_until promoted
	expect_status 0 "launched: stat PID"
	[ "$(json '["command"]' <"$OUT" 2>/dev/null)" = hot_workload ] && ok "launched: its command" || bad "launched: command"
	[ "${p1:-0}" -gt 0 ] && ok "launched: hot pages promoted ($p1)" || bad "launched: no promotions"
	# numastat's rule: the total is the sum of the columns, in JSON (exact) and text
	adds_up "$wjob" "launched"
	later() {
		run "$CTL" stat "$wjob" --json
		e2=$(json '["counters"]["epochs"]' <"$OUT" 2>/dev/null)
		[ "${e2:-0}" -gt "${e1:-0}" ]
	}
	wait_until later
	[ "${e2:-0}" -gt "${e1:-0}" ] && ok "launched: epochs grow ($e1 -> $e2)" || bad "launched: epochs $e1 -> $e2"
	kill -USR1 "$wjob"
	wait "$wjob"
	grep -q '^data intact$' "$tmp/w.out" && ok "launched: data intact" || { last=hot_workload; bad "launched: $(cat "$tmp/w.out")"; }
	run "$CTL" stat "$wjob"
	expect_status 1 "launched: no view once it has ended"

	# a new process: its age, before its first epoch has ended (an epoch of an hour)
	"$CTL" -F 0 -S 0 -e 1h -- "$WORK" 8 1 120 >"$tmp/n.out" 2>"$tmp/n.err" & # ended by SIGUSR1
	njob=$!; jobs_+=("$njob")
	wait_until grep -q '^ready' "$tmp/n.out"
	run "$CTL" stat "$njob"
	expect_out '^up [0-9]+\.[0-9] s, first epoch not ended yet, policy thread CPU' "new process: its age, no epoch yet"
	expect_no_out ' 0 epochs' "new process: not \"0 epochs\""
	run "$CTL" stat "$njob" --json
	u1=$(json '["uptime_s"]' <"$OUT" 2>/dev/null)
	# its age is the reader's clock, not its last epoch's: it grows without one
	older() {
		run "$CTL" stat "$njob" --json
		u2=$(json '["uptime_s"]' <"$OUT" 2>/dev/null)
		python3 -c 'import sys; sys.exit(0 if float(sys.argv[2]) > float(sys.argv[1]) > 0 else 1)' "${u1:-0}" "${u2:-0}"
	}
	wait_until older
	[ "$(json '["counters"]["epochs"]' <"$OUT" 2>/dev/null)" = 0 ] && older \
		&& ok "new process: uptime_s grows without an epoch ($u1 -> $u2 s)" || bad "new process: uptime_s $u1 -> ${u2:-}"
	run "$CTL" stat
	expect_out "^$njob +hot_workload .* 0 +[0-9]+\\.[0-9]s +[^ ]+$" "new process: listed with its age"
	kill -USR1 "$njob"; wait "$njob"
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
