#ifndef SPILLWAY_CURL_H
#define SPILLWAY_CURL_H

/*
 * curl_multi driven by the reactor (multi_socket API): CURLMOPT_SOCKETFUNCTION maps curl's sockets
 * to reactor fd watches, CURLMOPT_TIMERFUNCTION to one reactor timer, and every fd event or timer
 * expiry calls curl_multi_socket_action and then drains curl_multi_info_read, handing each finished
 * transfer to the `done` callback. The glue never calls libcurl from inside libcurl's callbacks: a
 * timeout of 0 arms the reactor timer for "now", which fires on the next loop iteration.
 *
 * Also here: non-variadic wrappers of curl_easy_setopt / curl_easy_getinfo, which Swift cannot call.
 * Everything runs on the reactor's thread.
 */

#include <curl/curl.h>
#include <stddef.h>

#include "spillway_reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spw_curl spw_curl;

/** Called on the loop thread for each finished transfer, outside libcurl's callbacks: the callee may
 *  remove the easy handle (spw_curl_remove), clean it up, and add new ones. */
typedef void (*spw_curl_done_fn)(CURL *easy, CURLcode result, void *context);

/** CURLOPT_WRITEFUNCTION / CURLOPT_HEADERFUNCTION signature. */
typedef size_t (*spw_curl_data_fn)(char *data, size_t size, size_t count, void *context);

/** Creates a multi handle bound to the reactor (HTTP/2 multiplexing on). NULL on failure.
 *  Calls curl_global_init once per process. */
spw_curl *spw_curl_create(spw_reactor *reactor, spw_curl_done_fn done, void *context);
/** Cleans the multi handle up and removes its fd watches and timer. Remove every easy handle first. */
void spw_curl_destroy(spw_curl *curl);

/** Adds / removes a transfer. Never call these from inside a libcurl callback (write, header):
 *  libcurl answers CURLM_RECURSIVE_API_CALL. */
CURLMcode spw_curl_add(spw_curl *curl, CURL *easy);
CURLMcode spw_curl_remove(spw_curl *curl, CURL *easy);

CURLcode spw_easy_setopt_long(CURL *easy, CURLoption option, long value);
CURLcode spw_easy_setopt_off(CURL *easy, CURLoption option, curl_off_t value);
/** For string, slist, error-buffer and CURLOPT_*DATA options. */
CURLcode spw_easy_setopt_pointer(CURL *easy, CURLoption option, const void *value);
/** For CURLOPT_*_BLOB options; libcurl copies the bytes (CURL_BLOB_COPY). */
CURLcode spw_easy_setopt_blob(CURL *easy, CURLoption option, const void *data, size_t length);
/** For CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION. */
CURLcode spw_easy_setopt_data_fn(CURL *easy, CURLoption option, spw_curl_data_fn fn);

CURLcode spw_easy_getinfo_long(CURL *easy, CURLINFO info, long *value);

#ifdef __cplusplus
}
#endif

#endif
