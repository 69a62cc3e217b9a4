/*
 * loadgen: the limit the daemon is measured against. It does nothing but the creates a cold
 * convergence needs — one Secret per (name, namespace) pair — against the same API server,
 * over the same transport the daemon uses (libcurl multi, HTTP/2 over TLS with ALPN, streams
 * multiplexed on one kept-alive connection, bearer token), keeping N requests in flight.
 *
 *   loadgen --url https://127.0.0.1:PORT --cacert ca.pem --token T --body body.json \
 *           --namespace-prefix b- --namespaces 100 --namespace-digits 5 --names 10 [--inflight 64]
 *           [--watch]
 *
 * body.json is a Secret whose metadata.name is the placeholder @NAME@ (replaced by lg-<i>);
 * the namespace comes from the URL. Prints one line of JSON: creates answered 201, other
 * answers, transport errors, and the wall seconds from the first request to the last answer.
 *
 * --watch: a watch of every Secret is open on the same connection while the creates run (its
 * events are received and thrown away), so the server also encodes and streams each new Secret,
 * as it must for any controller that follows what it writes. The clock starts once the watch
 * has been answered.
 *
 * --drive epoll: libcurl is driven as spillwayd drives it (curl_multi_socket_action on the events of
 * an epoll set, and on libcurl's timer), not by curl_multi_perform and curl_multi_poll. Its CPU time
 * per create is what the same creates cost through libcurl alone, in the daemon's pattern: the
 * floor under spillwayd's CPU per replica written (Benchmarks/real-cpu --loadgen).
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

struct request {
    char url[512];
    char *body;
    struct curl_slist *headers;
    char answer[512]; /* the start of the response body, to explain a refusal */
    size_t answered;
};

static const char *argument(int argc, char **argv, const char *name, const char *fallback) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    if (!fallback) {
        fprintf(stderr, "loadgen: %s is required\n", name);
        exit(2);
    }
    return fallback;
}

static long number(int argc, char **argv, const char *name, const char *fallback) {
    const char *text = argument(argc, argv, name, fallback);
    char *end;
    errno = 0;
    long n = strtol(text, &end, 10);
    if (errno || *end || n < 0) {
        fprintf(stderr, "loadgen: %s must be a non-negative integer, got \"%s\"\n", name, text);
        exit(2);
    }
    return n;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "loadgen: cannot open %s: %s\n", path, strerror(errno));
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "loadgen: cannot read %s\n", path);
        exit(2);
    }
    text[size] = 0;
    fclose(f);
    return text;
}

/* The template with every @NAME@ replaced by `name`. */
static char *render(const char *template, const char *name) {
    static const char placeholder[] = "@NAME@";
    size_t count = 0, plen = strlen(placeholder), nlen = strlen(name);
    for (const char *p = template; (p = strstr(p, placeholder)); p += plen) count++;
    char *out = malloc(strlen(template) + count * nlen + 1), *o = out;
    const char *p = template, *hit;
    while ((hit = strstr(p, placeholder))) {
        memcpy(o, p, (size_t)(hit - p));
        o += hit - p;
        memcpy(o, name, nlen);
        o += nlen;
        p = hit + plen;
    }
    strcpy(o, p);
    return out;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- --drive epoll: the multi_socket API on an epoll set, as spillwayd's reactor does ---------- */

#define MAX_FD 4096

static struct {
    int epoll;                  /* -1: curl_multi_perform and curl_multi_poll */
    double deadline;            /* libcurl's timer, or 0 when it has none */
    unsigned char events[MAX_FD]; /* each socket's CURL_POLL_* as registered, so unchanged ones cost nothing */
} driver = {.epoll = -1};

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *user, void *socketp) {
    (void)easy;
    (void)user;
    (void)socketp;
    if (fd < 0 || fd >= MAX_FD) return -1;
    unsigned char want = what == CURL_POLL_REMOVE ? 0 : (unsigned char)what, had = driver.events[fd];
    if (want == had) return 0;
    struct epoll_event event = {.events = (want & CURL_POLL_IN ? EPOLLIN : 0u) | (want & CURL_POLL_OUT ? EPOLLOUT : 0u),
                                .data.fd = fd};
    /* A removed socket may be closed already: its DEL then fails, which leaves nothing behind. */
    (void)epoll_ctl(driver.epoll, !had ? EPOLL_CTL_ADD : !want ? EPOLL_CTL_DEL : EPOLL_CTL_MOD, fd, &event);
    driver.events[fd] = want;
    return 0;
}

