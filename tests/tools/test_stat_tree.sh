#!/usr/bin/env bash
# hybridctl stat PID --tree (issue 20): the processes that share memory with
# PID.  A Python tree under hybridctl (loopback pair, 100-ms epochs): the
# parent maps 16 MiB with mmap.mmap(-1, ...) (MAP_SHARED|MAP_ANONYMOUS: the
# tree's, as multiprocessing's shared arrays are), writes it, forks two
# children that write it too, and all three wait.  Checked: every member
# counts the 16 MiB as shared and names the same tree; --tree lists exactly
# the three (text and JSON), with one lead among them; a managed process
# sharing nothing has no tree (exit 1, one line); --tree without a PID or
# with an interval is a usage error (2).
# usage: test_stat_tree.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$1 SRC=$2
. "$SRC/tests/tools/lib.sh"
CTL=$BUILD/tools/hybridctl
command -v python3 >/dev/null || skip_all "python3 is not installed"
# The interpreter itself, not what PATH names: python3 may be a wrapper
# script (pyenv's shim is bash), whose shell would publish statistics under
# the launched pid until it execs the interpreter, and then stop.
PYTHON=$(python3 -c 'import sys; print(sys.executable)') && [ -x "$PYTHON" ] ||
	skip_all "python3 does not name its interpreter (sys.executable)"
unset $(env | grep -o '^HYBRID_[A-Z_]*') 2>/dev/null
dir=$(mktemp -d)
trap 'kill $(cat "$dir"/pids 2>/dev/null) $lone 2>/dev/null; rm -rf "$dir" "$OUT" "$ERR"' EXIT
lone=

"$CTL" --fast-nodes 0 --slow-nodes 0 --epoch 100ms -- "$PYTHON" - "$dir" <<'PY' &
import mmap, os, sys, time
d = sys.argv[1]
m = mmap.mmap(-1, 16 << 20)          # MAP_SHARED | MAP_ANONYMOUS
for i in range(0, 16 << 20, 4096):
    m[i] = 1
kids = []
for k in range(2):
    pid = os.fork()
    if pid == 0:
        while not os.path.exists(d + "/stop"):
            for i in range(k * 4096, 4 << 20, 8192):
                m[i] = 2
            time.sleep(0.01)
        os._exit(0)
    kids.append(pid)
with open(d + "/pids.tmp", "w") as f:
    f.write(" ".join(str(p) for p in [os.getpid()] + kids) + "\n")
os.rename(d + "/pids.tmp", d + "/pids")
while not os.path.exists(d + "/stop"):
    time.sleep(0.05)
for p in kids:
    os.waitpid(p, 0)
PY
tree_pid=$!
wait_until test -s "$dir/pids" || { echo "FAIL: the Python tree did not start"; exit 1; }
read -r parent c1 c2 <"$dir/pids"
# each member live, counting the table (its first epoch ended)
has_shared() { "$CTL" stat "$1" --json 2>/dev/null | grep -qE '"shared_bytes": (1677721[6-9]|16777[3-9][0-9]{2}|1677[89][0-9]{3}|16[89][0-9]{5}|1[7-9][0-9]{6}|[2-9][0-9]{7})'; }
for p in $parent $c1 $c2; do
	wait_until has_shared "$p" && ok "pid $p: 16 MiB counted as shared" || bad "pid $p: shared_bytes below 16 MiB"
done
tree_of() { "$CTL" stat "$1" --json | sed -nE 's/.*"tree": "([0-9a-f]{16})".*/\1/p'; }
t0=$(tree_of "$parent") t1=$(tree_of "$c1") t2=$(tree_of "$c2")
[ -n "$t0" ] && [ "$t0" = "$t1" ] && [ "$t0" = "$t2" ] && ok "one tree: $t0" || bad "trees: '$t0' '$t1' '$t2'"
led() { "$CTL" stat "$parent" --tree | grep -q ', led by pid'; }
wait_until led && ok "a lead is named" || bad "no lead named"
run "$CTL" stat "$parent" --tree
expect_status 0 "--tree: status 0"
expect_out "^tree $t0: 3 processes, 16\\.0 MiB shared, led by pid ($parent|$c1|$c2)\$" "--tree: the tree's line"
rows=$(awk 'NR > 2 {print $1}' "$OUT" | sort -n | tr '\n' ' ')
want=$(printf '%s\n' "$parent" "$c1" "$c2" | sort -n | tr '\n' ' ')
[ "$rows" = "$want" ] && ok "--tree: exactly the three members" || bad "--tree rows: $rows, want $want"
# columns: PID COMMAND SHARED (number unit) LEADS (number unit) ...
[ "$(awk 'NR > 2 && $5 != "0"' "$OUT" | wc -l)" -eq 1 ] && ok "--tree: one member leads" \
	|| bad "--tree: not exactly one member leads"
run "$CTL" stat "$c2" --tree --json
expect_status 0 "--tree --json: status 0"
if python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
pids = sorted(m["pid"] for m in d["members"])
want = sorted(int(p) for p in sys.argv[3:])
assert d["tree"] == sys.argv[2] and d["processes"] == 3 and pids == want, (d["tree"], d["processes"], pids)
assert d["lead"] in want and d["shared_bytes"] >= 16 << 20
' "$OUT" "$t0" "$parent" "$c1" "$c2" 2>"$ERR"; then ok "--tree --json: the tree, its 3 members, its lead"; else bad "--tree --json"; fi
# a managed process that shares nothing: no tree
"$CTL" --fast-nodes 0 --slow-nodes 0 --epoch 100ms -- "$PYTHON" -c 'import time; b = bytearray(8 << 20); time.sleep(60)' &
lone=$!
lone_live() { "$CTL" stat "$lone" --json >/dev/null 2>&1; }
if wait_until lone_live; then
	run "$CTL" stat "$lone" --tree
	expect_status 1 "no shared memory: status 1"
	expect_err "pid $lone shares no managed memory with other processes" "no shared memory: said"
	expect_err_lines 1 "no shared memory: one line"
else
	bad "the lone process never published statistics"
fi
run "$CTL" stat --tree
expect_status 2 "--tree without a PID: usage error"
run "$CTL" stat "$parent" --tree -i 1
expect_status 2 "--tree with an interval: usage error"
touch "$dir/stop"
wait "$tree_pid"; s=$?
[ $s -eq 0 ] && ok "the tree ended well" || bad "the tree ended with status $s"
finish
