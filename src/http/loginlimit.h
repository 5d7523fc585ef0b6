/* Failed-login limits per account and per client address: shared by every node through Redis
 * when one is configured, else (and whenever Redis cannot be reached) in this process. */
#ifndef KHO_LOGINLIMIT_H
#define KHO_LOGINLIMIT_H
#include <stdint.h>
#include "http/app.h"
#include "core/err.h"

/* Both limiters keep the same fixed windows (--login-fail-window) and limits
 * (--login-fail-limit per account, --login-ip-fail-limit per address). Failures are always
 * counted in the process too, so when Redis goes away the limits this node saw still hold.
 * With Redis these calls block for up to a command timeout: call them off the event loop. */

/* KHO_OK when account (a NUL-terminated key naming the user) and peer (the client address) may
 * try to log in at now_ms, else KHO_E_RATE with *retry_after_s set to the whole seconds, at
 * least 1, until they may. A refusal counts M_RATE_LIMITED. */
enum kho_err loginlimit_check(struct app *app, const char *account, const char *peer,
                              int64_t now_ms, int64_t *retry_after_s);
/* Record one failed login of account from peer at now_ms. */
void loginlimit_fail(struct app *app, const char *account, const char *peer, int64_t now_ms);
/* Forget account's failures (after it logged in). */
void loginlimit_reset(struct app *app, const char *account);

#endif
