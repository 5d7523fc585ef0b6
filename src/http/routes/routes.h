/* Helpers that several route files share. */
#ifndef KHO_ROUTES_H
#define KHO_ROUTES_H
#include <stddef.h>
#include "http/request.h"

struct credentials {
    const char *username, *password;
    size_t username_len, password_len;
};

/* Read {"username","password"} strings from the JSON body (registration and login) into *out,
 * allocated in the request's arena like the strings. Errors: empty_body, invalid_json,
 * invalid_request, invalid_username, invalid_password (400). */
enum kho_err users_read_credentials(struct req *r, struct credentials **out);

#endif
