/* The forms of a load balancer's configuration: listeners (from listen +
 * backend_port or from listeners) and the health check target. Pure: no
 * calls, so that validate() and the unit tests use them as apply does. */
#include "aws_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *aws_health_target(const char *health)
{
    const char *rest = NULL;
    const char *proto = NULL;
    if (health == NULL)
        return NULL;
    if (strncasecmp(health, "http:", 5) == 0) {
        proto = "HTTP";
        rest = health + 5;
    } else if (strncasecmp(health, "https:", 6) == 0) {
        proto = "HTTPS";
        rest = health + 6;
    } else if (strncasecmp(health, "tcp:", 4) == 0) {
        proto = "TCP";
        rest = health + 4;
    } else if (strncasecmp(health, "ssl:", 4) == 0) {
        proto = "SSL";
        rest = health + 4;
    } else {
        return NULL;
    }
    char *end = NULL;
    long port = strtol(rest, &end, 10);
    if (end == rest || port < 1 || port > 65535)
        return NULL;
    int http = proto[0] == 'H';
    if (http && *end == '\0')
        return pu_printf("%s:%ld/", proto, port);
    if (http && *end != '/')
        return NULL;
    if (!http && *end != '\0')
        return NULL;
    return pu_printf("%s:%ld%s", proto, port, end);
}

int aws_listener_protocol(const char *s, char out[8])
{
    const char *names[] = {"HTTP", "HTTPS", "TCP", "SSL"};
    for (int i = 0; i < 4; i++)
        if (s != NULL && strcasecmp(s, names[i]) == 0) {
            snprintf(out, 8, "%s", names[i]);
            return 1;
        }
    return 0;
}

int aws_listener_cmp(const void *x, const void *y)
{
    const aws_listener *a = x, *b = y;
    return a->port < b->port ? -1 : a->port > b->port;
}

int aws_listeners_parse(infra_call *call, const infra_json *config, aws_listener **out, size_t *n)
{
    const infra_json *listen = AJ->get(config, "listen");
    const infra_json *listeners = AJ->get(config, "listeners");
    aws_listener *v = NULL;
    size_t count = 0;
    long backend = 0;
    int error = 0;

    *out = NULL;
    *n = 0;
    if (AJ->get(config, "backend_port") != NULL &&
        pu_json_to_int(AJ->get(config, "backend_port"), &backend) < 0) {
        pu_diagf(call, "backend_port", "backend_port must be a port number");
        return INFRA_EINVALID;
    }
    if ((listen == NULL) == (listeners == NULL)) {
        pu_diagf(call, "listen",
                 "a load balancer needs listen: [PORT...] or listeners: "
                 "[{port, protocol, instance_port}] (one of them)");
        return INFRA_EINVALID;
    }
    const infra_json *list = listen ? listen : listeners;
    if (AJ->type(list) != INFRA_JSON_ARRAY || AJ->length(list) == 0) {
        pu_diagf(call, listen ? "listen" : "listeners", "%s needs at least one listener",
                 listen ? "listen" : "listeners");
        return INFRA_EINVALID;
    }
    for (size_t i = 0; i < AJ->length(list); i++) {
        const infra_json *e = AJ->at(list, i);
        char attr[48];
        aws_listener l;
        memset(&l, 0, sizeof(l));
        snprintf(attr, sizeof(attr), "%s[%zu]", listen ? "listen" : "listeners", i);
        if (listen != NULL) {
            if (pu_json_to_int(e, &l.port) < 0 || l.port < 1 || l.port > 65535) {
                pu_diagf(call, attr, "a port must be a number from 1 to 65535");
                error = INFRA_EINVALID;
                continue;
            }
            /* Port 80 speaks HTTP (forwarded headers); anything else is passed through. */
            snprintf(l.protocol, sizeof(l.protocol), "%s", l.port == 80 ? "HTTP" : "TCP");
            snprintf(l.instance_protocol, sizeof(l.instance_protocol), "%s", l.protocol);
            l.instance_port = backend > 0 ? backend : l.port;
        } else {
            static const char *const keys[] = {"port", "protocol", "instance_port",
                                               "instance_protocol", NULL};
            if (pu_check_keys(call, "aws", attr, e, keys) < 0) {
                error = INFRA_EINVALID;
                continue;
            }
            const char *proto = pu_json_str(e, "protocol");
            const char *iproto = pu_json_str(e, "instance_protocol");
            if (AJ->type(e) != INFRA_JSON_OBJECT ||
                pu_json_to_int(AJ->get(e, "port"), &l.port) < 0 || l.port < 1 || l.port > 65535) {
                pu_diagf(call, attr,
                         "a listener is {port, protocol, instance_port, "
                         "instance_protocol}");
                error = INFRA_EINVALID;
                continue;
            }
            if (!aws_listener_protocol(proto ? proto : "TCP", l.protocol) ||
                !aws_listener_protocol(iproto ? iproto : l.protocol, l.instance_protocol)) {
                pu_diagf(call, attr, "protocol must be HTTP, HTTPS, TCP or SSL");
                error = INFRA_EINVALID;
                continue;
            }
            if (AJ->get(e, "instance_port") == NULL)
                l.instance_port = backend > 0 ? backend : l.port;
            else if (pu_json_to_int(AJ->get(e, "instance_port"), &l.instance_port) < 0 ||
                     l.instance_port < 1 || l.instance_port > 65535) {
                pu_diagf(call, attr, "instance_port must be a port number");
                error = INFRA_EINVALID;
                continue;
            }
        }
        aws_listener *grown = pu_realloc(v, (count + 1) * sizeof(*v));
        v = grown;
        v[count++] = l;
    }
    if (error < 0) {
        free(v);
        return error;
    }
    qsort(v, count, sizeof(*v), aws_listener_cmp);
    for (size_t i = 1; i < count; i++)
        if (v[i].port == v[i - 1].port) {
            pu_diagf(call, listen ? "listen" : "listeners", "port %ld is listed twice", v[i].port);
            free(v);
            return INFRA_EINVALID;
        }
    *out = v;
    *n = count;
    return 0;
}

