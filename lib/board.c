/* SPDX-License-Identifier: MIT */
/*
 * board — the process tree's meeting place for shared memory (board.h).
 *
 * Layout of the memfd (all words naturally aligned; members of the tree
 * see it at the same address, but nothing in it is a pointer):
 *   struct board_hdr       magic, the bump allocators, HY_BOARD_SLOTS slots
 *   words                  from BOARD_HDR_BYTES on: each slot's chunk words,
 *                          its summary words (a bit per chunk word), then its
 *                          top words (a bit per summary word): the lead goes
 *                          from a top bit to a summary word to a chunk word,
 *                          and reads 1/4096 of a word per chunk of address
 *                          space where nothing was published
 * A slot is claimed with a fetch-add on nslots, filled, then made visible
 * by a release store of `ready`; readers go only through slot numbers
 * their own registry holds (made ready before they were handed out).
 *
 * The lead is one 64-bit word: the pid above, the beat below (milliseconds
 * of the monotonic clock, modulo 2^32: only differences are used), so that
 * taking the lead and its first beat are one compare-and-swap.
 */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "board.h"
#include "os.h"

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

#define BOARD_MAGIC	 0x6479626872616f62ull /* "boardhyd" */
#define BOARD_BYTES	 ((size_t)1 << 30)     /* sparse: only words written take memory */
#define BOARD_HDR_BYTES	 ((size_t)512 << 10)
#define BOARD_WORDS	 ((BOARD_BYTES - BOARD_HDR_BYTES) / sizeof(uint64_t))

struct board_slot {
	uint64_t cbase;	   /* the range's chunk 0 */
	uint64_t nchunks;  /* chunk words */
	uint64_t words;	   /* index of its first chunk word */
	uint64_t sums;	   /* index of its first summary word */
	uint64_t tops;	   /* index of its first top word */
	uint64_t lead;	   /* pid << 32 | beat in ms; 0: none */
	uint32_t ready;	   /* filled in */
	uint32_t hint_seq; /* hints published */
	struct board_hint {
		uint64_t lo, hi; /* slot page numbers */
		uint32_t seq;	 /* its number (hint_seq after it), 0 while written */
		int32_t hint, pid;
		uint32_t pad;
	} hints[HY_BOARD_HINTS];
};

struct board_hdr {
	uint64_t magic;
	uint64_t id;	   /* random, never 0: names the tree (hybridctl stat --tree) */
	uint32_t nslots;   /* claimed */
	uint32_t pad;
	uint64_t used;	   /* words given out */
	struct board_slot slot[HY_BOARD_SLOTS];
};

_Static_assert(sizeof(struct board_hdr) <= BOARD_HDR_BYTES, "board header too big");

struct hy_board {
	struct board_hdr h;
};

static struct hy_board *the_board; /* inherited across fork, like the mapping */

static uint64_t *words_of(struct hy_board *b)
{
	return (uint64_t *)((char *)b + BOARD_HDR_BYTES);
}

static struct board_slot *slot_of(struct hy_board *b, int s)
{
	if (s < 1 || s > HY_BOARD_SLOTS)
		return NULL;
	struct board_slot *sl = &b->h.slot[s - 1];
	return __atomic_load_n(&sl->ready, __ATOMIC_ACQUIRE) ? sl : NULL;
}

static struct hy_board *board_make(int *err)
{
	int fd = (int)syscall(SYS_memfd_create, "libhybrid-board", MFD_CLOEXEC | MFD_NOEXEC_SEAL);
	void *p;

	if (fd < 0 && errno == EINVAL) /* before 6.3: no NOEXEC_SEAL */
		fd = (int)syscall(SYS_memfd_create, "libhybrid-board", MFD_CLOEXEC);
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	if (fchmod(fd, 0600) || ftruncate(fd, (off_t)BOARD_BYTES)) {
		*err = -errno;
		close(fd);
		return NULL;
	}
	p = hy_sys_map(NULL, BOARD_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	close(fd); /* the mapping keeps it: no descriptor for the program to see */
	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	((struct hy_board *)p)->h.magic = BOARD_MAGIC;
	{
		uint64_t id = 0;

		if (syscall(SYS_getrandom, &id, sizeof(id), 0) != (long)sizeof(id) || !id)
			id = (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)p ^ 1;
		((struct hy_board *)p)->h.id = id;
	}
	return p;
}

struct hy_board *hy_board_get(int *err)
{
	struct hy_board *b = __atomic_load_n(&the_board, __ATOMIC_ACQUIRE), *want = NULL;

