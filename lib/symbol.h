/* SPDX-License-Identifier: MIT */
/*
 * symbol — functions of loaded objects found by reading their ELF dynamic
 * symbol tables, without dlsym.
 *
 * The preload layer defines malloc, free, ... itself, so the real ones
 * (jemalloc's, glibc's) cannot be named by the linker, and dlsym may
 * allocate or recurse into the very malloc being resolved.  Walking the
 * loaded objects with dl_iterate_phdr and looking a name up in one object's
 * GNU hash table allocates nothing and works as soon as ld.so has relocated
 * us, which is before anyone can call our malloc.
 */
#ifndef HY_SYMBOL_H
#define HY_SYMBOL_H

#include <stdbool.h>
#include <stdint.h>

/* The address of function name defined in the loaded object whose file name
 * (last path component) starts with lib ("libjemalloc.so"), or NULL. */
void *hy_sym_lookup(const char *lib, const char *name);

/* [start, end) of the executable segments of that object (0, 0 if absent):
 * to tell calls made by jemalloc itself from the program's. */
void hy_sym_text_range(const char *lib, uintptr_t *start, uintptr_t *end);

/* Is the definition of name in the object named lib (as above) the first
 * in load order, i.e. the one the dynamic linker binds every call to (the
 * main program, then LD_PRELOAD, then the rest)? */
bool hy_sym_first_is(const char *lib, const char *name);

/* Does the main program itself list a DT_NEEDED starting with prefix? */
bool hy_sym_main_needs(const char *prefix);

#endif
