# Shared by the shell tests: run a command, then check its exit status and
# output.  Each check prints "ok"/"FAIL" and the script ends with
# "N passed, N failed" and a matching exit status.
pass=0 fail=0
OUT=$(mktemp) ERR=$(mktemp)
trap 'rm -f "$OUT" "$ERR"' EXIT

# run CMD...: runs it, keeps stdout/stderr/status for the checks that follow
run() { "$@" >"$OUT" 2>"$ERR"; status=$?; last="$*"; }
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() {
	fail=$((fail + 1)); echo "FAIL $1 (command: $last; status $status)"
	sed 's/^/     stdout: /' "$OUT" | head -20; sed 's/^/     stderr: /' "$ERR" | head -20
}
expect_status() { [ "$status" -eq "$1" ] && ok "$2" || bad "$2: want status $1"; }
expect_out() { grep -qE -- "$1" "$OUT" && ok "$2" || bad "$2: stdout lacks /$1/"; }
expect_no_out() { ! grep -qE -- "$1" "$OUT" && ok "$2" || bad "$2: stdout has /$1/"; }
expect_err() { grep -qE -- "$1" "$ERR" && ok "$2" || bad "$2: stderr lacks /$1/"; }
expect_err_lines() { [ "$(wc -l <"$ERR")" -eq "$1" ] && ok "$2" || bad "$2: want $1 stderr lines"; }
expect_empty_out() { [ ! -s "$OUT" ] && ok "$1" || bad "$1: stdout not empty"; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; }
# vm_exit STATUS KERNEL: a guest run's status (tests/vm/tiered-vm) as the host test's exit
vm_exit() {
	case $1 in
	0 | 1) exit "$1" ;;
	77) echo "skip: no tiered VM here (QEMU or kernel $2 missing: tests/vm/fetch-kernels)"; exit 77 ;;
	*) echo "FAIL: the VM run ended with status $1"; exit 1 ;;
	esac
}
