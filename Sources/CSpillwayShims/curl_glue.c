#include "spillway_curl.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

/* One per socket libcurl asked us to watch; attached to the socket with curl_multi_assign. */
struct watched_socket {
    spw_source_id watch;
    curl_socket_t fd;
    struct watched_socket *previous;
    struct watched_socket *next;
};

/* A growable byte buffer. */
struct bytes {
    uint8_t *data;
    size_t length;
    size_t capacity;
};

struct spw_transfer {
    CURL *easy;
    void *context;
    spw_curl *owner; /* the multi handle it is in, or NULL */

    struct bytes head;   /* the current response's status line and header lines */
    bool head_complete;  /* a final (>= 200) response's head ended */
    long status;
    struct bytes body;   /* received and not yet consumed */

    bool queued;               /* in owner's ready queue */
    spw_transfer *next_queued;
    bool overflowed;           /* a buffer could not grow: the transfer is failed by libcurl */
};

struct spw_curl {
    spw_reactor *reactor;
    CURLM *multi;
    spw_curl_ready_fn ready;
    spw_curl_done_fn done;
    spw_source_id timer;            /* 0 when libcurl wants no timeout */
    struct watched_socket *sockets; /* every live watch, so destroy can remove leftovers */

    /* Transfers with bytes to hand over, in the order they first received some. */
    spw_transfer *queue_head;
    spw_transfer *queue_tail;

    /* > 0 while a reactor callback of this glue is on the stack; spw_curl_destroy called
     * meanwhile only sets `destroyed`, and the outermost frame frees. */
    int depth;
    bool destroyed;
};

/* ---- buffers -------------------------------------------------------------------------------- */

/* The largest response head kept; libcurl itself refuses header lines above 100 KB. */
#define MAX_HEAD_BYTES (1u << 20)

static bool append(struct bytes *b, const void *data, size_t length) {
    if (length > SIZE_MAX - b->length) return false;
    size_t needed = b->length + length;
    if (needed > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 1024;
        while (capacity < needed) capacity = capacity > SIZE_MAX / 2 ? needed : capacity * 2;
        uint8_t *grown = realloc(b->data, capacity);
        if (!grown) return false;
        b->data = grown;
        b->capacity = capacity;
    }
    if (length) memcpy(b->data + b->length, data, length);
    b->length = needed;
    return true;
}

static void release(struct bytes *b) {
    free(b->data);
    *b = (struct bytes){0};
}

/* ---- the ready queue ------------------------------------------------------------------------ */

static void enqueue(spw_transfer *t) {
    spw_curl *g = t->owner;
    if (t->queued || !g) return;
    t->queued = true;
    t->next_queued = NULL;
    if (g->queue_tail) g->queue_tail->next_queued = t;
    else g->queue_head = t;
    g->queue_tail = t;
}

static void dequeue(spw_curl *g, spw_transfer *t) {
    if (!t->queued) return;
    spw_transfer *previous = NULL;
    for (spw_transfer *p = g->queue_head; p; previous = p, p = p->next_queued) {
        if (p != t) continue;
        if (previous) previous->next_queued = t->next_queued;
        else g->queue_head = t->next_queued;
        if (g->queue_tail == t) g->queue_tail = previous;
        break;
    }
    t->queued = false;
    t->next_queued = NULL;
}

/* ---- libcurl's transfer callbacks: copy, queue, nothing else -------------------------------- */

static size_t header_callback(char *data, size_t size, size_t count, void *context) {
    spw_transfer *t = context;
    size_t length = size * count;
    if (t->head_complete) return length; /* trailers */
    if (length >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        t->head.length = 0; /* a new response (after a 1xx): start over */
    }
    if (t->head.length + length > MAX_HEAD_BYTES || !append(&t->head, data, length)) {
        t->overflowed = true;
        return 0; /* libcurl fails the transfer with CURLE_WRITE_ERROR */
    }
    bool blank = (length == 2 && data[0] == '\r' && data[1] == '\n') || (length == 1 && data[0] == '\n');
    if (blank) {
        long status = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200) {
            t->status = status;
            t->head_complete = true;
            enqueue(t);
        } else {
            t->head.length = 0; /* 1xx: its head is not the response's */
        }
    }
    return length;
}

