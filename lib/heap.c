/* SPDX-License-Identifier: MIT */
/*
 * heap — see heap.h.
 *
 * Who calls what:
 *   program thread -> malloc (preload.c) -> hy_heap_fn.malloc (jemalloc)
 *     -> [arena needs memory] -> hook_alloc -> raw mmap -> owner->manage
 * (runtime's hy_rt_manage, set with hy_heap_set_owner: the heap knows no
 * engine).  Lock order: jemalloc's arena locks, then the registry lock
 * (inside the owner's manage).  The engine never calls into jemalloc, and nothing
 * here allocates through the heap.
 *
 * Arenas: up to HY_HEAP_ARENAS hybrid arenas, created on demand; thread k
 * (in order of first allocation) is bound to arena k % n, which spreads
 * threads as jemalloc's own round robin does.  One more arena serves the
 * explicit hybrid_malloc calls (without a thread cache).
 */
#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "heap.h"
#include "log.h"
#include "os.h"
#include "symbol.h"
#include "fault.h"

#define HY_HEAP_ARENAS 16
#define JEMALLOC_SO    "libjemalloc.so"

/*
 * jemalloc's compiled-in options, which it reads from the first malloc_conf
 * in the process (a weak symbol of libjemalloc: ours, preloaded, comes
 * first; a program's own definition or MALLOC_CONF still wins).  The thread
 * cache holds objects up to 64 KiB instead of 32 KiB: objects of 32-64 KiB
 * otherwise take the arena lock on every call, which costs more on hybrid
 * arenas (their extent hooks) than on jemalloc's own (bench/README.md).
 */
__attribute__((visibility("default"))) const char *malloc_conf = "tcache_max:65536";

struct hy_heap_fn hy_heap_fn;
__thread int hy_heap_thread_ready __attribute__((tls_model("initial-exec")));
static __thread int in_settle __attribute__((tls_model("initial-exec")));
/* settled once already: bound (or not) for good; a settle again only tells the owner */
static __thread int settled_once __attribute__((tls_model("initial-exec")));

enum { UNRESOLVED, RESOLVING, RESOLVED };
static int resolve_state;

enum { BIND_UNDECIDED, BIND_YES, BIND_NO };
static int binding;

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned arena_ind[HY_HEAP_ARENAS + 1]; /* 0: not created yet */
static unsigned next_thread;
static uintptr_t je_text_start, je_text_end;

/* glibc's own entry points, exported for exactly this purpose. */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);

static int libc_posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

