#define _GNU_SOURCE
#include "spillway_reactor.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

/* Source ids: (generation << 32) | (slot index + 1). Generations stay below 2^31, so ids with the
 * top bit set are free for the reactor's own two fds. */
#define WAKE_ID ((UINT64_C(1) << 63) | 1)
#define SIGNALFD_ID ((UINT64_C(1) << 63) | 2)
#define NO_SLOT UINT32_MAX
#define MAX_EVENTS 128

enum source_kind { KIND_FREE, KIND_FD, KIND_TIMER, KIND_SIGNAL };

struct source {
    uint32_t generation;
    uint8_t kind;
    int fd;
    uint32_t events; /* an fd watch's epoll events as registered */
    int signo;
    uint64_t deadline;
    uint64_t interval;
    uint64_t sequence;
    uint32_t heap_position;
    uint32_t next_free;
    union {
        spw_fd_fn fd;
        spw_timer_fn timer;
        spw_signal_fn signal;
    } fn;
    void *context;
};

struct task {
    spw_task_fn fn;
    void *context;
};

struct task_list {
    struct task *items;
    size_t count;
    size_t capacity;
};

struct spw_reactor {
    int epoll_fd;
    int wake_fd;
    int signal_fd;
    sigset_t signals;

    /* Slots are addressed by index and may move when the array grows: never keep a pointer to a
     * slot across a callback. */
    struct source *slots;
    uint32_t slot_count;
    uint32_t slot_capacity;
    uint32_t free_head;

    /* Min-heap of timer slot indices ordered by (deadline, sequence). */
    uint32_t *heap;
    uint32_t heap_count;
    uint32_t heap_capacity;
    uint64_t next_sequence;

    pthread_mutex_t task_lock;
    struct task_list pending; /* guarded by task_lock */
    struct task_list running; /* loop thread only */

    atomic_bool stop_requested;

    uint64_t fd_modifications; /* watch events changed by spw_reactor_modify_fd (one epoll_ctl each) */

    /* The thread inside spw_reactor_run / spw_reactor_run_once, valid while loop_depth > 0
     * (nested run_once calls from a handler count too). Read by other threads for the
     * confinement check, hence atomic. */
    _Atomic(pthread_t) loop_thread;
    atomic_int loop_depth;

    spw_diagnostic_fn diagnostic;
    void *diagnostic_context;
};

uint64_t spw_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int spw_block_signals(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) {
        if (sigaddset(&set, signals[i]) != 0) return -errno;
    }
    return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* ---- diagnostics ---------------------------------------------------------------------------- */

void spw_reactor_set_diagnostic(spw_reactor *r, spw_diagnostic_fn fn, void *context) {
    r->diagnostic = fn;
    r->diagnostic_context = context;
}

void spw_reactor_diagnose(spw_reactor *r, const char *format, ...) {
    char message[512];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, sizeof message, format, arguments);
    va_end(arguments);
    if (r->diagnostic) {
        r->diagnostic(r->diagnostic_context, message);
    } else {
        fprintf(stderr, "spillway reactor: %s\n", message);
    }
}

bool spw_reactor_on_loop_thread(const spw_reactor *r) {
    spw_reactor *mutable = (spw_reactor *)r;
    if (atomic_load(&mutable->loop_depth) == 0) return true;
    return pthread_equal(atomic_load(&mutable->loop_thread), pthread_self()) != 0;
}

/* ---- slots ---------------------------------------------------------------------------------- */

static spw_source_id make_id(uint32_t index, uint32_t generation) {
    return ((uint64_t)generation << 32) | (uint64_t)(index + 1);
}

/* The live slot index for id, or NO_SLOT. */
static uint32_t slot_for(const spw_reactor *r, spw_source_id id) {
    if (id == 0 || (id >> 63) != 0) return NO_SLOT;
    uint32_t index = (uint32_t)(id & 0xffffffffu) - 1;
    uint32_t generation = (uint32_t)(id >> 32);
    if (index >= r->slot_count) return NO_SLOT;
    const struct source *s = &r->slots[index];
    if (s->kind == KIND_FREE || s->generation != generation) return NO_SLOT;
    return index;
}

