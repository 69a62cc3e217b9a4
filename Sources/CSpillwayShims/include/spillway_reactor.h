#ifndef SPILLWAY_REACTOR_H
#define SPILLWAY_REACTOR_H

/*
 * The spillway reactor: one epoll instance (level-triggered) that multiplexes
 *   - fd watches,
 *   - one-shot and repeating timers (a binary heap feeding epoll_wait's timeout),
 *   - signals (one signalfd; the caller blocks the signals in every thread first),
 *   - a "run soon" queue that any thread may post to (an eventfd wakes the loop).
 *
 * Every source (fd watch, timer, signal handler) has a 64-bit id: slot index and a generation
 * counter. A removed source is never called again, not even for events already returned by the
 * same epoll_wait, so a callback may remove its own or any other source, or stop the loop, while
 * the loop is dispatching. The reactor never frees or reads a callback's context: the caller keeps
 * it alive until the source is removed (or, for tasks, until the task ran or was discarded).
 *
 * All functions except spw_reactor_post, spw_reactor_stop and spw_reactor_on_loop_thread must be
 * called on the thread that runs the loop (or while no thread runs it).
 *
 * What goes wrong inside the loop, where no caller could be told (a failed epoll_ctl, a signalfd
 * that stopped working, libcurl refusing a socket action), is reported to the diagnostic
 * callback, or printed to stderr when there is none.
 */

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spw_reactor spw_reactor;

/** Identifies a source; 0 is never a valid id. */
typedef uint64_t spw_source_id;

/** epoll-compatible event bits passed to and from fd watches. */
enum {
    SPW_EVENT_READ = 0x001,   /* EPOLLIN */
    SPW_EVENT_WRITE = 0x004,  /* EPOLLOUT */
    SPW_EVENT_ERROR = 0x008,  /* EPOLLERR (always reported) */
    SPW_EVENT_HANGUP = 0x010, /* EPOLLHUP (always reported) */
};

typedef void (*spw_fd_fn)(spw_reactor *reactor, spw_source_id id, int fd, uint32_t events, void *context);
typedef void (*spw_timer_fn)(spw_reactor *reactor, spw_source_id id, void *context);
typedef void (*spw_signal_fn)(spw_reactor *reactor, spw_source_id id, int signo, void *context);
/** Receives one diagnostic message (a line of text without a newline). */
typedef void (*spw_diagnostic_fn)(void *context, const char *message);
/** A posted task. `discarded` is true when the reactor is destroyed before the task ran: the
 *  callee then only releases its context. */
typedef void (*spw_task_fn)(void *context, bool discarded);

/** Creates a reactor; NULL with errno set on failure. */
spw_reactor *spw_reactor_create(void);
/** Destroys a reactor that is not running. Pending tasks are called with discarded=true. */
void spw_reactor_destroy(spw_reactor *reactor);

/** Watches fd for `events` (SPW_EVENT_READ / SPW_EVENT_WRITE). Returns 0 or -errno.
 *  If fd is already in the epoll set (a stale registration), the new watch replaces it. */
int spw_reactor_add_fd(spw_reactor *reactor, int fd, uint32_t events, spw_fd_fn fn, void *context,
                       spw_source_id *out_id);
/** Changes the events of an fd watch; the events it already has make no system call. Returns
 *  0 or -errno (-ENOENT for an unknown id). */
int spw_reactor_modify_fd(spw_reactor *reactor, spw_source_id id, uint32_t events);
/** How many times spw_reactor_modify_fd has changed a watch's events in the kernel. */
uint64_t spw_reactor_fd_modifications(const spw_reactor *reactor);

/** Arms a timer at an absolute CLOCK_MONOTONIC deadline (ns); interval_ns > 0 makes it repeat.
 *  Timers with equal deadlines fire in the order they were added. Returns 0 or -errno. */
int spw_reactor_add_timer(spw_reactor *reactor, uint64_t deadline_ns, uint64_t interval_ns, spw_timer_fn fn,
                          void *context, spw_source_id *out_id);
/** Moves a timer (one-shot or repeating) to a new deadline. Returns 0 or -ENOENT. */
int spw_reactor_rearm_timer(spw_reactor *reactor, spw_source_id id, uint64_t deadline_ns);

/** Delivers `signo` through the loop (signalfd). The signal must be blocked in every thread
 *  (see spw_block_signals), or the kernel may deliver it the ordinary way instead. */
int spw_reactor_add_signal(spw_reactor *reactor, int signo, spw_signal_fn fn, void *context,
                           spw_source_id *out_id);

/** Removes any source. Safe during dispatch; the source's callback is never called again.
 *  Returns 0, or -ENOENT if the id is unknown or already removed, or -errno when the source
 *  is gone but releasing it failed (reported to the diagnostics too): the signalfd could not be
 *  narrowed (a new one then takes over), or epoll_ctl refused to forget the fd. */
int spw_reactor_remove(spw_reactor *reactor, spw_source_id id);

/** Queues fn(context, false) to run on the loop thread soon, in posting order. Thread-safe.
 *  Returns 0, or -errno when the task was not queued (the caller keeps its context). */
int spw_reactor_post(spw_reactor *reactor, spw_task_fn fn, void *context);

/** Runs one iteration: waits for at most timeout_ms (-1: until something happens; the wait is
 *  shortened by due timers and pending tasks), then dispatches fd events, due timers and the
 *  tasks queued before the iteration started. Returns the number of callbacks made, or -errno. */
int spw_reactor_run_once(spw_reactor *reactor, int timeout_ms);
/** Runs iterations until spw_reactor_stop. Returns 0, or -errno if epoll_wait failed. */
int spw_reactor_run(spw_reactor *reactor);
/** Makes spw_reactor_run return after the current iteration (or the next spw_reactor_run return at
 *  once, if none is running). Thread-safe. Returns 0, or -errno if the loop could not be woken. */
int spw_reactor_stop(spw_reactor *reactor);

/** Where diagnostics go (NULL: stderr). Call before the loop runs. */
void spw_reactor_set_diagnostic(spw_reactor *reactor, spw_diagnostic_fn fn, void *context);
/** Reports a printf-style message to the diagnostic callback. Loop thread only. */
void spw_reactor_diagnose(spw_reactor *reactor, const char *format, ...) __attribute__((format(printf, 2, 3)));

/** True when called on the thread inside spw_reactor_run / spw_reactor_run_once, or when no
 *  thread is inside them. Thread-safe: debug builds assert it at every confined entry point. */
bool spw_reactor_on_loop_thread(const spw_reactor *reactor);

/** CLOCK_MONOTONIC in nanoseconds (the clock of every timer deadline). */
uint64_t spw_monotonic_ns(void);

/** Blocks the given signals in the calling thread (pthread_sigmask). Call it first thing in main,
 *  before any thread exists: threads inherit the mask, and a signal unblocked in any thread would
 *  be delivered there instead of through the signalfd. Returns 0 or -errno. */
int spw_block_signals(const int *signals, int count);

#ifdef __cplusplus
}
#endif

#endif
