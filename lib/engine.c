/* SPDX-License-Identifier: MIT */
/*
 * engine — the lifecycle of managed memory (see engine.h): create and
 * destroy, manage, unmanage and remap ranges for the program's threads,
 * quiesce, fork.  The epoch itself and the policy thread are epoch.c's.
 *
 * Lock order: registry lock, then nothing (the tracker takes no locks of
 * ours).  A program thread takes the registry lock briefly to manage or
 * unmanage a range; the policy thread takes it per step (epoch.c).
 */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "engine_state.h"
#include "placement.h"

/*
 * The tracker and the governor that sizes its samples from its costs.  With
 * auto, a backend that cannot work here falls back to off, said once.
 */
static int open_tracker(struct hy_engine *e, struct hy_err *err)
{
	struct hy_err why = {""};
	struct hy_track_cost c;
	int rc;

	rc = hy_track_open_lazy(&e->track, e->cfg.backend, &e->kf, &e->st, &why);
	if (rc) {
		hy_err_set(err, "%s", why.msg);
		return rc;
	}
	if (why.msg[0])
		hy_warn_once("access tracking off: %s; placement only", why.msg);
	hy_track_cost(e->track, &c);
	hy_gov_init(&e->gov, &e->cfg, c.fault_ns, !strcmp(hy_track_name(e->track), "sync"));
	return 0;
}

/* The kernel's features, once: what placement and the tracker use. */
static void probe(struct hy_engine *e)
{
	if (!e->kf.probed)
		hy_kfeat_probe(&e->kf);
}

static int start_tracking(struct hy_engine *e, struct hy_err *err);

static int create(struct hy_engine **ep, const struct hy_config *cfg, const struct hy_topo *topo,
		  bool lazy, struct hy_err *err)
{
	struct hy_engine *e;
	int rc;

	if (topo->ntiers < 2 || topo->ntiers > HY_PS_MAX_TIERS) {
		hy_err_set(err, "the engine needs 2 to %d tiers, not %d", HY_PS_MAX_TIERS,
			   topo->ntiers);
		return -EINVAL;
	}
	e = hy_os_alloc(sizeof(*e));
	if (!e) {
		hy_err_set(err, "out of memory for the engine");
		return -ENOMEM;
	}
	e->cfg = *cfg;
	e->topo = *topo;
	hy_policy_params_from(&e->par, cfg, topo->ntiers);
	for (int t = 0; t < topo->ntiers; t++) {
		hy_place_nodes(&e->topo, t, &e->tier_nodes[t]);
		e->tier_target[t] = hy_nm_next(&e->tier_nodes[t], -1);
	}
	e->place_tier = topo->ntiers - 1;
	e->plan.cap = PLAN_CAP;
	e->plan.items = hy_os_alloc(PLAN_CAP * sizeof(*e->plan.items));
	if (!e->plan.items || hy_reg_init(&e->reg)) {
		hy_os_free(e->plan.items, PLAN_CAP * sizeof(*e->plan.items));
		hy_os_free(e, sizeof(*e));
		hy_err_set(err, "out of memory for the engine");
		return -ENOMEM;
	}
	pthread_mutex_init(&e->wait_lock, NULL);
	pthread_mutex_init(&e->rehint_lock, NULL);
	pthread_cond_init(&e->wait_cond, NULL);
	hy_res_init(&e->res);
	e->scan_chunks = SCAN_CHUNKS;
	hy_win_init(&e->win, cfg);
	/* a backend named explicitly must be usable, and is said so now */
	if (!lazy || cfg->backend != HY_BACKEND_AUTO) {
		probe(e);
		rc = open_tracker(e, err);
		if (rc) {
			hy_engine_destroy(e);
			return rc;
		}
		e->tracking = true;
	}
	*ep = e;
	return 0;
}

int hy_engine_create(struct hy_engine **ep, const struct hy_config *cfg, const struct hy_topo *topo,
		     struct hy_err *err)
{
	return create(ep, cfg, topo, false, err);
}

