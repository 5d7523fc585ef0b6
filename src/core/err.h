/* The one error enum every fallible function in kho returns. Only the HTTP response layer
 * (src/http/response.c) turns one into a status code and a JSON body. */
#ifndef KHO_ERR_H
#define KHO_ERR_H

enum kho_err {
    KHO_OK = 0,
    KHO_E_NOMEM,       /* an allocation failed where failure is survivable */
    KHO_E_INVALID,     /* malformed input from a client or a caller */
    KHO_E_NOTFOUND,    /* no such thing, or the caller may not see it */
    KHO_E_EXISTS,      /* a unique name or key is taken */
    KHO_E_UNAUTH,      /* no valid credentials */
    KHO_E_DENIED,      /* valid credentials, action not allowed (also failed CSRF) */
    KHO_E_TOO_LARGE,   /* a size limit was exceeded */
    KHO_E_UNSUPPORTED, /* a format, media type or method we do not handle */
    KHO_E_RATE,        /* too many attempts; retry later */
    KHO_E_BUSY,        /* a bounded queue or budget is full; retry later */
    KHO_E_BACKEND,     /* a storage or database engine failed */
    KHO_E_IO,          /* a system call on a file failed */
    KHO_E_CORRUPT,     /* stored bytes fail their checksum or structure */
    KHO_E_AGAIN,       /* incomplete input: feed more bytes (parsers) */
    KHO_E__COUNT
};

/* Stable snake_case name of an error, e.g. "not_found". Never NULL. */
const char *kho_err_name(enum kho_err e);

#endif