static size_t write_callback(char *data, size_t size, size_t count, void *context) {
    spw_transfer *t = context;
    size_t length = size * count;
    if (!append(&t->body, data, length)) {
        t->overflowed = true;
        return 0;
    }
    enqueue(t);
    return length;
}

/* ---- handing over, outside libcurl ---------------------------------------------------------- */

static void hand_over(spw_curl *g) {
    while (g->queue_head && !g->destroyed) {
        spw_transfer *t = g->queue_head;
        g->queue_head = t->next_queued;
        if (!g->queue_head) g->queue_tail = NULL;
        t->queued = false;
        t->next_queued = NULL;
        g->ready(t, t->context);
    }
}

static void finish_transfers(spw_curl *g) {
    CURLMsg *message;
    int left;
    while (!g->destroyed && (message = curl_multi_info_read(g->multi, &left))) {
        if (message->msg != CURLMSG_DONE) continue;
        CURLcode result = message->data.result;
        char *private = NULL;
        if (curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &private) != CURLE_OK || !private) {
            spw_reactor_diagnose(g->reactor, "finished transfer without its spw_transfer");
            continue;
        }
        spw_transfer *t = (spw_transfer *)private;
        dequeue(g, t); /* `done` takes what is left itself */
        g->done(t, result, t->context);
    }
}

static void free_glue(spw_curl *g);

/* Every reactor callback of the glue runs between enter and leave; leave returns true (and has
 * freed `g`) when the glue was destroyed meanwhile. */
static void enter(spw_curl *g) {
    g->depth++;
}

static bool leave(spw_curl *g) {
    if (--g->depth > 0 || !g->destroyed) return false;
    free_glue(g);
    return true;
}

static void run_libcurl(spw_curl *g, curl_socket_t fd, int mask) {
    int running;
    CURLMcode rc = curl_multi_socket_action(g->multi, fd, mask, &running);
    if (rc != CURLM_OK) {
        spw_reactor_diagnose(g->reactor, "curl_multi_socket_action(fd %d): %s", (int)fd, curl_multi_strerror(rc));
    }
}

static void socket_action(spw_curl *g, curl_socket_t fd, int mask) {
    run_libcurl(g, fd, mask);
    hand_over(g);
    finish_transfers(g);
}

static void on_socket_event(spw_reactor *reactor, spw_source_id id, int fd, uint32_t events, void *context) {
    (void)reactor;
    (void)id;
    spw_curl *g = context;
    int mask = 0;
    if (events & EPOLLIN) mask |= CURL_CSELECT_IN;
    if (events & EPOLLOUT) mask |= CURL_CSELECT_OUT;
    if (events & (EPOLLERR | EPOLLHUP)) mask |= CURL_CSELECT_ERR;
    enter(g);
    socket_action(g, fd, mask);
    leave(g);
}

/* The sockets corked for one libcurl call; a daemon has one connection per API server. */
#define MAX_CORKED 8

struct corked {
    int count;
    curl_socket_t fds[MAX_CORKED];
};

