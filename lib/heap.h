/* SPDX-License-Identifier: MIT */
/*
 * heap — the hybrid heap: jemalloc arenas whose memory is hybrid.
 *
 * jemalloc (the system's libjemalloc.so.2, shared with any part of the
 * program that links it too) serves every allocation.  Hybrid memory comes
 * from arenas created with our extent hooks: a hook maps fresh anonymous
 * memory with raw system calls and hands it to the engine (placement,
 * registry, tracking).  Threads are bound to those arenas once
 * (thread.arena), so jemalloc's own thread-cache fast path stays intact.
 *
 * Two users:
 *   - the preload layer (whole process): hy_heap_fn holds jemalloc's real
 *     entry points (or, when the program itself links -lhybrid, glibc's: its
 *     normal heap then stays glibc's and DRAM-first); threads are bound to
 *     hybrid arenas once the engine runs.
 *   - the API (hybrid_malloc & co.): explicit allocations from the hybrid
 *     arenas, whatever the binding of the calling thread.
 */
#ifndef HY_HEAP_H
#define HY_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The allocator the interposed malloc family forwards to. */
struct hy_heap_fn {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*memalign)(size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*valloc)(size_t);
	size_t (*usable_size)(void *);
	bool jemalloc; /* false: glibc (the program links -lhybrid itself) */
};

extern struct hy_heap_fn hy_heap_fn;

/* Per thread: 0 until the thread's binding is settled (bound to a hybrid
 * arena, or decided not to be).  initial-exec TLS: one load on the fast path. */
extern __thread int hy_heap_thread_ready __attribute__((tls_model("initial-exec")));

/*
 * Slow path of every interposed call until this thread is settled (the
 * caller registers runtime's early fork handlers first, hy_rt_preinit, so
 * that they come before jemalloc's own): resolves
 * the real allocator on the first call in the process (allocation-free,
 * before main is fine), and binds the thread to a hybrid arena once the
 * engine runs and the process is hybrid.
 */
void hy_heap_thread_settle(void);

/* In a forked child (runtime's handler): the calling thread -- the child's
 * only one -- settles again at its next interposed call, which then tells
 * the owner (use) without binding anew. */
void hy_heap_thread_unsettle(void);

/* fork: the hooks' table lock, taken after jemalloc's locks (runtime's
 * early handlers call these; see heap.c). */
void hy_heap_fork_prepare(void);
void hy_heap_fork_parent(void);
void hy_heap_fork_child(void);

/*
 * Who the hybrid arenas' memory is handed to once mapped, and taken from
 * before it is unmapped (runtime: hy_rt_manage/hy_rt_unmanage, which do
 * nothing while no engine runs).  Set by runtime when it starts; until
 * then the hooks' memory is simply not managed.  o must stay valid.
 */
struct hy_heap_owner {
	void (*manage)(void *addr, size_t len);
	void (*unmanage)(void *addr, size_t len);
	/* a thread is about to allocate from hybrid arenas (its first call, or
	 * its first since hy_heap_thread_unsettle), outside jemalloc: the owner
	 * may allocate here (runtime starts its engine's thread) */
	void (*use)(void);
};
void hy_heap_set_owner(const struct hy_heap_owner *o);

/* Decided by runtime once, before main: bind threads to hybrid arenas
 * (whole-process use with a running engine) or never. */
void hy_heap_set_binding(bool bind);

/* Is ret (a return address) inside jemalloc?  Its own mmap calls (default
 * arenas, metadata) are not the program's and stay unmanaged, on DRAM. */
bool hy_heap_called_by_jemalloc(uintptr_t ret);

/*
 * Explicit hybrid allocations (the API): from a hybrid arena, whatever the
 * calling thread is bound to.  Behave like their libc namesakes (errno,
 * NULL).  Memory the hooks map while no engine runs is simply not managed.
 */
void *hy_heap_xmalloc(size_t size, size_t align, bool zero);
void *hy_heap_xrealloc(void *p, size_t size);
void hy_heap_xfree(void *p);
/* Does p lie in memory of the API's hybrid arena?  (hybrid_free's and
 * hybrid_realloc's check; any pointer is safe to ask about.) */
bool hy_heap_xowns(const void *p);

/* Does [addr, addr+len) overlap memory of any hybrid arena (the heap's,
 * which hybrid_munmap must refuse)? */
bool hy_heap_owns_range(const void *addr, size_t len);

#endif
