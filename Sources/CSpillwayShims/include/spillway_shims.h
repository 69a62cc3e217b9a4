#ifndef SPILLWAY_SHIMS_H
#define SPILLWAY_SHIMS_H

#include "spillway_reactor.h"
#include "spillway_curl.h"
#include "spillway_systemd.h"
#include "spillway_httpd.h"
#include "spillway_memory.h"

#endif
