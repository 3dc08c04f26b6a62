/* Where the provider's credentials, region and endpoints come from, as the
 * AWS CLI finds them: the shared resolution of the awsauth library
 * (aws_profile.h) asked for the plugin's four services, with the provider
 * settings. Pure resolution with the environment passed in, so that every
 * precedence rule is testable. */
#ifndef AWS_CONFIG_H
#define AWS_CONFIG_H

#include "aws.h"
#include "aws_profile.h"

/* Provider settings that matter here (borrowed, each may be NULL). */
typedef struct aws_config_settings {
    const char *region;
    const char *profile;
    const char *endpoint;                 /* one URL for every service */
    const char *endpoints[AWS_NSERVICES]; /* per service */
} aws_config_settings;

/* What was found, endpoint[] indexed by aws_service. Free with
 * aws_config_free, which zeroises the secrets. */
typedef aws_profile aws_config;

/* Resolves everything. On error returns INFRA_EAUTH (no usable
 * credentials) or INFRA_EINVALID (no region, a bad URL, a missing
 * profile), with *err (caller frees) saying what to do and *attr the
 * setting concerned ("" for none). Never puts a secret in *err. */
int aws_config_resolve(const aws_config_settings *settings, aws_getenv_fn getenv_fn, void *ud,
                       aws_config *out, char **err, const char **attr);
void aws_config_free(aws_config *c);

/* The suffix of AWS_ENDPOINT_URL_<SUFFIX> for s ("EC2", "ELASTIC_LOAD_BALANCING", ...). */
const char *aws_service_env_suffix(aws_service s);
/* The service id of config files' services sections ("ec2", "elastic_load_balancing", ...). */
const char *aws_service_config_id(aws_service s);

#endif
