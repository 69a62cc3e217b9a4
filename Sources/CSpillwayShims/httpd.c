#include "spillway_httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct spw_httpd {
    struct MHD_Daemon *daemon;
    spw_httpd_handler handler;
    void *context;
    uint16_t port;
    int epoll_fd;
};

struct spw_httpd_request {
    struct MHD_Connection *connection;
    int answered;
    int queued;
};

int spw_httpd_respond(spw_httpd_request *request, unsigned int status, const char *content_type,
                      const void *body, size_t length) {
    if (request->answered) return -1;
    request->answered = 1;
    struct MHD_Response *response =
        MHD_create_response_from_buffer(length, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (response == NULL) return -1;
    if (content_type != NULL) MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    request->queued = MHD_queue_response(request->connection, status, response) == MHD_YES;
    MHD_destroy_response(response);
    return request->queued ? 0 : -1;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *connection, const char *url,
                                      const char *method, const char *version, const char *upload_data,
                                      size_t *upload_data_size, void **request_state) {
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)request_state;
    spw_httpd *server = cls;
    /* Every route is a GET answered from the headers alone, so the first call answers; MHD
     * then discards any request body. */
    spw_httpd_request request = {connection, 0, 0};
    server->handler(server->context, &request, method, url);
    if (!request.answered) {
        static const char body[] = "internal error: no response\n";
        spw_httpd_respond(&request, 500, "text/plain; charset=utf-8", body, sizeof body - 1);
    }
    return request.queued ? MHD_YES : MHD_NO;
}

static int listen_socket(const char *host, uint16_t port, char *error, size_t error_size) {
    int family = AF_INET6;
    struct sockaddr_storage address;
    memset(&address, 0, sizeof address);
    socklen_t length;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&address;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&address;

    if (host[0] == '\0') {
        /* Every interface: dual-stack [::] where IPv6 exists, else 0.0.0.0. */
        int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0) family = AF_INET;
        else close(probe);
    } else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        family = AF_INET;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) != 1) {
        snprintf(error, error_size, "%s is not a numeric IP address", host);
        return -1;
    }
    if (family == AF_INET) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        if (host[0] == '\0') v4->sin_addr.s_addr = htonl(INADDR_ANY);
        length = sizeof *v4;
    } else {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        if (host[0] == '\0') v6->sin6_addr = in6addr_any;
        length = sizeof *v6;
    }

    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(error, error_size, "socket: %s", strerror(errno));
        return -1;
    }
    int on = 1, off = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (family == AF_INET6 && host[0] == '\0') setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    if (bind(fd, (struct sockaddr *)&address, length) != 0 || listen(fd, 64) != 0) {
        snprintf(error, error_size, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static uint16_t bound_port(int fd) {
    struct sockaddr_storage address;
    socklen_t length = sizeof address;
    if (getsockname(fd, (struct sockaddr *)&address, &length) != 0) return 0;
    if (address.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&address)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&address)->sin6_port);
}

spw_httpd *spw_httpd_start(const char *host, uint16_t port, spw_httpd_handler handler, void *context,
                           char *error, size_t error_size) {
    int fd = listen_socket(host, port, error, error_size);
    if (fd < 0) return NULL;
    spw_httpd *server = calloc(1, sizeof *server);
    if (server == NULL) {
        snprintf(error, error_size, "out of memory");
        close(fd);
        return NULL;
    }
    server->handler = handler;
    server->context = context;
    server->port = bound_port(fd);
    /* No MHD thread: MHD_USE_EPOLL without an internal-thread flag is "external epoll". */
    server->daemon = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, access_handler, server,
                                      MHD_OPTION_LISTEN_SOCKET, fd,
                                      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
                                      MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
                                      MHD_OPTION_END);
    if (server->daemon == NULL) {
        snprintf(error, error_size, "libmicrohttpd could not start");
        close(fd);
        free(server);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    server->epoll_fd = info != NULL ? info->epoll_fd : -1;
    if (server->epoll_fd < 0) {
        snprintf(error, error_size, "libmicrohttpd has no epoll fd");
        spw_httpd_stop(server);
        return NULL;
    }
    return server;
}

uint16_t spw_httpd_port(const spw_httpd *server) { return server->port; }

int spw_httpd_epoll_fd(const spw_httpd *server) { return server->epoll_fd; }

int spw_httpd_run(spw_httpd *server) { return MHD_run(server->daemon) == MHD_YES ? 0 : -1; }

int64_t spw_httpd_timeout_ms(spw_httpd *server) {
    MHD_UNSIGNED_LONG_LONG timeout;
    if (MHD_get_timeout(server->daemon, &timeout) != MHD_YES) return -1;
    return timeout > INT64_MAX ? INT64_MAX : (int64_t)timeout;
}

void spw_httpd_stop(spw_httpd *server) {
    /* MHD_stop_daemon closes the listen socket it was given. */
    MHD_stop_daemon(server->daemon);
    free(server);
}
