/* HTTP client over libcurl: the infra_http_api handed to plugins, also used
 * by core code. TLS is always verified; transient failures are retried with
 * exponential backoff, full jitter and Retry-After (docs/internals/retry.md).
 * Thread-safe: any number of threads may call http_request at once. */
#ifndef INFRA_HTTP_H
#define INFRA_HTTP_H

#include <infra/plugin.h>
#include <stdint.h>
#include <time.h>

#define HTTP_DEFAULT_TIMEOUT_MS 60000L /* whole request, per attempt */
#define HTTP_CONNECT_TIMEOUT_MS 10000L /* TCP + TLS connect, per attempt */
#define HTTP_DEFAULT_ATTEMPTS 5        /* attempts when req->max_attempts is 0 */
#define HTTP_BACKOFF_BASE_MS 200       /* backoff cap before the second attempt */
#define HTTP_BACKOFF_MAX_MS 20000      /* backoff cap never exceeds this */
#define HTTP_RETRY_AFTER_MAX_MS 120000 /* a server's Retry-After is capped here */

/* Performs one request, retrying transient failures (call may be NULL).
 * Returns 0 with *out set when an HTTP answer came, whatever its status
 * (free with http_response_free). Otherwise *out is NULL and the result is
 * INFRA_ECANCELLED when the call was cancelled, INFRA_ETRANSIENT when every
 * attempt failed in transport, INFRA_EINVALID for a malformed request or URL
 * or a TLS failure (certificate not trusted, handshake refused) and
 * INFRA_EINTERNAL for an unexpected answer; each of these except the
 * cancellation is reported through host->diag on call with the URL and the
 * reason, with req->redact and registered secrets removed. */
int http_request(infra_call *call, const infra_http_request *req, infra_http_response **out);

/* Frees a response; NULL is ignored. */
void http_response_free(infra_http_response *resp);

/* Borrowed value of the first header called name (case-insensitive), or NULL. */
const char *http_header(const infra_http_response *resp, const char *name);

/* The table handed to plugins (static storage). */
const infra_http_api *http_api(void);

/* Frees pooled connections. Optional; requests made afterwards still work. */
void http_shutdown(void);

/* Retry policy pieces, exposed so that they can be tested on their own. */

/* Upper bound of the random backoff before attempt number attempt + 1:
 * 200 ms doubling per attempt, at most 20 s. */
int64_t http_backoff_cap_ms(int attempt);

/* A Retry-After value (delta seconds or an HTTP date, compared with now) in
 * milliseconds, capped at 120 s; -1 when value is NULL or unreadable. */
int64_t http_retry_after_ms(const char *value, time_t now);

/* 1 when an answer with this status is worth another attempt for method. */
int http_status_retryable(long status, const char *method, int retry_non_idempotent);

#endif