static int on_timer(CURLM *multi, long ms, void *user) {
    (void)multi;
    (void)user;
    driver.deadline = ms < 0 ? 0 : now() + (double)ms / 1e3;
    return 0;
}

/* Lets libcurl run what is due: everything with curl_multi_perform, or its timer when expired. */
static void pump(CURLM *multi, int *running) {
    if (driver.epoll < 0) {
        curl_multi_perform(multi, running);
    } else if (driver.deadline > 0 && now() >= driver.deadline) {
        driver.deadline = 0;
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, running);
    }
}

/* Waits for the sockets: up to `ms` with curl_multi_poll, or until an event or libcurl's timer,
 * handing each event to libcurl, with epoll. */
static void await(CURLM *multi, int ms, int *running) {
    if (driver.epoll < 0) {
        curl_multi_poll(multi, NULL, 0, ms, NULL);
        return;
    }
    double wait = driver.deadline > 0 ? (driver.deadline - now()) * 1e3 : 1000;
    struct epoll_event events[16];
    int n = epoll_wait(driver.epoll, events, 16, wait <= 0 ? 0 : (int)wait + 1);
    for (int i = 0; i < n; i++) {
        int flags = (events[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) | (events[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0)
                  | (events[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(multi, events[i].data.fd, flags, running);
    }
    pump(multi, running);
}

static size_t discard(char *data, size_t size, size_t n, void *user) {
    (void)data;
    (void)user;
    return size * n;
}

static size_t keep_start(char *data, size_t size, size_t n, void *user) {
    struct request *r = user;
    size_t room = sizeof r->answer - 1 - r->answered, take = size * n < room ? size * n : room;
    memcpy(r->answer + r->answered, data, take);
    r->answered += take;
    r->answer[r->answered] = 0;
    return size * n;
}

int main(int argc, char **argv) {
    const char *url = argument(argc, argv, "--url", NULL);
    const char *cacert = argument(argc, argv, "--cacert", "");
    const char *token = argument(argc, argv, "--token", "");
    const char *prefix = argument(argc, argv, "--namespace-prefix", NULL);
    long namespaces = number(argc, argv, "--namespaces", NULL);
    long digits = number(argc, argv, "--namespace-digits", "5");
    long names = number(argc, argv, "--names", NULL);
    long inflight = number(argc, argv, "--inflight", "64");
    char *template = read_file(argument(argc, argv, "--body", NULL));
    if (inflight < 1) inflight = 1;

    char **bodies = calloc((size_t)names, sizeof(char *));
    for (long i = 0; i < names; i++) {
        char name[32];
        snprintf(name, sizeof name, "lg-%ld", i);
        bodies[i] = render(template, name);
    }
    char auth[1024];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, 100L);
    const char *drive = argument(argc, argv, "--drive", "perform");
    if (strcmp(drive, "epoll") == 0) {
        driver.epoll = epoll_create1(EPOLL_CLOEXEC);
        curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    } else if (strcmp(drive, "perform") != 0) {
        fprintf(stderr, "loadgen: --drive is perform or epoll, got \"%s\"\n", drive);
        return 2;
    }

    /* One request first, alone: once the connection is known to speak HTTP/2 the creates share
     * it without CURLOPT_PIPEWAIT, with which libcurl 7.88 starts a queued transfer only when
     * another one finishes (a stall of up to the poll timeout at low concurrency). */
    {
        char first[512];
        snprintf(first, sizeof first, "%s/api/v1/namespaces/%s%0*ld", url, prefix, (int)digits, 0L);
        struct curl_slist *headers = *token ? curl_slist_append(NULL, auth) : NULL;
        struct request sink = {0};
        CURL *easy = curl_easy_init();
        curl_easy_setopt(easy, CURLOPT_URL, first);
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        if (*cacert) curl_easy_setopt(easy, CURLOPT_CAINFO, cacert);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep_start);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, &sink);
        curl_multi_add_handle(multi, easy);
        int active = 1;
        while (active) {
            pump(multi, &active);
            if (active) await(multi, 100, &active);
        }
        long code = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        curl_multi_remove_handle(multi, easy);
        curl_easy_cleanup(easy);
        curl_slist_free_all(headers);
        if (code != 200) {
            fprintf(stderr, "loadgen: GET %s: HTTP %ld: %s\n", first, code, sink.answer);
            return 1;
        }
    }

    /* The watch, on the connection the creates use; the clock starts once it is answered. */
    CURL *watch = NULL;
    struct curl_slist *watch_headers = NULL;
    char watch_url[512];
    int watching = 0;
    for (int i = 1; i < argc; i++) watching |= strcmp(argv[i], "--watch") == 0;
    if (watching) {
        snprintf(watch_url, sizeof watch_url, "%s/api/v1/secrets?watch=true", url);
        if (*token) watch_headers = curl_slist_append(NULL, auth);
        watch = curl_easy_init();
        curl_easy_setopt(watch, CURLOPT_URL, watch_url);
        curl_easy_setopt(watch, CURLOPT_HTTPHEADER, watch_headers);
        curl_easy_setopt(watch, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        if (*cacert) curl_easy_setopt(watch, CURLOPT_CAINFO, cacert);
        curl_easy_setopt(watch, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(watch, CURLOPT_PRIVATE, NULL);
        curl_multi_add_handle(multi, watch);
        long code = 0;
        double deadline = now() + 10;
        int active = 1;
        while (code == 0 && active && now() < deadline) {
            pump(multi, &active);
            curl_easy_getinfo(watch, CURLINFO_RESPONSE_CODE, &code);
            if (code == 0) await(multi, 10, &active);
        }
        if (code != 200) {
            fprintf(stderr, "loadgen: GET %s: HTTP %ld\n", watch_url, code);
            return 1;
        }
    }

    long total = namespaces * names, next = 0, running = 0, created = 0, refused = 0, failed = 0;
    double start = now();
    int still = 0;
    for (;;) {
        while (running < inflight && next < total) {
            long ns = next / names, name = next % names;
            struct request *r = calloc(1, sizeof *r);
            snprintf(r->url, sizeof r->url, "%s/api/v1/namespaces/%s%0*ld/secrets", url, prefix, (int)digits, ns);
            r->body = bodies[name];
            r->headers = curl_slist_append(NULL, "Content-Type: application/json");
            r->headers = curl_slist_append(r->headers, "Accept: application/json");
            if (*token) r->headers = curl_slist_append(r->headers, auth);
            CURL *easy = curl_easy_init();
            curl_easy_setopt(easy, CURLOPT_URL, r->url);
            curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r->body);
            curl_easy_setopt(easy, CURLOPT_HTTPHEADER, r->headers);
            curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
            if (*cacert) curl_easy_setopt(easy, CURLOPT_CAINFO, cacert);
            curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep_start);
            curl_easy_setopt(easy, CURLOPT_WRITEDATA, r);
            curl_easy_setopt(easy, CURLOPT_PRIVATE, r);
            curl_multi_add_handle(multi, easy);
            running++;
            next++;
        }
        pump(multi, &still);
        CURLMsg *msg;
        int queued;
        while ((msg = curl_multi_info_read(multi, &queued))) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *easy = msg->easy_handle;
            if (easy == watch) {
                fprintf(stderr, "loadgen: the watch ended before the creates: %s\n", curl_easy_strerror(msg->data.result));
                curl_multi_remove_handle(multi, watch);
                curl_easy_cleanup(watch);
                watch = NULL;
                failed++;
                continue;
            }
            struct request *r;
            long code = 0;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result != CURLE_OK) {
                if (failed == 0) fprintf(stderr, "loadgen: %s: %s\n", r->url, curl_easy_strerror(msg->data.result));
                failed++;
            } else if (code == 201) {
                created++;
            } else {
                if (refused == 0) fprintf(stderr, "loadgen: %s: HTTP %ld: %s\n", r->url, code, r->answer);
                refused++;
            }
            curl_multi_remove_handle(multi, easy);
            curl_easy_cleanup(easy);
            curl_slist_free_all(r->headers);
            free(r);
            running--;
        }
        if (running == 0 && next >= total) break;
        /* Short: libcurl 7.88 can hold a request's HTTP/2 frames until the next perform without
         * asking for the socket to become writable, so a long wait here would stall it. With
         * --drive epoll the wait ends at a socket event or at libcurl's timer, as the daemon's does. */
        await(multi, 1, &still);
    }
    double seconds = now() - start;
    if (watch) {
        curl_multi_remove_handle(multi, watch);
        curl_easy_cleanup(watch);
    }
    curl_slist_free_all(watch_headers);
    printf("{\"created\":%ld,\"refused\":%ld,\"failed\":%ld,\"seconds\":%.6f,\"inflight\":%ld}\n", created, refused, failed, seconds,
           inflight);
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    return failed || refused ? 1 : 0;
}
