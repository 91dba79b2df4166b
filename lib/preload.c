/* SPDX-License-Identifier: MIT */
/*
 * preload — the symbols libhybrid interposes, and nothing else.
 *
 * The malloc family forwards to the heap (jemalloc with hybrid arenas, or
 * glibc when the program links -lhybrid itself); the mmap family calls the
 * kernel directly and tells the engine what became or stopped being a
 * hybrid range.  Every decision is elsewhere: heap.c (which allocator,
 * which arena), runtime.c (is the process hybrid, is the engine up),
 * the engine behind runtime (placement, registry, tracking).
 *
 * Which mappings become hybrid (whole-process use only), and why:
 *   private anonymous, writable, at least min_size     yes
 *   MAP_SHARED|MAP_ANONYMOUS, writable, >= min_size   yes, as the process
 *                                                      tree's (board.h): its
 *                                                      members fork-inherit
 *                                                      it, each tracks its
 *                                                      own view, one moves
 *                                                      (option shared)
 *   MAP_SHARED, file-backed                            no: other processes
 *                                                      or the page cache own
 *                                                      the pages
 *   MAP_STACK, MAP_GROWSDOWN                           no: thread stacks are
 *                                                      hot by nature
 *   MAP_HUGETLB                                        no: hugetlbfs pages are
 *                                                      reserved and placed by
 *                                                      their own policy
 *   PROT_NONE or read-only (reservations: JVM, Go)     no: nothing to track;
 *                                                      parts made writable
 *                                                      later stay unmanaged
 *   made by jemalloc itself (its default arenas,       no: allocator metadata
 *   metadata)                                          stays on DRAM
 *   MAP_FIXED over a managed range                     the old range is
 *                                                      forgotten first; the
 *                                                      new one is judged as
 *                                                      above
 * munmap and mremap keep the registry right whoever made the range (the
 * API's hybrid_mmap ranges included).  mbind by the program takes the range
 * out of management: the program places it itself.  set_mempolicy needs no
 * wrapper: a range under a process policy other than ours is never taken
 * (placement checks the policy of every new range).
 */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "heap.h"
#include "os.h"
#include "runtime.h"

#define HY_EXPORT __attribute__((visibility("default")))
#define unlikely(x) __builtin_expect(!!(x), 0)

static inline void settle(void)
{
	if (unlikely(!hy_heap_thread_ready)) {
		/* our fork handlers before jemalloc registers its own */
		hy_rt_preinit();
		hy_heap_thread_settle();
	}
}

/*
 * Bootstrap: should an allocation ever arrive while the real allocator is
 * still being looked up (it cannot with glibc as we know it, but a loader
 * or a libc may change), it is served from this static buffer, never freed.
 */
static char boot[64 << 10] __attribute__((aligned(64)));
static size_t boot_used;

