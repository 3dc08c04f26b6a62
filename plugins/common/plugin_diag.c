/* Diagnostics and log lines formatted like printf, through the host. */
#include "plugin_util.h"

#include <stdlib.h>

static void diag_v(infra_call *call, int severity, const char *attr, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void diag_v(infra_call *call, int severity, const char *attr, const char *fmt, va_list ap)
{
    char *msg = pu_vprintf(fmt, ap);
    pu_host->diag(call, severity, attr ? attr : "", msg);
    free(msg);
}

void pu_diagf(infra_call *call, const char *attr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_v(call, INFRA_DIAG_ERROR, attr, fmt, ap);
    va_end(ap);
}

void pu_warnf(infra_call *call, const char *attr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_v(call, INFRA_DIAG_WARNING, attr, fmt, ap);
    va_end(ap);
}

void pu_logf(infra_call *call, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = pu_vprintf(fmt, ap);
    va_end(ap);
    pu_host->log(call, level, msg);
    free(msg);
}