int hy_engine_create_lazy(struct hy_engine **ep, const struct hy_config *cfg,
			  const struct hy_topo *topo, struct hy_err *err)
{
	return create(ep, cfg, topo, true, err);
}

void hy_engine_destroy(struct hy_engine *e)
{
	if (!e)
		return;
	hy_epoch_stop_thread(e);
	if (e->track)
		hy_track_close(e->track);
	hy_reg_destroy(&e->reg);
	hy_os_free(e->plan.items, PLAN_CAP * sizeof(*e->plan.items));
	hy_os_free(e->bits, e->bits_cap * sizeof(uint64_t));
	hy_os_free(e->acc, e->acc_cap * sizeof(uint64_t));
	hy_os_free(e->pres, e->pres_cap * sizeof(uint64_t));
	hy_os_free(e->keep, e->keep_cap * sizeof(uint64_t));
	hy_os_free(e->huge, e->huge_cap * sizeof(uint64_t));
	hy_os_free(e->runs, e->runs_cap * 2 * sizeof(uintptr_t));
	hy_os_free(e->nos, e->nos_cap * sizeof(uint32_t));
	hy_res_close(&e->res);
	hy_os_free(e->moves, PLAN_CAP * sizeof(*e->moves));
	pthread_cond_destroy(&e->wait_cond);
	pthread_mutex_destroy(&e->wait_lock);
	pthread_mutex_destroy(&e->rehint_lock);
	hy_os_free(e->hint_seen, HY_BOARD_SLOTS * sizeof(*e->hint_seen));
	hy_os_free(e, sizeof(*e));
}

/* Pages of [a, b) in shared regions (registry lock held). */
static size_t shared_pages(struct hy_registry *r, uintptr_t a, uintptr_t b)
{
	size_t n = 0;

	for (struct hy_region *g = hy_reg_next(r, a); g && g->start < b; g = hy_reg_next(r, g->end)) {
		uintptr_t lo = g->start > a ? g->start : a, hi = g->end < b ? g->end : b;

		if (g->slot)
			n += (hi - lo) / PAGE;
	}
	return n;
}

/*
 * Manage [addr, addr+len) with hint.  slot: 0 private memory; -1 memory
 * the process tree shares, given a new slot on the tree's board (board.h)
 * so that its members tier it as one; > 0 a part of that memory managed
 * again (re-hinted), in the slot it had.
 */
static int manage(struct hy_engine *e, void *addr, size_t len, enum hy_hint hint, int slot)
{
	int tier = hint == HY_HINT_HOT ? 0 : hint == HY_HINT_COLD ? e->topo.ntiers - 1 : e->place_tier;
	uintptr_t a = (uintptr_t)addr, cb = a & ~(HY_CHUNK_BYTES - 1);
	uint64_t sno0 = 0;
	int rc;

	if (!addr || !len || (a | len) & (PAGE - 1) || a + len < a)
		return -EINVAL;
	if (slot > 0) { /* a part of the tree's memory managed again (re-hinted) */
		uintptr_t scb = hy_board_cbase(e->board, slot);

		if (!scb || scb > cb)
			return -EINVAL;
		sno0 = (cb - scb) >> HY_CHUNK_SHIFT;
	} else if (slot < 0) {
		/* made before any lock: the board is this tree's, made once */
		struct hy_board *b = hy_board_get(&rc);

		if (!b)
			return rc;
		slot = hy_board_attach(b, cb, (a + len - cb + HY_CHUNK_BYTES - 1) / HY_CHUNK_BYTES);
		if (slot < 0) {
			hy_warn_once("the board of shared memory is full: shared mappings made from "
				     "now on are not managed");
			return slot;
		}
		e->board = b;
		hy_stat_set(&e->st, tree_id, hy_board_id(b));
	}
	hy_reg_lock(&e->reg);
	if (e->quiesced) {
		hy_reg_unlock(&e->reg);
		return -ESHUTDOWN;
	}
	probe(e); /* placement needs MPOL_PREFERRED_MANY's answer */
	if (hy_place_foreign_policy(addr, &e->tier_nodes[tier])) {
		hy_reg_unlock(&e->reg);
		return -EPERM; /* the program placed it itself */
	}
	rc = hint != HY_HINT_PIN
		     ? hy_place_range(addr, len, &e->tier_nodes[tier], e->kf.preferred_many)
		     : 0;
	if (rc)
		goto out;
	rc = hy_reg_add(&e->reg, a, len, hint);
	if (!rc && slot) {
		struct hy_region *g = hy_reg_find(&e->reg, a);

		g->slot = slot;
		g->sno0 = sno0;
	}
	/* not tracking yet: hy_engine_go_live registers it with the rest */
	if (!rc && e->tracking && (rc = hy_track_add(e->track, a, len)))
		hy_reg_remove(&e->reg, a, len); /* exactly what was added: cannot fail */
	if (rc) {
		/* not managed after all: give the range its default policy back */
		if (hint != HY_HINT_PIN)
			hy_place_reset(addr, len);
		goto out;
	}
	/* nothing is armed now: the next epoch finds what the program has
	 * populated by then (its first touches count as accesses) and arms
	 * from there -- a reservation nobody touches costs nothing */
	hy_stat_add(&e->st, managed_bytes, len);
	if (slot)
		hy_stat_add(&e->st, shared_bytes, len);
out:
	hy_reg_unlock(&e->reg);
	return rc;
}