static void *boot_alloc(size_t size, size_t align)
{
	size_t off, cur = __atomic_load_n(&boot_used, __ATOMIC_RELAXED);

	if (align < 16)
		align = 16;
	do {
		off = (cur + align - 1) & ~(align - 1);
		if (off + size < off || off + size > sizeof(boot)) {
			errno = ENOMEM;
			return NULL;
		}
	} while (!__atomic_compare_exchange_n(&boot_used, &cur, off + size, false,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return boot + off;
}

static inline bool in_boot(const void *p)
{
	return (uintptr_t)p - (uintptr_t)boot < sizeof(boot);
}

#define READY(fn) likely_ready(hy_heap_fn.fn)
static inline bool likely_ready(const void *fn)
{
	return __builtin_expect(fn != NULL, 1);
}

HY_EXPORT void *malloc(size_t size)
{
	settle();
	return READY(malloc) ? hy_heap_fn.malloc(size) : boot_alloc(size, 16);
}

/*
 * free never changes errno (POSIX 2024, glibc since 2.33).  jemalloc's free
 * sets it only through a failing system call, and the only ones on its
 * free path that can fail are ours (the extent hooks), which keep errno;
 * so this stays a tail call, as jemalloc's own free is.
 */
HY_EXPORT void free(void *p)
{
	if (!p || unlikely(in_boot(p)))
		return;
	settle();
	hy_heap_fn.free(p);
}

HY_EXPORT void *calloc(size_t n, size_t size)
{
	settle();
	if (unlikely(!READY(calloc))) {
		if (size && n > SIZE_MAX / size) {
			errno = ENOMEM;
			return NULL;
		}
		return boot_alloc(n * size, 16); /* static: already zero */
	}
	return hy_heap_fn.calloc(n, size);
}

HY_EXPORT void *realloc(void *p, size_t size)
{
	settle();
	if (unlikely(in_boot(p) || !READY(realloc))) {
		/* the old size is unknown: copy what can be there */
		void *q = malloc(size);

		if (q && p)
			memcpy(q, p, size < (size_t)(boot + sizeof(boot) - (char *)p)
					     ? size
					     : (size_t)(boot + sizeof(boot) - (char *)p));
		return q;
	}
	return hy_heap_fn.realloc(p, size);
}

HY_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n * size);
}

HY_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	settle();
	if (unlikely(!READY(posix_memalign))) {
		if (align < sizeof(void *) || (align & (align - 1)))
			return EINVAL;
		return (*out = boot_alloc(size, align)) ? 0 : ENOMEM;
	}
	return hy_heap_fn.posix_memalign(out, align, size);
}

HY_EXPORT void *aligned_alloc(size_t align, size_t size)
{
	settle();
	return READY(aligned_alloc) ? hy_heap_fn.aligned_alloc(align, size)
				    : boot_alloc(size, align);
}

HY_EXPORT void *memalign(size_t align, size_t size)
{
	settle();
	return READY(memalign) ? hy_heap_fn.memalign(align, size) : boot_alloc(size, align);
}

HY_EXPORT void *valloc(size_t size)
{
	settle();
	return READY(valloc) ? hy_heap_fn.valloc(size) : boot_alloc(size, HY_PAGE_SIZE);
}

/* jemalloc has no pvalloc: a valloc of whole pages (at least one). */
HY_EXPORT void *pvalloc(size_t size)
{
	size_t n = size ? hy_page_round_up(size) : HY_PAGE_SIZE;

	if (n < size) {
		errno = ENOMEM;
		return NULL;
	}
	return valloc(n);
}

HY_EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (unlikely(in_boot(p)))
		return 0;
	settle();
	return hy_heap_fn.usable_size ? hy_heap_fn.usable_size(p) : 0;
}

/* --- the mmap family ------------------------------------------------------ */

static void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	long p = hy_sys_mmap(addr, len, prot, flags, fd, off);

	return p < 0 && p > -4096 ? MAP_FAILED : (void *)p;
}

static bool hybrid_mapping(size_t len, int prot, int flags)
{
	return (flags & (MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE)) == MAP_PRIVATE &&
	       (flags & MAP_ANONYMOUS) && !(flags & (MAP_STACK | MAP_GROWSDOWN | MAP_HUGETLB)) &&
	       (prot & PROT_WRITE) && len >= hy_rt_config()->min_size;
}

/* Memory the process tree shares: anonymous, MAP_SHARED (inherited by the
 * children it forks, the members of the tree). */
static bool shared_mapping(size_t len, int prot, int flags)
{
	int type = flags & (MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE);

	return (type == MAP_SHARED || type == MAP_SHARED_VALIDATE) && (flags & MAP_ANONYMOUS) &&
	       !(flags & (MAP_STACK | MAP_GROWSDOWN | MAP_HUGETLB)) && (prot & PROT_WRITE) &&
	       len >= hy_rt_config()->min_size && hy_rt_config()->shared;
}