void aws_listeners_encode(aws_params *q, const aws_listener *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char num[24];
        aws_params_addk(q, v[i].protocol, "Listeners.member.%zu.Protocol", i + 1);
        snprintf(num, sizeof(num), "%ld", v[i].port);
        aws_params_addk(q, num, "Listeners.member.%zu.LoadBalancerPort", i + 1);
        aws_params_addk(q, v[i].instance_protocol, "Listeners.member.%zu.InstanceProtocol", i + 1);
        snprintf(num, sizeof(num), "%ld", v[i].instance_port);
        aws_params_addk(q, num, "Listeners.member.%zu.InstancePort", i + 1);
    }
}

int aws_listener_same(const aws_listener *x, const aws_listener *y)
{
    return x->port == y->port && x->instance_port == y->instance_port &&
           strcmp(x->protocol, y->protocol) == 0 &&
           strcmp(x->instance_protocol, y->instance_protocol) == 0;
}

void aws_health_numbers(const infra_json *cfg, long *interval, long *timeout, long *healthy,
                        long *unhealthy)
{
    *interval = 10;
    *timeout = 5;
    *healthy = 2;
    *unhealthy = 2;
    pu_json_to_int(AJ->get(cfg, "health_interval"), interval);
    pu_json_to_int(AJ->get(cfg, "health_timeout"), timeout);
    pu_json_to_int(AJ->get(cfg, "healthy_threshold"), healthy);
    pu_json_to_int(AJ->get(cfg, "unhealthy_threshold"), unhealthy);
    if (*timeout >= *interval)
        *timeout = *interval > 2 ? *interval - 1 : 1;
}

char *aws_health_wanted(const infra_json *cfg, const aws_listener *l, size_t n)
{
    const char *h = pu_json_str(cfg, "health");
    if (h != NULL)
        return aws_health_target(h);
    return pu_printf("TCP:%ld", n > 0 ? l[0].instance_port : 80);
}

int aws_lb_draining(infra_call *call, const infra_json *config, aws_draining *out)
{
    static const char *const keys[] = {"enabled", "timeout", NULL};
    const infra_json *v = AJ->get(config, "connection_draining");
    memset(out, 0, sizeof(*out));
    out->timeout = 300; /* ELB's own default */
    if (v == NULL)
        return 0;
    if (AJ->type(v) != INFRA_JSON_OBJECT) {
        pu_diagf(call, "connection_draining",
                 "connection_draining is {enabled: true|false, timeout: SECONDS}");
        return INFRA_EINVALID;
    }
    if (pu_check_keys(call, "aws", "connection_draining", v, keys) < 0)
        return INFRA_EINVALID;
    out->present = 1;
    out->enabled = 1;
    const infra_json *on = AJ->get(v, "enabled"), *t = AJ->get(v, "timeout");
    if (on != NULL && pu_json_to_bool(on, &out->enabled) < 0) {
        pu_diagf(call, "connection_draining.enabled", "enabled must be true or false");
        return INFRA_EINVALID;
    }
    if (t != NULL &&
        (pu_json_to_int(t, &out->timeout) < 0 || out->timeout < 1 || out->timeout > 3600)) {
        pu_diagf(call, "connection_draining.timeout",
                 "timeout must be a number of seconds from 1 to 3600");
        return INFRA_EINVALID;
    }
    return 0;
}
