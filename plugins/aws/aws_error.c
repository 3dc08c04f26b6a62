/* What an AWS error answer means: its INFRA_E* category and whether the
 * call is worth another try. The throttling codes are those botocore's
 * retry handlers treat as throttling; the rest follows the families of
 * codes the services use (X.NotFound, InvalidParameter*, X.Duplicate). */
#include "aws_api.h"

#include <string.h>

static const char *const throttling[] = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
};

static const char *const auth[] = {
    "AuthFailure",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "MissingAuthenticationToken",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "UnauthorizedOperation",
    "AccessDenied",
    "AccessDeniedException",
    "OptInRequired",
    "Blocked",
    "InvalidToken",
    "MissingAuthenticationTokenException",
};

/* Temporary states of a dependency: worth waiting for on a delete. */
static const char *const dependency[] = {
    "DependencyViolation",    "ResourceInUse",
    "InvalidIPAddress.InUse", "ScalingActivityInProgress",
    "ResourceContention",     "InvalidNetworkInterface.InUse",
    "IncorrectState",         "InvalidState",
};

static int in(const char *code, const char *const *list, size_t n)
{
    for (size_t i = 0; code != NULL && i < n; i++)
        if (strcmp(code, list[i]) == 0)
            return 1;
    return 0;
}

#define IN(code, list) in(code, list, sizeof(list) / sizeof(list[0]))

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int aws_error_is_throttling(const char *code)
{
    return IN(code, throttling);
}

int aws_code_matches(const char *code, const char *patterns)
{
    if (code == NULL || patterns == NULL)
        return 0;
    const char *s = patterns;
    while (*s) {
        while (*s == ' ')
            s++;
        const char *end = strchr(s, ' ');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (len == 0)
            break;
        char pat[128];
        if (len < sizeof(pat)) {
            memcpy(pat, s, len);
            pat[len] = '\0';
            if (pat[0] == '*' && ends_with(code, pat + 1))
                return 1;
            if (len > 1 && pat[len - 1] == '*') {
                pat[len - 1] = '\0';
                if (starts_with(code, pat))
                    return 1;
            } else if (strcmp(code, pat) == 0) {
                return 1;
            }
        }
        s += len;
    }
    return 0;
}

static int is_not_found(const char *code)
{
    return ends_with(code, ".NotFound") || ends_with(code, "NotFound") ||
           ends_with(code, "NotFoundException") || ends_with(code, ".Unavailable") ||
           starts_with(code, "NoSuch");
}

int aws_error_category(const char *code, long status)
{
    if (code == NULL || *code == '\0') {
        if (status == 401 || status == 403)
            return INFRA_EAUTH;
        if (status == 404)
            return INFRA_ENOTFOUND;
        if (status == 429 || status >= 500)
            return INFRA_ETRANSIENT;
        return status >= 400 ? INFRA_EINVALID : INFRA_EINTERNAL;
    }
    if (IN(code, auth))
        return INFRA_EAUTH;
    if (IN(code, throttling))
        return INFRA_ETRANSIENT;
    if (strcmp(code, "InsufficientInstanceCapacity") == 0 ||
        strcmp(code, "InsufficientCapacity") == 0 || strcmp(code, "ServiceUnavailable") == 0 ||
        strcmp(code, "Unavailable") == 0 || strcmp(code, "InternalError") == 0 ||
        strcmp(code, "InternalFailure") == 0 || strcmp(code, "ServiceFailure") == 0 ||
        strcmp(code, "InternalServiceError") == 0 || strcmp(code, "ServerInternal") == 0)
        return INFRA_ETRANSIENT;
    if (is_not_found(code))
        return INFRA_ENOTFOUND;
    if (ends_with(code, ".Duplicate") || strcmp(code, "IdempotentParameterMismatch") == 0 ||
        strstr(code, "AlreadyExists") != NULL || strstr(code, "Duplicate") != NULL ||
        ends_with(code, ".AlreadyAssociated") || ends_with(code, ".InUse") ||
        IN(code, dependency) || strcmp(code, "IncorrectInstanceState") == 0 ||
        strcmp(code, "RouteAlreadyExists") == 0 || strcmp(code, "Gateway.NotAttached") == 0 ||
        strcmp(code, "Resource.AlreadyAssociated") == 0)
        return INFRA_ECONFLICT;
    if (starts_with(code, "InvalidParameter") || starts_with(code, "Missing") ||
        starts_with(code, "Invalid") || strcmp(code, "ValidationError") == 0 ||
        strcmp(code, "UnknownParameter") == 0 || ends_with(code, ".Malformed") ||
        strcmp(code, "InvalidInput") == 0 || strcmp(code, "InvalidChangeBatch") == 0 ||
        strstr(code, "LimitExceeded") != NULL || strcmp(code, "Unsupported") == 0 ||
        strcmp(code, "UnsupportedOperation") == 0 || strcmp(code, "OperationNotPermitted") == 0 ||
        strcmp(code, "InvalidConfigurationRequest") == 0)
        return INFRA_EINVALID;
    if (status == 429 || status >= 500)
        return INFRA_ETRANSIENT;
    return status >= 400 ? INFRA_EINVALID : INFRA_EINTERNAL;
}

aws_retry_kind aws_error_retry(const char *code, long status, unsigned flags)
{
    if (aws_error_is_throttling(code))
        return AWS_RETRY_BACKOFF;
    /* 503 and 429 say the request was not carried out; a 500 may have been,
     * so only a request that is harmless to repeat is repeated. */
    if (status == 503 || status == 429)
        return AWS_RETRY_BACKOFF;
    if (status >= 500 && (flags & AWS_SAFE))
        return AWS_RETRY_BACKOFF;
    if (code != NULL && (flags & AWS_FRESH) && is_not_found(code) && starts_with(code, "Invalid"))
        return AWS_RETRY_FRESH;
    if (code != NULL && (flags & AWS_DEPENDENT) && IN(code, dependency))
        return AWS_RETRY_DEPENDENCY;
    return AWS_RETRY_NONE;
}

int64_t aws_backoff_cap_ms(const aws_retry_policy *policy, int attempt)
{
    int64_t cap = policy->base_ms;
    for (int i = 1; i < attempt && cap < policy->cap_ms; i++)
        cap *= 2;
    return cap > policy->cap_ms ? policy->cap_ms : cap;
}

void aws_retry_policy_default(aws_retry_policy *policy)
{
    policy->max_attempts = 8;
    policy->budget_ms = 120000;
    policy->base_ms = 500;
    policy->cap_ms = 20000;
    policy->fresh_ms = 60000;
    policy->dependency_ms = 300000;
}
