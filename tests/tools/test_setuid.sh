#!/usr/bin/env bash
# setuid programs and libhybrid (issue 9, security): the loader runs a setuid
# program in secure mode (AT_SECURE) and then ignores an LD_PRELOAD entry that
# holds a slash unless it is a setuid library in a system folder, so such a
# program runs unmanaged, unchanged, under LD_PRELOAD=libhybrid.so or
# hybridctl.  A setuid program linked with -lhybrid does load the library, and
# then HYBRID_* must not reach it (secure_getenv).
#
# As root: setuid_probe (and setuid_probe_linked) are copied to a private
# folder, made setuid-root (chmod 4755) and run as nobody (setpriv --reuid
# 65534).  Checked:
#   - plain, under LD_PRELOAD=BUILD/lib/libhybrid.so and under hybridctl: each
#     exits 0 with the same stdout (ruid 65534 euid 0 secure 1), libhybrid not in
#     its /proc/self/maps, no "libhybrid:" line, hybridctl says nothing;
#   - control: a copy without the setuid bit, same user, under LD_PRELOAD and
#     hybridctl, does map libhybrid (the check can see it);
#   - setuid_probe_linked with HYBRID_FAST_NODES=0 HYBRID_SLOW_NODES=0 (the
#     loopback pair) and an unknown HYBRID_ name: not setuid, the library names
#     the unknown variable; setuid, no message and the node options not taken
#     (one tier: unmanaged, where the loopback pair would run);
#   - lib/config.c and lib/runtime.c read the environment with secure_getenv.
#
#   test_setuid.sh BUILD_DIR SOURCE_DIR
# Exit 0 pass, 1 fail, 77 not root or setpriv missing.
set -u
BUILD=$(cd "$1" && pwd) SRC=$(cd "$2" && pwd)
. "$SRC/tests/tools/lib.sh"
CTL=$BUILD/tools/hybridctl LIB=$BUILD/lib/libhybrid.so
PROBE=$BUILD/tests/tools/setuid_probe LINKED=$BUILD/tests/tools/setuid_probe_linked

[ "$(id -u)" = 0 ] || skip_all "needs root (to install a setuid-root program)"
command -v setpriv >/dev/null || skip_all "setpriv (util-linux) not installed"
for f in "$CTL" "$LIB" "$PROBE" "$LINKED"; do
	[ -e "$f" ] || skip_all "$f not built"
done
unset $(env | grep -o '^HYBRID_[A-Z_]*') LD_PRELOAD 2>/dev/null

dir=$(mktemp -d /tmp/hybrid-setuid.XXXXXX)
trap 'rm -rf "$dir" "$OUT" "$ERR"' EXIT
chmod 755 "$dir"
install -o root -g root -m 4755 "$PROBE" "$dir/suid"
install -o root -g root -m 0755 "$PROBE" "$dir/plain"
install -o root -g root -m 4755 "$LINKED" "$dir/suid_linked"
install -o root -g root -m 0755 "$LINKED" "$dir/plain_linked"
# nobody must reach the build tree (hybridctl, the library)
setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$LIB" -a -x "$CTL" \
	|| skip_all "user nobody cannot read $LIB or run $CTL"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env "$@"; }
mount_nosuid=$(findmnt -n -o OPTIONS -T "$dir" | grep -c nosuid)
[ "$mount_nosuid" = 0 ] || skip_all "$dir is on a nosuid mount"