static int slot_alloc(spw_reactor *r, uint8_t kind, uint32_t *out_index) {
    uint32_t index;
    if (r->free_head != NO_SLOT) {
        index = r->free_head;
        r->free_head = r->slots[index].next_free;
    } else {
        if (r->slot_count == r->slot_capacity) {
            uint32_t capacity = r->slot_capacity ? r->slot_capacity * 2 : 64;
            if (capacity >= (UINT32_MAX >> 1)) return -ENOMEM;
            struct source *grown = realloc(r->slots, capacity * sizeof *grown);
            if (!grown) return -ENOMEM;
            r->slots = grown;
            r->slot_capacity = capacity;
        }
        index = r->slot_count++;
        r->slots[index].generation = 0;
    }
    struct source *s = &r->slots[index];
    uint32_t generation = s->generation;
    memset(s, 0, sizeof *s);
    s->generation = generation;
    s->kind = kind;
    s->fd = -1;
    s->heap_position = NO_SLOT;
    *out_index = index;
    return 0;
}

static void slot_free(spw_reactor *r, uint32_t index) {
    struct source *s = &r->slots[index];
    s->kind = KIND_FREE;
    s->context = NULL;
    s->generation = (s->generation + 1) & 0x7fffffffu;
    s->next_free = r->free_head;
    r->free_head = index;
}

/* ---- timer heap ----------------------------------------------------------------------------- */

static bool timer_before(const spw_reactor *r, uint32_t a, uint32_t b) {
    const struct source *x = &r->slots[a], *y = &r->slots[b];
    if (x->deadline != y->deadline) return x->deadline < y->deadline;
    return x->sequence < y->sequence;
}

static void heap_place(spw_reactor *r, uint32_t position, uint32_t index) {
    r->heap[position] = index;
    r->slots[index].heap_position = position;
}

static void heap_sift_up(spw_reactor *r, uint32_t position) {
    uint32_t index = r->heap[position];
    while (position > 0) {
        uint32_t parent = (position - 1) / 2;
        if (!timer_before(r, index, r->heap[parent])) break;
        heap_place(r, position, r->heap[parent]);
        position = parent;
    }
    heap_place(r, position, index);
}

static void heap_sift_down(spw_reactor *r, uint32_t position) {
    uint32_t index = r->heap[position];
    for (;;) {
        uint32_t child = position * 2 + 1;
        if (child >= r->heap_count) break;
        if (child + 1 < r->heap_count && timer_before(r, r->heap[child + 1], r->heap[child])) child++;
        if (!timer_before(r, r->heap[child], index)) break;
        heap_place(r, position, r->heap[child]);
        position = child;
    }
    heap_place(r, position, index);
}

static int heap_push(spw_reactor *r, uint32_t index) {
    if (r->heap_count == r->heap_capacity) {
        uint32_t capacity = r->heap_capacity ? r->heap_capacity * 2 : 64;
        uint32_t *grown = realloc(r->heap, capacity * sizeof *grown);
        if (!grown) return -ENOMEM;
        r->heap = grown;
        r->heap_capacity = capacity;
    }
    r->slots[index].sequence = r->next_sequence++;
    heap_place(r, r->heap_count++, index);
    heap_sift_up(r, r->heap_count - 1);
    return 0;
}

