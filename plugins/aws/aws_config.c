/* The provider's credentials, region and endpoints: the awsauth library's
 * resolution (lib/awsauth/aws_profile.c, shared with the S3 state backend)
 * asked for EC2, Classic ELB, Auto Scaling and Route 53, with the
 * provider's settings named "provider setting ...". */
#include "aws_config.h"

#include <string.h>

static const aws_service_info services[AWS_NSERVICES] = {
    [AWS_EC2] = {"EC2", "ec2", "ec2", "ec2", NULL},
    [AWS_ELB] = {"ELASTIC_LOAD_BALANCING", "elastic_load_balancing", "elb",
                 "elasticloadbalancing", NULL},
    [AWS_ASG] = {"AUTO_SCALING", "auto_scaling", "autoscaling", "autoscaling", NULL},
    [AWS_R53] = {"ROUTE_53", "route_53", "route53", "route53", "https://route53.amazonaws.com"},
};

_Static_assert(AWS_NSERVICES <= AWS_PROFILE_MAX_SERVICES, "too many services for aws_profile");

const char *aws_service_env_suffix(aws_service s)
{
    return s < AWS_NSERVICES ? services[s].env_suffix : "";
}

const char *aws_service_config_id(aws_service s)
{
    return s < AWS_NSERVICES ? services[s].config_id : "";
}

int aws_config_resolve(const aws_config_settings *settings, aws_getenv_fn getenv_fn, void *ud,
                       aws_config *out, char **err, const char **attr)
{
    aws_profile_settings s = {.services = services,
                              .nservices = AWS_NSERVICES,
                              .setting_prefix = "provider setting"};
    if (settings != NULL) {
        s.region = settings->region;
        s.profile = settings->profile;
        s.endpoint = settings->endpoint;
        for (int i = 0; i < AWS_NSERVICES; i++)
            s.endpoints[i] = settings->endpoints[i];
    }
    return aws_profile_resolve(&s, getenv_fn, ud, out, err, attr);
}

void aws_config_free(aws_config *c)
{
    aws_profile_free(c);
}