# 1. the setuid program: plain, preloaded, launched
run nobody "$dir/suid"
expect_status 0 "setuid, plain: runs"
expect_out '^ids: ruid 65534 euid 0 secure 1$' "setuid, plain: ruid nobody, euid root, secure mode"
expect_out '^libhybrid mapped: no$' "setuid, plain: no libhybrid"
cp "$OUT" "$dir/plain.out"
cat "$OUT"
# run_how HOW PROG: PROG as nobody, under the preload or under hybridctl
run_how() {
	if [ "$1" = preload ]; then
		run nobody LD_PRELOAD="$LIB" HYBRID_MODE=hybrid "$2"
	else
		run nobody "$CTL" --mode=hybrid -- "$2"
	fi
}
for how in preload ctl; do
	run_how $how "$dir/suid"
	expect_status 0 "setuid, $how: runs"
	cmp -s "$OUT" "$dir/plain.out" && ok "setuid, $how: stdout identical to the plain run" \
		|| bad "setuid, $how: stdout differs: $(diff "$dir/plain.out" "$OUT" | head -5)"
	expect_out '^libhybrid mapped: no$' "setuid, $how: libhybrid not in /proc/self/maps"
	! grep -q 'libhybrid' "$ERR" && ok "setuid, $how: no libhybrid message, hybridctl silent" \
		|| bad "setuid, $how: stderr mentions libhybrid"
	echo "     stderr ($how): $(wc -l <"$ERR") lines$( [ -s "$ERR" ] && echo ": $(head -2 "$ERR" | tr '\n' ' ')")"
done

# 2. control: the same program without the setuid bit is managed
for how in preload ctl; do
	run_how $how "$dir/plain"
	expect_status 0 "control (not setuid), $how: runs"
	expect_out '^ids: ruid 65534 euid 65534 secure 0$' "control, $how: no secure mode"
	expect_out '^libhybrid mapped: yes$' "control, $how: libhybrid in /proc/self/maps"
	expect_out "^$(grep '^work:' "$dir/plain.out")\$" "control, $how: same work checksum"
done

# 3. HYBRID_* in a setuid program linked with -lhybrid: secure_getenv
envs=(HYBRID_FAST_NODES=0 HYBRID_SLOW_NODES=0 HYBRID_NO_SUCH_OPTION=1)
run nobody "${envs[@]}" "$dir/plain_linked"
expect_status 0 "linked, not setuid: runs"
expect_out '^libhybrid mapped: yes$' "linked, not setuid: libhybrid mapped"
expect_err '^libhybrid: .*HYBRID_NO_SUCH_OPTION' "linked, not setuid: the unknown HYBRID_ name is reported"
echo "     $(grep '^hybrid:' "$OUT"); $(grep -c '^libhybrid:' "$ERR") libhybrid: line(s)"
run nobody HYBRID_FAST_NODES=0 HYBRID_SLOW_NODES=0 "$dir/plain_linked"
expect_out '^hybrid: init 0 state 1$' "linked, not setuid, loopback pair: the node options are taken (running)"
run nobody "${envs[@]}" "$dir/suid_linked"
expect_status 0 "linked, setuid: runs"
expect_out '^ids: ruid 65534 euid 0 secure 1$' "linked, setuid: secure mode"
expect_out '^libhybrid mapped: yes$' "linked, setuid: libhybrid mapped (linked, not preloaded)"
! grep -q '^libhybrid:' "$ERR" && ok "linked, setuid: HYBRID_* ignored (no message about the unknown name)" \
	|| bad "linked, setuid: the library read HYBRID_* in a setuid program"
echo "     $(grep '^hybrid:' "$OUT")"
run nobody HYBRID_FAST_NODES=0 HYBRID_SLOW_NODES=0 "$dir/suid_linked"
expect_out '^hybrid: init -19 state 2$' "linked, setuid, loopback pair: the node options not taken (one tier, unmanaged)"
! grep -q '^libhybrid:' "$ERR" && ok "linked, setuid, loopback pair: no message" || bad "linked, setuid: a libhybrid: line"

# 4. the source: options and LD_PRELOAD are read with secure_getenv, never getenv
n=$(grep -c 'secure_getenv(' "$SRC/lib/config.c" "$SRC/lib/runtime.c" | awk -F: '{ s += $2 } END { print s }')
g=$(grep -nE '[^_]getenv\(' "$SRC/lib/config.c" "$SRC/lib/runtime.c" | grep -v '^\s*\*' | grep -vc 'secure_getenv')
[ "$n" -ge 2 ] && [ "$g" -eq 0 ] && ok "lib/config.c, lib/runtime.c: secure_getenv ($n calls), no getenv" \
	|| bad "lib/config.c, lib/runtime.c: secure_getenv $n, getenv $g"
finish