	if (b)
		return b;
	b = board_make(err);
	if (!b)
		return NULL;
	if (!__atomic_compare_exchange_n(&the_board, &want, b, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		hy_sys_munmap(b, BOARD_BYTES); /* another thread made one first */
		return want;
	}
	return b;
}

int hy_board_attach(struct hy_board *b, uintptr_t cbase, uint64_t nchunks)
{
	uint64_t nsums = (nchunks + 63) / 64, ntops = (nsums + 63) / 64, need = nchunks + nsums + ntops,
		 at;
	uint32_t s;

	if (!nchunks || nchunks > BOARD_WORDS)
		return -ENOSPC;
	s = __atomic_fetch_add(&b->h.nslots, 1, __ATOMIC_RELAXED);
	if (s >= HY_BOARD_SLOTS)
		return -ENOSPC;
	at = __atomic_fetch_add(&b->h.used, need, __ATOMIC_RELAXED);
	if (at + need > BOARD_WORDS || at + need < at)
		return -ENOSPC; /* the slot stays claimed and never ready */
	b->h.slot[s] = (struct board_slot){
		.cbase = cbase, .nchunks = nchunks, .words = at, .sums = at + nchunks,
		.tops = at + nchunks + nsums};
	__atomic_store_n(&b->h.slot[s].ready, 1, __ATOMIC_RELEASE);
	return (int)s + 1;
}

/* Chunk word `no` of sl has bits: its summary bit, then its top bit. */
static void mark(uint64_t *w, const struct board_slot *sl, uint64_t no)
{
	__atomic_fetch_or(&w[sl->sums + no / 64], UINT64_C(1) << (no % 64), __ATOMIC_RELEASE);
	__atomic_fetch_or(&w[sl->tops + no / 4096], UINT64_C(1) << (no / 64 % 64), __ATOMIC_RELEASE);
}

void hy_board_publish(struct hy_board *b, int s, uint64_t no, uint64_t bits)
{
	struct board_slot *sl = slot_of(b, s);
	uint64_t *w = words_of(b);

	if (!sl || no >= sl->nchunks || !bits)
		return;
	/* the word first, then its summary bit, then the top bit: whoever
	 * clears a level and then takes the one below gets the bits, or the
	 * bit above is set again after it */
	__atomic_fetch_or(&w[sl->words + no], bits, __ATOMIC_RELEASE);
	mark(w, sl, no);
}

/* Is pid a process that still exists?  A zombie does (kill says so); it
 * falls silent and is replaced after stale_ns. */
static bool alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

bool hy_board_lead(struct hy_board *b, int s, pid_t pid, uint64_t now, uint64_t stale_ns)
{
	struct board_slot *sl = slot_of(b, s);
	uint64_t cur, mine = (uint64_t)(uint32_t)pid << 32 | (uint32_t)(now / 1000000);
	pid_t who;
	uint32_t age_ms;

	if (!sl)
		return false;
	cur = __atomic_load_n(&sl->lead, __ATOMIC_ACQUIRE);
	who = (pid_t)(cur >> 32);
	if (who == pid) {
		__atomic_store_n(&sl->lead, mine, __ATOMIC_RELEASE); /* the beat */
		return true;
	}
	age_ms = (uint32_t)(now / 1000000) - (uint32_t)cur;
	if (cur && alive(who) && age_ms <= stale_ns / 1000000)
		return false;
	/* none, gone or silent: whoever swaps first leads */
	return __atomic_compare_exchange_n(&sl->lead, &cur, mine, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}

void hy_board_release(struct hy_board *b, int s, pid_t pid)
{
	struct board_slot *sl = slot_of(b, s);
	uint64_t cur;

	if (!sl)
		return;
	cur = __atomic_load_n(&sl->lead, __ATOMIC_ACQUIRE);
	if ((pid_t)(cur >> 32) == pid)
		__atomic_compare_exchange_n(&sl->lead, &cur, 0, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED);
}

void hy_board_hint(struct hy_board *b, int s, uint64_t lo, uint64_t hi, int hint, pid_t pid)
{
	struct board_slot *sl = slot_of(b, s);
	struct board_hint *h;
	uint32_t q;

	if (!sl)
		return;
	q = __atomic_add_fetch(&sl->hint_seq, 1, __ATOMIC_ACQ_REL);
	h = &sl->hints[q % HY_BOARD_HINTS];
	__atomic_store_n(&h->seq, 0, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&h->lo, lo, __ATOMIC_RELAXED);
	__atomic_store_n(&h->hi, hi, __ATOMIC_RELAXED);
	__atomic_store_n(&h->hint, hint, __ATOMIC_RELAXED);
	__atomic_store_n(&h->pid, pid, __ATOMIC_RELAXED);
	__atomic_store_n(&h->seq, q, __ATOMIC_RELEASE);
}

void hy_board_hints(struct hy_board *b, int s, uint32_t *seen,
		    void (*fn)(void *arg, uint64_t lo, uint64_t hi, int hint, pid_t pid), void *arg)
{
	struct board_slot *sl = slot_of(b, s);
	uint32_t cur, q;

	if (!sl)
		return;
	cur = __atomic_load_n(&sl->hint_seq, __ATOMIC_ACQUIRE);
	q = cur - *seen > HY_BOARD_HINTS ? cur - HY_BOARD_HINTS : *seen;
	for (q++; (int32_t)(cur - q) >= 0; q++) {
		struct board_hint *h = &sl->hints[q % HY_BOARD_HINTS];
		uint32_t s1 = __atomic_load_n(&h->seq, __ATOMIC_ACQUIRE);
		uint64_t lo, hi;
		int hint, pid;

		if (s1 != q && (s1 == 0 || (int32_t)(s1 - q) < 0))
			return; /* still being written: from here next time */
		if (s1 != q)
			continue; /* overwritten by a later one, which follows */
		lo = __atomic_load_n(&h->lo, __ATOMIC_RELAXED);
		hi = __atomic_load_n(&h->hi, __ATOMIC_RELAXED);
		hint = __atomic_load_n(&h->hint, __ATOMIC_RELAXED);
		pid = __atomic_load_n(&h->pid, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&h->seq, __ATOMIC_RELAXED) != q)
			continue; /* overwritten while read */
		*seen = q;
		fn(arg, lo, hi, hint, pid);
	}
	*seen = cur; /* all read, overwritten ones skipped */
}

/* Clear a word and return what it held, without writing it when it is
 * 0: a word nobody wrote stays a hole of the memfd. */
static uint64_t take_word(uint64_t *w)
{
	return __atomic_load_n(w, __ATOMIC_RELAXED) ? __atomic_exchange_n(w, 0, __ATOMIC_ACQ_REL) : 0;
}

/* Summary word i of sl: the chunk words it marks in [lo, hi) to fn, the
 * others left marked.  True if any of its bits stays set. */
static bool take_sum(struct hy_board *b, int s, struct board_slot *sl, uint64_t i, uint64_t lo,
		     uint64_t hi, uint64_t (*fn)(void *arg, uint64_t no, uint64_t bits), void *arg)
{
	uint64_t *w = words_of(b);
	uint64_t sum = take_word(&w[sl->sums + i]), back = 0;

	while (sum) {
		unsigned j = (unsigned)__builtin_ctzll(sum);
		uint64_t no = i * 64 + j, bits, left;

		sum &= sum - 1;
		if (no < lo || no >= hi) {
			back |= UINT64_C(1) << j; /* another part's: left for it */
			continue;
		}
		bits = take_word(&w[sl->words + no]);
		if (bits && (left = fn(arg, no, bits)))
			hy_board_publish(b, s, no, left); /* marks it again */
	}
	if (back)
		__atomic_fetch_or(&w[sl->sums + i], back, __ATOMIC_RELEASE);
	return back != 0;
}

void hy_board_take(struct hy_board *b, int s, uint64_t lo, uint64_t hi,
		   uint64_t (*fn)(void *arg, uint64_t no, uint64_t bits), void *arg)
{
	struct board_slot *sl = slot_of(b, s);
	uint64_t *w = words_of(b);

	if (!sl)
		return;
	if (hi > sl->nchunks)
		hi = sl->nchunks;
	for (uint64_t t = lo / 4096; t * 4096 < hi; t++) {
		uint64_t top = take_word(&w[sl->tops + t]), back = 0;

		while (top) {
			unsigned j = (unsigned)__builtin_ctzll(top);
			uint64_t i = t * 64 + j;

			top &= top - 1;
			if ((i + 1) * 64 <= lo || i * 64 >= hi || take_sum(b, s, sl, i, lo, hi, fn, arg))
				back |= UINT64_C(1) << j; /* bits for another part */
		}
		if (back)
			__atomic_fetch_or(&w[sl->tops + t], back, __ATOMIC_RELEASE);
	}
}

uintptr_t hy_board_cbase(struct hy_board *b, int s)
{
	struct board_slot *sl = b ? slot_of(b, s) : NULL;

	return sl ? (uintptr_t)sl->cbase : 0;
}

uint64_t hy_board_id(const struct hy_board *b)
{
	return b ? b->h.id : 0;
}

size_t hy_board_bytes(const struct hy_board *b)
{
	uint64_t used;

	if (!b)
		return 0;
	uint32_t n = __atomic_load_n(&b->h.nslots, __ATOMIC_RELAXED);

	used = __atomic_load_n(&b->h.used, __ATOMIC_RELAXED);
	/* the header up to the slots claimed (the rest of it is never written) */
	return offsetof(struct board_hdr, slot) +
	       (n < HY_BOARD_SLOTS ? n : HY_BOARD_SLOTS) * sizeof(struct board_slot) +
	       (used < BOARD_WORDS ? used : BOARD_WORDS) * sizeof(uint64_t);
}
