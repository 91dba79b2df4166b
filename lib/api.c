/* SPDX-License-Identifier: MIT */
/*
 * api — the public hybrid_* functions (include/hybrid.h).  The instance they
 * act on (options, tiers, engine, start and stop) is runtime's; the hybrid
 * heap is heap's.  This file validates, translates and documents; the rules
 * themselves live in the engine.
 *
 * Every entry point checks its arguments before anything else and changes
 * nothing when it returns an error.  Functions that return an error code
 * leave errno as they found it (the system calls they make would set it);
 * the malloc-like ones set it like libc.
 *
 * System calls go straight to the kernel (syscall()), not through libc's
 * mmap/munmap/mbind: in a preloaded process those are interposed, and the
 * preload layer would manage (or unmanage) the range a second time.
 *
 * Locking: api_lock serialises the calls that change what is managed
 * (hybrid_mmap's manage, hybrid_madvise, hybrid_munmap's unmanage) with each
 * other and with hybrid_shutdown, so that a re-hint (unmanage, then manage
 * with the new hint) is atomic for other API callers and no management call
 * runs into a stopping engine.  Lock order: api_lock, then the registry lock
 * (taken inside the engine).  The engine never takes api_lock.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hybrid.h"
#include "heap.h"
#include "migrate.h"
#include "os.h"
#include "fault.h"
#include "runtime.h"

#define HY_EXPORT __attribute__((visibility("default")))

#define PAGE	  HY_PAGE_SIZE
#define PAGE_MASK (PAGE - 1)
#define BATCH	  512 /* pages per move_pages query in hybrid_where */

/* The public hints are the registry's, plus DEFAULT = 0 (not managed). */
_Static_assert(HYBRID_HINT_HYBRID == (int)HY_HINT_HYBRID && HYBRID_HINT_HOT == (int)HY_HINT_HOT &&
		       HYBRID_HINT_COLD == (int)HY_HINT_COLD && HYBRID_HINT_PIN == (int)HY_HINT_PIN,
	       "public and internal hints differ");
_Static_assert(HYBRID_MAX_TIERS >= HY_MAX_TIERS, "public tier arrays too small");
_Static_assert(HYBRID_MAX_NODES >= HY_TOPO_MAX_NODES, "public node arrays too small");
_Static_assert(HYBRID_NODEMASK_WORDS * 64 == HY_MAX_NODES, "public node masks differ");
_Static_assert((int)HYBRID_TIERS_EXPLICIT == (int)HY_TOPO_EXPLICIT &&
		       (int)HYBRID_TIERS_KERNEL == (int)HY_TOPO_KERNEL_TIERS &&
		       (int)HYBRID_TIERS_HMAT == (int)HY_TOPO_HMAT &&
		       (int)HYBRID_TIERS_CPULESS == (int)HY_TOPO_CPULESS &&
		       (int)HYBRID_TIERS_SINGLE == (int)HY_TOPO_SINGLE,
	       "public and internal tier sources differ");

static pthread_mutex_t api_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * hybrid_shutdown was called.  Kept here as well as in runtime's state
 * because a process that runs unmanaged stays UNMANAGED in runtime's terms,
 * yet its program must see -ESHUTDOWN like any other after a shutdown.
 */
static bool api_shut;

static bool shut(void)
{
	return __atomic_load_n(&api_shut, __ATOMIC_ACQUIRE) || hy_rt_state() == HY_RT_STOPPED;
}

static bool valid_hint(int hint)
{
	return hint >= HYBRID_HINT_DEFAULT && hint <= HYBRID_HINT_PIN;
}

/*
 * [addr, addr+len) with addr page-aligned: rounds len up to pages into
 * *plen.  -EINVAL for NULL, unaligned, empty or wrapping ranges.
 */
static int page_range(const void *addr, size_t len, size_t *plen)
{
	uintptr_t a = (uintptr_t)addr;

	if (!addr || !len || (a & PAGE_MASK) || len > SIZE_MAX - PAGE_MASK)
		return -EINVAL;
	len = hy_page_round_up(len);
	if (a + len < a || a + len == 0)
		return -EINVAL;
	*plen = len;
	return 0;
}

/*
 * Is all of [a, a+len) (page-aligned) mapped?  msync(MS_ASYNC) walks the
 * VMAs and does nothing else (a no-op for writeback since 2.6.19), failing
 * with ENOMEM at the first hole: one system call whatever the size, where
 * mincore would need a byte per page.
 */