int hy_engine_manage(struct hy_engine *e, void *addr, size_t len, enum hy_hint hint)
{
	return manage(e, addr, len, hint, 0);
}

int hy_engine_manage_shared(struct hy_engine *e, void *addr, size_t len)
{
	return manage(e, addr, len, HY_HINT_HYBRID, -1);
}

/* Stop managing [a, a+len) (registry lock held). */
static int unmanage_locked(struct hy_engine *e, uintptr_t a, size_t len)
{
	size_t before = e->reg.pages, shared = shared_pages(&e->reg, a, a + len);
	int rc = hy_reg_remove(&e->reg, a, len);

	if (!rc) {
		__atomic_fetch_sub(&e->st.shared_bytes, shared * PAGE, __ATOMIC_RELAXED);
		if (e->tracking)
			hy_track_remove(e->track, a, len);
		__atomic_fetch_sub(&e->st.managed_bytes, (before - e->reg.pages) * PAGE,
				   __ATOMIC_RELAXED);
	}
	return rc;
}

int hy_engine_unmanage(struct hy_engine *e, void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	int rc;

	if (!addr || !len || (a | len) & (PAGE - 1) || a + len < a)
		return -EINVAL;
	hy_reg_lock(&e->reg);
	rc = unmanage_locked(e, a, len);
	hy_reg_unlock(&e->reg);
	return rc;
}

int hy_engine_remap(struct hy_engine *e, void *old, size_t oldlen, void *new, size_t newlen)
{
	uintptr_t o = (uintptr_t)old, n = (uintptr_t)new;
	size_t before;
	bool managed;
	int rc;

	if (!old || !new || !oldlen || !newlen || (o | n | oldlen | newlen) & (PAGE - 1))
		return -EINVAL;
	if (e->quiesced)
		return 0;
	/* shared memory moved in one member is no longer where the others have
	 * it: no longer the tree's (its slot numbers chunks from the old place) */
	if (shared_pages(&e->reg, o, o + oldlen))
		unmanage_locked(e, o, oldlen);
	before = e->reg.pages;
	managed = hy_reg_find(&e->reg, o) != NULL;
	/* the kernel dropped the userfaultfd registration of the moved pages
	 * (no EVENT_REMAP asked): register afresh where they are now */
	if (e->tracking) {
		hy_track_remove(e->track, o, oldlen);
		hy_track_remove(e->track, n, newlen);
	}
	rc = hy_reg_move(&e->reg, o, oldlen, n, newlen);
	if (!rc && managed && e->tracking && hy_track_add(e->track, n, newlen))
		hy_reg_remove(&e->reg, n, newlen);
	if (e->reg.pages >= before)
		hy_stat_add(&e->st, managed_bytes, (e->reg.pages - before) * PAGE);
	else
		__atomic_fetch_sub(&e->st.managed_bytes, (before - e->reg.pages) * PAGE,
				   __ATOMIC_RELAXED);
	return rc;
}

