/* Umbrella header for kho's core: errors, memory, buffers, logging, ids, config, metrics.
 * Include it after system headers: it ends with banned.h. */
#ifndef KHO_H
#define KHO_H

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/xmalloc.h"

#define KHO_VERSION "0.1.0"
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#include "core/banned.h"

#endif