static int mapped(uintptr_t a, size_t len)
{
	if (syscall(SYS_msync, a, len, MS_ASYNC) == 0)
		return 0;
	return errno == ENOMEM ? -EFAULT : -errno;
}

/* ---- version, errors ----------------------------------------------------------- */

HY_EXPORT const char *hybrid_version(void)
{
	return HY_VERSION_TEXT;
}

/*
 * The library's own meaning of a code, where every hybrid_* function that
 * returns it means the same (include/hybrid.h, man/hybrid_*.3); any other
 * code has the C library's text.  Kept true with tests/unit/test_api.c.
 */
static const struct {
	int err;
	const char *msg;
} own_texts[] = {
	{ENODEV, "libhybrid runs unmanaged in this process (one memory tier, mode off, or bad "
		 "configuration)"},
	{ESHUTDOWN, "libhybrid was shut down (hybrid_shutdown)"},
	{EALREADY, "libhybrid was already started"},
	{EPERM, "the program set a memory policy of its own there (mbind, set_mempolicy, "
		"numactl)"},
	{EACCES, "the kernel cannot track a shared mapping this process may not write"},
	{ENOTSUP, "the kernel cannot track this kind of memory"},
	{E2BIG, "structure larger than this libhybrid knows, with members it cannot honour"},
	{EFAULT, "part of the range is not mapped"},
};

HY_EXPORT const char *hybrid_strerror(int err)
{
	const char *s;

	if (err == 0)
		return "Success";
	if (err < 0)
		err = err == INT_MIN ? INT_MAX : -err;
	for (size_t i = 0; i < sizeof(own_texts) / sizeof(own_texts[0]); i++)
		if (own_texts[i].err == err)
			return own_texts[i].msg;
	/* strerrordesc_np: static, untranslated, thread-safe (glibc 2.32) */
	s = strerrordesc_np(err);
	return s ? s : "Unknown error";
}

/* ---- lifecycle ------------------------------------------------------------------- */

/* The reason for a refused option: into the caller's buffer, else stderr. */
static int refuse(const struct hybrid_options *o, const char *msg)
{
	if (o->errbuf && o->errbuf_len)
		snprintf(o->errbuf, o->errbuf_len, "%s", msg);
	else
		hy_warn("hybrid_init: %s", msg);
	return -EINVAL;
}

/* Options from the environment (unless told not to), then from opts. */
static int build_config(const struct hybrid_options *o, struct hy_config *cfg)
{
	struct hy_err err;

	hy_config_defaults(cfg);
	if (!(o->flags & HYBRID_INIT_IGNORE_ENV) && hy_config_load_env(cfg, &err))
		return refuse(o, err.msg);
	for (unsigned i = 0; i < o->noptions; i++) {
		const struct hybrid_option *op = &o->options[i];
		char msg[sizeof(err.msg) + 128];
		int id;

		if (!op->name || !op->value) {
			snprintf(msg, sizeof(msg), "option %u: NULL name or value", i);
			return refuse(o, msg);
		}
		id = hy_config_lookup(op->name);
		if (id < 0) {
			snprintf(msg, sizeof(msg), "unknown option \"%.64s\"", op->name);
			return refuse(o, msg);
		}
		if (hy_config_set(cfg, id, op->value, HY_SRC_API, &err)) {
			snprintf(msg, sizeof(msg), "%s=\"%.64s\": %s", hy_options[id].name,
				 op->value, err.msg);
			return refuse(o, msg);
		}
	}
	if (hy_config_check(cfg, &err))
		return refuse(o, err.msg);
	return 0;
}

/* The first bytes of struct hybrid_options any caller must pass. */
#define OPTIONS_SIZE_V1 (offsetof(struct hybrid_options, errbuf_len) + sizeof(size_t))

