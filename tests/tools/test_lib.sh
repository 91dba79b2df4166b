#!/usr/bin/env bash
# The shell tests' own helpers (tests/tools/lib.sh): every check, made first
# in a set -u script before any command ran (status and last unset), reports
# FAIL and lets the script go on instead of ending it on an unbound variable.
# usage: test_lib.sh BUILD_DIR SOURCE_DIR
set -u
SRC=$2
LIBSH=$SRC/tests/tools/lib.sh
. "$LIBSH"

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

finish