static void heap_remove(spw_reactor *r, uint32_t index) {
    uint32_t position = r->slots[index].heap_position;
    if (position == NO_SLOT) return;
    r->slots[index].heap_position = NO_SLOT;
    uint32_t last = r->heap[--r->heap_count];
    if (position == r->heap_count) return;
    heap_place(r, position, last);
    heap_sift_down(r, position);
    heap_sift_up(r, r->slots[last].heap_position);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

spw_reactor *spw_reactor_create(void) {
    spw_reactor *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->epoll_fd = r->wake_fd = r->signal_fd = -1;
    r->free_head = NO_SLOT;
    sigemptyset(&r->signals);
    atomic_init(&r->stop_requested, false);
    atomic_init(&r->loop_depth, 0);
    int locked = pthread_mutex_init(&r->task_lock, NULL);
    if (locked != 0) {
        free(r);
        errno = locked;
        return NULL;
    }

    r->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (r->epoll_fd < 0) goto fail;
    r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->wake_fd < 0) goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_ID};
    if (epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, r->wake_fd, &ev) != 0) goto fail;
    return r;

fail:;
    int saved = errno;
    spw_reactor_destroy(r);
    errno = saved;
    return NULL;
}

static void discard_tasks(struct task_list *list) {
    for (size_t i = 0; i < list->count; i++) list->items[i].fn(list->items[i].context, true);
    free(list->items);
    *list = (struct task_list){0};
}

void spw_reactor_destroy(spw_reactor *r) {
    if (!r) return;
    discard_tasks(&r->pending);
    discard_tasks(&r->running);
    if (r->signal_fd >= 0) close(r->signal_fd);
    if (r->wake_fd >= 0) close(r->wake_fd);
    if (r->epoll_fd >= 0) close(r->epoll_fd);
    pthread_mutex_destroy(&r->task_lock);
    free(r->heap);
    free(r->slots);
    free(r);
}

/* ---- fd watches ----------------------------------------------------------------------------- */

static uint32_t epoll_mask(uint32_t events) {
    return events & (EPOLLIN | EPOLLOUT);
}

int spw_reactor_add_fd(spw_reactor *r, int fd, uint32_t events, spw_fd_fn fn, void *context,
                       spw_source_id *out_id) {
    if (fd < 0 || !fn) return -EINVAL;
    uint32_t index;
    int rc = slot_alloc(r, KIND_FD, &index);
    if (rc) return rc;
    spw_source_id id = make_id(index, r->slots[index].generation);
    struct epoll_event ev = {.events = epoll_mask(events), .data.u64 = id};
    if (epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        if (errno != EEXIST || epoll_ctl(r->epoll_fd, EPOLL_CTL_MOD, fd, &ev) != 0) {
            rc = -errno;
            slot_free(r, index);
            return rc;
        }
        /* The fd number was registered by a watch whose fd has since been reused without being
         * removed: that watch is stale, the new one takes the registration over. */
        for (uint32_t i = 0; i < r->slot_count; i++) {
            if (i != index && r->slots[i].kind == KIND_FD && r->slots[i].fd == fd) slot_free(r, i);
        }
    }
    struct source *s = &r->slots[index];
    s->fd = fd;
    s->events = ev.events;
    s->fn.fd = fn;
    s->context = context;
    *out_id = id;
    return 0;
}

/* A change to the events a watch has already costs no system call: libcurl reports a socket's
 * events again for every transfer that starts on a connection it shares, once per request. */
int spw_reactor_modify_fd(spw_reactor *r, spw_source_id id, uint32_t events) {
    uint32_t index = slot_for(r, id);
    if (index == NO_SLOT || r->slots[index].kind != KIND_FD) return -ENOENT;
    struct epoll_event ev = {.events = epoll_mask(events), .data.u64 = id};
    if (ev.events == r->slots[index].events) return 0;
    if (epoll_ctl(r->epoll_fd, EPOLL_CTL_MOD, r->slots[index].fd, &ev) != 0) return -errno;
    r->slots[index].events = ev.events;
    r->fd_modifications++;
    return 0;
}

uint64_t spw_reactor_fd_modifications(const spw_reactor *r) {
    return r->fd_modifications;
}