/* ---- re-hinting ---- */

struct piece {
	uintptr_t start, end;
	enum hy_hint hint;
	int slot; /* the tree's memory: it stays the tree's */
};

/*
 * The managed parts of [a, end) and their hints, clipped to it, into os
 * memory (*out, *n; free with hy_os_free(*out, *cap)).
 */
static int snapshot(struct hy_engine *e, uintptr_t a, uintptr_t end, struct piece **out,
		    size_t *n, size_t *cap)
{
	struct hy_registry *r = &e->reg;
	size_t k = 0;

	*out = NULL;
	*n = *cap = 0;
	hy_reg_lock(r);
	for (size_t i = 0; i < r->n; i++)
		if (r->reg[i].start < end && r->reg[i].end > a)
			k++;
	if (k) {
		*cap = k * sizeof(**out);
		*out = hy_os_alloc(*cap);
		if (!*out) {
			hy_reg_unlock(r);
			return -ENOMEM;
		}
		for (size_t i = 0; i < r->n; i++) {
			const struct hy_region *g = &r->reg[i];

			if (g->start < end && g->end > a)
				(*out)[(*n)++] = (struct piece){g->start > a ? g->start : a,
								 g->end < end ? g->end : end,
								 g->hint, g->slot};
		}
	}
	hy_reg_unlock(r);
	return 0;
}

/*
 * Give managed pieces that carry our placement the default policy back:
 * the new hint places the range afresh (and manage() would take our old
 * "preferred slow" for a policy of the program's), NONE wants it plain.
 * A policy the program set since is left alone.
 */
static void reset_policy(const struct hy_engine *e, const struct piece *p, size_t n)
{
	struct hy_nodemask ours;

	hy_nm_zero(&ours);
	for (int t = 0; t < e->topo.ntiers; t++)
		for (unsigned w = 0; w < HY_MAX_NODES / 64; w++)
			ours.bits[w] |= e->tier_nodes[t].bits[w];
	for (size_t i = 0; i < n; i++)
		if (p[i].hint != HY_HINT_PIN && !hy_place_foreign_policy((void *)p[i].start, &ours))
			hy_place_reset((void *)p[i].start, p[i].end - p[i].start);
}

/*
 * [a, end) managed again with hint: as one range, but the pieces that were
 * the tree's shared memory each stay in their slot (a member's hint must
 * not make the tree's memory its own) and what lies between them is
 * private.  On error, what was managed of it is let go again.
 */
static int manage_pieces(struct hy_engine *e, uintptr_t a, uintptr_t end, enum hy_hint hint,
			 const struct piece *p, size_t n)
{
	uintptr_t at = a;
	int rc = 0;

	for (size_t i = 0; i <= n && !rc; i++) {
		uintptr_t to = i < n ? p[i].start : end;

		if (i < n && !p[i].slot)
			continue; /* private: part of the stretch up to the next shared piece */
		if (to > at)
			rc = manage(e, (void *)at, to - at, hint, 0);
		if (!rc && i < n) {
			rc = manage(e, (void *)p[i].start, p[i].end - p[i].start, hint, p[i].slot);
			at = p[i].end;
		}
	}
	if (rc)
		hy_engine_unmanage(e, (void *)a, end - a);
	return rc;
}

