#!/usr/bin/env bash
# PostgreSQL under the preload, with pgbench, in the tiered VM (6.12 or 7.3,
# 2tier; issue 20).  In the guest, as an unprivileged user (uid 65534 through
# setpriv: postgres refuses root), with the data folder on the guest's tmpfs:
#   - initdb, then the server started under hybridctl (the library preloaded
#     in the postmaster and so in every process it forks) with
#     shared_buffers=64MB (one MAP_SHARED|MAP_ANONYMOUS mapping made by the
#     postmaster, inherited by every backend), huge_pages=off;
#   - pgbench -i -s 2, then pgbench -c 4 -j 2 -t 250 (a transaction count:
#     the work does not depend on the machine's speed);
#   - while pgbench runs, `hybridctl stat --json` of the postmaster and of
#     one backend go to the log.  "While it runs" is made an event, not a
#     moment hoped for: a psql session holds every pgbench_branches row
#     (SELECT ... FOR UPDATE) before pgbench starts, so each client stops in
#     its first transaction; once all 4 wait on that lock (pg_stat_activity)
#     the statistics are read, then the lock is released;
#   - checked: pgbench processed 1000 of 1000 transactions, 0 failed; the
#     sums of pgbench_accounts.abalance, pgbench_tellers.tbalance and
#     pgbench_branches.bbalance each equal sum(delta) of pgbench_history, which
#     has 1000 rows; libhybrid is mapped in the postmaster and every client
#     backend, both publish live statistics (two tiers, a tracking backend);
#     the server shuts down cleanly (SIGINT, status 0); the kernel logged
#     no BUG, WARNING, bad page or process fault meanwhile (dmesg).
#   - and the postmaster's statistics show shared_buffers as managed memory
#     of the process tree (`shared_bytes` >= 0.9 x shared_buffers; issue 20).
#
#   test_pgbench.sh host BUILD_DIR SOURCE_DIR [KERNEL] boots the VM (KERNEL: 6.12
#                                                    (async tracking) or 7.3 (rwp))
#   test_pgbench.sh guest BUILD_DIR SOURCE_DIR       inside the VM
#
# The VM's initramfs holds PostgreSQL 15 only when tiered-vm runs with
# TIERED_VM_POSTGRESQL=1 (tests/vm/mkinitramfs): the host script sets it.
# Exit 0 pass, 1 fail, 77 skip (no QEMU or that kernel, or no PostgreSQL 15
# on the host).
set -u
role=$1 BUILD=$(cd "$2" && pwd) SRC=$(cd "$3" && pwd) KVER=${4:-6.12}
CTL=$BUILD/tools/hybridctl
PG=/usr/lib/postgresql/15/bin
SB_MB=64 CLIENTS=4 PER_CLIENT=250
TX=$((CLIENTS * PER_CLIENT))
. "$SRC/tests/tools/lib.sh"
status=0 last=""

