# Shared by the shell tests: run a command, then check its exit status and
# output.  Each check prints "ok"/"FAIL"; a part that cannot run here says
# why ("SKIP ...", skip) and a test that cannot run at all exits 77 saying why
# (skip_all).  The script ends with finish: "N passed, N failed, N skipped"
# and the exit status: 1 if any failed, 77 if all that was there skipped,
# else 0.  (The C programs' harness, tests/support.h, counts the same way.)
pass=0 fail=0 skipped=0
OUT=$(mktemp) ERR=$(mktemp)
trap 'rm -f "$OUT" "$ERR"' EXIT

# run CMD...: runs it, keeps stdout/stderr/status for the checks that follow
run() { "$@" >"$OUT" 2>"$ERR"; status=$?; last="$*"; }
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() {
	# ${..:-}: a check may fail before any command ran (set -u scripts)
	fail=$((fail + 1)); echo "FAIL $1 (command: ${last:-none run yet}; status ${status:-none})"
	sed 's/^/     stdout: /' "$OUT" | head -20; sed 's/^/     stderr: /' "$ERR" | head -20
}
# (every check works under set -u before any run: status and last may be unset)
expect_status() { [ "${status:-none}" = "$1" ] && ok "$2" || bad "$2: want status $1"; }
expect_out() { grep -qE -- "$1" "$OUT" && ok "$2" || bad "$2: stdout lacks /$1/"; }
expect_no_out() { ! grep -qE -- "$1" "$OUT" && ok "$2" || bad "$2: stdout has /$1/"; }
expect_err() { grep -qE -- "$1" "$ERR" && ok "$2" || bad "$2: stderr lacks /$1/"; }
expect_err_lines() { [ "$(wc -l <"$ERR")" -eq "$1" ] && ok "$2" || bad "$2: want $1 stderr lines"; }
expect_empty_out() { [ ! -s "$OUT" ] && ok "$1" || bad "$1: stdout not empty"; }
# live_fds PID: the descriptors of PID that hold a libhybrid live-statistics
# entry (a memfd: lib/export_chan.h), one a line; none once PID is gone.
# (Readable for PID of this user, or any as root.)
live_fds() {
	local f
	for f in /proc/"$1"/fd/*; do
		[ "$(readlink "$f" 2>/dev/null)" = "/memfd:libhybrid-live (deleted)" ] && echo "${f##*/}"
	done
	return 0
}
# skip WHY: this part cannot run here (counted apart, never as passed)
# wait_until CMD...: until CMD succeeds, polled every 50 ms; a 120-s ceiling
# catches a hang only (events, not times: a busy machine is slow, not wrong)
wait_until() {
	local i
	for i in $(seq 2400); do "$@" && return 0; sleep 0.05; done
	return 1
}
skip() { skipped=$((skipped + 1)); echo "SKIP $1"; }
# skip_all WHY: the whole test cannot run here
skip_all() { echo "skip: $1"; exit 77; }
finish() {
	echo "$pass passed, $fail failed, $skipped skipped"
	[ "$fail" -eq 0 ] || return 1
	[ "$pass" -gt 0 ] || [ "$skipped" -eq 0 ] || return 77
}
# vm_check STATUS KERNEL: a guest run's status (tests/vm/tiered-vm): returns for
# 0 and 1 (the guest's checks passed, failed); else the host test ends here:
# 77 no tiered VM, 1 the run itself broke
vm_check() {
	case $1 in
	0 | 1) ;;
	77) skip_all "no tiered VM here (QEMU or kernel $2 missing: tests/vm/fetch-kernels)" ;;
	*) echo "FAIL: the VM run ended with status $1"; exit 1 ;;
	esac
}
# vm_exit STATUS KERNEL: a guest run's status as the host test's exit
vm_exit() { vm_check "$1" "$2"; exit "$1"; }
