/* libcurl, opened at the first HTTP request (base/lazylib.h says why).
 *
 * Each member is the libcurl function of the same name without its
 * "curl_" prefix, with the type the header declares: curl->easy_init()
 * is curl_easy_init(). Only services/http.c uses it. */
#ifndef INFRA_CURL_LIB_H
#define INFRA_CURL_LIB_H

#include <curl/curl.h>

/* The functions infra calls, without the "curl_" prefix. */
#define CURL_LIB_FUNCTIONS(X)                                                                      \
    X(global_init)                                                                                 \
    X(easy_init)                                                                                   \
    X(easy_reset)                                                                                  \
    X(easy_cleanup)                                                                                \
    X(easy_setopt)                                                                                 \
    X(easy_getinfo)                                                                                \
    X(easy_perform)                                                                                \
    X(easy_strerror)                                                                               \
    X(easy_escape)                                                                                 \
    X(free)                                                                                        \
    X(getdate)                                                                                     \
    X(slist_append)                                                                                \
    X(slist_free_all)                                                                              \
    X(url)                                                                                         \
    X(url_set)                                                                                     \
    X(url_get)                                                                                     \
    X(url_cleanup)                                                                                 \
    X(url_strerror)

typedef struct curl_lib {
#define CURL_LIB_MEMBER(name) __typeof__(curl_##name) *name;
    CURL_LIB_FUNCTIONS(CURL_LIB_MEMBER)
#undef CURL_LIB_MEMBER
} curl_lib;

/* libcurl's functions, loaded by the first call of the process (any
 * thread); the table is borrowed and lives until exit. NULL with *err
 * (caller frees) when the library or one of its functions is missing;
 * every later call gives the same answer. */
const curl_lib *curl_lib_get(char **err);

#endif