/* The tree's shared pieces of a re-hint, told to the other members. */
static void tell_tree(struct hy_engine *e, const struct piece *p, size_t n, enum hy_hint hint)
{
	for (size_t i = 0; i < n; i++) {
		uintptr_t base = p[i].slot ? hy_board_cbase(e->board, p[i].slot) : 0;

		if (base)
			hy_board_hint(e->board, p[i].slot, (p[i].start - base) / PAGE,
				      (p[i].end - base) / PAGE, (int)hint, getpid());
	}
}

/* Re-hint [a, a+len); tell: the tree's part is also told to the tree. */
static int rehint(struct hy_engine *e, uintptr_t a, size_t len, enum hy_hint hint, bool tell)
{
	void *addr = (void *)a;
	struct piece *old;
	size_t n, cap;
	int rc;

	rc = snapshot(e, a, a + len, &old, &n, &cap);
	if (rc)
		return rc;
	if (tell)
		tell_tree(e, old, n, hint);
	rc = n ? hy_engine_unmanage(e, addr, len) : 0;
	if (rc)
		goto out;
	reset_policy(e, old, n);
	if (hint == HY_HINT_NONE)
		goto out;
	rc = manage_pieces(e, a, a + len, hint, old, n);
	if (rc) {
		/* nothing may change on error: the old pieces get their hints
		 * back (their access history is forgotten) */
		for (size_t i = 0; i < n; i++)
			manage(e, (void *)old[i].start, old[i].end - old[i].start, old[i].hint,
			       old[i].slot);
	}
out:
	hy_os_free(old, cap);
	return rc;
}

int hy_engine_rehint(struct hy_engine *e, void *addr, size_t len, enum hy_hint hint)
{
	int rc;

	pthread_mutex_lock(&e->rehint_lock);
	rc = rehint(e, (uintptr_t)addr, len, hint, true);
	pthread_mutex_unlock(&e->rehint_lock);
	return rc;
}

struct applying {
	struct hy_engine *e;
	uintptr_t base;
	pid_t self;
};

static void apply_hint(void *arg, uint64_t lo, uint64_t hi, int hint, pid_t pid)
{
	struct applying *ap = arg;

	if (pid == ap->self || hi <= lo || hint < HY_HINT_NONE || hint > HY_HINT_PIN)
		return; /* our own, applied when given; or nonsense */
	(void)rehint(ap->e, ap->base + lo * PAGE, (hi - lo) * PAGE, (enum hy_hint)hint, false);
}

void hy_engine_tree_hints(struct hy_engine *e)
{
	int slots[64];
	size_t k = 0;

	if (!e->board)
		return;
	/* the slots this process has (a copy: re-hinting changes the registry) */
	hy_reg_lock(&e->reg);
	for (size_t i = 0; i < e->reg.n && k < 64; i++) {
		int s = e->reg.reg[i].slot;
		bool have = false;

		for (size_t j = 0; j < k; j++)
			have |= slots[j] == s;
		if (s > 0 && s <= HY_BOARD_SLOTS && !have)
			slots[k++] = s;
	}
	hy_reg_unlock(&e->reg);
	if (!k)
		return;
	pthread_mutex_lock(&e->rehint_lock);
	if (!e->hint_seen)
		e->hint_seen = hy_os_alloc(HY_BOARD_SLOTS * sizeof(*e->hint_seen));
	for (size_t j = 0; j < k && e->hint_seen; j++) {
		struct applying ap = {e, hy_board_cbase(e->board, slots[j]), getpid()};

		hy_board_hints(e->board, slots[j], &e->hint_seen[slots[j] - 1], apply_hint, &ap);
	}
	pthread_mutex_unlock(&e->rehint_lock);
}

void hy_engine_kept_tiers(struct hy_engine *e, const uintptr_t *addrs, size_t n, int *tier)
{
	hy_reg_lock(&e->reg);
	for (size_t i = 0; i < n; i++) {
		struct hy_region *g = hy_reg_find(&e->reg, addrs[i]);
		int kept;

		if (!g) {
			tier[i] = -1;
			continue;
		}
		kept = hy_ps_tier(hy_reg_get(g, addrs[i]));
		tier[i] = kept >= 0 ? kept : g->hint == HY_HINT_HOT ? 0 : e->place_tier;
	}
	hy_reg_unlock(&e->reg);
}

