/*
 * The shim's header and body handling (curl_glue.c's copying callbacks and hand-over) under
 * libcurl's HTTP/1.1 and HTTP/2 parsers, fed an arbitrary server answer: the fuzz input is what
 * the "server" end of a socket pair writes after the request (curl gets the other end through
 * CURLOPT_OPENSOCKETFUNCTION). The first byte picks the protocol. The glue must never crash or
 * leak, and must hand over no more body bytes than the server sent.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spillway_curl.h"
#include "spillway_reactor.h"

struct server {
    const uint8_t *data;
    size_t size;
    size_t sent;
};

struct outcome {
    bool done;
    CURLcode result;
    bool head;
    size_t body;
};

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address) {
    (void)purpose;
    (void)address;
    int *fd = clientp;
    int handed = *fd;
    *fd = -1; /* curl owns it now, and closes it */
    return handed >= 0 ? handed : CURL_SOCKET_BAD;
}

static int socket_options(void *clientp, curl_socket_t fd, curlsocktype purpose) {
    (void)clientp;
    (void)fd;
    (void)purpose;
    return CURL_SOCKOPT_ALREADY_CONNECTED;
}

static void on_server(spw_reactor *reactor, spw_source_id id, int fd, uint32_t events, void *context) {
    struct server *s = context;
    char request[4096];
    while (read(fd, request, sizeof request) > 0) {
    }
    if (!(events & SPW_EVENT_WRITE)) return;
    if (s->sent < s->size) {
        ssize_t n = write(fd, s->data + s->sent, s->size - s->sent);
        if (n > 0) s->sent += (size_t)n;
    }
    if (s->sent >= s->size) {
        shutdown(fd, SHUT_WR);
        spw_reactor_modify_fd(reactor, id, SPW_EVENT_READ);
    }
}

static void ready(spw_transfer *transfer, void *context) {
    struct outcome *o = context;
    long status;
    const uint8_t *bytes;
    size_t length;
    if (spw_transfer_head(transfer, &status, &bytes, &length)) {
        if (status < 200 || length == 0) abort(); /* a complete head is a final response's */
        o->head = true;
    }
    o->body += spw_transfer_body(transfer, &bytes);
    spw_transfer_consume_body(transfer);
}

static void done(spw_transfer *transfer, CURLcode result, void *context) {
    struct outcome *o = context;
    ready(transfer, context);
    o->done = true;
    o->result = result;
}

static void quiet(void *context, const char *message) {
    (void)context;
    (void)message;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static spw_reactor *reactor;
    if (!reactor) {
        reactor = spw_reactor_create();
        if (!reactor) abort();
        spw_reactor_set_diagnostic(reactor, quiet, NULL);
    }
    if (size == 0) return 0;
    bool http2 = data[0] & 1;
    struct server server = {.data = data + 1, .size = size - 1};
    struct outcome outcome = {0};

    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) abort();
    int client_fd = pair[0];
    spw_source_id watch;
    if (spw_reactor_add_fd(reactor, pair[1], SPW_EVENT_READ | SPW_EVENT_WRITE, on_server, &server, &watch) != 0) abort();

    spw_curl *glue = spw_curl_create(reactor, ready, done);
    spw_transfer *transfer = spw_transfer_create(&outcome);
    if (!glue || !transfer) abort();
    CURL *easy = spw_transfer_easy(transfer);
    curl_easy_setopt(easy, CURLOPT_URL, "http://127.0.0.1:1/api/v1/namespaces/default/secrets?watch=true");
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, http2 ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, &client_fd);
    curl_easy_setopt(easy, CURLOPT_SOCKOPTFUNCTION, socket_options);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    if (spw_curl_add(glue, transfer) != CURLM_OK) abort();

    for (int turns = 0; !outcome.done && turns < 10000; turns++) spw_reactor_run_once(reactor, 50);
    if (outcome.done && outcome.body > server.size) abort();

    spw_transfer_destroy(transfer);
    spw_curl_destroy(glue);
    spw_reactor_remove(reactor, watch);
    close(pair[1]);
    if (client_fd >= 0) close(client_fd);
    return 0;
}
