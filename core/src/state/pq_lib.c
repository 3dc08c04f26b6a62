/* libpq, opened when a postgres backend is first made (see pq_lib.h). */
#include "state/pq_lib.h"

#include <pthread.h>

#include "base/lazylib.h"
#include "base/util.h"

#ifndef INFRA_PQ_SONAME
#error "INFRA_PQ_SONAME is set by cmake/LazyLibrary.cmake"
#endif

static pthread_once_t pq_lib_once = PTHREAD_ONCE_INIT;
static pq_lib pq_lib_table;
static const pq_lib *pq_lib_loaded;
static char *pq_lib_error; /* why it could not be loaded; kept until exit */

static void pq_lib_load(void)
{
    void *handle = NULL;
    if (lazylib_open(INFRA_PQ_SONAME, &handle, &pq_lib_error) < 0)
        return;
#define PQ_LIB_RESOLVE(name)                                                                       \
    if (!(pq_lib_table.name = (__typeof__(pq_lib_table.name))lazylib_symbol(                       \
              handle, INFRA_PQ_SONAME, "PQ" #name, &pq_lib_error)))                                \
        return;
    PQ_LIB_FUNCTIONS(PQ_LIB_RESOLVE)
#undef PQ_LIB_RESOLVE
    pq_lib_loaded = &pq_lib_table;
}

const pq_lib *pq_lib_get(char **err)
{
    pthread_once(&pq_lib_once, pq_lib_load);
    if (!pq_lib_loaded)
        *err = util_strdup(pq_lib_error ? pq_lib_error : "cannot load " INFRA_PQ_SONAME);
    return pq_lib_loaded;
}
