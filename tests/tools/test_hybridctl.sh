#!/usr/bin/env bash
# hybridctl --hardware/--show/--help and its handling of bad input.
# usage: test_hybridctl.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$1 SRC=$2
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
	    "HYBRID_EPOK=1s|HYBRID_EPOK: unknown variable \(did you mean HYBRID_EPOCH\?\)" \
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

# Options stop at the first non-option, numactl style; running commands
# needs the preload layer, which does not exist yet: refused, exit 2.
run "$CTL" --epoch 2s -- true --epoch 5x
expect_status 2 "command: refused until the preload layer exists"
expect_err 'needs libhybrid.s preload layer' "command: says why"
finish