void hy_engine_hold(struct hy_engine *e)
{
	hy_reg_lock(&e->reg);
}

void hy_engine_release(struct hy_engine *e)
{
	hy_reg_unlock(&e->reg);
}

void hy_engine_set_dram_limit(struct hy_engine *e, uint64_t bytes)
{
	hy_reg_lock(&e->reg); /* the policy reads it under this lock */
	e->cfg.dram_limit = bytes;
	e->par.dram_limit = bytes;
	hy_reg_unlock(&e->reg);
}

void hy_engine_set_scan_budget(struct hy_engine *e, size_t chunks)
{
	hy_reg_lock(&e->reg);
	e->scan_chunks = chunks ? chunks : SCAN_CHUNKS;
	hy_reg_unlock(&e->reg);
}

int hy_engine_epoch(struct hy_engine *e)
{
	struct hy_err err;
	int rc = e->tracking ? 0 : start_tracking(e, &err);

	return rc ? rc : hy_epoch_run(e);
}

void hy_engine_set_epoch_hook(struct hy_engine *e, hy_stats_hook *fn, void *arg)
{
	e->on_epoch = fn;
	e->on_epoch_arg = arg;
}

int hy_engine_start_thread(struct hy_engine *e)
{
	return hy_epoch_start_thread(e);
}

void hy_engine_stats(struct hy_engine *e, struct hy_stats *out)
{
	hy_stats_copy(&e->st, out);
}

const char *hy_engine_backend(const struct hy_engine *e)
{
	if (e->quiesced)
		return "stopped";
	return e->track ? hy_track_name(e->track) : ""; /* "": not started yet */
}

struct hy_registry *hy_engine_registry(struct hy_engine *e)
{
	return &e->reg;
}

void hy_engine_quiesce(struct hy_engine *e)
{
	hy_epoch_stop_thread(e);
	hy_reg_lock(&e->reg);
	if (!e->quiesced) {
		e->quiesced = true;
		/* the tree's memory this process led: another member leads at its
		 * next epoch, not after the silence that replaces a lead alive */
		for (size_t i = 0; i < e->reg.n; i++)
			if (e->reg.reg[i].lead) {
				hy_board_release(e->board, e->reg.reg[i].slot, getpid());
				e->reg.reg[i].lead = false;
			}
		/* every page released and unregistered: writes never fault again */
		hy_track_close(e->track);
		e->track = NULL;
		e->tracking = false;
	}
	hy_reg_unlock(&e->reg);
}

/*
 * fork.  The prepare handler runs after jemalloc's (it was registered
 * before jemalloc's, see runtime.c), so the lock order jemalloc -> registry
 * of the extent hooks is kept: a thread inside a hook finishes before the
 * registry lock is taken here.  Holding the registry lock across fork means
 * the child's copy of the registry is consistent and no migration batch is
 * half done.
 */
void hy_engine_fork_prepare(struct hy_engine *e)
{
	hy_reg_lock(&e->reg);
}

void hy_engine_fork_parent(struct hy_engine *e)
{
	hy_reg_unlock(&e->reg);
}

/* Child, before anything else runs: our locks back to a usable state (the
 * threads that might have held the others do not exist here). */
void hy_engine_fork_child_locks(struct hy_engine *e)
{
	/* the registry lock was taken by this very thread (prepare): released
	 * the regular way first, so that its count of registry locks held
	 * (hy_reg_held) is 0 again -- else runtime would take the child's first
	 * thread for one inside the library, and manage nothing for it */
	hy_reg_unlock(&e->reg);
	pthread_mutex_init(&e->reg.lock, NULL);
	pthread_mutex_init(&e->wait_lock, NULL);
	pthread_mutex_init(&e->rehint_lock, NULL);
	pthread_cond_init(&e->wait_cond, NULL);
	e->running = false; /* the parent's policy thread was not copied */
}

