/* libpq, opened when a postgres state backend is first made (base/lazylib.h
 * says why).
 *
 * Each member is the libpq function of the same name without its "PQ"
 * prefix, with the type the header declares: pq->exec() is PQexec(). Only
 * the postgres backend (state_pg*.c) uses it. */
#ifndef INFRA_PQ_LIB_H
#define INFRA_PQ_LIB_H

#include <libpq-fe.h>

/* The functions infra calls, without the "PQ" prefix. */
#define PQ_LIB_FUNCTIONS(X)                                                                        \
    X(clear)                                                                                       \
    X(connectdbParams)                                                                             \
    X(conninfoFree)                                                                                \
    X(conninfoParse)                                                                               \
    X(enterPipelineMode)                                                                           \
    X(errorMessage)                                                                                \
    X(escapeIdentifier)                                                                            \
    X(exec)                                                                                        \
    X(execParams)                                                                                  \
    X(exitPipelineMode)                                                                            \
    X(finish)                                                                                      \
    X(freemem)                                                                                     \
    X(getResult)                                                                                   \
    X(getisnull)                                                                                   \
    X(getlength)                                                                                   \
    X(getvalue)                                                                                    \
    X(ntuples)                                                                                     \
    X(pipelineSync)                                                                                \
    X(resultErrorField)                                                                            \
    X(resultStatus)                                                                                \
    X(sendQueryParams)                                                                             \
    X(setNoticeProcessor)                                                                          \
    X(status)

typedef struct pq_lib {
#define PQ_LIB_MEMBER(name) __typeof__(PQ##name) *name;
    PQ_LIB_FUNCTIONS(PQ_LIB_MEMBER)
#undef PQ_LIB_MEMBER
} pq_lib;

/* libpq's functions, loaded by the first call of the process (any
 * thread); the table is borrowed and lives until exit. NULL with *err
 * (caller frees) when the library or one of its functions is missing;
 * every later call gives the same answer. */
const pq_lib *pq_lib_get(char **err);

#endif
