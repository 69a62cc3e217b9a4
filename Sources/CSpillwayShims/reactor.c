#include "spillway_shims.h"
