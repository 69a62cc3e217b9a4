#include "spillway_systemd.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

int spw_sd_notify(const char *state) {
    return sd_notify(0, state);
}

int spw_sd_journal_sendv(const char *const *fields, const size_t *lengths, int count) {
    if (count <= 0 || !fields || !lengths) return -EINVAL;
    struct iovec *iov = calloc((size_t)count, sizeof *iov);
    if (!iov) return -ENOMEM;
    for (int i = 0; i < count; i++) {
        iov[i].iov_base = (void *)fields[i];
        iov[i].iov_len = lengths[i];
    }
    int rc = sd_journal_sendv(iov, count);
    free(iov);
    return rc;
}
