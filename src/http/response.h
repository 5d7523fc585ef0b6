/* Writing a finished response onto the wire. The only place where an error becomes an HTTP
 * status and a JSON body (the table in response.c). */
#ifndef KHO_RESPONSE_H
#define KHO_RESPONSE_H
#include <stdbool.h>
#include <event2/buffer.h>
#include "http/request.h"

/* Reason phrase of a status code ("Not Found"). */
const char *resp_reason(int status);
/* Append the status line and headers of r's response to out; body_len is what follows
 * (Content-Length). Returns the number of header bytes written. */
size_t resp_write_head(struct req *r, struct evbuffer *out, uint64_t body_len, bool keep_alive);

#endif
