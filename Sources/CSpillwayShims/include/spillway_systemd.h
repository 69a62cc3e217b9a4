#ifndef SPILLWAY_SYSTEMD_H
#define SPILLWAY_SYSTEMD_H

/* Non-variadic doors into libsystemd for Swift (which cannot call variadic C functions). */

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** sd_notify(0, state): `state` holds newline-separated KEY=VALUE lines ("READY=1\nSTATUS=…").
 *  Returns > 0 when sent, 0 when $NOTIFY_SOCKET is unset, -errno on failure. */
int spw_sd_notify(const char *state);

/** sd_journal_sendv with `count` fields, each "KEY=value" of `lengths[i]` bytes (values may hold any
 *  bytes, newlines included). Returns 0 or -errno. */
int spw_sd_journal_sendv(const char *const *fields, const size_t *lengths, int count);

#ifdef __cplusplus
}
#endif

#endif
