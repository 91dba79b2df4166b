#!/usr/bin/env bash
# The shell tests' own helpers (tests/tools/lib.sh): every check, made first
# in a set -u script before any command ran (status and last unset), reports
# FAIL and lets the script go on instead of ending it on an unbound variable;
# live_fds finds a memfd named like a live-statistics entry, and nothing else.
# usage: test_lib.sh BUILD_DIR SOURCE_DIR
set -u
SRC=$2
LIBSH=$SRC/tests/tools/lib.sh
. "$LIBSH"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$OUT" "$ERR"' EXIT

# each check, failing, as the first thing of a set -u script
for check in 'expect_status 0' 'expect_out nothing-like-this' 'expect_no_out something' \
	     'expect_err nothing-like-this' 'expect_err_lines 3' 'expect_empty_out' 'bad'; do
	run bash -c 'set -u; . "$1"; echo something >"$OUT"; '"$check"' "the check"; echo "still here, $fail failed"; finish' \
		_ "$LIBSH"
	expect_status 1 "$check first under set -u: the script fails"
	expect_out '^FAIL the check.*\(command: none run yet; status none\)$' "$check first under set -u: reports FAIL"
	expect_out '^still here, 1 failed$' "$check first under set -u: the script goes on"
	expect_err_lines 0 "$check first under set -u: no shell error"
done
# and a skip first: counted apart, the script ends 77
run bash -c 'set -u; . "$1"; skip "not here"; finish' _ "$LIBSH"
expect_status 77 "skip first under set -u: exit 77"
expect_out '^SKIP not here$' "skip first under set -u: says why"

# live_fds: a process holding a memfd named like an entry, and one like it
python3 -c '
import os, time
a = os.memfd_create("libhybrid-live")
b = os.memfd_create("libhybrid-live-not")
print(a, b, flush=True)
time.sleep(120)' >"$tmp/fds" 2>&1 &
py=$!
for _ in $(seq 100); do [ -s "$tmp/fds" ] && break; sleep 0.05; done
read -r a b <"$tmp/fds"
last="live_fds $py"
[ "$(live_fds "$py")" = "${a:-none}" ] && ok "live_fds: the entry's memfd ($a), not the other ($b)" \
	|| bad "live_fds: '$(live_fds "$py")', want '${a:-none}': $(cat "$tmp/fds")"
kill "$py"; wait "$py" 2>/dev/null
[ -z "$(live_fds "$py")" ] && ok "live_fds: nothing once the process is gone" || bad "live_fds of a gone process"
finish
