#ifndef SPILLWAY_CURL_H
#define SPILLWAY_CURL_H

/*
 * curl_multi driven by the reactor (multi_socket API): CURLMOPT_SOCKETFUNCTION maps curl's sockets
 * to reactor fd watches, CURLMOPT_TIMERFUNCTION to one reactor timer, and every fd event or timer
 * expiry calls curl_multi_socket_action.
 *
 * Nothing runs inside libcurl but copying. The header and write callbacks of a transfer are this
 * file's: they append the bytes to the transfer's buffers and queue it. Only once
 * curl_multi_socket_action has returned does the glue hand each queued transfer to `ready`, and
 * then each finished one (curl_multi_info_read) to `done`. Those callbacks may therefore do
 * anything: add, remove and destroy transfers, and destroy the spw_curl itself (the teardown
 * then waits until the glue's own frames have left the stack). A timeout of 0 arms the reactor
 * timer for "now", which fires on the next loop iteration: libcurl is never called from inside
 * its own callbacks.
 *
 * Also here: non-variadic wrappers of curl_easy_setopt / curl_easy_getinfo, which Swift cannot call.
 * Everything runs on the reactor's thread.
 */

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spillway_reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spw_curl spw_curl;
/** One transfer: its easy handle and the bytes libcurl handed over since they were last taken. */
typedef struct spw_transfer spw_transfer;

/** Called on the loop thread, outside libcurl, for a transfer that received response head or
 *  body bytes (see spw_transfer_head, spw_transfer_take_body). */
typedef void (*spw_curl_ready_fn)(spw_transfer *transfer, void *transfer_context);
/** Called on the loop thread, outside libcurl, once for each finished transfer. Bytes that came
 *  with the end of the transfer may still be waiting: the callee takes them, then removes the
 *  transfer (spw_curl_remove or spw_transfer_destroy). */
typedef void (*spw_curl_done_fn)(spw_transfer *transfer, CURLcode result, void *transfer_context);

/** Creates a multi handle bound to the reactor (HTTP/2 multiplexing on). NULL on failure, with
 *  the reason reported through the reactor's diagnostics. Calls curl_global_init once per process. */
spw_curl *spw_curl_create(spw_reactor *reactor, spw_curl_ready_fn ready, spw_curl_done_fn done);
/** Cleans the multi handle up and removes its fd watches and timer. Remove every transfer first.
 *  Safe from inside `ready` and `done`: no callback is made after it, and the memory is freed
 *  once the glue's frames are off the stack. */
void spw_curl_destroy(spw_curl *curl);

/** A new transfer with its easy handle, whose header and write callbacks copy into the
 *  transfer's buffers. `context` is handed back to `ready` and `done`. NULL on failure. */
spw_transfer *spw_transfer_create(void *context);
/** The easy handle, for options. Do not change CURLOPT_HEADERFUNCTION, CURLOPT_WRITEFUNCTION,
 *  their DATA options or CURLOPT_PRIVATE. */
CURL *spw_transfer_easy(spw_transfer *transfer);
/** Cleans the easy handle up and frees the transfer. It must not be in a multi handle. */
void spw_transfer_destroy(spw_transfer *transfer);

/** Adds / removes a transfer. Removing drops the bytes not yet taken. */
CURLMcode spw_curl_add(spw_curl *curl, spw_transfer *transfer);
CURLMcode spw_curl_remove(spw_curl *curl, spw_transfer *transfer);

/** The final response's head once it is complete (after any 1xx): its status and raw header
 *  block (the status line and the header lines, each ending in CRLF or LF). Returns false while
 *  the head is incomplete. The bytes stay valid until the transfer is destroyed. */
bool spw_transfer_head(const spw_transfer *transfer, long *status, const uint8_t **bytes, size_t *length);
/** The body bytes received and not yet consumed. Valid until spw_transfer_consume_body or the
 *  next libcurl call on the transfer's multi handle. */
size_t spw_transfer_body(const spw_transfer *transfer, const uint8_t **bytes);
/** Drops the body bytes spw_transfer_body returned; a buffer grown above 64 KiB is freed. */
void spw_transfer_consume_body(spw_transfer *transfer);
/** The bytes the body buffer holds allocated (for tests: what a long-lived transfer keeps). */
size_t spw_transfer_body_capacity(const spw_transfer *transfer);
/** True when libcurl failed the transfer (CURLE_WRITE_ERROR) because a response head above
 *  1 MiB, or memory running out, stopped the copying. */
bool spw_transfer_overflowed(const spw_transfer *transfer);

CURLcode spw_easy_setopt_long(CURL *easy, CURLoption option, long value);
CURLcode spw_easy_setopt_off(CURL *easy, CURLoption option, curl_off_t value);
/** For string, slist, error-buffer options. */
CURLcode spw_easy_setopt_pointer(CURL *easy, CURLoption option, const void *value);
/** For CURLOPT_*_BLOB options; libcurl copies the bytes (CURL_BLOB_COPY). */
CURLcode spw_easy_setopt_blob(CURL *easy, CURLoption option, const void *data, size_t length);

CURLcode spw_easy_getinfo_long(CURL *easy, CURLINFO info, long *value);

#ifdef __cplusplus
}
#endif

#endif