/* Rejects a struct it cannot read; copies what it can into *o. */
static int read_options(const struct hybrid_options *opts, struct hybrid_options *o)
{
	memset(o, 0, sizeof(*o));
	if (opts->size < OPTIONS_SIZE_V1)
		return -EINVAL;
	/* no version of the structure will reach a page: a size beyond that is
	 * garbage, and reading that far could fault */
	if (opts->size > 4096)
		return -E2BIG;
	/* a newer caller's extra members must be zero: we cannot honour them */
	for (size_t i = sizeof(*o); i < opts->size; i++)
		if (((const unsigned char *)opts)[i])
			return -E2BIG;
	memcpy(o, opts, sizeof(*o) < opts->size ? sizeof(*o) : opts->size);
	if (o->flags & ~HYBRID_INIT_IGNORE_ENV)
		return -EINVAL;
	if (o->noptions && !o->options)
		return -EINVAL;
	return 0;
}

static int init(const struct hybrid_options *opts)
{
	struct hybrid_options o;
	struct hy_config *cfg;
	int rc;

	if (opts && (rc = read_options(opts, &o)))
		return rc;
	if (shut())
		return -ESHUTDOWN;
	switch (hy_rt_state()) {
	case HY_RT_NONE:
		break;
	case HY_RT_UNMANAGED:
		return -ENODEV; /* decided for good, options cannot change that */
	default:
		return -EALREADY;
	}
	if (!opts)
		return hy_rt_start(NULL, NULL);
	/* struct hy_config holds a PATH_MAX buffer: os memory, not the stack */
	cfg = hy_os_alloc(sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	rc = build_config(&o, cfg);
	if (!rc)
		rc = hy_rt_start(cfg, NULL);
	hy_os_free(cfg, sizeof(*cfg));
	return rc;
}

HY_EXPORT int hybrid_init(const struct hybrid_options *opts)
{
	int saved = errno, rc = init(opts);

	/* an explicit start: the engine's thread and tracker now, not at the
	 * first managed range (runtime.c's lazy start is for the preload) */
	if (!rc)
		hy_rt_engine();

	errno = saved;
	return rc;
}

HY_EXPORT int hybrid_shutdown(void)
{
	int saved = errno;
	bool was;

	pthread_mutex_lock(&api_lock);
	was = shut();
	__atomic_store_n(&api_shut, true, __ATOMIC_RELEASE);
	hy_rt_stop();
	pthread_mutex_unlock(&api_lock);
	errno = saved;
	return was ? -ESHUTDOWN : 0;
}

/* ---- hints ----------------------------------------------------------------------- */

static int madvise_(void *addr, size_t len, int hint)
{
	struct hy_engine *e;
	size_t plen;
	int rc;

	rc = page_range(addr, len, &plen);
	if (rc)
		return rc;
	if (!valid_hint(hint))
		return -EINVAL;
	rc = mapped((uintptr_t)addr, plen);
	if (rc)
		return rc;
	if (shut())
		return -ESHUTDOWN;
	e = hy_rt_engine();
	pthread_mutex_lock(&api_lock);
	if (shut())
		rc = -ESHUTDOWN;
	else if (!e)
		rc = -ENODEV;
	else
		rc = hy_engine_rehint(e, addr, plen, (enum hy_hint)hint);
	pthread_mutex_unlock(&api_lock);
	return rc;
}

HY_EXPORT int hybrid_madvise(void *addr, size_t len, int hint)
{
	int saved = errno, rc = madvise_(addr, len, hint);

	errno = saved;
	return rc;
}

/* ---- memory ---------------------------------------------------------------------- */

static int mmap_(void **addrp, size_t len, int hint, unsigned flags)
{
	struct hy_engine *e;
	long p;
	int rc = 0;

	if (!addrp || !len || flags || !valid_hint(hint))
		return -EINVAL;
	if (len > SIZE_MAX - PAGE_MASK || hy_page_round_up(len) > (size_t)PTRDIFF_MAX)
		return -ENOMEM;
	len = hy_page_round_up(len);
	if (shut())
		return -ESHUTDOWN;
	e = hy_rt_engine();
	if ((errno = hy_fault(HY_FAULT_MMAP)))
		return -errno;
	p = hy_sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p < 0 && p > -4096)
		return (int)p;
	pthread_mutex_lock(&api_lock);
	if (shut())
		rc = -ESHUTDOWN;
	else if (e && hint != HYBRID_HINT_DEFAULT)
		rc = hy_engine_manage(e, (void *)p, len, (enum hy_hint)hint);
	pthread_mutex_unlock(&api_lock);
	if (rc) {
		hy_sys_munmap((void *)p, len);
		return rc;
	}
	*addrp = (void *)p;
	return 0;
}

