#!/usr/bin/env bash
# hybridctl --hardware/--show/--help and its handling of bad input.
# usage: test_hybridctl.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$(cd "$1" && pwd) SRC=$2
CTL=$BUILD/tools/hybridctl
FIX=$SRC/tests/fixtures/sysfs
. "$SRC/tests/tools/lib.sh"
unset $(env | grep -o '^HYBRID_[A-Z_]*') 2>/dev/null

run "$CTL" --version
expect_status 0 "--version"; expect_out '^hybridctl \(libhybrid\) [0-9]+\.[0-9]+\.[0-9]+$' "version line"
run "$CTL" --help
expect_status 0 "--help"; expect_out '--dram-limit=size' "help lists table options"
expect_out 'HYBRID_<NAME>' "help names the environment"
run "$CTL"
expect_status 2 "no arguments is a usage error"

# The live machine: tiers as many as libnuma's nodes say, up to grouping.
run "$CTL" --hardware
expect_status 0 "--hardware"
expect_out '^tiers: [0-9]+ \(source: ' "tiers line"
expect_out '^tier 0: nodes ' "tier 0 line"
expect_out '^  WP_ASYNC: ' "kernel features listed"
expect_out '^tracking backend \(auto\): (async|sync|off)' "backend choice"
nodes=$(ls -d /sys/devices/system/node/node[0-9]* | wc -l)
if [ "$nodes" -eq 1 ]; then
	expect_out '^tiers: 1 ' "one node: one tier"
	expect_out 'note: one tier: libhybrid runs programs unchanged' "one tier: says what it needs"
fi
HYBRID_FAST_NODES=0 HYBRID_SLOW_NODES=0 run "$CTL" -H
expect_status 0 "loopback pair"
expect_out '^tiers: 2 \(source: configuration\) LOOPBACK' "loopback marked"
expect_out '^loopback: ' "loopback explained"
expect_out 'demotes 0->0' "loopback demotes to itself"

# Fixture machines through --root.
run "$CTL" --hardware --root "$FIX/three-tier"
expect_out '^tiers: 3 \(source: kernel memory tiers\)' "three-tier fixture"
expect_out '^tier 1: nodes 1 \(middle' "middle tier"
expect_out 'demotes 1->2' "demotion chain"
expect_out '^node 2: no cpus, 64.0 GiB total' "node sizes"
expect_out '^   1:  20  10  40' "distance row"
run "$CTL" --hardware --root "$FIX/hmat-cpuless"
expect_out '^tiers: 2 \(source: HMAT performance\)' "HMAT fixture"
expect_out 'HMAT read 350 ns 6000 MB/s' "HMAT numbers shown"
run "$CTL" --hardware --root "$FIX/cpuset"
expect_out 'node 1: .*outside cpuset' "cpuset exclusion shown"
run "$CTL" --hardware --root "$FIX/bad-distance"
expect_status 2 "malformed sysfs: exit 2"
expect_err '^hybridctl: cannot parse .*node1/distance' "malformed sysfs named"
expect_empty_out "malformed sysfs: nothing on stdout"

# --show: values and where they came from.
HYBRID_EPOCH=250ms run "$CTL" --dram-limit=1.5G -e 2s --show
expect_status 0 "--show"
expect_out '^epoch +2s +command line' "command line beats environment"
expect_out '^dram-limit +1536M +command line' "size shown canonically"
expect_out '^promote-threshold +2 +default' "default source"
HYBRID_BACKEND=sync run "$CTL" --show
expect_out '^backend +sync +environment' "environment source"

