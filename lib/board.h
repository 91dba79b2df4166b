/* SPDX-License-Identifier: MIT */
/*
 * board — where the members of a process tree meet about the memory they
 * share (DESIGN.md §3 "Shared memory", issue 20).
 *
 * Page tables are per process: each member arms and harvests its own view
 * of a shared range.  What each saw accessed is OR-ed into the board; one
 * member at a time -- the range's lead -- takes it all, decides and moves
 * (moving a shared page moves it for every member).
 *
 * The board is a memfd mapped MAP_SHARED (mode 0600, its descriptor closed
 * once mapped: nothing outside the tree can open it), made by the first
 * member that manages a shared range and inherited by every child it
 * forks; a program that execs starts a tree of its own.  It holds a table
 * of slots, one per shared range the tree manages (its creator made it
 * before forking, so the range is at the same address in every member),
 * each with:
 *   - one word per chunk of the range (HY_CHUNK_PAGES pages, numbered from
 *     the range's chunk base as region.h numbers them): the pages accessed
 *     since the lead last took them;
 *   - one summary bit per chunk word and one top bit per summary word, so
 *     that the lead goes over words someone wrote: where nothing was
 *     published it reads one top word per 4096 chunks (1 GiB) and writes
 *     nothing;
 *   - the lead: a pid and its last beat.  A member becomes lead when there
 *     is none, or the lead is gone (its pid no longer exists) or silent
 *     (no beat for `stale_ns`); a lead that finds it was replaced stops.
 * The memfd is sparse: only words written take memory.  Slots are never
 * given back (a bounded table; a range that finds it full stays
 * unmanaged).
 *
 * Who calls: the engine (attach a range at manage), the epoch (publish,
 * lead, take).  Every function is lock-free (atomics on the shared words);
 * safe from any member at any time, and a member killed at any point
 * leaves the board usable: the worst it leaves is bits not yet taken and a
 * lead that others replace.
 */
#ifndef HY_BOARD_H
#define HY_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HY_BOARD_SLOTS 1024
#define HY_BOARD_HINTS 8 /* the last hints of a slot kept for members to read */

struct hy_board;

/*
 * The process's board, made at the first call (os memory and a memfd;
 * never the heap).  NULL with *err set (-errno) if it cannot be made.
 * A forked child has its parent's (the mapping is inherited).
 */
struct hy_board *hy_board_get(int *err);

/*
 * A slot for a shared range whose chunk 0 is at cbase and which spans
 * nchunks chunks.  Returns the slot's number (>= 1), or -ENOSPC when the
 * table or the board is full.
 */
int hy_board_attach(struct hy_board *b, uintptr_t cbase, uint64_t nchunks);

/* Chunk no of slot s: these pages (bit j = page j of the chunk) were
 * accessed.  Chunks outside the slot are ignored. */
void hy_board_publish(struct hy_board *b, int s, uint64_t no, uint64_t bits);

/*
 * Is `pid` slot s's lead?  Takes the lead when there is none or the lead
 * is gone or silent for stale_ns (now: the monotonic clock); a lead beats.
 */
bool hy_board_lead(struct hy_board *b, int s, pid_t pid, uint64_t now, uint64_t stale_ns);

/* Let go of the lead of slot s if pid has it (a member that stops: its
 * exit or hybrid_shutdown). */
void hy_board_release(struct hy_board *b, int s, pid_t pid);

/*
 * A hint (region.h's enum hy_hint) for pages [lo, hi) of slot s, numbered
 * from the slot's chunk 0, given by pid: each member applies it to its own
 * view, so that whoever leads decides with it.
 */
void hy_board_hint(struct hy_board *b, int s, uint64_t lo, uint64_t hi, int hint, pid_t pid);

/*
 * The hints of slot s published after *seen, oldest first (of the last
 * HY_BOARD_HINTS; older ones are lost: a member that fell that far behind
 * misses them): fn(arg, lo, hi, hint, pid) each; *seen moves past them.  A
 * hint being written stops the walk there until the next call.
 */
void hy_board_hints(struct hy_board *b, int s, uint32_t *seen,
		    void (*fn)(void *arg, uint64_t lo, uint64_t hi, int hint, pid_t pid), void *arg);

/*
 * The lead takes what was published for chunks [lo, hi) of slot s: for
 * each chunk with bits, fn(arg, no, bits).  What fn returns is given back
 * to the board (bits the lead cannot use yet: next time).
 */
void hy_board_take(struct hy_board *b, int s, uint64_t lo, uint64_t hi,
		   uint64_t (*fn)(void *arg, uint64_t no, uint64_t bits), void *arg);

/* Where chunk 0 of slot s is (its range's first chunk), 0 for no slot. */
uintptr_t hy_board_cbase(struct hy_board *b, int s);

/* The tree's name: a random number, never 0, the same in every member
 * (0 for no board). */
uint64_t hy_board_id(const struct hy_board *b);

/* Bytes of the board in use: its header and the words given out (the
 * rest of the mapping is sparse and untouched). */
size_t hy_board_bytes(const struct hy_board *b);

#endif