/* ---- timers --------------------------------------------------------------------------------- */

int spw_reactor_add_timer(spw_reactor *r, uint64_t deadline_ns, uint64_t interval_ns, spw_timer_fn fn,
                          void *context, spw_source_id *out_id) {
    if (!fn) return -EINVAL;
    uint32_t index;
    int rc = slot_alloc(r, KIND_TIMER, &index);
    if (rc) return rc;
    struct source *s = &r->slots[index];
    s->deadline = deadline_ns;
    s->interval = interval_ns;
    s->fn.timer = fn;
    s->context = context;
    rc = heap_push(r, index);
    if (rc) {
        slot_free(r, index);
        return rc;
    }
    *out_id = make_id(index, r->slots[index].generation);
    return 0;
}

int spw_reactor_rearm_timer(spw_reactor *r, spw_source_id id, uint64_t deadline_ns) {
    uint32_t index = slot_for(r, id);
    if (index == NO_SLOT || r->slots[index].kind != KIND_TIMER) return -ENOENT;
    heap_remove(r, index);
    r->slots[index].deadline = deadline_ns;
    return heap_push(r, index); /* cannot fail: the heap had room for this timer */
}

/* ---- signals -------------------------------------------------------------------------------- */

static int create_signalfd(spw_reactor *r) {
    int fd = signalfd(-1, &r->signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) return -errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = SIGNALFD_ID};
    if (epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    r->signal_fd = fd;
    return 0;
}

/* Points the signalfd at r->signals. If the fd is no longer our signalfd (closed, or its
 * number reused behind our back), the failure is reported and returned, and a new signalfd
 * takes over so that signals keep arriving. The old number is neither closed nor removed from
 * epoll: it may name someone else's file now, and a closed description leaves epoll by itself. */
static int update_signalfd(spw_reactor *r) {
    if (r->signal_fd < 0) return create_signalfd(r);
    if (signalfd(r->signal_fd, &r->signals, 0) >= 0) return 0;
    int rc = -errno;
    spw_reactor_diagnose(r, "signalfd %d no longer accepts its signal mask (%s); opening a new one", r->signal_fd,
                         strerror(-rc));
    r->signal_fd = -1;
    int created = create_signalfd(r);
    if (created != 0) {
        spw_reactor_diagnose(r, "cannot open a new signalfd (%s): handled signals stay pending", strerror(-created));
    }
    return rc;
}

int spw_reactor_add_signal(spw_reactor *r, int signo, spw_signal_fn fn, void *context,
                           spw_source_id *out_id) {
    if (!fn || signo <= 0 || signo >= NSIG) return -EINVAL;
    uint32_t index;
    int rc = slot_alloc(r, KIND_SIGNAL, &index);
    if (rc) return rc;
    bool was_member = sigismember(&r->signals, signo) == 1;
    sigaddset(&r->signals, signo);
    rc = update_signalfd(r);
    if (rc) {
        if (!was_member) sigdelset(&r->signals, signo);
        slot_free(r, index);
        return rc;
    }
    struct source *s = &r->slots[index];
    s->signo = signo;
    s->fn.signal = fn;
    s->context = context;
    *out_id = make_id(index, s->generation);
    return 0;
}

/* ---- removal -------------------------------------------------------------------------------- */