static void set_cork(curl_socket_t fd, int on) {
    /* Fails only on a socket that is not TCP or already closed: then there is nothing to hold. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
}

/* Holds back what libcurl sends during one call on the sockets it uses (TCP_CORK), and lets it
 * go when the call returns (uncork). The requests a timer starts are an HTTP/2 HEADERS and DATA
 * frame each, and each frame is its own TLS record and send(): corked, the requests of one
 * wake-up leave in as few TCP segments as fit, rather than a segment per frame that the kernel
 * pushes through loopback and the server reads one by one. Nothing waits longer than the call. */
static struct corked cork(spw_curl *g) {
    struct corked held = {0};
    for (struct watched_socket *s = g->sockets; s && held.count < MAX_CORKED; s = s->next) {
        set_cork(s->fd, 1);
        held.fds[held.count++] = s->fd;
    }
    return held;
}

static void uncork(const struct corked *held) {
    /* A socket libcurl closed meanwhile fails with EBADF; one whose number was reused for a new
     * connection within the call is uncorked, which leaves it as it was. */
    for (int i = 0; i < held->count; i++) set_cork(held->fds[i], 0);
}

static void on_timer(spw_reactor *reactor, spw_source_id id, void *context) {
    (void)reactor;
    (void)id;
    spw_curl *g = context;
    g->timer = 0; /* one-shot: the reactor has already forgotten it */
    enter(g);
    struct corked held = cork(g);
    run_libcurl(g, CURL_SOCKET_TIMEOUT, 0);
    uncork(&held); /* before the handlers run: what libcurl wrote goes out now */
    hand_over(g);
    finish_transfers(g);
    leave(g);
}

/* ---- libcurl's multi callbacks: only the reactor is touched --------------------------------- */

static void forget_socket(spw_curl *g, struct watched_socket *s) {
    int rc = spw_reactor_remove(g->reactor, s->watch);
    if (rc != 0 && rc != -ENOENT) {
        spw_reactor_diagnose(g->reactor, "removing a curl socket watch: %s", strerror(-rc));
    }
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
    if (s) {
        int rc = spw_reactor_modify_fd(g->reactor, s->watch, events);
        if (rc == 0) return 0;
        spw_reactor_diagnose(g->reactor, "watching curl socket %d: %s", (int)fd, strerror(-rc));
        return -1;
    }

    s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->fd = fd;
    int rc = spw_reactor_add_fd(g->reactor, fd, events, on_socket_event, g, &s->watch);
    if (rc != 0) {
        spw_reactor_diagnose(g->reactor, "watching curl socket %d: %s", (int)fd, strerror(-rc));
        free(s);
        return -1;
    }
    s->next = g->sockets;
    if (g->sockets) g->sockets->previous = s;
    g->sockets = s;
    CURLMcode assigned = curl_multi_assign(g->multi, fd, s);
    if (assigned != CURLM_OK) {
        /* libcurl would hand us no state for this socket: watch it no longer than this call. */
        spw_reactor_diagnose(g->reactor, "curl_multi_assign(fd %d): %s", (int)fd, curl_multi_strerror(assigned));
        forget_socket(g, s);
        return -1;
    }
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
    int rc = spw_reactor_add_timer(g->reactor, deadline, 0, on_timer, g, &g->timer);
    if (rc == 0) return 0;
    spw_reactor_diagnose(g->reactor, "arming the curl timer: %s", strerror(-rc));
    g->timer = 0;
    return -1;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static pthread_once_t global_init_once = PTHREAD_ONCE_INIT;
static CURLcode global_init_result;

static void global_init(void) {
    global_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

spw_curl *spw_curl_create(spw_reactor *reactor, spw_curl_ready_fn ready, spw_curl_done_fn done) {
    if (!reactor || !ready || !done) return NULL;
    pthread_once(&global_init_once, global_init);
    if (global_init_result != CURLE_OK) {
        spw_reactor_diagnose(reactor, "curl_global_init: %s", curl_easy_strerror(global_init_result));
        return NULL;
    }
    spw_curl *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->reactor = reactor;
    g->ready = ready;
    g->done = done;
    g->multi = curl_multi_init();
    if (!g->multi) {
        free(g);
        return NULL;
    }
    CURLMcode rc = CURLM_OK;
    if (rc == CURLM_OK) rc = curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, socket_callback);
    if (rc == CURLM_OK) rc = curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, g);
    if (rc == CURLM_OK) rc = curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, timer_callback);
    if (rc == CURLM_OK) rc = curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, g);
    if (rc == CURLM_OK) rc = curl_multi_setopt(g->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    if (rc != CURLM_OK) {
        spw_reactor_diagnose(reactor, "curl_multi_setopt: %s", curl_multi_strerror(rc));
        curl_multi_cleanup(g->multi);
        free(g);
        return NULL;
    }
    return g;
}

