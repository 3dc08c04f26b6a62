/* The aws provider's read_many slot against the AWS emulator (which checks
 * every request against botocore's models): for every resource type, one
 * batch costs the calls the API needs for all of them (counted by the
 * emulator), answers for each resource exactly what read() answers, and
 * sees each kind of change made behind infra's back. Past 200 instances
 * the batch pages through the topology's tags, and asks by id only about
 * an instance those tags miss.
 *
 * Exit 77 (skipped) when the emulator cannot run here (no python3,
 * botocore, yaml or jsonschema; scripts/deps.sh installs them). */
#define _GNU_SOURCE
#include "aws_test.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AWS_EMULATOR
#define AWS_EMULATOR "tests/emulators/aws/emulator.py"
#endif

#define AKID "AKIAINFRATEST0000001"
#define SECRET "emulatorSecretKey0000000000000000000000"
#define IMAGE "ami-0a1b2c3d4e5f60002"
#define ZONE_ID "Z0123456789ABC"
#define PUBLIC_KEY                                                                                 \
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHg0D5V1Yj7K6ko0OCsdG3Wkq7ruLZnZ1KLUyoL8hU6x test"

static pid_t emulator;
static char dir[] = "/tmp/infra-readmany.XXXXXX";
static char endpoint[64];
static const infra_provider_ops *ops;
static infra_provider *prov;

#define J (pu_host->json)

/* ------------------------------------------------------------------ */
/* The emulator                                                       */

static size_t collect(char *data, size_t size, size_t n, void *ud)
{
    pu_buf_put(ud, data, size * n);
    return size * n;
}

