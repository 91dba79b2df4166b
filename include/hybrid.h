/* SPDX-License-Identifier: MIT */
/*
 * libhybrid — tiered memory (DRAM + slower CXL/PMEM NUMA nodes) for ordinary
 * Linux programs.  This is the whole public interface.
 *
 * Conventions: functions return 0 or a negative errno value (-EINVAL, ...);
 * hybrid_strerror() turns one into a message.  Nothing here sets errno
 * except the malloc-like functions, which behave like their libc namesakes.
 *
 * A program that only links the library keeps DRAM-first placement for all
 * of its memory; only what it names here is managed: ranges mapped with
 * hybrid_mmap(), blocks of the hybrid heap (hybrid_malloc() & co.) and
 * ranges given a hint with hybrid_madvise().
 *
 * The library starts itself on the first call that needs it, from the
 * HYBRID_* environment; hybrid_init() starts it from code instead.  Where the
 * machine has one memory tier (or the library is off or misconfigured) the
 * process runs unmanaged: memory functions still work, hints get -ENODEV.
 *
 * Structures that the library fills or reads carry their own size in their
 * first member: set it to sizeof(the structure) from the header you build
 * with, and an older or newer library copes (see hybrid_get_stats()).
 *
 * Link with `pkg-config --cflags --libs hybrid`, or from CMake with
 * find_package(hybrid) and the target hybrid::hybrid.
 */
#ifndef HYBRID_H
#define HYBRID_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HYBRID_VERSION_MAJOR 0
#define HYBRID_VERSION_MINOR 1
#define HYBRID_VERSION_PATCH 0

/*
 * The version of the library actually loaded, "MAJOR.MINOR.PATCH".  Compare
 * with the HYBRID_VERSION_* macros to tell the headers from the library.
 */
const char *hybrid_version(void);

/*
 * A message for an error code returned by a hybrid_* function (a negative
 * errno value; the sign is ignored): the library's own for the codes it
 * gives one meaning (-ENODEV: runs unmanaged, -ESHUTDOWN, -EALREADY, -EPERM:
 * the program's own memory policy, -EACCES, -ENOTSUP, -E2BIG, -EFAULT; see
 * hybrid_strerror(3)), else the C library's.  The string is static: never
 * free it, and it stays valid for the life of the process.
 */
const char *hybrid_strerror(int err);

/* ---- Lifecycle ------------------------------------------------------------------- */

/* One option, named and written as in the environment or for hybridctl. */
struct hybrid_option {
	const char *name;  /* "dram_limit", "dram-limit" or "HYBRID_DRAM_LIMIT" */
	const char *value; /* "2G", "0-3,5", "500ms", ... */
};

/* hybrid_options.flags */
#define HYBRID_INIT_IGNORE_ENV 0x1u /* do not read HYBRID_* from the environment */

struct hybrid_options {
	size_t size;			     /* sizeof(struct hybrid_options) */
	unsigned int flags;		     /* HYBRID_INIT_* */
	unsigned int noptions;		     /* entries of options[] */
	const struct hybrid_option *options; /* applied in order, after the environment */
	char *errbuf;			     /* optional: why an option was refused */
	size_t errbuf_len;
};

/*
 * Start the library now, with options set in code (opts may be NULL: the
 * environment only).  Options from opts override the environment.  Call it
 * before any other hybrid_* function that needs the library, or it was
 * already started from the environment.
 *
 * Returns 0 when the library runs and manages memory; -ENODEV when it
 * decided to run unmanaged (one tier, mode "off"); -EALREADY if it had
 * already started (opts ignored); -ESHUTDOWN after hybrid_shutdown();
 * -EINVAL for a bad structure, flag, option name or value, or bad HYBRID_*
 * environment (nothing started: the call may be repeated); -E2BIG when
 * opts->size is larger than this library knows and the extra bytes are not
 * zero, or larger than 4096 (no version of the structure will be).
 */
int hybrid_init(const struct hybrid_options *opts);