HY_EXPORT int hybrid_mmap(void **addrp, size_t len, int hint, unsigned int flags)
{
	int saved = errno, rc = mmap_(addrp, len, hint, flags);

	errno = saved;
	return rc;
}

static int munmap_(void *addr, size_t len)
{
	struct hy_engine *e;
	size_t plen;
	int rc;

	rc = page_range(addr, len, &plen);
	if (rc)
		return rc;
	/* the heap's extents are jemalloc's: unmapping one under it corrupts it */
	if (hy_heap_owns_range(addr, plen))
		return -EINVAL;
	rc = mapped((uintptr_t)addr, plen);
	if (rc)
		return rc;
	pthread_mutex_lock(&api_lock);
	e = hy_rt_engine_if_running();
	/* unmanaged first: the policy thread must be done with these pages */
	if (e)
		hy_engine_unmanage(e, addr, plen);
	rc = hy_sys_munmap(addr, plen) ? -errno : 0;
	pthread_mutex_unlock(&api_lock);
	return rc;
}

HY_EXPORT int hybrid_munmap(void *addr, size_t len)
{
	int saved = errno, rc = munmap_(addr, len);

	errno = saved;
	return rc;
}

/*
 * The hybrid heap.  Each call starts the library first if nothing was
 * decided yet, so that the extents of the first allocation are already
 * handed to the engine; the start must not touch errno.
 */
static void heap_start(void)
{
	int saved;

	if (hy_rt_state() != HY_RT_NONE)
		return;
	saved = errno;
	hy_rt_engine();
	errno = saved;
}

HY_EXPORT void *hybrid_malloc(size_t size)
{
	heap_start();
	return hy_heap_xmalloc(size ? size : 1, 0, false);
}

HY_EXPORT void *hybrid_calloc(size_t nmemb, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	heap_start();
	return hy_heap_xmalloc(total ? total : 1, 0, true);
}

HY_EXPORT void *hybrid_aligned_alloc(size_t alignment, size_t size)
{
	if (!alignment || (alignment & (alignment - 1))) {
		errno = EINVAL;
		return NULL;
	}
	heap_start();
	return hy_heap_xmalloc(size ? size : 1, alignment, false);
}

HY_EXPORT void *hybrid_realloc(void *ptr, size_t size)
{
	if (!ptr)
		return hybrid_malloc(size);
	if (!hy_heap_xowns(ptr)) {
		errno = EINVAL;
		return NULL;
	}
	if (!size) {
		/* glibc's realloc(p, 0): free and return NULL */
		hy_heap_xfree(ptr);
		return NULL;
	}
	return hy_heap_xrealloc(ptr, size);
}

HY_EXPORT void hybrid_free(void *ptr)
{
	if (!ptr)
		return;
	if (!hy_heap_xowns(ptr)) {
		/* free() would corrupt or abort; we must not */
		hy_warn_once("hybrid_free(%p): not a hybrid heap block; ignored", ptr);
		return;
	}
	hy_heap_xfree(ptr);
}

/* ---- introspection --------------------------------------------------------------- */

/*
 * Copy a filled structure to the caller: min(caller's size, ours) bytes,
 * then the caller's size member says how many were filled.
 */
static void copy_out(void *dst, const void *src, size_t ours)
{
	size_t n = *(const size_t *)dst < ours ? *(const size_t *)dst : ours;

	memcpy((char *)dst + sizeof(size_t), (const char *)src + sizeof(size_t),
	       n - sizeof(size_t));
	*(size_t *)dst = n;
}

static uint32_t public_state(void)
{
	if (__atomic_load_n(&api_shut, __ATOMIC_ACQUIRE))
		return HYBRID_STATE_STOPPED;
	switch (hy_rt_state()) {
	case HY_RT_RUNNING:
		return HYBRID_STATE_RUNNING;
	case HY_RT_UNMANAGED:
		return HYBRID_STATE_UNMANAGED;
	case HY_RT_STOPPED:
		return HYBRID_STATE_STOPPED;
	default:
		return HYBRID_STATE_NOT_STARTED;
	}
}

/*
 * The tier list runtime holds, if it holds one: valid once the instance was
 * decided; a process that stopped before it started, or decided before
 * discovery (mode off, bad options), has none.
 */