/*
 * Child, once the allocator is usable again: nothing is tracked until the
 * child's own start (hy_engine_go_live), so that a child that execs or
 * exits at once pays for nothing.  Its copy of the tracker (and of the
 * present scan's pagemap file) acts on the parent's memory: it lets go of
 * the parent's descriptors now (the program
 * may reuse their numbers) and is replaced at the start.  Until then the
 * child's copies of the ranges carry no protection: the kernel drops the
 * uffd-wp bits and markers of a child whose VMAs are not registered (no
 * UFFD_FEATURE_EVENT_FORK), so they are plain memory, placed as before.
 */
/*
 * A forked child's counters: what it has (the managed memory it inherited,
 * where it was last seen, the library's own memory) stays; what happened
 * (moves, failures, epochs, time) was its parent's and starts again from 0,
 * so that each process of a tree shows its own; it leads nothing yet.
 */
static void fork_counters(struct hy_stats *st)
{
	struct hy_stats keep = {0};

	keep.managed_bytes = st->managed_bytes;
	memcpy(keep.tier_bytes, st->tier_bytes, sizeof(keep.tier_bytes));
	keep.self_bytes = st->self_bytes;
	keep.shared_bytes = st->shared_bytes;
	keep.tree_id = st->tree_id;
	*st = keep; /* the parent's other threads are not here: no atomics needed */
}

int hy_engine_fork_child(struct hy_engine *e)
{
	if (e->quiesced)
		return 0;
	if (e->track)
		hy_track_fork_child(e->track);
	hy_res_close(&e->res); /* the parent's pagemap: the child opens its own */
	e->tracking = false;
	e->armed = 0;
	/* the parent leads what it leads; the child, when its epochs say so.
	 * Its sweep over shared memory starts elsewhere than its parent's and
	 * its siblings' (a pid's hash): the members' samples together cover
	 * more of it, where copies of one sampler would all look at the same
	 * chunks */
	for (size_t i = 0; i < e->reg.n; i++) {
		e->reg.reg[i].lead = false;
		if (e->reg.reg[i].slot)
			e->reg.reg[i].arm_cursor += (size_t)getpid() * 2654435761u;
	}
	fork_counters(&e->st);
	__atomic_store_n(&e->stop, false, __ATOMIC_RELAXED);
	return 0;
}

/*
 * The tracker, opened now if it was not (lazy create; the kernel's features
 * probed first) or opened afresh in a forked child, with every managed
 * range registered.  Opened outside the registry lock: the sync backend
 * starts its handler thread, which may allocate.  A range managed in the
 * meantime is in the registry, so the loop below registers it.
 */
static int start_tracking(struct hy_engine *e, struct hy_err *err)
{
	int rc;

	hy_reg_lock(&e->reg);
	probe(e);
	rc = e->quiesced ? -ESHUTDOWN : 0;
	hy_reg_unlock(&e->reg);
	if (rc || e->tracking)
		return rc;
	rc = e->track ? hy_track_reopen(&e->track, err) : open_tracker(e, err);
	hy_reg_lock(&e->reg);
	for (size_t i = 0; !rc && i < e->reg.n; i++) {
		struct hy_region *g = &e->reg.reg[i];

		rc = hy_track_add(e->track, g->start, g->end - g->start);
	}
	e->armed = 0;
	e->tracking = !rc;
	hy_reg_unlock(&e->reg);
	return rc;
}

int hy_engine_go_live(struct hy_engine *e)
{
	struct hy_err err = {""};
	int rc;

	if (e->quiesced)
		return -ESHUTDOWN;
	rc = start_tracking(e, &err);
	if (!rc)
		rc = hy_engine_start_thread(e);
	if (rc) {
		hy_warn_once("process %d: cannot track its memory (%s); it runs unmanaged",
			     (int)getpid(), err.msg[0] ? err.msg : strerror(-rc));
		hy_engine_quiesce(e);
	}
	return rc;
}