/* GET or POST path of the control API; the body answered (caller frees). */
static char *control(const char *method, const char *path, const char *body)
{
    char url[128];
    pu_buf out = {0};
    snprintf(url, sizeof(url), "%s%s", endpoint, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    return pu_buf_take(&out);
}

/* Requests the emulator has answered: of one action, or (action NULL) all. */
static long calls(const char *service, const char *action)
{
    char *text = control("GET", "/_emulator/calls", NULL);
    infra_json *all = J->parse(text, strlen(text));
    long n = 0;
    void *it = NULL, *it2 = NULL;
    const char *svc, *name;
    const infra_json *per, *count;
    while (J->next(all, &it, &svc, &per)) {
        it2 = NULL;
        while (J->next(per, &it2, &name, &count))
            if ((service == NULL || strcmp(service, svc) == 0) &&
                (action == NULL || strcmp(action, name) == 0))
                n += (long)J->integer(count);
    }
    J->release(all);
    free(text);
    return n;
}

static int emulator_start(void)
{
    char seed[128], port_file[128], log[128];
    int rc;
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(seed, sizeof(seed), "%s/seed.json", dir);
    snprintf(port_file, sizeof(port_file), "%s/port", dir);
    snprintf(log, sizeof(log), "%s/emulator.log", dir);
    FILE *f = fopen(seed, "w");
    fputs("{\"account_id\": \"123456789012\",\n"
          " \"availability_zones\": {\"us-east-1\": [\"us-east-1a\", \"us-east-1b\"]},\n"
          " \"images\": [{\"ImageId\": \"" IMAGE "\", \"Name\": \"nomad-host-2026-11-01\",\n"
          "   \"CreationDate\": \"2026-11-01T10:00:00.000Z\", \"OwnerId\": \"123456789012\"}],\n"
          " \"hosted_zones\": [{\"Id\": \"" ZONE_ID "\", \"Name\": \"example.org.\"}]}\n",
          f);
    fclose(f);
    char *argv[] = {"/usr/bin/python3",
                    AWS_EMULATOR,
                    "--listen",
                    "127.0.0.1:0",
                    "--port-file",
                    port_file,
                    "--credentials",
                    AKID ":" SECRET,
                    "--seed",
                    seed,
                    "--log",
                    log,
                    "--pending-seconds",
                    "0.05",
                    "--time-scale",
                    "0.05",
                    NULL};
    char out[128];
    snprintf(out, sizeof(out), "%s/emulator.out", dir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
    rc = posix_spawn(&emulator, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return 1;
    for (int i = 0; i < 300; i++) { /* up to 30 s on a loaded machine */
        char port[16] = "";
        FILE *p = fopen(port_file, "r");
        if (p != NULL) {
            if (fgets(port, sizeof(port), p) != NULL)
                port[strcspn(port, "\n")] = '\0';
            fclose(p);
        }
        if (port[0] != '\0') {
            snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%s", port);
            return 0;
        }
        if (waitpid(emulator, NULL, WNOHANG) == emulator)
            return 1;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 1;
}

static void emulator_stop(void)
{
    if (emulator > 0) {
        kill(emulator, SIGTERM);
        waitpid(emulator, NULL, 0);
    }
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* ------------------------------------------------------------------ */
/* Resources                                                          */

/* One resource made by this test: its type, address and state. */
typedef struct res {
    const char *type;
    char address[64];
    char token[48];
    infra_json *state;
} res;

static int token_counter;

static infra_json *jsonf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static infra_json *jsonf(const char *fmt, ...)
{
    va_list ap;
    char *text = NULL;
    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    infra_json *v = awt_json(text);
    free(text);
    return v;
}

/* Creates a resource of type from planned (taken) through the apply slot. */
static void make(res *r, const char *type, const char *address, infra_json *planned)
{
    awt_call c;
    r->type = type;
    snprintf(r->address, sizeof(r->address), "%s", address);
    snprintf(r->token, sizeof(r->token), "0f1e2d3c4b5a69788796a5b4c3d2e1%02d", ++token_counter);
    awt_call_init(&c, r->address, r->token);
    void *priv = NULL;
    size_t priv_len = 0;
    int rc = ops->apply(prov, &c.call, type, NULL, planned, NULL, 0, &r->state, &priv, &priv_len);
    if (rc != 0)
        fail_msg("create %s: %d: %s", address, rc, c.diags);
    pu_host->free(priv);
    J->release(planned);
    awt_call_clear(&c);
}

static const char *id_of(const res *r)
{
    return pu_json_str(r->state, "id");
}

/* One signed call behind infra's back, through the plugin's own client. */
static void outside(aws_service svc, const char *action, ...) __attribute__((sentinel));
static void outside(aws_service svc, const char *action, ...)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    awt_call c;
    va_list ap;
    va_start(ap, action);
    for (const char *k = va_arg(ap, const char *); k != NULL; k = va_arg(ap, const char *))
        aws_params_add(&q, k, va_arg(ap, const char *));
    va_end(ap);
    awt_call_init(&c, "outside", NULL);
    int rc = aws_query(prov, &c.call, svc, action, &q, "", AWS_SAFE, NULL, &r);
    if (rc != 0)
        fail_msg("%s: %d: %s", action, rc, c.diags);
    aws_resp_free(r);
    aws_params_free(&q);
    awt_call_clear(&c);
}

/* The batch's outs and results for states, and the calls it made. */
typedef struct batch {
    size_t n;
    infra_json **out;
    int *result;
    long calls;
} batch;

static void batch_free(batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        J->release(b->out[i]);
    free(b->out);
    free(b->result);
    memset(b, 0, sizeof(*b));
}

static void read_many(const char *type, infra_json *const *states, size_t n, batch *b)
{
    awt_call whole, *each = calloc(n, sizeof(awt_call));
    infra_read_item *items = calloc(n, sizeof(infra_read_item));
    awt_call_init(&whole, "", NULL);
    for (size_t i = 0; i < n; i++) {
        awt_call_init(&each[i], type, NULL);
        items[i] = (infra_read_item){
            .size = sizeof(infra_read_item), .call = &each[i].call, .state = states[i]};
    }
    long before = calls(NULL, NULL);
    int rc = ops->read_many(prov, &whole.call, type, items, n);
    if (rc != 0)
        fail_msg("read_many %s: %d: %s", type, rc, whole.diags);
    b->calls = calls(NULL, NULL) - before; /* the control API is not counted */
    b->n = n;
    b->out = calloc(n, sizeof(infra_json *));
    b->result = calloc(n, sizeof(int));
    for (size_t i = 0; i < n; i++) {
        b->out[i] = items[i].out;
        b->result[i] = items[i].result;
        awt_call_clear(&each[i]);
    }
    awt_call_clear(&whole);
    free(items);
    free(each);
}

/* read_many of rs: in `want` calls, with read()'s answer for each. */
static void check_batch(res *const *rs, size_t n, long want, batch *b)
{
    infra_json **states = calloc(n, sizeof(infra_json *));
    for (size_t i = 0; i < n; i++)
        states[i] = rs[i]->state;
    read_many(rs[0]->type, states, n, b);
    if (b->calls > want)
        fail_msg("read_many of %zu %s made %ld calls, expected at most %ld", n, rs[0]->type,
                 b->calls, want);
    for (size_t i = 0; i < n; i++) {
        awt_call c;
        infra_json *one = NULL;
        awt_call_init(&c, rs[i]->address, NULL);
        int rc = ops->read(prov, &c.call, rs[i]->type, rs[i]->state, NULL, 0, &one);
        if (rc != b->result[i])
            fail_msg("%s: read() %d, read_many %d", rs[i]->address, rc, b->result[i]);
        if (rc == 0 && !J->equal(one, b->out[i])) {
            char *x = J->dump(one), *y = J->dump(b->out[i]);
            fail_msg("%s: read() %s\nread_many %s", rs[i]->address, x, y);
        }
        J->release(one);
        awt_call_clear(&c);
    }
    free(states);
}

/* ------------------------------------------------------------------ */
/* The world                                                          */

enum {
    NET,
    SUB_A,
    SUB_B,
    IGW,
    RT,
    FW,
    KP,
    INST0,
    INST1,
    INST2,
    NAT,
    LB1,
    LB2,
    LT1,
    LT2,
    ASG,
    DNS1,
    DNS2,
    NRES
};
static res world[NRES];

static int setup(void **state)
{
    (void)state;
    int rc = emulator_start();
    if (rc != 0)
        return rc;
    setenv("AWS_ACCESS_KEY_ID", AKID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ENDPOINT_URL", endpoint, 1);
    setenv("HOME", dir, 1);
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_SESSION_TOKEN");
    const infra_plugin *plugin = NULL;
    if (infra_plugin_entry(host_table(), &plugin) != 0)
        return 1;
    ops = plugin->provider;
    awt_call c;
    awt_call_init(&c, "", NULL);
    infra_json *settings = awt_json("{}");
    rc = ops->configure(&c.call, settings, &prov);
    J->release(settings);
    awt_call_clear(&c);
    if (rc != 0)
        return 1;

    make(&world[NET], "network", "network.main",
         jsonf("{\"cidr\": \"10.30.0.0/16\", \"name\": \"main\"}"));
    const char *vpc = id_of(&world[NET]);
    make(&world[SUB_A], "subnet", "subnet.a",
         jsonf("{\"network\": \"%s\", \"cidr\": \"10.30.1.0/24\", \"public\": true}", vpc));
    make(&world[SUB_B], "subnet", "subnet.b",
         jsonf("{\"network\": \"%s\", \"cidr\": \"10.30.2.0/24\"}", vpc));
    make(&world[IGW], "internet_gateway", "internet_gateway.gw",
         jsonf("{\"network\": \"%s\", \"name\": \"gw\"}", vpc));
    make(&world[RT], "route_table", "route_table.public",
         jsonf("{\"network\": \"%s\", \"routes\": [{\"cidr\": \"0.0.0.0/0\", \"gateway\": \"%s\"}],"
               " \"subnets\": [\"%s\"]}",
               vpc, id_of(&world[IGW]), id_of(&world[SUB_A])));
    make(&world[FW], "firewall", "firewall.web",
         jsonf("{\"network\": \"%s\", \"allow\": [22, 80]}", vpc));
    make(&world[KP], "key_pair", "key_pair.deploy",
         jsonf("{\"name\": \"deploy\", \"public_key\": \"" PUBLIC_KEY "\"}"));
    for (int i = 0; i < 3; i++) {
        char address[32];
        snprintf(address, sizeof(address), "instance.node[%d]", i);
        make(&world[INST0 + i], "instance", address,
             jsonf("{\"image\": \"" IMAGE "\", \"size\": \"t3.micro\", \"subnet\": \"%s\","
                   " \"firewalls\": [\"%s\"], \"key_pair\": \"deploy\", \"tags\": {\"role\": "
                   "\"nomad\"}}",
                   id_of(&world[SUB_A]), id_of(&world[FW])));
    }
    make(&world[NAT], "nat_gateway", "nat_gateway.out",
         jsonf("{\"subnet\": \"%s\"}", id_of(&world[SUB_A])));
    for (int i = 0; i < 2; i++)
        make(&world[LB1 + i], "load_balancer", i ? "load_balancer.two" : "load_balancer.one",
             jsonf("{\"subnets\": [\"%s\"], \"firewalls\": [\"%s\"], \"listen\": [80],"
                   " \"health\": \"http:80/health\", \"targets\": [\"%s\", \"%s\"]}",
                   id_of(&world[SUB_A]), id_of(&world[FW]), id_of(&world[INST0]),
                   id_of(&world[INST1])));
    for (int i = 0; i < 2; i++)
        make(&world[LT1 + i], "launch_template", i ? "launch_template.two" : "launch_template.one",
             jsonf("{\"image\": \"" IMAGE "\", \"size\": \"t3.micro\", \"firewalls\": [\"%s\"]%s}",
                   id_of(&world[FW]), i ? "" : ", \"instance_profile\": \"pool-join\""));
    make(&world[ASG], "autoscaling_group", "autoscaling_group.web",
         jsonf("{\"launch_template\": \"%s\", \"min\": 1, \"max\": 1, \"subnets\": [\"%s\"],"
               " \"health_check_type\": \"EC2\", \"replace_deadline\": 120}",
               id_of(&world[LT1]), id_of(&world[SUB_A])));
    make(&world[DNS1], "dns_record", "dns_record.www",
         jsonf("{\"zone\": \"example.org\", \"name\": \"www\", \"target\": \"10.0.0.1\"}"));
    make(&world[DNS2], "dns_record", "dns_record.api",
         jsonf("{\"zone\": \"example.org\", \"name\": \"*.api\", \"target\": \"10.0.0.2\","
               " \"ttl\": 60}"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NRES; i++)
        J->release(world[i].state);
    if (ops != NULL && prov != NULL)
        ops->close(prov);
    emulator_stop();
    return 0;
}

/* ------------------------------------------------------------------ */
/* Tests                                                              */

typedef struct group {
    int first, count;
    long calls;         /* what one batch of them may cost */
    long calls_drifted; /* the same after the changes below */
} group;

/* Balancers and templates: one call more to describe, and one to list all
 * after one of them is deleted (a call naming it fails). The NAT gateway
 * deleted outside: waited for until deleted, its address released. */
static const group groups[] = {
    {NET, 1, 1, 1}, {SUB_A, 2, 1, 1}, {IGW, 1, 1, 1},   {RT, 1, 1, 1},
    {FW, 1, 1, 1},  {KP, 1, 1, 1},    {INST0, 3, 1, 1}, {NAT, 1, 1, 20},
    {LB1, 2, 2, 3}, {LT1, 2, 2, 3},   {ASG, 1, 1, 1},   {DNS1, 2, 1, 1},
};

static void each_group(batch *out, int drifted)
{
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        res *rs[4];
        for (int i = 0; i < groups[g].count; i++)
            rs[i] = &world[groups[g].first + i];
        check_batch(rs, (size_t)groups[g].count,
                    drifted ? groups[g].calls_drifted : groups[g].calls, &out[g]);
    }
}

static const infra_json *out_of(batch *b, int which)
{
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
        if (which >= groups[g].first && which < groups[g].first + groups[g].count) {
            assert_int_equal(b[g].result[which - groups[g].first], 0);
            return b[g].out[which - groups[g].first];
        }
    fail();
    return NULL;
}

static int result_of(batch *b, int which)
{
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
        if (which >= groups[g].first && which < groups[g].first + groups[g].count)
            return b[g].result[which - groups[g].first];
    fail();
    return 0;
}

static void test_read_many_sees_what_read_sees_in_one_call_per_type(void **state)
{
    (void)state;
    enum { NG = sizeof(groups) / sizeof(groups[0]) };
    batch before[NG], after[NG];
    memset(before, 0, sizeof(before));
    memset(after, 0, sizeof(after));

    /* Nothing changed: every resource as it was made. */
    each_group(before, 0);
    for (int i = 0; i < NRES; i++)
        assert_string_equal(pu_json_str(out_of(before, i), "id"), id_of(&world[i]));
    assert_string_equal(pu_json_str(out_of(before, LT1), "instance_profile"), "pool-join");

    /* Behind infra's back, one change of each kind. */
    outside(AWS_EC2, "CreateTags", "ResourceId.1", id_of(&world[NET]), "Tag.1.Key", "Name",
            "Tag.1.Value", "renamed", NULL);
    outside(AWS_EC2, "ModifySubnetAttribute", "SubnetId", id_of(&world[SUB_A]),
            "MapPublicIpOnLaunch.Value", "false", NULL);
    outside(AWS_EC2, "CreateTags", "ResourceId.1", id_of(&world[IGW]), "Tag.1.Key", "team",
            "Tag.1.Value", "ops", NULL);
    outside(AWS_EC2, "DeleteRoute", "RouteTableId", id_of(&world[RT]), "DestinationCidrBlock",
            "0.0.0.0/0", NULL);
    outside(AWS_EC2, "RevokeSecurityGroupIngress", "GroupId", id_of(&world[FW]),
            "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "80",
            "IpPermissions.1.ToPort", "80", "IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0", NULL);
    outside(AWS_EC2, "DeleteKeyPair", "KeyName", "deploy", NULL);
    outside(AWS_EC2, "DeleteTags", "ResourceId.1", id_of(&world[INST0]), "Tag.1.Key", "role", NULL);
    outside(AWS_EC2, "TerminateInstances", "InstanceId.1", id_of(&world[INST2]), NULL);
    outside(AWS_EC2, "DeleteNatGateway", "NatGatewayId", id_of(&world[NAT]), NULL);
    outside(AWS_ELB, "ConfigureHealthCheck", "LoadBalancerName", id_of(&world[LB1]),
            "HealthCheck.Target", "TCP:22", "HealthCheck.Interval", "10", "HealthCheck.Timeout",
            "5", "HealthCheck.UnhealthyThreshold", "2", "HealthCheck.HealthyThreshold", "2", NULL);
    outside(AWS_ELB, "DeleteLoadBalancer", "LoadBalancerName", id_of(&world[LB2]), NULL);
    outside(AWS_EC2, "CreateLaunchTemplateVersion", "LaunchTemplateId", id_of(&world[LT1]),
            "SourceVersion", "1", "LaunchTemplateData.InstanceType", "t3.large", NULL);
    outside(AWS_EC2, "DeleteLaunchTemplate", "LaunchTemplateId", id_of(&world[LT2]), NULL);
    outside(AWS_ASG, "UpdateAutoScalingGroup", "AutoScalingGroupName", id_of(&world[ASG]),
            "MaxSize", "2", NULL);
    {
        awt_call c;
        awt_call_init(&c, "outside", NULL);
        char *change = NULL;
        char *names[] = {"10.0.0.9", NULL};
        aws_rrset www = {"www.example.org.", "A", 300, names, NULL, NULL, 0};
        assert_int_equal(aws_r53_change(prov, &c.call, "", ZONE_ID, "UPSERT", &www, NULL, &change),
                         0);
        free(change);
        change = NULL;
        char *old[] = {"10.0.0.2", NULL};
        aws_rrset api = {"*.api.example.org.", "A", 60, old, NULL, NULL, 0};
        assert_int_equal(aws_r53_change(prov, &c.call, "", ZONE_ID, "DELETE", &api, NULL, &change),
                         0);
        free(change);
        awt_call_clear(&c);
    }

    /* Each change, seen by the batch as by read() (check_batch). The
     * deleted balancer and template cost the listing a call naming them
     * cannot give. */
    each_group(after, 1);
    assert_string_equal(pu_json_str(out_of(after, NET), "name"), "renamed");
    assert_false(J->boolean(J->get(out_of(after, SUB_A), "public")));
    assert_string_equal(pu_json_str(J->get(out_of(after, IGW), "tags"), "team"), "ops");
    assert_int_equal(J->length(J->get(out_of(after, RT), "routes")), 0);
    assert_null(J->get(out_of(after, FW), "allow"));
    assert_int_equal(J->length(J->get(out_of(after, FW), "ingress")), 1);
    assert_int_equal(result_of(after, KP), INFRA_ENOTFOUND);
    assert_null(pu_json_str(J->get(out_of(after, INST0), "tags"), "role"));
    assert_string_equal(pu_json_str(J->get(out_of(after, INST1), "tags"), "role"), "nomad");
    assert_int_equal(result_of(after, INST2), INFRA_ENOTFOUND);
    assert_int_equal(result_of(after, NAT), INFRA_ENOTFOUND);
    assert_string_equal(pu_json_str(out_of(after, LB1), "health"), "TCP:22");
    assert_int_equal(result_of(after, LB2), INFRA_ENOTFOUND);
    assert_string_equal(pu_json_str(out_of(after, LT1), "latest_version"), "2");
    assert_string_equal(pu_json_str(out_of(after, LT1), "size"), "t3.large");
    assert_int_equal(result_of(after, LT2), INFRA_ENOTFOUND);
    assert_int_equal(J->integer(J->get(out_of(after, ASG), "max")), 2);
    assert_string_equal(pu_json_str(out_of(after, DNS1), "target"), "10.0.0.9");
    assert_int_equal(result_of(after, DNS2), INFRA_ENOTFOUND);
    for (int g = 0; g < NG; g++) {
        batch_free(&before[g]);
        batch_free(&after[g]);
    }
}

static void test_read_many_of_many_instances_pages_by_the_topology_tags(void **state)
{
    (void)state;
    enum { TAGGED = 210 };
    awt_call c;
    awt_call_init(&c, "outside", NULL);
    aws_params q = {0};
    aws_resp *r = NULL;
    char count[8];
    snprintf(count, sizeof(count), "%d", TAGGED);
    aws_params_add(&q, "ImageId", IMAGE);
    aws_params_add(&q, "MinCount", count);
    aws_params_add(&q, "MaxCount", count);
    aws_params_add(&q, "SubnetId", id_of(&world[SUB_B]));
    aws_params_add(&q, "TagSpecification.1.ResourceType", "instance");
    aws_params_add(&q, "TagSpecification.1.Tag.1.Key", "infra:topology");
    aws_params_add(&q, "TagSpecification.1.Tag.1.Value", "web");
    aws_params_add(&q, "TagSpecification.1.Tag.2.Key", "infra:environment");
    aws_params_add(&q, "TagSpecification.1.Tag.2.Value", "test");
    assert_int_equal(aws_query(prov, &c.call, AWS_EC2, "RunInstances", &q, "", 0, NULL, &r), 0);
    aws_instance *v = NULL;
    size_t n = 0;
    aws_instances_parse(r->result, &v, &n);
    assert_int_equal(n, TAGGED);
    aws_resp_free(r);
    aws_params_free(&q);
    /* And one without the topology's tags (imported, or its tags removed). */
    memset(&q, 0, sizeof(q));
    aws_params_add(&q, "ImageId", IMAGE);
    aws_params_add(&q, "MinCount", "1");
    aws_params_add(&q, "MaxCount", "1");
    aws_params_add(&q, "SubnetId", id_of(&world[SUB_B]));
    assert_int_equal(aws_query(prov, &c.call, AWS_EC2, "RunInstances", &q, "", 0, NULL, &r), 0);
    char *untagged = aws_xml_get(r->result, "instancesSet/item/instanceId");
    aws_resp_free(r);
    aws_params_free(&q);
    awt_call_clear(&c);

    /* The 210 tagged and one that lost its tags: one page by tag, one call by id. */
    infra_json *states[TAGGED + 1];
    for (size_t i = 0; i < n; i++)
        states[i] = jsonf("{\"id\": \"%s\", \"image\": \"" IMAGE "\", \"size\": \"t3.micro\","
                          " \"ssh_host_key_fingerprint\": \"SHA256:x\"}",
                          v[i].id);
    states[TAGGED] =
        jsonf("{\"id\": \"%s\", \"ssh_host_key_fingerprint\": \"SHA256:x\"}", untagged);
    free(untagged);
    long by_page = calls("ec2", "DescribeInstances");
    batch b;
    read_many("instance", states, TAGGED + 1, &b);
    assert_int_equal(calls("ec2", "DescribeInstances") - by_page, 2);
    assert_int_equal(b.calls, 2);
    for (size_t i = 0; i <= TAGGED; i++) {
        assert_int_equal(b.result[i], 0);
        assert_string_equal(pu_json_str(b.out[i], "id"), pu_json_str(states[i], "id"));
    }
    for (size_t i = 0; i <= TAGGED; i++)
        J->release(states[i]);
    batch_free(&b);
    aws_instances_free(v, n);
}

int main(void)
{
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import botocore, yaml, jsonschema, cryptography' 2>/dev/null") != 0) {
        fprintf(stderr, "skipped: the AWS emulator cannot run here (python3, botocore)\n");
        return 77;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    awt_reset(); /* the plugin's helpers on a host, until the entry sets the real one */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_many_sees_what_read_sees_in_one_call_per_type),
        cmocka_unit_test(test_read_many_of_many_instances_pages_by_the_topology_tags),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
