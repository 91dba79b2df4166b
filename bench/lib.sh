# bench/lib.sh — shell functions shared by the benchmark scripts; sourced, not run
# shellcheck shell=bash
# (bench/run, bench/run-tradeoff).  Defines only functions; sets no options.

# host_sample BUILD LOG SIZE SECONDS [HYBRIDCTL-OPTION...]
#
# What libhybrid's governor arms per epoch on this host, in bytes, for gups on a SIZE
# table (contiguous hot set, every update writes, one phase of SECONDS) under
# BUILD/tools/hybridctl with the options given (none: the library's defaults), on the
# loopback tier pair (every mechanism runs, pages stay where they are).  The run's
# debug log (--log-level=debug; gups's own output too) goes to LOG; the figure is the
# median of "epoch N: P pages armed" over the epochs after the fourth (the governor
# learns the costs and the share written in the first ones).  Prints
# "BYTES EPOCHS" (EPOCHS: how many epochs the median is of); returns 1, saying why on
# stderr, if gups failed or no epoch after the fourth was logged.
#
# Why it exists: under emulation arming a page costs 10-30 us (0.1-0.45 us here), so
# in the tiered VM the governor arms far less than on real hardware at the same
# target; the VM runs that stand for the host (run-capture's async-hs peer, the VM
# part of run-tradeoff) arm this much instead (HYBRID_TRACK_SAMPLE).
host_sample() {
    local build=$1 log=$2 size=$3 secs=$4 page rc=0 res
    shift 4
    page=$(getconf PAGESIZE 2>/dev/null || echo 4096)
    HYBRID_FAST_NODES=0 HYBRID_SLOW_NODES=0 "$build/tools/hybridctl" "$@" --log-level=debug -- \
        "$build/bench/gups" -s "$size" -l contiguous -t "$secs" -T 0 -d 0 -S 0 -x /dev/null \
        >"$log" 2>&1 || rc=$?
    if [ $rc != 0 ]; then
        echo "host_sample: gups under hybridctl ${*:-(defaults)} failed (exit $rc), see $log" >&2
        return 1
    fi
    res=$(armed_median "$log")
    if [ -z "$res" ]; then
        echo "host_sample: no epoch after the fourth in $log (hybridctl ${*:-(defaults)}, $secs s): no sample" >&2
        return 1
    fi
    echo "$((${res% *} * page)) ${res#* }"
}

# armed_median LOG: "PAGES EPOCHS", the median of the pages armed per epoch over the
# epochs after the fourth in a libhybrid debug log, and how many epochs that is;
# nothing if there are none.
armed_median() {
    awk '/^libhybrid: epoch [0-9]+: [0-9]+ pages armed/ { e = $3 + 0; if (e > 4) print $4 }' "$1" |
        sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)], NR }'
}
