/* SPDX-License-Identifier: MIT */
/*
 * kvstore — a small in-memory key-value store that tells libhybrid what its
 * memory is for:
 *
 *   index      HYBRID_HINT_HOT    every request reads it; reads are invisible
 *                                 to write tracking, so it is hinted hot
 *   values     the hybrid heap    hybrid_malloc: start slow, the values
 *                                 written often are promoted
 *   I/O buffer HYBRID_HINT_PIN    a device would DMA into it: never moved
 *
 *   cc kvstore.c $(pkg-config --cflags --libs hybrid) -o kvstore
 *   ./kvstore [KEYS [REQUESTS]]               (default 65536 keys, 2M requests)
 *
 * The workload is skewed: 90% of requests go to 10% of the keys, one in ten
 * is an update.  At the end it prints where each part lives and the
 * library's counters, and checks every value against its key.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hybrid.h>

#define MIB    (1024.0 * 1024.0)
#define IO_LEN (64 * 1024)

struct slot {
	uint64_t key; /* 0: empty */
	char *val;
	uint32_t len;
	uint32_t version;
};

static struct slot *index_;
static size_t nslots;

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static struct slot *lookup(uint64_t key)
{
	for (size_t i = mix(key) & (nslots - 1);; i = (i + 1) & (nslots - 1))
		if (index_[i].key == key || !index_[i].key)
			return &index_[i];
}

/* A value is its key's bytes and version, repeated: checkable. */
static void fill(char *v, uint32_t len, uint64_t key, uint32_t version)
{
	for (uint32_t i = 0; i < len; i++)
		v[i] = (char)(key * 31 + version + i);
}

static int put(uint64_t key, uint32_t len)
{
	struct slot *s = lookup(key);
	char *v = hybrid_realloc(s->val, len); /* NULL val: a new value */

	if (!v)
		return -1;
	s->key = key;
	s->val = v;
	s->len = len;
	s->version++;
	fill(v, len, key, s->version);
	return 0;
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Bytes of [p, p+len) on the fast tier, present, managed; 0 on error. */
static void add_where(const void *p, size_t len, uint64_t *fast, uint64_t *present)
{
	struct hybrid_where w = {.size = sizeof(w)};

	if (hybrid_where(p, len, &w))
		return;
	*fast += w.ntiers > 1 ? w.tier_bytes[0] : 0;
	*present += w.bytes - w.absent_bytes;
}

static void report(const char *name, uint64_t fast, uint64_t present)
{
	printf("%-14s %8.2f MiB present, %5.1f%% on the fast tier\n", name, present / MIB,
	       present ? 100.0 * fast / present : 0.0);
}

int main(int argc, char **argv)
{
	size_t keys = argc > 1 ? strtoul(argv[1], NULL, 0) : 65536;
	size_t requests = argc > 2 ? strtoul(argv[2], NULL, 0) : 2000000;
	size_t hot = keys / 10 ? keys / 10 : 1;
	uint64_t f, p, checksum = 0;
	struct hybrid_stats st = {.size = sizeof(st)};
	char *io;
	int rc;

	if (keys < 1 || keys > (1u << 24)) {
		fprintf(stderr, "usage: kvstore [KEYS (1-16M) [REQUESTS]]\n");
		return 2;
	}
	for (nslots = 1; nslots < 2 * keys; nslots <<= 1)
		;
	rc = hybrid_mmap((void **)&index_, nslots * sizeof(*index_), HYBRID_HINT_HOT, 0);
	if (!rc)
		rc = hybrid_mmap((void **)&io, IO_LEN, HYBRID_HINT_PIN, 0);
	if (rc) {
		fprintf(stderr, "kvstore: hybrid_mmap: %s\n", hybrid_strerror(rc));
		return 1;
	}
	for (uint64_t k = 1; k <= keys; k++)
		if (put(k, 64 + (uint32_t)(mix(k) % 448))) {
			fprintf(stderr, "kvstore: out of memory\n");
			return 1;
		}

	hybrid_get_stats(&st);
	/* at least REQUESTS; where the library runs, also a few of its epochs,
	 * so that the values written often have had time to move */
	uint64_t epoch0 = st.epochs;
	size_t r;
	for (r = 0; r < requests || (st.state == HYBRID_STATE_RUNNING &&
					    st.epochs < epoch0 + 5 && r < 50 * requests);
	     r++) {
		if (r % 65536 == 0)
			hybrid_get_stats(&st);
		uint64_t x = next();
		/* 90% of requests to keys 1..hot */
		uint64_t key = 1 + (x % 10 ? (x >> 8) % hot : (x >> 8) % keys);
		struct slot *s = lookup(key);

		if (x % 100 < 10) {
			if (put(key, 64 + (uint32_t)((x >> 40) % 448))) {
				fprintf(stderr, "kvstore: out of memory\n");
				return 1;
			}
		} else {
			memcpy(io + (r % (IO_LEN / 512)) * 512, s->val, s->len < 512 ? s->len : 512);
			checksum += (unsigned char)io[(r % (IO_LEN / 512)) * 512];
		}
	}

	hybrid_get_stats(&st);
	if (st.state != HYBRID_STATE_RUNNING)
		printf("libhybrid manages nothing here (one memory tier, or switched off): "
		       "the store ran unchanged\n");
	printf("%zu keys, %zu requests, checksum %llu\n", keys, r,
	       (unsigned long long)checksum);
	f = p = 0;
	add_where(index_, nslots * sizeof(*index_), &f, &p);
	report("index (hot)", f, p);
	f = p = 0;
	for (uint64_t k = 1; k <= hot; k++)
		add_where(lookup(k)->val, lookup(k)->len, &f, &p);
	report("hot values", f, p);
	f = p = 0;
	for (uint64_t k = hot + 1; k <= keys; k += 16) /* a sample */
		add_where(lookup(k)->val, lookup(k)->len, &f, &p);
	report("cold values", f, p);
	f = p = 0;
	add_where(io, IO_LEN, &f, &p);
	report("I/O (pinned)", f, p);
	printf("managed %.2f MiB, epochs %llu, promoted %llu pages, demoted %llu, "
	       "failed moves %llu\n",
	       st.managed_bytes / MIB, (unsigned long long)st.epochs,
	       (unsigned long long)st.promote_pages, (unsigned long long)st.demote_pages,
	       (unsigned long long)(st.fail_busy + st.fail_access + st.fail_nomem +
				    st.fail_absent + st.fail_other));

	/* every value still belongs to its key */
	for (uint64_t k = 1; k <= keys; k++) {
		struct slot *s = lookup(k);
		char want[512];

		fill(want, s->len, k, s->version);
		if (s->key != k || memcmp(s->val, want, s->len)) {
			fprintf(stderr, "kvstore: key %llu: wrong value\n", (unsigned long long)k);
			return 1;
		}
		hybrid_free(s->val);
	}
	hybrid_munmap(index_, nslots * sizeof(*index_));
	hybrid_munmap(io, IO_LEN);
	return 0;
}
