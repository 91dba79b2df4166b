#!/usr/bin/env bash
# Unprivileged userfaultfd, for real (issue 9): in the tiered VM (2tier) with
# vm.unprivileged_userfaultfd=0, a program run as an unprivileged user (uid
# 65534, setpriv) under hybridctl and under LD_PRELOAD:
#   - has no full userfaultfd (userfaultfd(0) EPERM, /dev/userfaultfd not
#     openable) but may have a user-mode-only one (the probe says which);
#   - prints exactly what it prints without the library (unpriv_probe: heap
#     and mmap checksums, a read(2) into its heap);
#   - still gets hybrid placement: its heap and mapping on the slow node 1
#     (move_pages queries), where the plain run has them on node 0;
#   - tracks with what the kernel permits (DESIGN.md §3, §5: "rwp or async
#     backend only, else off"): 7.3 the rwp backend (read-write protection) on
#     a user-mode-only userfaultfd, silently, and pages the program only reads
#     are promoted too; 6.12 (WP_ASYNC + PAGEMAP_SCAN) the async backend on a
#     user-mode-only userfaultfd, silently; 6.1 (no WP_ASYNC) tracking off with
#     exactly one "libhybrid:" line saying why — the sync backend is never used
#     with a user-mode-only userfaultfd (a read(2) into an armed page would fail);
#     HYBRID_BACKEND=sync asked for by name is refused with one line, never run.
# Controls as root (same boot): 7.3 rwp, 6.12 async, 6.1 sync, no message.
#
#   test_unpriv_uffd.sh host BUILD_DIR SOURCE_DIR KERNEL     boots the VM
#   test_unpriv_uffd.sh guest BUILD_DIR SOURCE_DIR           inside the VM
#
# Exit 0 pass, 1 fail, 77 no VM here (QEMU or the kernel missing).
set -u
role=$1 BUILD=$(cd "$2" && pwd) SRC=$(cd "$3" && pwd)
CTL=$BUILD/tools/hybridctl LIB=$BUILD/lib/libhybrid.so
PROBE=$BUILD/tests/vm/unpriv_probe
. "$SRC/tests/tools/lib.sh"
status=0 last=""

