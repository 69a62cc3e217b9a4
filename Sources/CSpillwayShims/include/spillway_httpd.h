#ifndef SPILLWAY_HTTPD_H
#define SPILLWAY_HTTPD_H

/*
 * A small HTTP server for /metrics, /healthz and /readyz on the daemon's own reactor:
 * libmicrohttpd in external-epoll mode, with no thread of its own. The caller adds
 * spw_httpd_epoll_fd() to its reactor for reading, calls spw_httpd_run() when it is readable
 * and when the spw_httpd_timeout_ms() timer fires, and re-reads the timeout after every run.
 * Swift cannot call MHD's variadic start and info functions, hence this file.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spw_httpd spw_httpd;
typedef struct spw_httpd_request spw_httpd_request;

/** Answers one request. Called on the thread that runs spw_httpd_run. It must call
 *  spw_httpd_respond once; a request it leaves unanswered gets a 500. */
typedef void (*spw_httpd_handler)(void *context, spw_httpd_request *request, const char *method, const char *path);

/** Queues the answer (the body is copied). Returns 0 or -1. */
int spw_httpd_respond(spw_httpd_request *request, unsigned int status, const char *content_type,
                      const void *body, size_t length);

/** Listens on host (a numeric IPv4/IPv6 address; "" = every interface, IPv6 dual-stack when
 *  the kernel has IPv6, else IPv4) and port (0 = any free port). Returns NULL on failure, with a
 *  reason in error[error_size]. */
spw_httpd *spw_httpd_start(const char *host, uint16_t port, spw_httpd_handler handler, void *context,
                           char *error, size_t error_size);

/** The port actually bound (useful with port 0). */
uint16_t spw_httpd_port(const spw_httpd *server);

/** The epoll fd to watch for reading. */
int spw_httpd_epoll_fd(const spw_httpd *server);

/** Processes whatever is ready. Returns 0 or -1. */
int spw_httpd_run(spw_httpd *server);

/** Milliseconds until spw_httpd_run must run again even without I/O; -1 = no deadline. */
int64_t spw_httpd_timeout_ms(spw_httpd *server);

/** Closes the listening socket and every connection. */
void spw_httpd_stop(spw_httpd *server);

#ifdef __cplusplus
}
#endif

#endif
