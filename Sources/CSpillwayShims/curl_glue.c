#include "spillway_curl.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>

/* One per socket libcurl asked us to watch; attached to the socket with curl_multi_assign. */
struct watched_socket {
    spw_source_id watch;
    struct watched_socket *previous;
    struct watched_socket *next;
};

struct spw_curl {
    spw_reactor *reactor;
    CURLM *multi;
    spw_curl_done_fn done;
    void *context;
    spw_source_id timer;           /* 0 when libcurl wants no timeout */
    struct watched_socket *sockets; /* every live watch, so destroy can remove leftovers */
};

static void finish_transfers(spw_curl *g) {
    CURLMsg *message;
    int left;
    while ((message = curl_multi_info_read(g->multi, &left))) {
        if (message->msg != CURLMSG_DONE) continue;
        CURL *easy = message->easy_handle;
        CURLcode result = message->data.result;
        g->done(easy, result, g->context);
    }
}

static void on_socket_event(spw_reactor *reactor, spw_source_id id, int fd, uint32_t events, void *context) {
    (void)reactor;
    (void)id;
    spw_curl *g = context;
    int mask = 0;
    if (events & EPOLLIN) mask |= CURL_CSELECT_IN;
    if (events & EPOLLOUT) mask |= CURL_CSELECT_OUT;
    if (events & (EPOLLERR | EPOLLHUP)) mask |= CURL_CSELECT_ERR;
    int running;
    curl_multi_socket_action(g->multi, fd, mask, &running);
    finish_transfers(g);
}

static void on_timer(spw_reactor *reactor, spw_source_id id, void *context) {
    (void)reactor;
    (void)id;
    spw_curl *g = context;
    g->timer = 0; /* one-shot: the reactor has already forgotten it */
    int running;
    curl_multi_socket_action(g->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    finish_transfers(g);
}

static void forget_socket(spw_curl *g, struct watched_socket *s) {
    spw_reactor_remove(g->reactor, s->watch);
    if (s->previous) s->previous->next = s->next;
    else g->sockets = s->next;
    if (s->next) s->next->previous = s->previous;
    free(s);
}

/* CURLMOPT_SOCKETFUNCTION: called from inside libcurl, so it only touches the reactor. */
static int socket_callback(CURL *easy, curl_socket_t fd, int what, void *clientp, void *socketp) {
    (void)easy;
    spw_curl *g = clientp;
    struct watched_socket *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) forget_socket(g, s); /* the fd may be closed already: the reactor tolerates that */
        return 0;
    }
    uint32_t events = ((what & CURL_POLL_IN) ? SPW_EVENT_READ : 0) | ((what & CURL_POLL_OUT) ? SPW_EVENT_WRITE : 0);
    if (s) return spw_reactor_modify_fd(g->reactor, s->watch, events) == 0 ? 0 : -1;

    s = calloc(1, sizeof *s);
    if (!s) return -1;
    if (spw_reactor_add_fd(g->reactor, fd, events, on_socket_event, g, &s->watch) != 0) {
        free(s);
        return -1;
    }
    s->next = g->sockets;
    if (g->sockets) g->sockets->previous = s;
    g->sockets = s;
    curl_multi_assign(g->multi, fd, s);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 deletes the timer; 0 means "soon", which is the next loop iteration,
 * never a libcurl call from here. */
static int timer_callback(CURLM *multi, long timeout_ms, void *clientp) {
    (void)multi;
    spw_curl *g = clientp;
    if (timeout_ms < 0) {
        if (g->timer) spw_reactor_remove(g->reactor, g->timer);
        g->timer = 0;
        return 0;
    }
    uint64_t deadline = spw_monotonic_ns() + (uint64_t)timeout_ms * 1000000u;
    if (g->timer && spw_reactor_rearm_timer(g->reactor, g->timer, deadline) == 0) return 0;
    return spw_reactor_add_timer(g->reactor, deadline, 0, on_timer, g, &g->timer) == 0 ? 0 : -1;
}

static pthread_once_t global_init_once = PTHREAD_ONCE_INIT;
static CURLcode global_init_result;

static void global_init(void) {
    global_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

spw_curl *spw_curl_create(spw_reactor *reactor, spw_curl_done_fn done, void *context) {
    pthread_once(&global_init_once, global_init);
    if (global_init_result != CURLE_OK || !reactor || !done) return NULL;
    spw_curl *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->reactor = reactor;
    g->done = done;
    g->context = context;
    g->multi = curl_multi_init();
    if (!g->multi) {
        free(g);
        return NULL;
    }
    curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, socket_callback);
    curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, g);
    curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, timer_callback);
    curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, g);
    curl_multi_setopt(g->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    return g;
}

void spw_curl_destroy(spw_curl *g) {
    if (!g) return;
    curl_multi_cleanup(g->multi);
    while (g->sockets) forget_socket(g, g->sockets);
    if (g->timer) spw_reactor_remove(g->reactor, g->timer);
    free(g);
}

CURLMcode spw_curl_add(spw_curl *g, CURL *easy) {
    return curl_multi_add_handle(g->multi, easy);
}

CURLMcode spw_curl_remove(spw_curl *g, CURL *easy) {
    return curl_multi_remove_handle(g->multi, easy);
}

CURLcode spw_easy_setopt_long(CURL *easy, CURLoption option, long value) {
    return curl_easy_setopt(easy, option, value);
}

CURLcode spw_easy_setopt_off(CURL *easy, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(easy, option, value);
}

CURLcode spw_easy_setopt_pointer(CURL *easy, CURLoption option, const void *value) {
    return curl_easy_setopt(easy, option, value);
}

CURLcode spw_easy_setopt_blob(CURL *easy, CURLoption option, const void *data, size_t length) {
    struct curl_blob blob = {.data = (void *)data, .len = length, .flags = CURL_BLOB_COPY};
    return curl_easy_setopt(easy, option, &blob);
}

CURLcode spw_easy_setopt_data_fn(CURL *easy, CURLoption option, spw_curl_data_fn fn) {
    return curl_easy_setopt(easy, option, fn);
}

CURLcode spw_easy_getinfo_long(CURL *easy, CURLINFO info, long *value) {
    return curl_easy_getinfo(easy, info, value);
}