int spw_reactor_remove(spw_reactor *r, spw_source_id id) {
    uint32_t index = slot_for(r, id);
    if (index == NO_SLOT) return -ENOENT;
    struct source *s = &r->slots[index];
    int rc = 0;
    switch (s->kind) {
    case KIND_FD:
        /* The fd may be closed already (EBADF) or its registration gone with it (ENOENT):
         * libcurl closes sockets before it says to forget them. Anything else is a bug. */
        if (epoll_ctl(r->epoll_fd, EPOLL_CTL_DEL, s->fd, NULL) != 0 && errno != EBADF && errno != ENOENT) {
            rc = -errno;
            spw_reactor_diagnose(r, "epoll_ctl(DEL, fd %d): %s", s->fd, strerror(errno));
        }
        break;
    case KIND_TIMER:
        heap_remove(r, index);
        break;
    case KIND_SIGNAL: {
        int signo = s->signo;
        s->kind = KIND_FREE; /* so the scan below does not count this source */
        bool still_used = false;
        for (uint32_t i = 0; i < r->slot_count && !still_used; i++) {
            still_used = r->slots[i].kind == KIND_SIGNAL && r->slots[i].signo == signo;
        }
        if (!still_used) {
            sigdelset(&r->signals, signo);
            rc = update_signalfd(r);
        }
        break;
    }
    }
    slot_free(r, index);
    return rc;
}

/* ---- tasks and wake-ups --------------------------------------------------------------------- */

/* Returns 0 or -errno. EAGAIN means the counter is saturated: the loop is woken already. */
static int wake(spw_reactor *r) {
    uint64_t one = 1;
    if (write(r->wake_fd, &one, sizeof one) == (ssize_t)sizeof one || errno == EAGAIN) return 0;
    return -errno;
}

int spw_reactor_post(spw_reactor *r, spw_task_fn fn, void *context) {
    if (!fn) return -EINVAL;
    pthread_mutex_lock(&r->task_lock);
    struct task_list *list = &r->pending;
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 16;
        struct task *grown = realloc(list->items, capacity * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&r->task_lock);
            return -ENOMEM;
        }
        list->items = grown;
        list->capacity = capacity;
    }
    list->items[list->count++] = (struct task){fn, context};
    int rc = list->count == 1 ? wake(r) : 0;
    /* A task the loop would never wake up for is not queued: the caller keeps its context. */
    if (rc != 0) list->count--;
    pthread_mutex_unlock(&r->task_lock);
    return rc;
}

int spw_reactor_stop(spw_reactor *r) {
    atomic_store(&r->stop_requested, true);
    return wake(r);
}