static void free_glue(spw_curl *g) {
    CURLMcode rc = curl_multi_cleanup(g->multi);
    if (rc != CURLM_OK) spw_reactor_diagnose(g->reactor, "curl_multi_cleanup: %s", curl_multi_strerror(rc));
    while (g->sockets) forget_socket(g, g->sockets);
    if (g->timer) spw_reactor_remove(g->reactor, g->timer);
    free(g);
}

void spw_curl_destroy(spw_curl *g) {
    if (!g || g->destroyed) return;
    g->destroyed = true;
    if (g->depth == 0) free_glue(g);
}

spw_transfer *spw_transfer_create(void *context) {
    spw_transfer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->context = context;
    t->easy = curl_easy_init();
    if (!t->easy) {
        free(t);
        return NULL;
    }
    if (curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, header_callback) != CURLE_OK
        || curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, t) != CURLE_OK
        || curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, write_callback) != CURLE_OK
        || curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t) != CURLE_OK
        || curl_easy_setopt(t->easy, CURLOPT_PRIVATE, (char *)t) != CURLE_OK) {
        curl_easy_cleanup(t->easy);
        free(t);
        return NULL;
    }
    return t;
}

CURL *spw_transfer_easy(spw_transfer *t) {
    return t->easy;
}

void spw_transfer_destroy(spw_transfer *t) {
    if (!t) return;
    if (t->owner) spw_curl_remove(t->owner, t);
    curl_easy_cleanup(t->easy);
    release(&t->head);
    release(&t->body);
    free(t);
}

CURLMcode spw_curl_add(spw_curl *g, spw_transfer *t) {
    if (t->owner) return CURLM_ADDED_ALREADY;
    CURLMcode rc = curl_multi_add_handle(g->multi, t->easy);
    if (rc == CURLM_OK) t->owner = g;
    return rc;
}

CURLMcode spw_curl_remove(spw_curl *g, spw_transfer *t) {
    if (t->owner != g) return CURLM_BAD_EASY_HANDLE;
    dequeue(g, t);
    t->owner = NULL;
    return curl_multi_remove_handle(g->multi, t->easy);
}

bool spw_transfer_head(const spw_transfer *t, long *status, const uint8_t **bytes, size_t *length) {
    if (!t->head_complete) return false;
    *status = t->status;
    *bytes = t->head.data;
    *length = t->head.length;
    return true;
}

size_t spw_transfer_body(const spw_transfer *t, const uint8_t **bytes) {
    *bytes = t->body.data;
    return t->body.length;
}

bool spw_transfer_overflowed(const spw_transfer *t) {
    return t->overflowed;
}

/* A buffer that grew for one large batch (a list's pages, a watch's initial events) is given back
 * rather than kept for the transfer's life: a watch lives for minutes, and the daemon holds one per
 * resource. 64 KiB is four of libcurl's reads; a watch's events at rest need far less. */
#define KEPT_BODY_CAPACITY (64u << 10)

size_t spw_transfer_body_capacity(const spw_transfer *t) {
    return t->body.capacity;
}

void spw_transfer_consume_body(spw_transfer *t) {
    if (t->body.capacity > KEPT_BODY_CAPACITY) release(&t->body);
    t->body.length = 0;
}

/* ---- non-variadic doors for Swift ----------------------------------------------------------- */

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

CURLcode spw_easy_getinfo_long(CURL *easy, CURLINFO info, long *value) {
    return curl_easy_getinfo(easy, info, value);
}
