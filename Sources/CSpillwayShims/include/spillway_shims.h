#ifndef SPILLWAY_SHIMS_H
#define SPILLWAY_SHIMS_H
#endif