static bool has_pending_tasks(spw_reactor *r) {
    pthread_mutex_lock(&r->task_lock);
    bool pending = r->pending.count > 0;
    pthread_mutex_unlock(&r->task_lock);
    return pending;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

static int dispatch_fd(spw_reactor *r, spw_source_id id, uint32_t events) {
    uint32_t index = slot_for(r, id);
    if (index == NO_SLOT || r->slots[index].kind != KIND_FD) return 0; /* removed earlier in this batch */
    struct source s = r->slots[index];
    s.fn.fd(r, id, s.fd, events, s.context);
    return 1;
}

static int dispatch_signals(spw_reactor *r) {
    int calls = 0;
    struct signalfd_siginfo info;
    for (;;) {
        if (r->signal_fd < 0) break;
        ssize_t got = read(r->signal_fd, &info, sizeof info);
        if (got != (ssize_t)sizeof info) {
            if (got < 0 && errno != EAGAIN && errno != EINTR) {
                spw_reactor_diagnose(r, "read(signalfd %d): %s", r->signal_fd, strerror(errno));
            }
            break;
        }
        int signo = (int)info.ssi_signo;
        uint32_t count = r->slot_count;
        for (uint32_t i = 0; i < count && i < r->slot_count; i++) {
            if (r->slots[i].kind != KIND_SIGNAL || r->slots[i].signo != signo) continue;
            struct source s = r->slots[i];
            s.fn.signal(r, make_id(i, s.generation), signo, s.context);
            calls++;
        }
    }
    return calls;
}

static int dispatch_timers(spw_reactor *r) {
    int calls = 0;
    uint64_t now = spw_monotonic_ns();
    /* Timers (re)armed by the callbacks of this phase wait for the next iteration, so a timer
     * that keeps re-arming itself in the past cannot starve the loop. */
    uint64_t sequence_limit = r->next_sequence;
    while (r->heap_count > 0) {
        uint32_t index = r->heap[0];
        struct source *s = &r->slots[index];
        if (s->deadline > now || s->sequence >= sequence_limit) break;
        spw_source_id id = make_id(index, s->generation);
        spw_timer_fn fn = s->fn.timer;
        void *context = s->context;
        heap_remove(r, index);
        if (s->interval > 0) {
            s->deadline += s->interval;
            if (s->deadline <= now) s->deadline = now + s->interval; /* skip missed ticks */
            /* Cannot fail: heap_remove just made room. */
            if (heap_push(r, index) != 0) spw_reactor_diagnose(r, "repeating timer lost: heap full");
        } else {
            slot_free(r, index);
        }
        fn(r, id, context);
        calls++;
    }
    return calls;
}

static int dispatch_tasks(spw_reactor *r) {
    pthread_mutex_lock(&r->task_lock);
    struct task_list swap = r->running;
    r->running = r->pending;
    r->pending = swap;
    r->pending.count = 0;
    pthread_mutex_unlock(&r->task_lock);

    int calls = 0;
    for (size_t i = 0; i < r->running.count; i++) {
        r->running.items[i].fn(r->running.items[i].context, false);
        calls++;
    }
    r->running.count = 0;
    return calls;
}

static int timeout_for(spw_reactor *r, int requested_ms) {
    if (has_pending_tasks(r)) return 0;
    if (r->heap_count == 0) return requested_ms;
    uint64_t deadline = r->slots[r->heap[0]].deadline;
    uint64_t now = spw_monotonic_ns();
    if (deadline <= now) return 0;
    /* Round up: waking a little late is harmless, waking early would spin until the deadline. */
    uint64_t ms = (deadline - now + 999999u) / 1000000u;
    if (ms > INT_MAX) ms = INT_MAX;
    if (requested_ms >= 0 && (uint64_t)requested_ms < ms) return requested_ms;
    return (int)ms;
}

/* Marks the calling thread as the loop's for the confinement check (nesting allowed). */
static void enter_loop(spw_reactor *r) {
    if (atomic_load(&r->loop_depth) == 0) atomic_store(&r->loop_thread, pthread_self());
    atomic_fetch_add(&r->loop_depth, 1);
}

static void leave_loop(spw_reactor *r) {
    atomic_fetch_sub(&r->loop_depth, 1);
}

static int run_iteration(spw_reactor *r, int timeout_ms) {
    struct epoll_event events[MAX_EVENTS];
    int n = epoll_wait(r->epoll_fd, events, MAX_EVENTS, timeout_for(r, timeout_ms));
    if (n < 0) {
        if (errno == EINTR) n = 0;
        else return -errno;
    }
    int calls = 0;
    for (int i = 0; i < n; i++) {
        uint64_t id = events[i].data.u64;
        if (id == WAKE_ID) {
            uint64_t counter;
            if (read(r->wake_fd, &counter, sizeof counter) < 0 && errno != EAGAIN && errno != EINTR) {
                spw_reactor_diagnose(r, "read(eventfd %d): %s", r->wake_fd, strerror(errno));
            }
        } else if (id == SIGNALFD_ID) {
            calls += dispatch_signals(r);
        } else {
            calls += dispatch_fd(r, id, events[i].events);
        }
    }
    calls += dispatch_timers(r);
    calls += dispatch_tasks(r);
    return calls;
}

int spw_reactor_run_once(spw_reactor *r, int timeout_ms) {
    enter_loop(r);
    int rc = run_iteration(r, timeout_ms);
    leave_loop(r);
    return rc;
}

int spw_reactor_run(spw_reactor *r) {
    enter_loop(r);
    int rc = 0;
    while (!atomic_exchange(&r->stop_requested, false)) {
        rc = run_iteration(r, -1);
        if (rc < 0) break;
        rc = 0;
    }
    leave_loop(r);
    return rc;
}