/*
 * Stop managing memory: the background thread ends, tracking is removed,
 * every page stays where it is and stays valid.  Final: later hybrid_init,
 * hybrid_mmap and hybrid_madvise return -ESHUTDOWN.  Freeing, unmapping,
 * the heap and the introspection functions keep working.  Returns 0, or
 * -ESHUTDOWN if it was already shut down.
 */
int hybrid_shutdown(void);

/* ---- Hints ----------------------------------------------------------------------- */

enum hybrid_hint {
	HYBRID_HINT_DEFAULT = 0, /* stop managing; the range gets the default policy back */
	HYBRID_HINT_HYBRID = 1,	 /* start on the slow tier, promote pages written often */
	HYBRID_HINT_HOT = 2,	 /* move to the fastest tier and keep it there */
	HYBRID_HINT_COLD = 3,	 /* move to the slowest tier and keep it there */
	HYBRID_HINT_PIN = 4,	 /* never migrate (DMA, RDMA buffers) */
};

/*
 * Give [addr, addr+len) a hint.  addr must be page-aligned; len is rounded
 * up to whole pages.  The hint replaces whatever hint any part of the range
 * had; managed ranges that stick out of it keep theirs for the rest.
 * Access tracking sees writes only: data that is hot but only read needs
 * HYBRID_HINT_HOT to stay on the fast tier.  Moves happen in the following
 * epochs (HYBRID_EPOCH), within the promotion rate and the DRAM limit.
 *
 * Returns 0, or: -EINVAL (NULL or unaligned addr, len 0, range wraps,
 * unknown hint); -EFAULT (part of the range is not mapped); -EPERM (the
 * program set a memory policy of its own there: mbind, set_mempolicy); -ENODEV
 * (the process runs unmanaged); -ESHUTDOWN (after hybrid_shutdown); -ENOMEM
 * (no memory for the bookkeeping); -EACCES (a shared mapping this process
 * may not write: the kernel does not track it); -ENOTSUP (memory the kernel
 * cannot write-protect); another -errno if the kernel refuses to track or
 * place the range.  On error nothing changed.
 */
int hybrid_madvise(void *addr, size_t len, int hint);

/* ---- Memory ---------------------------------------------------------------------- */

/*
 * Map len bytes (rounded up to pages) of private anonymous read-write
 * memory, managed with hint (HYBRID_HINT_HYBRID for the usual tiered
 * placement; HYBRID_HINT_DEFAULT maps plain memory).  flags must be 0.  The
 * mapping is stored in *addrp.  The library's minimum size
 * (HYBRID_MIN_SIZE) does not apply: what you map here is managed.
 *
 * Returns 0; when the process runs unmanaged the memory is mapped all the
 * same (plain, DRAM-first) and 0 is returned.  Errors, with *addrp
 * untouched and nothing mapped: -EINVAL (addrp NULL, len 0, unknown hint or
 * flags); -ENOMEM (no memory, or len too large); -EPERM (the process has a
 * memory policy of its own); -ESHUTDOWN (after hybrid_shutdown).
 */
int hybrid_mmap(void **addrp, size_t len, int hint, unsigned int flags);

/*
 * Stop managing and unmap [addr, addr+len), like munmap(2): addr
 * page-aligned, len rounded up.  Any mapping the program owns may be given,
 * not only hybrid_mmap's; memory of the hybrid heap may not.  Works after
 * hybrid_shutdown.  Returns 0, -EINVAL (NULL or unaligned addr, len 0,
 * range wraps, or addr is a hybrid heap block: use hybrid_free), -EFAULT
 * (part of the range is not mapped; nothing is unmapped).
 */
int hybrid_munmap(void *addr, size_t len);

