/* libcurl, opened at the first HTTP request (see curl_lib.h). */
#include "services/curl_lib.h"

#include <pthread.h>

#include "base/lazylib.h"
#include "base/util.h"

#ifndef INFRA_CURL_SONAME
#error "INFRA_CURL_SONAME is set by cmake/LazyLibrary.cmake"
#endif

static pthread_once_t curl_lib_once = PTHREAD_ONCE_INIT;
static curl_lib curl_lib_table;
static const curl_lib *curl_lib_loaded;
static char *curl_lib_error; /* why it could not be loaded; kept until exit */

static void curl_lib_load(void)
{
    void *handle = NULL;
    if (lazylib_open(INFRA_CURL_SONAME, &handle, &curl_lib_error) < 0)
        return;
#define CURL_LIB_RESOLVE(name)                                                                     \
    if (!(curl_lib_table.name = (__typeof__(curl_lib_table.name))lazylib_symbol(                   \
              handle, INFRA_CURL_SONAME, "curl_" #name, &curl_lib_error)))                         \
        return;
    CURL_LIB_FUNCTIONS(CURL_LIB_RESOLVE)
#undef CURL_LIB_RESOLVE
    curl_lib_loaded = &curl_lib_table;
}

const curl_lib *curl_lib_get(char **err)
{
    pthread_once(&curl_lib_once, curl_lib_load);
    if (!curl_lib_loaded)
        *err = util_strdup(curl_lib_error ? curl_lib_error : "cannot load " INFRA_CURL_SONAME);
    return curl_lib_loaded;
}
