/* SPDX-License-Identifier: MIT */
/*
 * symbol — see symbol.h.  Only what ld.so has already mapped is read: the
 * PT_DYNAMIC segment of each object and the tables it points to.
 */
#include <elf.h>
#include <link.h>
#include <string.h>

#include "symbol.h"

struct dyn_tables {
	const ElfW(Sym) *symtab;
	const char *strtab;
	const uint32_t *gnu_hash;
	const ElfW(Dyn) *dyn;
};

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* glibc relocates the d_ptr entries of most objects in place; where it has
 * not (a read-only dynamic section), they are still relative to the base. */
static uintptr_t dyn_ptr(const struct dl_phdr_info *info, ElfW(Addr) p)
{
	return p < info->dlpi_addr ? info->dlpi_addr + p : p;
}

static bool tables(const struct dl_phdr_info *info, struct dyn_tables *t)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			t->dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
	if (!t->dyn)
		return false;
	for (const ElfW(Dyn) *d = t->dyn; d->d_tag != DT_NULL; d++) {
		if (d->d_tag == DT_SYMTAB)
			t->symtab = (const ElfW(Sym) *)dyn_ptr(info, d->d_un.d_ptr);
		else if (d->d_tag == DT_STRTAB)
			t->strtab = (const char *)dyn_ptr(info, d->d_un.d_ptr);
		else if (d->d_tag == DT_GNU_HASH)
			t->gnu_hash = (const uint32_t *)dyn_ptr(info, d->d_un.d_ptr);
	}
	return t->strtab != NULL;
}

static uint32_t gnu_hash(const char *s)
{
	uint32_t h = 5381;

	for (; *s; s++)
		h = h * 33 + (unsigned char)*s;
	return h;
}

/* The standard GNU hash lookup (bloom filter skipped: one lookup each). */
static const ElfW(Sym) *find(const struct dyn_tables *t, const char *name)
{
	const uint32_t *h = t->gnu_hash;
	uint32_t nbuckets, symoffset, bloom_size, hash = gnu_hash(name);
	const uint32_t *buckets, *chain;

	if (!h || !t->symtab)
		return NULL;
	nbuckets = h[0];
	symoffset = h[1];
	bloom_size = h[2];
	if (!nbuckets)
		return NULL;
	buckets = (const uint32_t *)((const ElfW(Addr) *)(h + 4) + bloom_size);
	chain = buckets + nbuckets;
	for (uint32_t i = buckets[hash % nbuckets]; i >= symoffset; i++) {
		uint32_t h2 = chain[i - symoffset];
		const ElfW(Sym) *s = &t->symtab[i];

		if ((h2 | 1) == (hash | 1) && !strcmp(t->strtab + s->st_name, name) &&
		    s->st_shndx != SHN_UNDEF && ELF64_ST_TYPE(s->st_info) == STT_FUNC)
			return s;
		if (h2 & 1)
			break;
	}
	return NULL;
}

struct query {
	const char *lib, *name;
	void *addr;
	uintptr_t start, end;
	bool found;
};

static int lookup_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct query *q = arg;
	struct dyn_tables t;
	const ElfW(Sym) *s;

	(void)size;
	if (!info->dlpi_name || strncmp(base_name(info->dlpi_name), q->lib, strlen(q->lib)))
		return 0;
	q->found = true;
	if (!q->name) {
		for (int i = 0; i < info->dlpi_phnum; i++) {
			const ElfW(Phdr) *p = &info->dlpi_phdr[i];

			if (p->p_type == PT_LOAD && (p->p_flags & PF_X)) {
				uintptr_t a = info->dlpi_addr + p->p_vaddr;

				if (!q->start || a < q->start)
					q->start = a;
				if (a + p->p_memsz > q->end)
					q->end = a + p->p_memsz;
			}
		}
		return 1;
	}
	if (tables(info, &t) && (s = find(&t, q->name)))
		q->addr = (void *)(info->dlpi_addr + s->st_value);
	return 1;
}

void *hy_sym_lookup(const char *lib, const char *name)
{
	struct query q = {.lib = lib, .name = name};

	dl_iterate_phdr(lookup_cb, &q);
	return q.addr;
}

void hy_sym_text_range(const char *lib, uintptr_t *start, uintptr_t *end)
{
	struct query q = {.lib = lib};

	dl_iterate_phdr(lookup_cb, &q);
	*start = q.start;
	*end = q.end;
}

struct needs {
	const char *prefix;
	bool yes;
};

/* The main program comes first in the list, with an empty name. */
static int main_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct needs *n = arg;
	struct dyn_tables t;

	(void)size;
	if (tables(info, &t))
		for (const ElfW(Dyn) *d = t.dyn; d->d_tag != DT_NULL; d++)
			if (d->d_tag == DT_NEEDED &&
			    !strncmp(t.strtab + d->d_un.d_val, n->prefix, strlen(n->prefix)))
				n->yes = true;
	return 1;
}

bool hy_sym_main_needs(const char *prefix)
{
	struct needs n = {.prefix = prefix};

	dl_iterate_phdr(main_cb, &n);
	return n.yes;
}

struct first {
	const char *lib, *name;
	bool decided, ours;
};

static int first_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct first *f = arg;
	struct dyn_tables t;

	(void)size;
	if (!tables(info, &t) || !find(&t, f->name))
		return 0;
	f->decided = true;
	f->ours = info->dlpi_name && !strncmp(base_name(info->dlpi_name), f->lib, strlen(f->lib));
	return 1;
}

bool hy_sym_first_is(const char *lib, const char *name)
{
	struct first f = {.lib = lib, .name = name};

	dl_iterate_phdr(first_cb, &f);
	return f.decided && f.ours;
}
