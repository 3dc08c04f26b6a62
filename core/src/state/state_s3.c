#include "state/state_backend.h"
#include "infra/plugin.h"
#include "base/util.h"
int state_s3_open(const state_settings *s, state_backend **out, char **err)
{
    *out = NULL;
    *err = util_strdup("s3 backend: not built yet");
    return INFRA_ENOTSUP;
}