# Bad input: one clear line, exit 2, nothing started, nothing on stdout.
for case in "HYBRID_EPOCH=5x|HYBRID_EPOCH: invalid duration \"5x\"" \
	    "HYBRID_FAST_NODES=|HYBRID_FAST_NODES: empty value" \
	    "HYBRID_DRAM_LIMIT=-1|HYBRID_DRAM_LIMIT: invalid size" \
	    "HYBRID_PROMOTE_WINDOW=100|out-of-range integer \"100\"; expected an integer from 1 to 8" \
	    "HYBRID_SLOW_NODES=7|HYBRID_SLOW_NODES: node 7 does not exist" \
	    "HYBRID_TIERS=0/1,0|HYBRID_TIERS: invalid tier list"; do
	var=${case%%|*} want=${case#*|}
	env "$var" "$CTL" --show >"$OUT" 2>"$ERR"; status=$? last="$var hybridctl --show"
	expect_status 2 "$var: exit 2"; expect_err "$want" "$var: message"
	expect_err_lines 1 "$var: one line"; expect_empty_out "$var: no stdout"
done
# A HYBRID_ name that is no option is not ours to refuse: one warning line
# naming it and the nearest option, and on.  A bad value beside it still stops.
for case in "HYBRID_HOME=/opt/x|HYBRID_HOME \(nearest: HYBRID_MODE\)" \
	    "HYBRID_EPOK=1s|HYBRID_EPOK \(nearest: HYBRID_EPOCH\)"; do
	var=${case%%|*} want=${case#*|}
	env "$var" "$CTL" --show >"$OUT" 2>"$ERR"; status=$? last="$var hybridctl --show"
	expect_status 0 "$var: --show runs"
	expect_err "^hybridctl: not an option: $want; ignored\$" "$var: named with the nearest option"
	expect_err_lines 1 "$var: one line"; expect_out '^epoch +1s +default' "$var: --show shown"
done
env HYBRID_HOME=/opt/x HYBRID_EPOCH=5x "$CTL" --show >"$OUT" 2>"$ERR"; status=$? last="HYBRID_HOME=/opt/x HYBRID_EPOCH=5x hybridctl --show"
expect_status 2 "unknown name beside a bad value: exit 2"
expect_err '^hybridctl: HYBRID_EPOCH: invalid duration "5x"' "the bad value named"
expect_err_lines 1 "bad value: one line"; expect_empty_out "bad value: no stdout"
for args in "--epoch=0.001s|--epoch: out-of-range duration" "--epoch|--epoch needs a value" \
	    "--frobnicate|unknown option --frobnicate" "-Z|unknown option -Z" "-e|-e needs a value" \
	    "--mode=fast|--mode: invalid choice \"fast\"; expected one of auto, hybrid, dram, off" \
	    "--free-low=50|--free-low=50 is larger than HYBRID_FREE_HIGH=10" \
	    "--slow-nodes=0-1|--slow-nodes: node 1 does not exist"; do
	arg=${args%%|*} want=${args#*|}
	run "$CTL" --show $arg
	expect_status 2 "$arg: exit 2"; expect_err "$want" "$arg: message"
	expect_err_lines 1 "$arg: one line"; expect_empty_out "$arg: no stdout"
done

# --- running a command -------------------------------------------------------
tmp=$(mktemp -d); trap 'rm -rf "$OUT" "$ERR" "$tmp"' EXIT
WORK=$BUILD/tests/tools/hot_workload
LIB=$(cd "$BUILD/lib" && pwd -P)/libhybrid.so.0
[ -e "$LIB" ] && ok "library built: $LIB" || { last="ls"; bad "no $LIB: the launcher has nothing to preload"; }
unset LD_PRELOAD

run "$CTL" -- printenv LD_PRELOAD
expect_status 0 "command: runs"
[ "$(cat "$OUT")" = "$LIB" ] && ok "LD_PRELOAD: the library, found next to hybridctl" || bad "LD_PRELOAD is $(cat "$OUT"), not $LIB"
run "$CTL" printenv LD_PRELOAD
expect_out "^$LIB\$" "command without --"

# numactl style: options end at the first non-option; what follows is the command's
run "$CTL" --epoch 2s sh -c 'echo "$HYBRID_EPOCH|$1|$2"' sh --epoch 5x
expect_status 0 "options stop at the command"
expect_out '^2s\|--epoch\|5x$' "the command's own options untouched"
run "$CTL" -e 250ms -- printenv HYBRID_EPOCH
expect_out '^250ms$' "-- ends the options"
run "$CTL" -- -e 1s
expect_status 127 "after --, a word starting with - is the command"
HYBRID_EPOCH=5s run "$CTL" -e 2s -- printenv HYBRID_EPOCH
expect_out '^2s$' "command line beats the environment"
HYBRID_EPOCH=5s run "$CTL" -- printenv HYBRID_EPOCH
expect_out '^5s$' "environment passed on as it was"
run "$CTL" -- sh -c 'exit 7'
expect_status 7 "the command's exit status"
run "$CTL" -- stat /
expect_status 0 "hybridctl -- stat runs stat(1)"
expect_out 'File: /' "stat(1) output"

# LD_PRELOAD: ours first, earlier entries kept in order, never twice
for case in "/a/x.so:/b/y.so|$LIB:/a/x.so:/b/y.so" \
	    "/a/x.so /b/y.so|$LIB:/a/x.so:/b/y.so" \
	    "$LIB|$LIB" \
	    "/a/x.so:$BUILD/lib/libhybrid.so|$LIB:/a/x.so" \
	    "/opt/old/libhybrid.so.0:/a/x.so|$LIB:/a/x.so" \
	    "/x/libhybrid-extra.so|$LIB:/x/libhybrid-extra.so" \
	    "|$LIB"; do
	pre=${case%%|*} want=${case#*|}
	LD_PRELOAD=$pre run "$CTL" -- printenv LD_PRELOAD
	[ "$(cat "$OUT")" = "$want" ] && ok "LD_PRELOAD '$pre' -> ours first, once" \
		|| bad "LD_PRELOAD '$pre' became '$(cat "$OUT")', want '$want'"
done

# Every option reaches the command in the form the library's parser reads back.
for case in "--mode=dram|mode|dram" "-M hybrid|mode|hybrid" "--fast-nodes=0|fast-nodes|0" "-F 0|fast-nodes|0" \
	    "--slow-nodes=0|slow-nodes|0" "-S 0|slow-nodes|0" "--tiers=0/0|tiers|0/0" "-T 0/0|tiers|0/0" \
	    "--promote-threshold=3|promote-threshold|3" "--promote-window=5|promote-window|5" \
	    "--epoch=1.5s|epoch|1500ms" "-e 2s|epoch|2s" "--backend=off|backend|off" "-b sync|backend|sync" \
	    "--sync-fault-budget=500|sync-fault-budget|500" "--track-overhead=5|track-overhead|5" \
	    "--dram-limit=1.5G|dram-limit|1536M" "-L 1G|dram-limit|1G" "--free-low=3|free-low|3" \
	    "--free-high=20|free-high|20" "--promote-rate=64M|promote-rate|64M" "--min-size=128K|min-size|128K" \
	    "--log-level=info|log-level|info" "--stats|stats|stderr" \
	    "--ignore-names=HYBRID_HOME|ignore-names|HYBRID_HOME"; do
	arg=${case%%|*} rest=${case#*|}; name=${rest%%|*} want=${rest#*|}
	run "$CTL" $arg -- env -u LD_PRELOAD "$CTL" --show
	expect_status 0 "$arg: passed on"
	expect_out "^$name +$want +environment " "$arg: read back as $want"
done

# numactl's node forms (issue 19): resolved in this process's cpuset and
# passed on as plain lists.  (Node 0 is the first allowed node where the
# tests run: one NUMA node, or node 0 in the cpuset.)
first=$(awk '/^Mems_allowed_list:/ { sub(/[-,].*/, "", $2); print $2 }' /proc/self/status)
for case in "--fast-nodes=+0 --slow-nodes=+0|fast-nodes|$first" "-T +0/+0|tiers|$first/$first" \
	    "--slow-nodes=+0 --fast-nodes=+0|slow-nodes|$first"; do
	arg=${case%%|*} rest=${case#*|}; name=${rest%%|*} want=${rest#*|}
	run "$CTL" $arg -- env -u LD_PRELOAD "$CTL" --show
	expect_status 0 "$arg: runs"
	expect_out "^$name +$want +environment " "$arg: passed on as $want"
done
HYBRID_FAST_NODES=+0 HYBRID_SLOW_NODES=+0 run "$CTL" --show
expect_status 0 "+0 in the environment"
expect_out "^fast-nodes +$first +environment" "HYBRID_FAST_NODES=+0 is node $first"
if [ "$(ls -d /sys/devices/system/node/node[0-9]* | wc -l)" -eq 1 ]; then
	for args in "--slow-nodes=!0|--slow-nodes: invalid node list \"!0\"" \
		    "--fast-nodes=!+0|--fast-nodes: invalid node list" \
		    "--tiers=0/!0|--tiers: invalid tier list"; do
		arg=${args%%|*} want=${args#*|}
		run "$CTL" "$arg" --show
		expect_status 2 "$arg (one node): exit 2"; expect_err "$want" "$arg: message"
		expect_err "allowed nodes are 0\$" "$arg: the allowed nodes named"
		expect_err_lines 1 "$arg: one line"
	done
fi
run "$CTL" --slow-nodes=+1023 --show
expect_status 2 "+1023: exit 2"
expect_err '^hybridctl: --slow-nodes: out-of-range node list "\+1023"; .*allowed nodes are ' "+1023: out of range, allowed nodes named"
expect_err_lines 1 "+1023: one line"

# Bad values: one line, exit 2, the command never started.
for args in "--mode=fast|--mode: invalid choice" "-F x|-F|fast-nodes: invalid node list" \
	    "--slow-nodes=99|node 99 does not exist" "--tiers=0/|--tiers: invalid tier list" \
	    "--promote-threshold=9|--promote-threshold: out-of-range integer" \
	    "--promote-window=0|--promote-window: out-of-range integer" "--epoch=5|--epoch: invalid duration" \
	    "--backend=fast|--backend: invalid choice" "--sync-fault-budget=0|--sync-fault-budget: out-of-range" \
	    "--track-overhead=101|--track-overhead: out-of-range" "--dram-limit=-1|--dram-limit: invalid size" \
	    "--free-low=101|--free-low: out-of-range" "--free-high=x|--free-high: invalid integer" \
	    "--promote-rate=1Q|--promote-rate: invalid size" "--min-size=huge|--min-size: invalid size" \
	    "--log-level=loud|--log-level: invalid choice" "--stats=+|--stats=\+ needs a file name" \
	    "--ignore-names=HYBRID_EPOCH|--ignore-names: invalid name list" \
	    "--promote-threshold=5 --promote-window=4|threshold" "--frobnicate|unknown option --frobnicate" \
	    "--show|--show, --hardware and --root take no command" "-H|take no command" \
	    "--root=/tmp|take no command"; do
	arg=${args%%|*} want=${args#*|}
	rm -f "$tmp/ran"
	run "$CTL" $arg -- touch "$tmp/ran"
	expect_status 2 "$arg: exit 2"; expect_err "$want" "$arg: message"
	expect_err_lines 1 "$arg: one line"
	[ ! -e "$tmp/ran" ] && ok "$arg: command not started" || bad "$arg: command ran"
done

# A HYBRID_ name of the environment that is no option: said once for the
# whole launched tree (hybridctl says it and passes it on in
# HYBRID_IGNORE_NAMES; each process of the tree loads the library).
TRUE=$(type -P true)
HYBRID_HOME=x run "$CTL" -- "$TRUE"
expect_status 0 "HYBRID_HOME=x hybridctl -- true: runs"
expect_err '^hybridctl: not an option: HYBRID_HOME \(nearest: HYBRID_MODE\); ignored$' "HYBRID_HOME: named with the nearest option"
expect_err_lines 1 "HYBRID_HOME=x hybridctl -- true: exactly one line"
HYBRID_HOME=x HYBRID_FROB=1 run "$CTL" -- sh -c '"$1"; "$1"; sh -c "\"$1\"" sh "$1"; printenv HYBRID_IGNORE_NAMES' sh "$TRUE"
expect_status 0 "a tree of processes: runs"
expect_err_lines 1 "a tree of five processes: one line"
expect_err 'HYBRID_HOME \(nearest: HYBRID_MODE\), HYBRID_FROB \(nearest: HYBRID_[A-Z_]+\)|HYBRID_FROB \(nearest: HYBRID_[A-Z_]+\), HYBRID_HOME \(nearest: HYBRID_MODE\)' "both names in the one line"
expect_out '^(HYBRID_HOME,HYBRID_FROB|HYBRID_FROB,HYBRID_HOME)$' "the names passed on in HYBRID_IGNORE_NAMES"
# control: without hybridctl each process image says it once
HYBRID_HOME=x run env LD_PRELOAD="$LIB" sh -c '"$1"; "$1"' sh "$TRUE"
[ "$(grep -c '^libhybrid: not an option: HYBRID_HOME' "$ERR")" -eq 3 ] && ok "control: preloaded alone, one line per process (3)" \
	|| bad "control: want 3 lines, one per process"
HYBRID_HOME=x run "$CTL" --ignore-names=HYBRID_HOME -- "$TRUE"
expect_status 0 "--ignore-names: runs"; expect_err_lines 0 "--ignore-names=HYBRID_HOME: silent"
HYBRID_HOME=x HYBRID_FROB=1 HYBRID_IGNORE_NAMES=HYBRID_HOME run "$CTL" -- printenv HYBRID_IGNORE_NAMES
expect_err_lines 1 "HYBRID_IGNORE_NAMES in the environment: the others said"
expect_no_out 'HYBRID_HOME \(' "HYBRID_IGNORE_NAMES: its names not said"
! grep -q 'HYBRID_HOME' "$ERR" && ok "HYBRID_IGNORE_NAMES: HYBRID_HOME not said" || bad "HYBRID_IGNORE_NAMES: HYBRID_HOME said"
expect_out '^HYBRID_HOME,HYBRID_FROB$' "HYBRID_IGNORE_NAMES: extended, in order"
HYBRID_HOME=x run "$CTL" --frobnicate -- "$TRUE"
expect_status 2 "unknown command-line option beside an unknown name: exit 2"
expect_err 'unknown option --frobnicate' "the command-line option named"

# Cannot run: 127 not found, 126 found but not runnable (env(1)'s codes).
touch "$tmp/plain"
for case in "nosuchprog-$$|127|nosuchprog-$$: No such file or directory" \
	    "/nonexistent/x|127|No such file or directory" "|127|: No such file or directory" \
	    "/|126|Permission denied" "$tmp/plain|126|Permission denied"; do
	cmd=${case%%|*} rest=${case#*|}; want=${rest%%|*} msg=${rest#*|}
	run "$CTL" -- "$cmd"
	expect_status "$want" "'$cmd': exit $want"
	expect_err "^hybridctl: cannot run .*$msg\$" "'$cmd': says why"
	expect_err_lines 1 "'$cmd': one line"
done

# The library is found from hybridctl's own place: alone, it says so.
mkdir "$tmp/solo" && cp "$CTL" "$tmp/solo/"
rm -f "$tmp/ran"
run "$tmp/solo/hybridctl" -- touch "$tmp/ran"
expect_status 2 "no library next to hybridctl: exit 2"
expect_err "^hybridctl: cannot find libhybrid\\.so\\.0 \\(looked for $tmp/solo/\\.\\./lib.*/libhybrid\\.so\\.0" "no library: names where it looked"
expect_err_lines 1 "no library: one line"
[ ! -e "$tmp/ran" ] && ok "no library: command not started" || bad "no library: command ran"
run "$tmp/solo/hybridctl" --show
expect_status 0 "no library: --show still works"
# ... and installed, in its prefix
if cmake --install "$BUILD" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1; then
	want=$(cd "$(dirname "$(find "$tmp/prefix" -name libhybrid.so.0 | head -1)")" && pwd -P)/libhybrid.so.0
	run "$tmp/prefix/bin/hybridctl" -- printenv LD_PRELOAD
	[ "$(cat "$OUT")" = "$want" ] && ok "installed: the prefix's library ($want)" || bad "installed: LD_PRELOAD $(cat "$OUT"), want $want"
else
	last="cmake --install"; bad "cmake --install failed: $(tail -3 "$tmp/install.log")"
fi

# --stats: the counters at exit, on stderr or in a file made new, 0600.
run "$CTL" --stats -F 0 -S 0 -e 50ms -- "$WORK" 16 4 0.5
expect_status 0 "--stats: runs"
expect_out '^data intact$' "--stats: program output unchanged"
expect_err '^libhybrid: pid [0-9]+ \(hot_workload\), libhybrid ' "--stats: report on stderr"
expect_err '^libhybrid: promoted pages +[0-9]+' "--stats: promotions counted"
run "$CTL" --stats -F 0 -S 0 -e 50ms -- sleep 0.3
expect_err '^libhybrid: pid [0-9]+ \(sleep\)' "--stats: report although the program closed stderr at exit"
run "$CTL" --stats="$tmp/s1" -F 0 -S 0 -e 50ms -- "$WORK" 16 4 0.5
expect_status 0 "--stats=FILE: runs"
expect_err_lines 0 "--stats=FILE: nothing on stderr"
[ "$(stat -c %a "$tmp/s1" 2>/dev/null)" = 600 ] && ok "--stats=FILE: created 0600" || bad "--stats=FILE: mode $(stat -c %a "$tmp/s1" 2>&1)"
grep -qE '^pid [0-9]+ \(hot_workload\)' "$tmp/s1" && ok "--stats=FILE: the report" || bad "--stats=FILE: no report"
cp "$tmp/s1" "$tmp/s1.before"
rm -f "$tmp/ran"
run "$CTL" --stats="$tmp/s1" -- touch "$tmp/ran"
expect_status 2 "--stats=existing FILE: exit 2"
expect_err "^hybridctl: --stats: $tmp/s1 exists; not overwritten \\(--stats=\\+$tmp/s1 appends to it\\)$" "--stats=existing FILE: says so"
expect_err_lines 1 "--stats=existing FILE: one line"
[ ! -e "$tmp/ran" ] && cmp -s "$tmp/s1" "$tmp/s1.before" && ok "--stats=existing FILE: nothing run, file unchanged" \
	|| bad "--stats=existing FILE: ran or changed the file"
run "$CTL" --stats=+"$tmp/s1" -F 0 -S 0 -e 50ms -- "$WORK" 16 4 0.3
[ "$(grep -c '^pid ' "$tmp/s1")" -eq 2 ] && ok "--stats=+FILE: appended" || bad "--stats=+FILE: $(grep -c '^pid ' "$tmp/s1") reports"
mkdir "$tmp/cwd"
(cd "$tmp/cwd" && "$CTL" --stats=rel.txt -F 0 -S 0 -e 50ms -- sh -c "cd / && exec '$WORK' 16 4 0.3" >/dev/null 2>&1)
grep -qE '^pid [0-9]+ \(hot_workload\)' "$tmp/cwd/rel.txt" 2>/dev/null && ok "--stats=relative FILE: where hybridctl ran, though the command changed directory" \
	|| bad "--stats=relative FILE: no report in $tmp/cwd/rel.txt"
run "$CTL" --stats="$tmp/multi" -F 0 -S 0 -e 50ms -- sh -c "'$WORK' 8 2 0.3; '$WORK' 8 2 0.3"
[ "$(grep -c '(hot_workload)' "$tmp/multi")" -eq 2 ] && ok "--stats=FILE: every managed process of the command reports" \
	|| bad "--stats=FILE, two programs: $(grep -c '(hot_workload)' "$tmp/multi") reports"
ln -s "$tmp/target" "$tmp/link"
run "$CTL" --stats="$tmp/link" -- true
expect_status 2 "--stats=symlink: refused"
run "$CTL" --stats=+"$tmp/link" -- true
expect_status 2 "--stats=+symlink: refused"
expect_err "$tmp/link is not a regular file \\(a symbolic link: not followed\\)" "--stats=+symlink: says so"
[ ! -e "$tmp/target" ] && ok "--stats through a symlink: target not created" || bad "--stats followed a symlink"
run "$CTL" --stats="$tmp/never" -- nosuchprog-$$
expect_status 127 "--stats=FILE, command not found: 127"
[ ! -e "$tmp/never" ] && ok "--stats=FILE, command not found: FILE removed again" || bad "--stats=FILE left behind"

# The manual page documents what --help lists, and no option --help lacks
# (its text before EXIT STATUS, escapes removed; the examples run other programs).
sed -n '1,/^\.SH EXIT STATUS/p' "$SRC/man/hybridctl.1" | sed 's/\\//g' >"$tmp/man.txt"
grep -oE -- '--[a-z][a-z-]+' <("$CTL" --help) | sort -u >"$tmp/help-opts"
grep -oE -- '--[a-z][a-z-]+' "$tmp/man.txt" | sort -u >"$tmp/man-opts"
last="compare --help with hybridctl.1"
[ "$(wc -l <"$tmp/help-opts")" -ge 20 ] && ok "--help lists options" || bad "too few options in --help"
while read -r o; do
	grep -qx -- "$o" "$tmp/man-opts" && ok "hybridctl.1 documents $o" || bad "hybridctl.1 lacks $o"
done <"$tmp/help-opts"
while read -r o; do
	grep -qx -- "$o" "$tmp/help-opts" && ok "--help lists $o (from hybridctl.1)" || bad "--help lacks $o, which hybridctl.1 documents"
done <"$tmp/man-opts"
for o in $(grep -oE -- '^  -[A-Za-z],' <("$CTL" --help) | tr -d ' ,' | sort -u); do
	grep -qE -- "\\\\$o([^a-zA-Z-]|\$)" "$SRC/man/hybridctl.1" && ok "hybridctl.1 documents $o" || bad "hybridctl.1 lacks $o"
done
finish
