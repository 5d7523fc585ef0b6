/* The api node's side of split tiers: it sends an original and a variant spec to a process node
 * (POST /internal/v1/process) and gets the variant back, so CPU-heavy processing scales apart
 * from the I/O tier. Blocking: call it from the processing pool, never from an event loop. */
#ifndef KHO_PROCESS_CLIENT_H
#define KHO_PROCESS_CLIENT_H
#include <stddef.h>
#include "auth/signature.h"
#include "core/err.h"
#include "image/process.h"

/* Ask the process node at base_url to make the variant spec of in[0..len), within timeout_ms.
 * The request is signed with k. out->data is malloc'd (free with free()), at most max_out bytes.
 * Errors: what the node answered (KHO_E_INVALID, KHO_E_TOO_LARGE, KHO_E_UNSUPPORTED, KHO_E_BUSY),
 * or KHO_E_BACKEND when it cannot be reached; the cause is logged. */
enum kho_err process_client_run(const char *base_url, const struct signature_key *k,
                                const char *spec, const void *in, size_t len, size_t max_out,
                                int64_t timeout_ms, struct process_result *out);

#endif