static void mapped(void *p, size_t len, int prot, int flags, uintptr_t caller)
{
	if (!hy_rt_managing() || hy_heap_called_by_jemalloc(caller))
		return;
	len = hy_page_round_up(len);
	if (flags & MAP_FIXED)
		hy_rt_unmanage(p, len); /* whatever was there is gone */
	if (hy_rt_whole_process() && hybrid_mapping(len, prot, flags))
		hy_rt_manage(p, len, HY_HINT_HYBRID);
	else if (hy_rt_whole_process() && shared_mapping(len, prot, flags))
		hy_rt_manage_shared(p, len);
}

HY_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = sys_mmap(addr, len, prot, flags, fd, off);

	if (p != MAP_FAILED)
		mapped(p, len, prot, flags, (uintptr_t)__builtin_return_address(0));
	return p;
}

HY_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = sys_mmap(addr, len, prot, flags, fd, off);

	if (p != MAP_FAILED)
		mapped(p, len, prot, flags, (uintptr_t)__builtin_return_address(0));
	return p;
}

HY_EXPORT int munmap(void *addr, size_t len)
{
	/* forget first: the policy thread must not see the range after it is
	 * gone (and a new mapping may take its place at once) */
	if (len && !((uintptr_t)addr & (HY_PAGE_SIZE - 1)) && hy_rt_managing() &&
	    !hy_heap_called_by_jemalloc((uintptr_t)__builtin_return_address(0)))
		hy_rt_unmanage(addr, hy_page_round_up(len));
	return hy_sys_munmap(addr, len);
}

HY_EXPORT void *mremap(void *old, size_t oldlen, size_t newlen, int flags, ...)
{
	struct hy_engine *e;
	void *want = NULL, *p;
	va_list ap;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		want = va_arg(ap, void *);
		va_end(ap);
	}
	/* held across the call: see hy_rt_remap_hold */
	e = hy_rt_remap_hold();
	p = (void *)hy_sys_mremap(old, oldlen, newlen, flags, want);
	if (e) {
		int saved = errno;
		bool moved = p != MAP_FAILED && oldlen && newlen &&
			     !((uintptr_t)old & (HY_PAGE_SIZE - 1));

		hy_rt_remap_done(e, old, hy_page_round_up(oldlen), moved ? p : MAP_FAILED,
				 hy_page_round_up(newlen));
		errno = saved;
	}
	return p;
}

/*
 * ioctl(2), for one request: a range can be registered with one userfaultfd
 * only, and the library tracks its ranges with its own, so a program that
 * registers a managed range with a userfaultfd of its own (a lazy loader, a
 * garbage collector) would get EBUSY.  The program comes first: the engine
 * lets go of the range, as for mbind, and the registration is tried again.
 * Every other request is the system call itself (glibc's x86-64 ioctl is
 * nothing more).
 */
HY_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	long rc;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	rc = syscall(SYS_ioctl, fd, req, arg);
	if (unlikely(rc < 0 && req == UFFDIO_REGISTER && errno == EBUSY && arg)) {
		const struct uffdio_register *r = arg;
		uintptr_t a = (uintptr_t)r->range.start & ~(uintptr_t)(HY_PAGE_SIZE - 1);

		if (r->range.len && hy_rt_unmanage((void *)a, hy_page_round_up(
								    (uintptr_t)r->range.start + r->range.len - a)) >= 0)
			rc = syscall(SYS_ioctl, fd, req, arg);
		if (rc < 0)
			errno = EBUSY;
	}
	return (int)rc;
}

/* libnuma's mbind(2) wrapper, taken over: the program places this range
 * itself from now on, so the engine lets go of it first. */
HY_EXPORT long mbind(void *addr, unsigned long len, int mode, const unsigned long *nodemask,
		     unsigned long maxnode, unsigned flags)
{
	long rc = syscall(SYS_mbind, addr, len, mode, nodemask, maxnode, flags);

	if (!rc && len && !((uintptr_t)addr & (HY_PAGE_SIZE - 1)))
		hy_rt_unmanage(addr, hy_page_round_up(len));
	return rc;
}