/*
 * The hybrid heap: a heap beside the program's own whose memory is managed
 * with HYBRID_HINT_HYBRID.  Like their libc namesakes: NULL and errno
 * (ENOMEM; EINVAL for a bad alignment or a pointer that is not from this
 * heap) on failure.  hybrid_realloc(p, 0) frees p and returns NULL.
 * hybrid_free(NULL) does nothing; a pointer that is not from this heap is
 * ignored (with one warning on stderr).  They keep working after
 * hybrid_shutdown and where the process runs unmanaged: the memory is then
 * not managed.  Never mix with malloc/free.
 */
void *hybrid_malloc(size_t size);
void *hybrid_calloc(size_t nmemb, size_t size);
void *hybrid_realloc(void *ptr, size_t size);
void *hybrid_aligned_alloc(size_t alignment, size_t size);
void hybrid_free(void *ptr);

/* ---- Introspection --------------------------------------------------------------- */

#define HYBRID_MAX_TIERS 8
#define HYBRID_MAX_NODES 128

/* hybrid_stats.state */
enum hybrid_state {
	HYBRID_STATE_NOT_STARTED = 0,
	HYBRID_STATE_RUNNING = 1,   /* managing memory */
	HYBRID_STATE_UNMANAGED = 2, /* decided to manage nothing (one tier, off, bad options) */
	HYBRID_STATE_STOPPED = 3,   /* hybrid_shutdown, or the process is exiting */
};

/* The process's counters.  Members may only ever be added at the end. */
struct hybrid_stats {
	size_t size;			       /* in: sizeof; out: bytes filled */
	uint32_t state;			       /* enum hybrid_state */
	char backend[12];		       /* tracking: "rwp", "async", "sync", "off", "" */
	uint64_t managed_bytes;		       /* managed address space now, all tiers */
	uint64_t tier_bytes[HYBRID_MAX_TIERS]; /* managed bytes seen on each tier at the last
						* epoch; managed_bytes less their sum is
						* absent (untouched, swapped out, new) */
	uint64_t promote_pages, promote_bytes;
	uint64_t demote_pages, demote_bytes;
	uint64_t fail_busy;   /* moves refused: pinned or under I/O (-EBUSY) */
	uint64_t fail_access; /* shared with another process (-EACCES) */
	uint64_t fail_nomem;  /* target node full (-ENOMEM) */
	uint64_t fail_absent; /* page not present (-EFAULT, -ENOENT) */
	uint64_t fail_other;
	uint64_t thrash_pages;	/* moves refused because the page just moved the other way */
	uint64_t epochs;	/* tracking epochs completed */
	uint64_t wp_faults;	/* sync backend: write faults handled */
	uint64_t pages_scanned; /* rwp, async backends: pages scanned */
	uint64_t pages_armed;	/* pages write-protected for tracking, all epochs */
	uint64_t policy_ns;	/* CPU time of the background thread */
	uint64_t thp_splits;	/* transparent huge pages split so that only their hot
				 * (or cold) base pages moved, not 2 MiB (since 0.1) */
	uint64_t self_bytes;	/* the library's own memory for managing: per-page state
				 * and tracking tables, bytes mapped as of the last epoch
				 * (since 0.1) */
	uint64_t shared_bytes;	/* of managed_bytes: shared anonymous memory the process
				 * tree tiers as one */
	uint64_t lead_bytes;	/* of shared_bytes: what this process decides and moves
				 * for the tree, as of the last epoch (one member at a time
				 * does, for each shared range) */
};

/*
 * Copy the counters into *st.  Set st->size first: the library fills
 * min(st->size, its own size) bytes, never more, and sets st->size to that
 * number, so a program built with an older header (smaller structure) or a
 * newer one (larger) both work.  Does not start the library: before the
 * start, and where nothing is managed, counters are 0 and state says why.
 * Returns 0, or -EINVAL (st NULL, st->size smaller than the size member).
 */
int hybrid_get_stats(struct hybrid_stats *st);

#define HYBRID_NODEMASK_WORDS 16 /* 1024 nodes */
#define HYBRID_NODE_ISSET(mask, n)                                                                 \
	((n) >= 0 && (n) < 64 * HYBRID_NODEMASK_WORDS && ((mask)[(n) / 64] >> ((n) % 64) & 1))