static const struct hy_topo *topo_if_any(void)
{
	const struct hy_topo *t = hy_rt_topo();
	enum hy_rt_state s = hy_rt_state();

	if (s == HY_RT_NONE || s == HY_RT_STARTING || t->ntiers < 1 || t->ntiers > HY_MAX_TIERS)
		return NULL;
	return t;
}

HY_EXPORT int hybrid_get_stats(struct hybrid_stats *st)
{
	struct hybrid_stats s;
	struct hy_stats in;
	struct hy_engine *e;
	int saved = errno;

	if (!st || st->size < sizeof(st->size))
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	s.state = public_state();
	e = hy_rt_engine_if_running();
	if (e)
		snprintf(s.backend, sizeof(s.backend), "%s", hy_engine_backend(e));
	if (!hy_rt_stats(&in)) {
		s.managed_bytes = in.managed_bytes;
		for (int t = 0; t < HY_MAX_TIERS; t++)
			s.tier_bytes[t] = in.tier_bytes[t];
		s.promote_pages = in.promote_pages;
		s.promote_bytes = in.promote_bytes;
		s.demote_pages = in.demote_pages;
		s.demote_bytes = in.demote_bytes;
		s.fail_busy = in.fail_busy;
		s.fail_access = in.fail_access;
		s.fail_nomem = in.fail_nomem;
		s.fail_absent = in.fail_absent;
		s.fail_other = in.fail_other;
		s.thrash_pages = in.thrash_pages;
		s.epochs = in.epochs;
		s.wp_faults = in.wp_faults;
		s.pages_scanned = in.pages_scanned;
		s.pages_armed = in.pages_armed;
		s.policy_ns = in.policy_ns;
		s.thp_splits = in.thp_splits;
		s.self_bytes = in.self_bytes;
		s.shared_bytes = in.shared_bytes;
		s.lead_bytes = in.lead_bytes;
	}
	copy_out(st, &s, sizeof(s));
	errno = saved;
	return 0;
}

static int get_tiers(struct hybrid_tiers *out)
{
	struct hybrid_tiers *s;
	struct hy_topo *t;
	const struct hy_topo *live;

	if (!out || out->size < sizeof(out->size))
		return -EINVAL;
	if (!shut())
		hy_rt_engine();
	/* both are large (some 30 KiB): os memory, not a program thread's stack */
	s = hy_os_alloc(sizeof(*s) + sizeof(*t));
	if (!s)
		return -ENOMEM;
	t = (struct hy_topo *)(s + 1);
	live = topo_if_any();
	if (live) {
		*t = *live;
		hy_topo_refresh_free(t); /* free memory as of now */
		s->ntiers = t->ntiers;
		s->source = (int)t->source;
		s->loopback = t->loopback;
		for (int i = 0; i < t->ntiers; i++) {
			memcpy(s->tier[i].nodes, t->tier[i].nodes.bits, sizeof(s->tier[i].nodes));
			s->tier[i].mem_total = t->tier[i].mem_total;
			s->tier[i].mem_free = t->tier[i].mem_free;
		}
		s->nnodes = t->nnodes;
		for (int i = 0; i < t->nnodes; i++) {
			const struct hy_node *n = &t->node[i];

			s->node[i] = (struct hybrid_node_info){
				.id = n->id,
				.tier = n->tier,
				.demote_to = n->demote_to,
				.has_cpu = n->has_cpu,
				.allowed = n->allowed,
				.kernel_tier = n->kernel_tier,
				.mem_total = n->mem_total,
				.mem_free = n->mem_free,
				.read_latency = n->read_latency,
				.write_latency = n->write_latency,
				.read_bandwidth = n->read_bandwidth,
				.write_bandwidth = n->write_bandwidth,
			};
		}
	}
	copy_out(out, s, sizeof(*s));
	hy_os_free(s, sizeof(*s) + sizeof(*t));
	return 0;
}

HY_EXPORT int hybrid_get_tiers(struct hybrid_tiers *t)
{
	int saved = errno, rc = get_tiers(t);

	errno = saved;
	return rc;
}

/* Scratch of hybrid_where: per-node sums by node id, and the query batch. */
struct where_scratch {
	uint64_t node_bytes[HY_MAX_NODES];
	int8_t node_tier[HY_MAX_NODES]; /* fastest tier holding the node, -1 none */
	bool node_multi[HY_MAX_NODES];	/* in several tiers (loopback) */
	uintptr_t addrs[BATCH];
	uint64_t bytes[BATCH];
	int nodes[BATCH];
	int kept[BATCH]; /* the engine's tier of each page, -1 not managed */
};