if [ "$role" = guest ]; then
	unset $(env | grep -o '^HYBRID_[A-Z_]*') LD_PRELOAD 2>/dev/null
	k=${TIERED_VM_KERNEL:-?}
	tmp=$(mktemp -d)
	chmod 755 "$tmp"
	mkdir "$tmp/u" && chown 65534:65534 "$tmp/u"   # the user's own folder (reports)
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	last="sysctl"
	[ "$(cat /proc/sys/vm/unprivileged_userfaultfd)" = 0 ] && ok "vm.unprivileged_userfaultfd = 0" \
		|| bad "vm.unprivileged_userfaultfd = $(cat /proc/sys/vm/unprivileged_userfaultfd)"
	command -v setpriv >/dev/null && ok "setpriv in the VM" || { bad "no setpriv in the VM (tests/vm/mkinitramfs)"; finish; exit; }

	# the plain run: the reference output, DRAM-first
	run as_nobody "$PROBE"
	expect_status 0 "$k, nobody, plain: runs"
	cp "$OUT" "$tmp/plain.out"
	sed 's/^/     /' "$ERR"
	expect_err '^uffd: uid 65534, userfaultfd\(0\) EPERM, user-mode-only ok, /dev/userfaultfd (EACCES|EPERM|ENOENT)$' \
		"$k, nobody: no full userfaultfd, a user-mode-only one"
	expect_err '^where \(first touch\): heap 4096 on node 0, 0 elsewhere; mmap 4096 on node 0, 0 elsewhere$' \
		"$k, nobody, plain: heap and mapping on node 0"

	# slow-first placement: at first touch all 4096 pages of each on node 1 (a few on 0
	# tolerated); at the end, pages written in several epochs promoted to node 0 where
	# tracking runs, none where it is off
	placed() { # stderr file -> 0 when heap and mmap have >= 4000 of 4096 pages on node 1
		sed -nE 's/^where \(first touch\): heap .*\b([0-9]+) on node 1,.*; mmap .*\b([0-9]+) on node 1,.*/\1 \2/p' "$1" |
			awk '{ exit !($1 >= 4000 && $2 >= 4000) }'
	}
	promoted() { # stderr file -> pages of heap + mmap on node 0 at the end
		sed -nE 's/^where \(end\): heap (([0-9]+) on node 0,)?.*; mmap (([0-9]+) on node 0,)?.*/\2 \4/p' "$1" |
			awk '{ print $1 + $2 }'
	}
	case $k in 6.1) want=off ;; 6.12) want=async ;; *) want=rwp ;; esac
	# where tracking runs: write for 20 epochs, then until something is
	# promoted, at most 300 epochs more -- epochs, not seconds: under TCG on a
	# busy host a 200-ms epoch may take seconds (6.12, load 5-11 on 2 CPUs:
	# "nothing promoted" when the probe gave up after 60 s).  Every page is
	# watched every epoch (track overhead 100): what is checked is that
	# tracking works unprivileged, not the governor's sample, which under TCG
	# is too small to find this program's uniformly written pages (CI, 6.12:
	# 289856 pages scanned, none promoted)
	if [ "$want" != off ]; then until_fast="20 300"; else until_fast=""; fi
	for how in hybridctl preload; do
		rm -f "$tmp/u/report"
		if [ $how = hybridctl ]; then
			run as_nobody "$CTL" --epoch=200ms --track-overhead=100 --stats="$tmp/u/report" -- "$PROBE" $until_fast
		else
			run as_nobody env LD_PRELOAD="$LIB" HYBRID_EPOCH=200ms HYBRID_TRACK_OVERHEAD=100 HYBRID_STATS="$tmp/u/report" "$PROBE" $until_fast
		fi
		last="$how, nobody"
		expect_status 0 "$k, nobody, $how: runs"
		cmp -s "$OUT" "$tmp/plain.out" && ok "$k, nobody, $how: stdout identical to the plain run" \
			|| bad "$k, nobody, $how: stdout differs: $(diff "$tmp/plain.out" "$OUT" | head -4 | tr '\n' ' ')"
		grep '^where\|^rewrites' "$ERR" | sed 's/^/     /'
		placed "$ERR" && ok "$k, nobody, $how: heap and mapping placed on the slow node 1 at first touch" \
			|| bad "$k, nobody, $how: not placed on node 1"
		up=$(promoted "$ERR")
		if [ "$want" = off ]; then
			[ "${up:-1}" -eq 0 ] && ok "$k, nobody, $how: nothing promoted (tracking off)" || bad "$k, nobody, $how: $up pages on node 0 with tracking off"
		else
			[ "${up:-0}" -gt 0 ] && ok "$k, nobody, $how: $up rewritten pages promoted to node 0 (tracking works)" || bad "$k, nobody, $how: nothing promoted"
		fi
		backend=$(sed -nE 's/.*backend ([a-z]+).*/\1/p' "$tmp/u/report" 2>/dev/null | head -1)
		[ "$backend" = "$want" ] && ok "$k, nobody, $how: backend $backend" \
			|| bad "$k, nobody, $how: backend '${backend}', want $want ($(head -3 "$tmp/u/report" 2>&1 | tr '\n' ' '))"
		[ "$backend" != sync ] || bad "$k, nobody, $how: the sync backend with a user-mode-only userfaultfd"
		msgs=$(grep -c '^libhybrid:' "$ERR")
		grep '^libhybrid:' "$ERR" | sed 's/^/     message: /'
		if [ "$want" = off ]; then
			[ "$msgs" -eq 1 ] && grep -q '^libhybrid: access tracking off: .*user-mode-only.*; placement only$' "$ERR" \
				&& ok "$k, nobody, $how: exactly one libhybrid: line, tracking off because the userfaultfd is user-mode-only" \
				|| bad "$k, nobody, $how: $msgs libhybrid: lines, want one explaining tracking off"
		else
			[ "$msgs" -eq 0 ] && ok "$k, nobody, $how: no libhybrid: line ($want works unprivileged)" \
				|| bad "$k, nobody, $how: $msgs libhybrid: lines"
			scanned=$(awk '$1 == "pages" && $2 == "scanned" { print $(NF - 1) }' "$tmp/u/report")
			[ "${scanned:-0}" -gt 0 ] && ok "$k, nobody, $how: tracking ran ($scanned pages scanned)" \
				|| bad "$k, nobody, $how: no pages scanned"
		fi
	done

	# reads only: promoted where the kernel has read-write protection
	if [ "$want" = rwp ]; then
		rm -f "$tmp/u/report"
		run as_nobody "$CTL" --epoch=200ms --track-overhead=100 --stats="$tmp/u/report" -- "$PROBE" 20 300 read
		last="hybridctl, nobody, reads"
		expect_status 0 "$k, nobody, reads: runs"
		cmp -s "$OUT" "$tmp/plain.out" && ok "$k, nobody, reads: stdout identical to the plain run" \
			|| bad "$k, nobody, reads: stdout differs"
		grep '^where\|^rewrites' "$ERR" | sed 's/^/     /'
		up=$(promoted "$ERR")
		[ "${up:-0}" -gt 0 ] && ok "$k, nobody, reads: $up pages only read promoted to node 0" \
			|| bad "$k, nobody, reads: nothing promoted"
		[ "$(grep -c '^libhybrid:' "$ERR")" -eq 0 ] && ok "$k, nobody, reads: no libhybrid: line" \
			|| bad "$k, nobody, reads: libhybrid: lines"
	fi

	# the sync backend by name, unprivileged: refused (one line), never used
	run as_nobody env LD_PRELOAD="$LIB" HYBRID_BACKEND=sync HYBRID_STATS="$tmp/u/report.sync" "$PROBE"
	last="HYBRID_BACKEND=sync, nobody"
	expect_status 0 "$k, nobody, HYBRID_BACKEND=sync: runs"
	cmp -s "$OUT" "$tmp/plain.out" && ok "$k, nobody, HYBRID_BACKEND=sync: stdout identical" || bad "$k, nobody, HYBRID_BACKEND=sync: stdout differs"
	grep '^libhybrid:\|^where' "$ERR" | sed 's/^/     /'
	msgs=$(grep -c '^libhybrid:' "$ERR")
	[ "$msgs" -eq 1 ] && grep -q '^libhybrid: .*sync.*user-mode-only' "$ERR" \
		&& ok "$k, nobody, HYBRID_BACKEND=sync: one line, refused (user-mode-only)" \
		|| bad "$k, nobody, HYBRID_BACKEND=sync: $msgs libhybrid: lines, want one naming user-mode-only"
	! grep -qE 'backend sync' "$tmp/u/report.sync" 2>/dev/null && ok "$k, nobody, HYBRID_BACKEND=sync: the sync backend not used" \
		|| bad "$k, nobody, HYBRID_BACKEND=sync: the sync backend ran"

	# controls as root: what privilege gives on this kernel
	case $k in 6.1) rwant=sync ;; 6.12) rwant=async ;; *) rwant=rwp ;; esac
	run "$CTL" --epoch=200ms --stats="$tmp/report.root" -- "$PROBE"
	last="root, hybridctl"
	expect_status 0 "$k, root, hybridctl: runs"
	expect_err '^uffd: uid 0, userfaultfd\(0\) ok' "$k, root: a full userfaultfd"
	cmp -s "$OUT" "$tmp/plain.out" && ok "$k, root, hybridctl: stdout identical" || bad "$k, root: stdout differs"
	backend=$(sed -nE 's/.*backend ([a-z]+).*/\1/p' "$tmp/report.root" | head -1)
	[ "$backend" = "$rwant" ] && ok "$k, root (control): backend $backend" || bad "$k, root: backend '$backend', want $rwant"
	[ "$(grep -c '^libhybrid:' "$ERR")" -eq 0 ] && ok "$k, root: no libhybrid: line" || bad "$k, root: libhybrid: lines"
	rm -rf "$tmp"
	finish
	exit
fi

# host
kernel=$4
# the VM's time limit only catches a hang: each probe run waits for epochs,
# however long they take, up to its own 600-s ceiling
"$SRC/tests/vm/tiered-vm" --kernel "$kernel" --topology 2tier --share "$BUILD" --timeout 900 \
	--sysctl vm.unprivileged_userfaultfd=0 \
	-- "$SRC/tests/vm/test_unpriv_uffd.sh" guest "$BUILD" "$SRC"
vm_exit $? "$kernel"