/* hybrid_tiers.source: where the tier list came from */
enum hybrid_tier_source {
	HYBRID_TIERS_EXPLICIT = 0, /* HYBRID_TIERS, HYBRID_FAST_NODES, HYBRID_SLOW_NODES */
	HYBRID_TIERS_KERNEL = 1,   /* the kernel's memory tiers */
	HYBRID_TIERS_HMAT = 2,	   /* HMAT latency and bandwidth */
	HYBRID_TIERS_CPULESS = 3,  /* CPU-less nodes by NUMA distance */
	HYBRID_TIERS_SINGLE = 4,   /* one tier */
};

struct hybrid_tier_info {
	uint64_t nodes[HYBRID_NODEMASK_WORDS]; /* test with HYBRID_NODE_ISSET */
	uint64_t mem_total, mem_free;	       /* bytes, free as of this call */
};

struct hybrid_node_info {
	int id;
	int tier;	 /* fastest tier holding it, -1: not used */
	int demote_to;	 /* node id, -1: none */
	int has_cpu;
	int allowed;	 /* in the process's cpuset (Mems_allowed) */
	int kernel_tier; /* N of the kernel's memory_tierN, -1: not shown */
	uint64_t mem_total, mem_free;
	uint32_t read_latency, write_latency;	  /* ns, HMAT; 0 = unknown */
	uint32_t read_bandwidth, write_bandwidth; /* MB/s, HMAT; 0 = unknown */
};

struct hybrid_tiers {
	size_t size; /* in: sizeof; out: bytes filled */
	int ntiers;  /* 0: the library has no tier list (mode off, bad options) */
	int nnodes;  /* entries of node[] */
	int source;  /* enum hybrid_tier_source */
	int loopback; /* the same nodes named as more than one tier */
	struct hybrid_tier_info tier[HYBRID_MAX_TIERS]; /* fastest first */
	struct hybrid_node_info node[HYBRID_MAX_NODES]; /* memory nodes, ascending id */
};

/*
 * The tier list the library uses, fastest first, with each memory node the
 * process may use.  Starts the library if nothing was decided yet.  Size
 * rules of hybrid_get_stats.  Returns 0, or -EINVAL (t NULL, t->size too
 * small).
 */
int hybrid_get_tiers(struct hybrid_tiers *t);

struct hybrid_where_node {
	int node;
	uint64_t bytes;
};

struct hybrid_where {
	size_t size;				/* in: sizeof; out: bytes filled */
	uint64_t bytes;				/* len */
	uint64_t absent_bytes;			/* not present: never touched, swapped out */
	uint64_t untiered_bytes;		/* on a node outside the tier list */
	uint64_t managed_bytes;			/* managed by the library (any hint) */
	uint64_t tier_bytes[HYBRID_MAX_TIERS];	/* present, by tier */
	int ntiers;				/* entries of tier_bytes used */
	int nnodes;				/* entries of node[] used */
	struct hybrid_where_node node[HYBRID_MAX_NODES]; /* present, by node, ascending */
};

/*
 * Where [addr, addr+len) lives now: bytes per tier and per node, counted
 * exactly (addr and len need no alignment): bytes = absent_bytes +
 * untiered_bytes + the sum of tier_bytes, and the node entries add up to
 * the present bytes.  With a loopback tier pair a
 * managed page counts on the tier the library keeps it on.  Costs one
 * move_pages(2) query per 512 pages.  Works where the process runs
 * unmanaged and after hybrid_shutdown.  Size rules of hybrid_get_stats.
 * Returns 0, or -EINVAL (w or addr NULL, w->size too small, len 0, range
 * wraps), -EFAULT (part of the range is not mapped), or the -errno of a
 * failed move_pages query.
 */
int hybrid_where(const void *addr, size_t len, struct hybrid_where *w);

#ifdef __cplusplus
}
#endif

#endif