static void *libc_aligned_alloc(size_t align, size_t size)
{
	if (!align || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	return __libc_memalign(align, size);
}

static bool resolve_jemalloc(struct hy_heap_fn *f)
{
#define GET(field, name)                                                                           \
	do {                                                                                       \
		*(void **)&f->field = hy_sym_lookup(JEMALLOC_SO, name);                            \
		if (!f->field)                                                                     \
			return false;                                                              \
	} while (0)
	GET(malloc, "malloc");
	GET(free, "free");
	GET(calloc, "calloc");
	GET(realloc, "realloc");
	GET(memalign, "memalign");
	GET(posix_memalign, "posix_memalign");
	GET(aligned_alloc, "aligned_alloc");
	GET(valloc, "valloc");
	GET(usable_size, "malloc_usable_size");
#undef GET
	f->jemalloc = true;
	hy_sym_text_range(JEMALLOC_SO, &je_text_start, &je_text_end);
	return true;
}

static void resolve_libc(struct hy_heap_fn *f)
{
	f->malloc = __libc_malloc;
	f->free = __libc_free;
	f->calloc = __libc_calloc;
	f->realloc = __libc_realloc;
	f->memalign = __libc_memalign;
	f->posix_memalign = libc_posix_memalign;
	f->aligned_alloc = libc_aligned_alloc;
	f->valloc = __libc_valloc;
	*(void **)&f->usable_size = hy_sym_lookup("libc.so", "malloc_usable_size");
	f->jemalloc = false;
}

/*
 * Which allocator backs the program's malloc: jemalloc when we were
 * preloaded (or pulled in by a library), glibc's when the program itself
 * links -lhybrid — its normal heap then stays exactly what it was.  Decided
 * from the ELF headers only, because this can run before libc has set up
 * the environment.
 */
static void resolve(void)
{
	struct hy_heap_fn f;
	int expect = UNRESOLVED;

	if (!__atomic_compare_exchange_n(&resolve_state, &expect, RESOLVING, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(&resolve_state, __ATOMIC_ACQUIRE) != RESOLVED)
			sched_yield();
		return;
	}
	memset(&f, 0, sizeof(f));
	if (hy_sym_main_needs("libhybrid.so") || !resolve_jemalloc(&f))
		resolve_libc(&f);
	hy_heap_fn = f;
	__atomic_store_n(&resolve_state, RESOLVED, __ATOMIC_RELEASE);
}

/* --- the extent hooks of the hybrid arenas ------------------------------ */

/*
 * Every mapping the hooks made, with its arena: answers "is this ours?"
 * for the API (hybrid_free of a foreign pointer, hybrid_munmap inside the
 * heap) without asking jemalloc, whose arenas.lookup dereferences NULL for
 * an address it never saw (5.3.0; fixed in 5.3.1).  Appended under
 * map_lock, read under it; os memory, never freed (mappings are retained).
 */
struct hook_map {
	uintptr_t start, end;
	unsigned ind;
};
static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hook_map *maps;
static size_t nmaps, capmaps;

static void remember(uintptr_t a, size_t size, unsigned ind)
{
	pthread_mutex_lock(&map_lock);
	if (!hy_os_grow((void **)&maps, &capmaps, sizeof(*maps), nmaps + 1))
		maps[nmaps++] = (struct hook_map){a, a + size, ind};
	pthread_mutex_unlock(&map_lock);
}

static void forget(uintptr_t a, size_t size)
{
	pthread_mutex_lock(&map_lock);
	for (size_t i = 0; i < nmaps; i++)
		if (maps[i].start >= a && maps[i].end <= a + size)
			maps[i--] = maps[--nmaps];
	pthread_mutex_unlock(&map_lock);
}

/* The arena of the hook mapping overlapping [a, a+len), or 0. */
static unsigned mapped_by_hooks(uintptr_t a, size_t len)
{
	unsigned ind = 0;

	pthread_mutex_lock(&map_lock);
	for (size_t i = 0; i < nmaps && !ind; i++)
		if (a < maps[i].end && a + len > maps[i].start)
			ind = maps[i].ind;
	pthread_mutex_unlock(&map_lock);
	return ind;
}

/* Who the hooks hand memory to (runtime, hy_heap_set_owner); NULL: nobody yet. */
static const struct hy_heap_owner *owner;

void hy_heap_set_owner(const struct hy_heap_owner *o)
{
	__atomic_store_n(&owner, o, __ATOMIC_RELEASE);
}

static void *raw_mmap(void *addr, size_t len, int flags)
{
	if (hy_fault(HY_FAULT_MMAP)) {
		errno = ENOMEM;
		return NULL;
	}
	return hy_sys_map(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
}

static void *hook_alloc(extent_hooks_t *h, void *new_addr, size_t size, size_t align, bool *zero,
			bool *commit, unsigned ind)
{
	const struct hy_heap_owner *own;
	uintptr_t p, a;
	size_t extra;

	(void)h;
	if (!size || size & (HY_PAGE_SIZE - 1) || align & (align - 1))
		return NULL;
	if (align < HY_PAGE_SIZE)
		align = HY_PAGE_SIZE;
	if (new_addr) {
		/* jemalloc asks to extend in place: only if that exact spot is free */
		p = (uintptr_t)raw_mmap(new_addr, size, MAP_FIXED_NOREPLACE);
		if (!p)
			return NULL;
		if (p != (uintptr_t)new_addr) { /* kernels before 4.17 ignore the flag */
			hy_sys_munmap((void *)p, size);
			return NULL;
		}
		a = p;
	} else {
		extra = align - HY_PAGE_SIZE;
		if (size + extra < size)
			return NULL;
		p = (uintptr_t)raw_mmap(NULL, size + extra, 0);
		if (!p)
			return NULL;
		a = (p + align - 1) & ~(uintptr_t)(align - 1);
		if (a > p)
			hy_sys_munmap((void *)p, a - p);
		if (p + size + extra > a + size)
			hy_sys_munmap((void *)(a + size), p + size + extra - (a + size));
	}
	*zero = true;
	*commit = true;
	remember(a, size, ind);
	/* not managed (no owner yet, engine not running, or the program's
	 * own policy): the memory is still good, it stays where the kernel
	 * puts it */
	if ((own = __atomic_load_n(&owner, __ATOMIC_ACQUIRE)))
		own->manage((void *)a, size);
	return (void *)a;
}

/* Opt out: jemalloc keeps the range for reuse (it retains by default). */
static bool hook_dalloc(extent_hooks_t *h, void *addr, size_t size, bool committed, unsigned ind)
{
	(void)h, (void)addr, (void)size, (void)committed, (void)ind;
	return true;
}

static void hook_destroy(extent_hooks_t *h, void *addr, size_t size, bool committed,
			 unsigned ind)
{
	const struct hy_heap_owner *own = __atomic_load_n(&owner, __ATOMIC_ACQUIRE);
	int saved = errno;

	(void)h, (void)committed, (void)ind;
	if (own)
		own->unmanage(addr, size);
	forget((uintptr_t)addr, size);
	hy_sys_munmap(addr, size);
	errno = saved;
}

/* Always committed: commit succeeds, decommit is declined (jemalloc then
 * purges instead). */
static bool hook_commit(extent_hooks_t *h, void *addr, size_t size, size_t off, size_t len,
			unsigned ind)
{
	(void)h, (void)addr, (void)size, (void)off, (void)len, (void)ind;
	return false;
}

static bool hook_decommit(extent_hooks_t *h, void *addr, size_t size, size_t off, size_t len,
			  unsigned ind)
{
	(void)h, (void)addr, (void)size, (void)off, (void)len, (void)ind;
	return true;
}

/* The hooks run inside free() too, which must leave errno alone
 * (preload.c): every system call here keeps it. */
static bool purge(void *addr, size_t len, int advice)
{
	int saved = errno;
	bool failed = madvise(addr, len, advice) != 0;

	errno = saved;
	return failed;
}

static bool hook_purge_lazy(extent_hooks_t *h, void *addr, size_t size, size_t off, size_t len,
			    unsigned ind)
{
	(void)h, (void)size, (void)ind;
	return purge((char *)addr + off, len, MADV_FREE);
}

static bool hook_purge_forced(extent_hooks_t *h, void *addr, size_t size, size_t off,
			      size_t len, unsigned ind)
{
	(void)h, (void)size, (void)ind;
	return purge((char *)addr + off, len, MADV_DONTNEED);
}

/* Extents may be split and merged freely: ranges are managed per mapping,
 * and no mapping is ever returned to the kernel piecemeal. */
static bool hook_split(extent_hooks_t *h, void *addr, size_t size, size_t a, size_t b,
		       bool committed, unsigned ind)
{
	(void)h, (void)addr, (void)size, (void)a, (void)b, (void)committed, (void)ind;
	return false;
}

static bool hook_merge(extent_hooks_t *h, void *a, size_t sa, void *b, size_t sb, bool committed,
		       unsigned ind)
{
	(void)h, (void)a, (void)sa, (void)b, (void)sb, (void)committed, (void)ind;
	return false;
}

static extent_hooks_t hooks = {
	.alloc = hook_alloc,
	.dalloc = hook_dalloc,
	.destroy = hook_destroy,
	.commit = hook_commit,
	.decommit = hook_decommit,
	.purge_lazy = hook_purge_lazy,
	.purge_forced = hook_purge_forced,
	.split = hook_split,
	.merge = hook_merge,
};

/* --- arenas and binding -------------------------------------------------- */

/*
 * jemalloc 5.3's arena_config_t (experimental, not in its public header):
 * with metadata_use_hooks false the arena's own metadata comes from
 * jemalloc's default mmap, which our mmap wrapper recognises as jemalloc's
 * and leaves on DRAM.  A jemalloc without it refuses the size and we fall
 * back to arenas.create (metadata then lives in hybrid memory).
 */
struct arena_config {
	extent_hooks_t *extent_hooks;
	bool metadata_use_hooks;
};

/*
 * fork and the heap's two locks (runtime.c explains the ordering):
 *   arena_lock is held around mallctl("arenas.create"), i.e. before
 *   jemalloc's locks: its prepare handler must run before jemalloc's, so it
 *   is registered after jemalloc's (here, at the first arena creation:
 *   jemalloc has long been initialised by then).
 *   map_lock is taken inside the hooks, i.e. after jemalloc's locks: it
 *   goes with runtime's early handlers (hy_heap_fork_*).
 * Without this, a fork while another thread creates an arena left the
 * child's arena_lock held by a thread that does not exist there, and the
 * child's first new thread hung in its first malloc.
 */
static void arena_prepare(void)
{
	pthread_mutex_lock(&arena_lock);
}

static void arena_parent(void)
{
	pthread_mutex_unlock(&arena_lock);
}

static void arena_child(void)
{
	pthread_mutex_init(&arena_lock, NULL);
}

void hy_heap_fork_prepare(void)
{
	pthread_mutex_lock(&map_lock);
}

void hy_heap_fork_parent(void)
{
	pthread_mutex_unlock(&map_lock);
}

void hy_heap_fork_child(void)
{
	pthread_mutex_init(&map_lock, NULL);
}

/* Arena slot k (HY_HEAP_ARENAS = the API's), created on first use; 0 when
 * jemalloc refuses (then the caller falls back to a default arena). */
static unsigned arena(unsigned k)
{
	static int atfork_done;
	unsigned ind = __atomic_load_n(&arena_ind[k], __ATOMIC_ACQUIRE);
	extent_hooks_t *hp = &hooks;
	size_t sz = sizeof(ind);

	if (ind)
		return ind;
	if (!__atomic_exchange_n(&atfork_done, 1, __ATOMIC_ACQ_REL))
		pthread_atfork(arena_prepare, arena_parent, arena_child);
	pthread_mutex_lock(&arena_lock);
	ind = arena_ind[k];
	if (!ind) {
		/* metadata on jemalloc's own (DRAM) memory where it can say so */
		struct arena_config ac = {.extent_hooks = &hooks, .metadata_use_hooks = false};

		if (mallctl("experimental.arenas_create_ext", &ind, &sz, &ac, sizeof(ac)) &&
		    mallctl("arenas.create", &ind, &sz, &hp, sizeof(hp))) {
			hy_warn_once("jemalloc cannot create a hybrid arena; the heap stays "
				     "unmanaged");
			ind = 0;
		}
		__atomic_store_n(&arena_ind[k], ind, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&arena_lock);
	return ind;
}

/* Tell the owner, if any, that this thread is about to allocate hybrid memory. */
static void owner_use(void)
{
	const struct hy_heap_owner *own = __atomic_load_n(&owner, __ATOMIC_ACQUIRE);

	if (own && own->use)
		own->use();
}

static void bind_thread(void)
{
	unsigned k = __atomic_fetch_add(&next_thread, 1, __ATOMIC_RELAXED) % HY_HEAP_ARENAS;
	unsigned ind = arena(k);

	if (ind)
		mallctl("thread.arena", NULL, NULL, &ind, sizeof(ind));
}

void hy_heap_thread_settle(void)
{
	int b;

	if (in_settle)
		return; /* re-entered from jemalloc or pthread: serve unbound */
	in_settle = 1;
	if (__atomic_load_n(&resolve_state, __ATOMIC_ACQUIRE) != RESOLVED)
		resolve();
	if (!hy_heap_fn.jemalloc) {
		hy_heap_thread_ready = 1;
	} else if ((b = __atomic_load_n(&binding, __ATOMIC_ACQUIRE)) != BIND_UNDECIDED) {
		if (b == BIND_YES) {
			owner_use(); /* before the first hybrid extent can be asked for */
			if (!settled_once)
				bind_thread();
		}
		settled_once = 1;
		hy_heap_thread_ready = 1;
	}
	in_settle = 0;
}

void hy_heap_thread_unsettle(void)
{
	hy_heap_thread_ready = 0;
}

void hy_heap_set_binding(bool bind)
{
	__atomic_store_n(&binding, bind ? BIND_YES : BIND_NO, __ATOMIC_RELEASE);
}

bool hy_heap_called_by_jemalloc(uintptr_t ret)
{
	return ret >= je_text_start && ret < je_text_end;
}

/* --- explicit hybrid allocations (the API) ------------------------------- */

static int xflags(size_t align)
{
	unsigned ind = arena(HY_HEAP_ARENAS);

	return (ind ? MALLOCX_ARENA(ind) : 0) | MALLOCX_TCACHE_NONE |
	       (align > 1 ? MALLOCX_ALIGN(align) : 0);
}

void *hy_heap_xmalloc(size_t size, size_t align, bool zero)
{
	void *p;

	if (align & (align - 1)) {
		errno = EINVAL;
		return NULL;
	}
	p = mallocx(size ? size : 1, xflags(align) | (zero ? MALLOCX_ZERO : 0));
	if (!p)
		errno = ENOMEM;
	return p;
}

void *hy_heap_xrealloc(void *p, size_t size)
{
	void *q;

	if (!p)
		return hy_heap_xmalloc(size, 0, false);
	q = rallocx(p, size ? size : 1, xflags(0));
	if (!q)
		errno = ENOMEM;
	return q;
}

void hy_heap_xfree(void *p)
{
	if (p)
		dallocx(p, MALLOCX_TCACHE_NONE);
}

bool hy_heap_xowns(const void *p)
{
	unsigned api = __atomic_load_n(&arena_ind[HY_HEAP_ARENAS], __ATOMIC_ACQUIRE);

	return p && api && mapped_by_hooks((uintptr_t)p, 1) == api;
}

bool hy_heap_owns_range(const void *addr, size_t len)
{
	return len && mapped_by_hooks((uintptr_t)addr, len) != 0;
}
