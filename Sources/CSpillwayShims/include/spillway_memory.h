#ifndef SPILLWAY_MEMORY_H
#define SPILLWAY_MEMORY_H

/*
 * malloc's own controls, which Swift's Glibc module does not expose (<malloc.h>).
 */

/* Hands the free pages malloc holds back to the system: malloc_trim(0). Returns 1 when some
 * memory was released, 0 when none could be (or where there is no malloc_trim). */
int spw_malloc_trim(void);

#endif
