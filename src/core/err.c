/* Names for the error enum, used by logs and by the HTTP layer's default error codes. */
#include "core/err.h"

static const char *const names[KHO_E__COUNT] = {
    [KHO_OK] = "ok",
    [KHO_E_NOMEM] = "out_of_memory",
    [KHO_E_INVALID] = "invalid_request",
    [KHO_E_NOTFOUND] = "not_found",
    [KHO_E_EXISTS] = "conflict",
    [KHO_E_UNAUTH] = "unauthorized",
    [KHO_E_DENIED] = "forbidden",
    [KHO_E_TOO_LARGE] = "too_large",
    [KHO_E_UNSUPPORTED] = "unsupported",
    [KHO_E_RATE] = "rate_limited",
    [KHO_E_BUSY] = "unavailable",
    [KHO_E_BACKEND] = "backend_error",
    [KHO_E_IO] = "io_error",
    [KHO_E_CORRUPT] = "corrupt",
    [KHO_E_AGAIN] = "incomplete",
};

const char *kho_err_name(enum kho_err e)
{
    if ((unsigned)e >= KHO_E__COUNT)
        return "internal_error";
    return names[e];
}