/*
 * The tier one present page counts on: its node's.  For a node that plays
 * several tiers (loopback) and a managed page: the tier the engine keeps
 * the page on (hy_engine_kept_tiers).
 */
static int page_tier(const struct where_scratch *ws, int node, const struct hy_topo *t, int kept)
{
	if (kept >= 0 && ws->node_multi[node] && kept < t->ntiers &&
	    hy_nm_isset(&t->tier[kept].nodes, node))
		return kept;
	return ws->node_tier[node];
}

/* One batch of ws->addrs/bytes into w. */
static int where_batch(struct where_scratch *ws, size_t k, const struct hy_topo *t,
		       struct hy_engine *e, struct hybrid_where *w)
{
	int rc = hy_mig_query(ws->addrs, k, ws->nodes);

	if (rc)
		return rc;
	if (e)
		hy_engine_kept_tiers(e, ws->addrs, k, ws->kept);
	else
		memset(ws->kept, -1, k * sizeof(ws->kept[0]));
	for (size_t i = 0; i < k; i++) {
		int node = ws->nodes[i], tier;

		if (ws->kept[i] >= 0)
			w->managed_bytes += ws->bytes[i];
		if (node < 0 || node >= HY_MAX_NODES) {
			w->absent_bytes += ws->bytes[i];
			continue;
		}
		ws->node_bytes[node] += ws->bytes[i];
		tier = t ? page_tier(ws, node, t, ws->kept[i]) : -1;
		if (tier >= 0)
			w->tier_bytes[tier] += ws->bytes[i];
		else
			w->untiered_bytes += ws->bytes[i];
	}
	return 0;
}

static int where_(const void *addr, size_t len, struct hybrid_where *out)
{
	uintptr_t a = (uintptr_t)addr, start, end;
	struct where_scratch *ws;
	struct hybrid_where *w;
	const struct hy_topo *t;
	struct hy_engine *e;
	int rc;

	if (!out || out->size < sizeof(out->size) || !addr || !len || a + len < a ||
	    a + len > UINTPTR_MAX - PAGE_MASK)
		return -EINVAL;
	start = a & ~(uintptr_t)PAGE_MASK;
	end = (a + len + PAGE_MASK) & ~(uintptr_t)PAGE_MASK;
	rc = mapped(start, end - start);
	if (rc)
		return rc;
	if (!shut())
		hy_rt_engine();
	e = hy_rt_engine_if_running();
	t = topo_if_any();

	/* some 20 KiB of scratch: os memory, not a program thread's stack */
	ws = hy_os_alloc(sizeof(*ws) + sizeof(*w));
	if (!ws)
		return -ENOMEM;
	w = (struct hybrid_where *)(ws + 1);
	memset(ws->node_tier, -1, sizeof(ws->node_tier));
	for (int i = 0; t && i < t->ntiers; i++)
		hy_nm_for_each(n, &t->tier[i].nodes)
		{
			if (ws->node_tier[n] >= 0)
				ws->node_multi[n] = true;
			else
				ws->node_tier[n] = (int8_t)i;
		}
	w->bytes = len;
	w->ntiers = t ? t->ntiers : 0;

	size_t k = 0;
	for (uintptr_t p = start; p < end && !rc; p += PAGE) {
		uintptr_t lo = p > a ? p : a, hi = p + PAGE < a + len ? p + PAGE : a + len;

		ws->addrs[k] = p;
		ws->bytes[k++] = hi - lo;
		if (k == BATCH || p + PAGE == end) {
			rc = where_batch(ws, k, t, e, w);
			k = 0;
		}
	}
	if (!rc) {
		for (int n = 0; n < HY_MAX_NODES; n++)
			if (ws->node_bytes[n] && w->nnodes < HYBRID_MAX_NODES)
				w->node[w->nnodes++] = (struct hybrid_where_node){n, ws->node_bytes[n]};
		copy_out(out, w, sizeof(*w));
	}
	hy_os_free(ws, sizeof(*ws) + sizeof(*w));
	return rc;
}

HY_EXPORT int hybrid_where(const void *addr, size_t len, struct hybrid_where *w)
{
	int saved = errno, rc = where_(addr, len, w);

	errno = saved;
	return rc;
}