if [ "$role" = guest ]; then
	unset $(env | grep -o '^HYBRID_[A-Z_]*') LD_PRELOAD 2>/dev/null
	[ -x "$PG/postgres" ] || { bad "no PostgreSQL in the VM ($PG; TIERED_VM_POSTGRESQL=1 for tests/vm/mkinitramfs)"; finish; exit; }
	command -v setpriv >/dev/null || { bad "no setpriv in the VM (tests/vm/mkinitramfs)"; finish; exit; }
	# initdb and libpq look the user up by uid: give 65534 a name
	grep -q '^[^:]*:[^:]*:65534:' /etc/passwd || echo 'pgtest:x:65534:65534:pgbench test:/nonexistent:/bin/sh' >>/etc/passwd
	grep -q '^[^:]*:[^:]*:65534:' /etc/group || echo 'pgtest:x:65534:' >>/etc/group
	tmp=$(mktemp -d)
	klog0=$(dmesg | wc -l) # the kernel's log before the test: its new lines are checked at the end
	chmod 755 "$tmp"
	sock=$tmp/pg data=$tmp/pg/data # the user's folder: socket, data, fifo
	mkdir "$sock" && chown 65534:65534 "$sock"
	as_pg() { setpriv --reuid=65534 --regid=65534 --clear-groups env TZ=UTC "$@"; }
	sql() { as_pg "$PG/psql" -X -At -v ON_ERROR_STOP=1 -h "$sock" -d postgres -c "$1"; }
	pm= hold=
	stop() { # the server and the lock holder, whatever state the test is in
		[ -z "$hold" ] || kill "$hold" 2>/dev/null
		[ -z "$pm" ] || { kill -INT "$pm" 2>/dev/null; wait "$pm" 2>/dev/null; }
	}
	trap 'stop; rm -f "$OUT" "$ERR"' EXIT

	last="initdb"
	run as_pg "$PG/initdb" -D "$data" --no-locale -E UTF8 --auth=trust --no-sync
	expect_status 0 "initdb as uid 65534 (no locale, UTF8, data on the tmpfs)"
	[ "$status" -eq 0 ] || { finish; exit; }

	# The server under the launcher: the postmaster is the launched process
	# itself (setpriv, env and hybridctl each exec the next), so $! is its pid.
	# Default options: the tiers the library finds (node 0 / node 1), 1-s epochs.
	last="postgres under hybridctl"
	setpriv --reuid=65534 --regid=65534 --clear-groups env TZ=UTC "$CTL" -- "$PG/postgres" -D "$data" \
		-c shared_buffers=${SB_MB}MB -c huge_pages=off -c listen_addresses= \
		-c unix_socket_directories="$sock" -c jit=off -c max_connections=20 \
		>"$tmp/server.log" 2>&1 &
	pm=$!
	# ready: pg_isready answers (600-s ceiling: a hang, not the time allowed)
	for _ in $(seq 3000); do
		"$PG/pg_isready" -q -h "$sock" && break
		kill -0 "$pm" 2>/dev/null || break
		sleep 0.2
	done
	if "$PG/pg_isready" -q -h "$sock"; then
		ok "server ready under hybridctl (postmaster $pm, $(tr '\0' ' ' </proc/$pm/cmdline | cut -c1-40)...)"
	else
		bad "server not ready: $(tail -5 "$tmp/server.log")"
		pm=; finish; exit
	fi
	grep -q '/libhybrid\.so' /proc/$pm/maps && ok "postmaster: libhybrid.so mapped" || bad "postmaster: libhybrid.so not mapped"
	[ "$(sql 'SHOW shared_buffers')" = "${SB_MB}MB" ] && ok "shared_buffers = ${SB_MB}MB" || bad "shared_buffers = $(sql 'SHOW shared_buffers' 2>&1)"

	last="pgbench -i -s 2"
	run as_pg "$PG/pgbench" -i -s 2 -h "$sock" postgres
	expect_status 0 "pgbench -i -s 2 ($(grep -o 'done in [0-9.]* s' "$ERR"))"
	[ "$status" -eq 0 ] || { finish; exit; }

	# the lock: a psql session, fed through a fifo, holds every branch row
	last="lock holder"
	mkfifo "$sock/hold" && chown 65534:65534 "$sock/hold"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$PG/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$sock" -d postgres \
		<"$sock/hold" >"$tmp/hold.out" 2>&1 &
	hold=$!
	exec 8>"$sock/hold"
	# to_hold SQL: a line for the holder (in a subshell: a holder gone, the
	# SIGPIPE ends the subshell, not the test)
	to_hold() { (echo "$1" >&8) 2>/dev/null; }
	to_hold "BEGIN; SELECT count(*) || ' branches held' FROM (SELECT bid FROM pgbench_branches FOR UPDATE) b;"
	for _ in $(seq 3000); do # 600-s ceiling
		grep -q ' branches held$' "$tmp/hold.out" && break
		kill -0 $hold 2>/dev/null || break
		sleep 0.2
	done
	grep -q ' branches held$' "$tmp/hold.out" && ok "lock holder: $(cat "$tmp/hold.out")" \
		|| bad "lock holder: $(cat "$tmp/hold.out")"

	last="pgbench -c $CLIENTS -j 2 -t $PER_CLIENT"
	as_pg "$PG/pgbench" -c $CLIENTS -j 2 -t $PER_CLIENT -h "$sock" postgres >"$tmp/bench.out" 2>"$tmp/bench.err" &
	bp=$!
	# every client waits on the held rows (600-s ceiling)
	waiting=
	for _ in $(seq 3000); do
		waiting=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' AND wait_event_type = 'Lock'" 2>/dev/null)
		[ "$(wc -w <<<"$waiting")" -ge $CLIENTS ] && break
		kill -0 $bp 2>/dev/null || break
		sleep 0.2
	done
	[ "$(wc -w <<<"$waiting")" -ge $CLIENTS ] && ok "pgbench running: its $CLIENTS backends wait on the held rows ($(echo $waiting))" \
		|| bad "pgbench's backends not all waiting: '$waiting' (pgbench: $(tail -3 "$tmp/bench.err"))"
	be=$(echo $waiting | cut -d' ' -f1)

	# the live statistics while pgbench runs: the postmaster and one backend
	last="hybridctl stat"
	echo "     hybridctl stat (pgbench running):"
	"$CTL" stat 2>&1 | sed 's/^/       /'
	"$CTL" stat "$pm" --json >"$tmp/pm.json" 2>&1
	pst=$?
	echo "     hybridctl stat $pm --json (postmaster):"
	sed 's/^/       /' "$tmp/pm.json"
	if [ -n "$be" ]; then
		"$CTL" stat "$be" --json >"$tmp/be.json" 2>&1
		bst=$?
		echo "     hybridctl stat $be --json (backend):"
		sed 's/^/       /' "$tmp/be.json"
	else
		bst=1; : >"$tmp/be.json"
	fi
	# json FILE KEY: the first number or string KEY has in a one-line object
	json() { sed -nE "s/.*\"$2\": \"?([^\",}]*)\"?[,}].*/\1/p" "$1" | head -1; }
	[ $pst -eq 0 ] && [ "$(json "$tmp/pm.json" pid)" = "$pm" ] && [ "$(json "$tmp/pm.json" state)" = live ] \
		&& ok "postmaster: live statistics (backend $(json "$tmp/pm.json" backend), managed_bytes $(json "$tmp/pm.json" managed_bytes))" \
		|| bad "postmaster: no live statistics (status $pst)"
	[ $bst -eq 0 ] && [ "$(json "$tmp/be.json" pid)" = "$be" ] && [ "$(json "$tmp/be.json" state)" = live ] \
		&& ok "backend $be: live statistics (backend $(json "$tmp/be.json" backend), managed_bytes $(json "$tmp/be.json" managed_bytes))" \
		|| bad "backend $be: no live statistics (status $bst)"
	for f in pm be; do
		grep -q '"tier": 1, "nodes": "1"' "$tmp/$f.json" && grep -qE '"backend": "(async|rwp|sync)"' "$tmp/$f.json" \
			&& ok "$f: two tiers (node 0 / node 1), tracking on" || bad "$f: tiers or tracking backend: $(head -c 300 "$tmp/$f.json")"
	done
	nlib=0
	for p in $waiting; do grep -q '/libhybrid\.so' /proc/$p/maps 2>/dev/null && nlib=$((nlib + 1)); done
	[ $nlib -eq $CLIENTS ] && ok "libhybrid.so mapped in all $CLIENTS client backends" || bad "libhybrid.so in $nlib of $CLIENTS client backends"

	# The postmaster's statistics show shared_buffers as managed memory of the
	# tree (issue 20): shared_bytes at least 0.9 x shared_buffers.
	last="hybridctl stat $pm --json: shared_bytes"
	want=$((SB_MB * 1024 * 1024 * 9 / 10))
	shared=$(sed -nE 's/.*"shared_bytes": *([0-9]+).*/\1/p' "$tmp/pm.json" | head -1)
	if [ -z "$shared" ]; then
		bad "postmaster: no shared_bytes in its statistics"
	elif [ "$shared" -ge $want ]; then
		ok "postmaster: shared_bytes $shared >= 0.9 x shared_buffers ($want)"
	else
		bad "postmaster: shared_bytes $shared < 0.9 x shared_buffers ($want)"
	fi

	# release the rows; pgbench finishes its transactions
	last="pgbench -c $CLIENTS -j 2 -t $PER_CLIENT"
	to_hold "COMMIT;"
	exec 8>&-
	wait $hold
	hst=$?
	hold=
	[ $hst -eq 0 ] && ok "lock holder committed" || bad "lock holder: status $hst: $(cat "$tmp/hold.out")"
	wait $bp
	bst=$?
	sed 's/^/     pgbench: /' "$tmp/bench.out"
	[ $bst -eq 0 ] && ok "pgbench: status 0" || bad "pgbench: status $bst: $(tail -5 "$tmp/bench.err")"
	grep -q "^number of transactions actually processed: $TX/$TX\$" "$tmp/bench.out" \
		&& ok "pgbench: $TX of $TX transactions processed" || bad "pgbench: not $TX/$TX processed"
	grep -q '^number of failed transactions: 0 ' "$tmp/bench.out" \
		&& ok "pgbench: 0 failed transactions" || bad "pgbench: $(grep '^number of failed' "$tmp/bench.out" || echo 'no failed-transactions line')"
	"$CTL" stat "$pm" --json >"$tmp/pm-after.json" 2>&1
	echo "     hybridctl stat $pm --json (postmaster, pgbench done):"
	sed 's/^/       /' "$tmp/pm-after.json"

	# the data: every balance change is in the history
	last="sums"
	acc=$(sql 'SELECT sum(abalance) FROM pgbench_accounts') tel=$(sql 'SELECT sum(tbalance) FROM pgbench_tellers')
	bra=$(sql 'SELECT sum(bbalance) FROM pgbench_branches') his=$(sql 'SELECT sum(delta) FROM pgbench_history')
	rows=$(sql 'SELECT count(*) FROM pgbench_history')
	echo "     sums: accounts $acc, tellers $tel, branches $bra, history $his ($rows rows)"
	[ -n "$his" ] && [ "$acc" = "$his" ] && [ "$tel" = "$his" ] && [ "$bra" = "$his" ] \
		&& ok "sums agree: accounts = tellers = branches = history = $his" || bad "sums differ"
	[ "$rows" = "$TX" ] && ok "pgbench_history: $TX rows" || bad "pgbench_history: $rows rows, want $TX"

	# a clean shutdown (SIGINT: fast)
	last="shutdown"
	kill -INT "$pm"
	wait "$pm"
	sst=$?
	p=$pm pm=
	[ $sst -eq 0 ] && grep -q 'database system is shut down' "$tmp/server.log" && ok "server shut down cleanly (status 0)" \
		|| bad "server: status $sst: $(tail -3 "$tmp/server.log")"
	n=$(grep -c '^libhybrid:' "$tmp/server.log")
	echo "     server log: $(wc -l <"$tmp/server.log") lines, $n from libhybrid"
	grep '^libhybrid:' "$tmp/server.log" | sort | uniq -c | sed 's/^/     /'
	left=$(for f in /proc/[0-9]*/stat; do awk -v p="$p" '$4 == p { print $1 }' "$f" 2>/dev/null; done)
	[ -z "$left" ] && ok "no process of the server left" || bad "left behind: $left"
	# Nothing went wrong below the program: no kernel BUG, WARNING or bad
	# page, no process killed by a fault (the kernel logs a segfault)
	kmsg=$(dmesg | tail -n +$((klog0 + 1)) | grep -E 'BUG:|WARNING:|Bad page|Oops|general protection|segfault|traps:' | head -20)
	[ -z "$kmsg" ] && ok "the kernel logged no BUG, WARNING, bad page or fault" \
		|| bad "the kernel logged: $(printf '%s\n' "$kmsg" | sed 's/^/       /')"
	if [ "$fail" -gt 0 ]; then # what a failure needs to be understood
		for f in server.log bench.err bench.out hold.out; do
			[ -s "$tmp/$f" ] || continue
			echo "     --- $f (last 60 lines)"
			tail -n 60 "$tmp/$f" | sed 's/^/     /'
		done
	fi
	rm -rf "$tmp"
	finish
	exit
fi

# host
[ -x "$PG/postgres" ] && [ -x "$PG/pgbench" ] && [ -x "$PG/psql" ] ||
	skip_all "PostgreSQL 15 not on the host ($PG: apt-get install postgresql-15 postgresql-client-15)"
# TIERED_VM_POSTGRESQL=1: the initramfs with PostgreSQL (tests/vm/mkinitramfs).
# The time limit only catches a hang: the guest waits for events, up to its ceilings.
TIERED_VM_POSTGRESQL=1 "$SRC/tests/vm/tiered-vm" --kernel "$KVER" --topology 2tier --share "$BUILD" --timeout 1800 \
	-- "$SRC/tests/vm/test_pgbench.sh" guest "$BUILD" "$SRC"
vm_exit $? "$KVER"
