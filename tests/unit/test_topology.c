/* Topology loading: resources and their addresses, count expansion,
 * references and dependencies, clusters, jobs, outputs, locations and
 * the errors that point at the YAML. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>

#include "test_topology_helpers.h"

static const char web_yaml[] =
    "name: app\n"                                                    /* 1 */
    "providers:\n"                                                   /* 2 */
    "  cloud: { region: eu }\n"                                      /* 3 */
    "networks:\n"                                                    /* 4 */
    "  main: { cidr: 10.0.0.0/24 }\n"                                /* 5 */
    "instances:\n"                                                   /* 6 */
    "  web:\n"                                                       /* 7 */
    "    count: 3\n"                                                 /* 8 */
    "    size: small\n"                                              /* 9 */
    "    name: \"web-${count.index}\"\n"                             /* 10 */
    "    network: ${network.main.id}\n"                              /* 11 */
    "    tags: { Name: web, Role: \"${network.main.cidr}\" }\n"      /* 12 */
    "    ports: [22, 80]\n"                                          /* 13 */
    "    prevent_destroy: true\n"                                    /* 14 */
    "  db:\n"                                                        /* 15 */
    "    size: large\n"                                              /* 16 */
    "    depends_on: [instance.web]\n"                               /* 17 */
    "    peer: \"${instance.web[0].ip}:${instance.web[0].port}\"\n"; /* 18 */

static void test_topology_resources_keep_file_order_locations_and_yaml_order(void **unused)
{
    topology *t = load_ok(web_yaml);
    assert_string_equal(t->name, "app");
    assert_string_equal(t->file, "t.yaml");
    assert_string_equal(t->dir, ".");
    assert_null(t->environment);
    assert_int_equal(t->nresources, 5);
    const char *order[] = {"network.main", "instance.web[0]", "instance.web[1]", "instance.web[2]",
                           "instance.db"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(t->resources[i].address, order[i]);
    const topo_resource *web1 = &t->resources[2];
    assert_string_equal(web1->type, "instance");
    assert_string_equal(web1->name, "web");
    assert_int_equal(web1->index, 1);
    assert_string_equal(web1->provider, "cloud");
    assert_int_equal(web1->prevent_destroy, 1);
    assert_int_equal(web1->data, 0);
    assert_string_equal(web1->loc.file, "t.yaml");
    assert_int_equal(web1->loc.line, 7);
    assert_int_equal(web1->loc.column, 3);
    /* Meta keys are gone, the rest is in YAML order, count.index substituted. */
    assert_json(web1->config, "{\"size\":\"small\",\"name\":\"web-1\",\"network\":"
                              "\"${network.main.id}\",\"tags\":{\"Name\":\"web\",\"Role\":"
                              "\"${network.main.cidr}\"},\"ports\":[22,80]}");
    const topo_resource *net = res(t, "network.main");
    assert_int_equal(net->index, -1);
    assert_int_equal(net->ndeps, 0);
    assert_int_equal(t->nproviders, 1);
    assert_string_equal(t->providers[0].name, "cloud");
    assert_string_equal(t->providers[0].plugin, "cloud");
    assert_int_equal(t->providers[0].parallelism, 0);
    assert_int_equal(t->providers[0].loc.line, 3);
    assert_json(t->providers[0].settings, "{\"region\":\"eu\"}");
    assert_ptr_equal(topology_provider(t, "cloud"), &t->providers[0]);
    assert_null(topology_provider(t, "other"));
    topology_free(t);
}

static void test_topology_references_become_deduplicated_deps_never_self(void **unused)
{
    topology *t = load_ok(web_yaml);
    /* Two references to network.main count once. */
    assert_deps(res(t, "instance.web[2]"), "network.main");
    /* depends_on on a counted resource names all of its instances; the
     * references to web[0] are already among them. */
    assert_deps(res(t, "instance.db"), "instance.web[0] instance.web[1] instance.web[2]");
    topology_free(t);

    t = load_ok("name: app\nproviders: { p: {} }\n"
                "instances:\n  n:\n    count: 2\n"
                "    peers: ${instance.n[*].ip}\n"
                "    first: ${instance.n[0].ip}\n");
    assert_deps(res(t, "instance.n[0]"), "instance.n[1]");
    assert_deps(res(t, "instance.n[1]"), "instance.n[0]");
    topology_free(t);
}

static void test_topology_count_expands_from_a_variable_and_zero_declares_nothing(void **unused)
{
    topology *t =
        load_ok("name: app\nvariables: { n: 4 }\nproviders: { p: {} }\n"
                "instances:\n"
                "  web: { count: \"${n}\", i: \"${count.index}\", s: \"n${count.index}\" }\n"
                "  none: { count: 0, x: \"${instance.web[3].ip}\" }\n"
                "outputs:\n  all: ${instance.none[*].ip}\n");
    assert_int_equal(t->nresources, 4);
    assert_string_equal(t->resources[3].address, "instance.web[3]");
    /* A lone ${count.index} is an integer; inside text it is text. */
    assert_json(t->resources[3].config, "{\"i\":3,\"s\":\"n3\"}");
    assert_null(topology_resource(t, "instance.none"));
    assert_null(topology_resource(t, "instance.none[0]"));
    assert_int_equal(t->outputs[0].ndeps, 0);
    topology_free(t);

    assert_load_error("name: app\nproviders: { p: {} }\ninstances:\n  web: { count: three }\n",
                      "t.yaml:4:17: error: instances.web.count: expected an integer, got string "
                      "\"three\"");
    assert_load_error("name: app\nproviders: { p: {} }\ninstances:\n  web: { count: -1 }\n",
                      "t.yaml:4:17: error: instances.web.count: expected an integer >= 0, got "
                      "integer -1");
    assert_load_error(
        "name: app\nproviders: { p: {} }\ninstances:\n  web: { i: \"${count.index}\" }\n",
        "t.yaml:4:13: error: instances.web.i: ${count.index} is only available in a "
        "resource with count");
}

static void test_topology_splat_lists_every_instance_as_a_dependency(void **unused)
{
    topology *t =
        load_ok("name: app\nproviders: { p: {} }\n"
                "instances:\n  web: { count: 3 }\n"
                "load_balancers:\n  lb: { targets: \"${instance.web[*].private_ip}\" }\n");
    const topo_resource *lb = res(t, "load_balancer.lb");
    assert_deps(lb, "instance.web[0] instance.web[1] instance.web[2]");
    assert_json(lb->config, "{\"targets\":\"${instance.web[*].private_ip}\"}");
    topology_free(t);
}

static void test_topology_bad_references_are_load_errors_with_suggestions(void **unused)
{
    const char *head = "name: app\nproviders: { p: {} }\nnetworks:\n  main: {}\n"
                       "instances:\n  web: { count: 2 }\n";
    char *yaml = util_printf("%sfirewalls:\n  fw: { net: \"${network.mian.id}\" }\n", head);
    assert_load_error(yaml,
                      "t.yaml:8:14: error: firewalls.fw.net: unknown resource "
                      "\"network.mian\" in ${network.mian.id} (did you mean \"network.main\"?)");
    free(yaml);
    yaml = util_printf("%sfirewalls:\n  fw: { ip: \"${instance.web[2].ip}\" }\n", head);
    assert_load_error(yaml, "t.yaml:8:13: error: firewalls.fw.ip: index 2 out of range in "
                            "${instance.web[2].ip}: instance.web has count 2 (did you mean "
                            "\"instance.web[1]\"?)");
    free(yaml);
    yaml = util_printf("%sfirewalls:\n  fw: { ip: \"${instance.web.ip}\" }\n", head);
    assert_load_error(yaml, "t.yaml:8:13: error: firewalls.fw.ip: instance.web has count 2: use "
                            "instance.web[N] or instance.web[*] in ${instance.web.ip}");
    free(yaml);
    yaml = util_printf("%sfirewalls:\n  fw: { ip: \"${network.main}\" }\n", head);
    assert_load_error(yaml, "t.yaml:8:13: error: firewalls.fw.ip: ${network.main} names "
                            "network.main, not one of its attributes (e.g. ${network.main.id})");
    free(yaml);
    yaml = util_printf("%sfirewalls:\n  fw: { depends_on: [network.mian] }\n", head);
    assert_load_error(yaml, "t.yaml:8:22: error: firewalls.fw.depends_on[0]: unknown resource "
                            "\"network.mian\" in depends_on (did you mean \"network.main\"?)");
    free(yaml);
    yaml = util_printf("%sfirewalls:\n  fw: { x: \"${network.main.id\" }\n", head);
    char *line = load_error(yaml);
    assert_non_null(strstr(line, "unterminated ${"));
    free(line);
    free(yaml);
}

static const char cluster_yaml[] =
    "name: app\n"
    "providers:\n  aws: {}\n  gcp: {}\n"
    "clusters:\n"
    "  main:\n"
    "    scheduler: nomad\n"
    "    acl: true\n"
    "    regions:\n"
    "      eu:\n"
    "        datacenters:\n"
    "          dc1: { provider: gcp, servers: 2, clients: 1, machine: n1 }\n"
    "      us:\n"
    "        datacenters:\n"
    "          dc2: { provider: aws, servers: 1, machine: t3 }\n"
    "          dc3: { provider: aws, clients: 2 }\n"
    "    federate: [eu, us]\n"
    "outputs:\n"
    "  servers: ${cluster.main.servers[*].ip}\n"
    "  us_clients: ${cluster.main.us.clients[*].ip}\n"
    "  one: ${cluster.main.us.dc3.clients[1].ip}\n"
    "  second: ${cluster.main.servers[1].ip}\n";

static void test_topology_cluster_nodes_become_instances_on_their_provider(void **unused)
{
    topology *t = load_ok(cluster_yaml);
    assert_int_equal(t->nclusters, 1);
    const topo_cluster *c = &t->clusters[0];
    assert_string_equal(c->name, "main");
    assert_string_equal(c->scheduler, "nomad");
    assert_json(c->settings, "{\"acl\":true}");
    assert_int_equal(c->nregions, 2);
    assert_string_equal(c->regions[1].name, "us");
    assert_int_equal(c->regions[1].ndatacenters, 2);
    assert_string_equal(c->regions[1].datacenters[1].provider, "aws");
    assert_int_equal(c->regions[0].datacenters[0].servers, 2);
    assert_int_equal(c->regions[0].datacenters[0].clients, 1);
    assert_json(c->regions[0].datacenters[0].settings, "{\"machine\":\"n1\"}");
    assert_int_equal(c->nfederate, 2);
    assert_string_equal(c->federate[1], "us");

    /* 6 instances, then 6 agents, 2 regions and the federation. */
    assert_int_equal(t->nresources, 15);
    const char *order[] = {"cluster.main.eu.dc1.server[0]", "cluster.main.eu.dc1.server[1]",
                           "cluster.main.eu.dc1.client[0]", "cluster.main.us.dc2.server[0]",
                           "cluster.main.us.dc3.client[0]", "cluster.main.us.dc3.client[1]"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(t->resources[i].address, order[i]);
    const topo_resource *r = res(t, "cluster.main.eu.dc1.server[1]");
    assert_string_equal(r->type, "instance");
    assert_string_equal(r->name, "main.eu.dc1.server");
    assert_int_equal(r->index, 1);
    assert_string_equal(r->provider, "gcp");
    assert_int_equal(r->loc.line, 12);
    assert_json(r->config, "{\"machine\":\"n1\",\"role\":\"server\",\"cluster\":\"main\","
                           "\"region\":\"eu\",\"datacenter\":\"dc1\"}");
    assert_string_equal(res(t, "cluster.main.us.dc3.client[1]")->provider, "aws");
    topology_free(t);
}

static void test_topology_cluster_scheduler_resources_follow_the_nodes(void **unused)
{
    topology *t = load_ok(cluster_yaml);
    const topo_provider *p = topology_provider(t, "cluster.main");
    assert_non_null(p);
    assert_true(p->scheduler);
    assert_string_equal(p->plugin, "nomad");
    assert_int_equal(p->cluster, 0);
    assert_json(p->settings, "{\"acl\":true}");

    const topo_resource *a = res(t, "cluster_agent.main.us.dc3.client[1]");
    assert_string_equal(a->type, "cluster_agent");
    assert_string_equal(a->provider, "cluster.main");
    assert_json(a->config,
                "{\"instance\":\"cluster.main.us.dc3.client[1]\","
                "\"instance_id\":\"${cluster.main.us.dc3.clients[1].id}\","
                "\"node\":\"main-us-dc3-client-1\",\"role\":\"client\",\"region\":\"us\","
                "\"datacenter\":\"dc3\",\"index\":1,"
                "\"private_ip\":\"${cluster.main.us.dc3.clients[1].private_ip}\","
                "\"settings\":{\"acl\":true}}");
    /* Its instance, and the servers of its region as one group. */
    char *deps = deps_text(a->deps, a->ndeps);
    assert_string_equal(deps, "cluster.main.us.dc3.client[1] cluster.main.us.servers[*]");
    free(deps);
    assert_int_equal(t->ngroups, 2);
    assert_string_equal(t->groups[1].address, "cluster.main.us.servers[*]");
    assert_int_equal(t->groups[1].nmembers, 1);
    assert_string_equal(t->groups[1].members[0], "cluster.main.us.dc2.server[0]");

    const topo_resource *r = res(t, "cluster_region.main.eu");
    assert_string_equal(r->type, "cluster_region");
    deps = deps_text(r->deps, r->ndeps);
    assert_string_equal(deps, "cluster_agent.main.eu.dc1.server[0] "
                              "cluster_agent.main.eu.dc1.server[1] "
                              "cluster_agent.main.eu.dc1.client[0] cluster.main.eu.dc1.server[0] "
                              "cluster.main.eu.dc1.server[1] cluster.main.eu.dc1.client[0]");
    free(deps);
    const topo_resource *f = res(t, "cluster_federation.main");
    deps = deps_text(f->deps, f->ndeps);
    assert_string_equal(deps, "cluster_region.main.eu cluster.main.eu.dc1.server[0] "
                              "cluster.main.eu.dc1.server[1] cluster_region.main.us "
                              "cluster.main.us.dc2.server[0]");
    free(deps);
    assert_json(json_object_get(f->config, "regions"), "[\"eu\",\"us\"]");
    topology_free(t);
}

static void test_topology_datacenter_settings_refer_to_resources_and_wait_for_depends_on(void **unused)
{
    const char *yaml = "name: app\nproviders: { p: {} }\n"
                       "networks:\n  main: { cidr: 10.0.0.0/16 }\n"
                       "resources:\n  route: { default: { network: \"${network.main.id}\" } }\n"
                       "clusters:\n  main:\n    scheduler: nomad\n    regions:\n"
                       "      eu:\n        datacenters:\n"
                       "          dc:\n            provider: p\n            servers: 1\n"
                       "            subnet: \"${network.main.id}\"\n"
                       "            depends_on: [route.default]\n";
    topology *t = load_ok(yaml);
    const topo_resource *r = res(t, "cluster.main.eu.dc.server[0]");
    assert_json(r->config, "{\"subnet\":\"${network.main.id}\",\"role\":\"server\","
                           "\"cluster\":\"main\",\"region\":\"eu\",\"datacenter\":\"dc\"}");
    char *deps = deps_text(r->deps, r->ndeps);
    assert_string_equal(deps, "network.main route.default");
    free(deps);
    topology_free(t);

    diag_list d = {0};
    const char *bad = "name: app\nproviders: { p: {} }\n"
                      "clusters:\n  main:\n    scheduler: nomad\n    regions:\n"
                      "      eu:\n        datacenters:\n"
                      "          dc: { provider: p, servers: 1, depends_on: [route.nope] }\n";
    assert_int_equal(topology_load_buffer("t.yaml", bad, strlen(bad), NULL, &t, &d), INFRA_EINVALID);
    assert_true(d.count >= 1);
    char *line = diag_format(&d.items[0]);
    assert_non_null(strstr(line, "t.yaml:9:"));
    assert_non_null(strstr(line, "clusters.main.regions.eu.datacenters.dc.depends_on[0]: unknown resource"));
    assert_non_null(strstr(line, "route.nope"));
    free(line);
    diag_list_free(&d);
}

static void test_topology_cluster_references_name_the_matching_nodes(void **unused)
{
    topology *t = load_ok(cluster_yaml);
    assert_int_equal(t->noutputs, 4);
    char *deps = deps_text(t->outputs[0].deps, t->outputs[0].ndeps);
    assert_string_equal(deps, "cluster.main.eu.dc1.server[0] cluster.main.eu.dc1.server[1] "
                              "cluster.main.us.dc2.server[0]");
    free(deps);
    deps = deps_text(t->outputs[1].deps, t->outputs[1].ndeps);
    assert_string_equal(deps, "cluster.main.us.dc3.client[0] cluster.main.us.dc3.client[1]");
    free(deps);
    deps = deps_text(t->outputs[2].deps, t->outputs[2].ndeps);
    assert_string_equal(deps, "cluster.main.us.dc3.client[1]");
    free(deps);
    deps = deps_text(t->outputs[3].deps, t->outputs[3].ndeps);
    assert_string_equal(deps, "cluster.main.eu.dc1.server[1]");
    free(deps);
    topology_free(t);

    char *yaml = util_printf("%s  bad: ${cluster.main.us.servers[1].ip}\n", cluster_yaml);
    assert_load_error(yaml, "t.yaml:23:8: error: outputs.bad: index 1 out of range in "
                            "${cluster.main.us.servers[1].ip}: cluster.main.us.servers has 1 (did "
                            "you mean \"cluster.main.us.servers[0]\"?)");
    free(yaml);
    yaml = util_printf("%s  bad: ${cluster.main.asia.servers[*].ip}\n", cluster_yaml);
    assert_load_error(yaml, "t.yaml:23:8: error: outputs.bad: unknown region \"asia\" of cluster "
                            "\"main\" in ${cluster.main.asia.servers[*].ip}: expected "
                            "cluster.main.REGION[.DATACENTER].servers|clients[N|*]");
    free(yaml);
    /* a datacenter where its region is due: the form, and the address meant */
    yaml = util_printf("%s  bad: ${cluster.main.dc3.clients[*].ip}\n", cluster_yaml);
    assert_load_error(yaml, "t.yaml:23:8: error: outputs.bad: unknown region \"dc3\" of cluster "
                            "\"main\" in ${cluster.main.dc3.clients[*].ip}: expected "
                            "cluster.main.REGION[.DATACENTER].servers|clients[N|*] (\"dc3\" is a "
                            "datacenter of region \"us\": write cluster.main.us.dc3.clients[*])");
    free(yaml);
    yaml = util_printf("%s  bad: ${cluster.mian.servers[*].ip}\n", cluster_yaml);
    assert_load_error(yaml, "t.yaml:23:8: error: outputs.bad: unknown resource \"cluster.mian\" in "
                            "${cluster.mian.servers[*].ip} (did you mean \"cluster.main\"?)");
    free(yaml);
}

static void test_topology_cluster_errors_point_at_the_cluster(void **unused)
{
    assert_load_error("name: app\nproviders: { p: {} }\nclusters:\n  main:\n"
                      "    regions: { eu: { datacenters: { dc: { provider: p, servers: 1 } } } }\n",
                      "t.yaml:5:5: error: clusters.main: missing required key \"scheduler\"");
    assert_load_error("name: app\nproviders: { p: {} }\nclusters:\n  main:\n    scheduler: nomad\n"
                      "    regions: { eu: { datacenters: { dc: { provider: p, clients: 2 } } } }\n",
                      "t.yaml:6:14: error: clusters.main.regions: cluster \"main\" has no server: "
                      "set servers: N in at least one datacenter");
    assert_load_error("name: app\nproviders: { p: {} }\nclusters:\n  main:\n    scheduler: nomad\n"
                      "    regions: { eu: { datacenters: { dc: { provider: p, servers: 1 } } } }\n"
                      "    federate: [eu, uss]\n",
                      "t.yaml:7:20: error: clusters.main.federate[1]: unknown region \"uss\" of "
                      "cluster \"main\" (declared: eu)");
    assert_load_error("name: app\nproviders: { p: {} }\nclusters:\n  main:\n    scheduler: nomad\n"
                      "    regions: { eu: { datacenter: {} } }\n",
                      "t.yaml:6:22: error: clusters.main.regions.eu.datacenter: unknown key "
                      "\"datacenter\" (did you mean \"datacenters\"?)");
    assert_load_error("name: app\nproviders: { p: {} }\nclusters:\n  main:\n    scheduler: nomad\n"
                      "    regions: { eu: { datacenters: { dc: { provider: p, server: 1 } } } }\n",
                      "t.yaml:6:56: error: clusters.main.regions.eu.datacenters.dc.server: unknown "
                      "key \"server\" (did you mean \"servers\"?)");
    assert_load_error("name: app\nproviders: { p: {} }\nclusters:\n  main:\n    scheduler: nomad\n"
                      "    image: ${network.x.id}\n"
                      "    regions: { eu: { datacenters: { dc: { provider: p, servers: 1 } } } }\n",
                      "t.yaml:6:12: error: clusters.main.image: ${network.x.id}: cluster settings "
                      "cannot refer to resources (only to variables and environment variables)");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void test_topology_jobs_and_apps_run_on_declared_cluster_regions(void **unused)
{
    char dir[] = "/tmp/infra-test-topology-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *jobs = util_printf("%s/jobs", dir);
    assert_int_equal(mkdir(jobs, 0700), 0);
    char *file = util_printf("%s/jobs/web.nomad", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("job \"web\" {}\n", f);
    fclose(f);
    char *path = util_printf("%s/t.yaml", dir);

    const char *yaml =
        "name: app\nvariables: { tag: \"1.2\" }\nproviders: { p: {} }\n"
        "clusters:\n  main:\n    scheduler: nomad\n    regions:\n"
        "      eu: { datacenters: { dc: { provider: p, servers: 1 } } }\n"
        "      us: { datacenters: { dc: { provider: p, servers: 1 } } }\n"
        "jobs:\n  web:\n    cluster: main\n    regions: [us]\n    file: jobs/web.nomad\n"
        "    set: { image_tag: \"${tag}\", count: 2 }\n"
        "apps:\n  api: { cluster: main, file: jobs/web.nomad }\n";
    topology *t = load_named(path, yaml, NULL);
    assert_string_equal(t->dir, dir);
    assert_int_equal(t->njobs, 2);
    const topo_job *j = &t->jobs[0];
    assert_string_equal(j->name, "web");
    assert_string_equal(j->kind, "job");
    assert_string_equal(j->cluster, "main");
    assert_int_equal(j->nregions, 1);
    assert_string_equal(j->regions[0], "us");
    assert_string_equal(j->file, "jobs/web.nomad");
    assert_json(j->set, "{\"image_tag\":\"1.2\",\"count\":2}");
    assert_int_equal(j->loc.line, 11);
    const topo_job *a = &t->jobs[1];
    assert_string_equal(a->kind, "app");
    assert_int_equal(a->nregions, 2);
    assert_string_equal(a->regions[0], "eu");
    assert_json(a->set, "{}");

    /* Each becomes a resource of the cluster's scheduler, after its regions. */
    const topo_resource *jr = res(t, "job.web");
    assert_string_equal(jr->type, "job");
    assert_string_equal(jr->provider, "cluster.main");
    char *deps = deps_text(jr->deps, jr->ndeps);
    assert_string_equal(deps, "cluster_region.main.us");
    free(deps);
    char *full = util_printf("%s/jobs/web.nomad", dir);
    assert_string_equal(json_string_value(json_object_get(jr->config, "file")), full);
    free(full);
    assert_string_equal(json_string_value(json_object_get(jr->config, "format")), "hcl");
    /* sha256 of "job \"web\" {}\n" */
    assert_string_equal(json_string_value(json_object_get(jr->config, "content_sha256")),
                        "4de007e1d27776001f53e5e1b5dcb5643a99436acde4be67a7d8ffcb84036483");
    assert_json(json_object_get(jr->config, "set"), "{\"image_tag\":\"1.2\",\"count\":2}");
    assert_string_equal(res(t, "app.api")->type, "app");
    topology_free(t);

    /* The file is looked for beside the topology. */
    diag_list d = {0};
    const char *missing = "name: app\nproviders: { p: {} }\n"
                          "clusters:\n  main:\n    scheduler: nomad\n    regions:\n"
                          "      eu: { datacenters: { dc: { provider: p, servers: 1 } } }\n"
                          "jobs:\n  web: { cluster: mian, file: jobs/nope.nomad, regions: [eu] }\n";
    assert_int_equal(topology_load_buffer(path, missing, strlen(missing), NULL, &t, &d),
                     INFRA_EINVALID);
    assert_int_equal(d.count, 2);
    char *line = diag_format(&d.items[0]);
    char *expected = util_printf("%s:9:19: error: jobs.web.cluster: unknown cluster \"mian\" "
                                 "(did you mean \"main\"?)",
                                 path);
    assert_string_equal(line, expected);
    free(expected);
    free(line);
    line = diag_format(&d.items[1]);
    expected = util_printf("%s:9:31: error: jobs.web.file: file \"jobs/nope.nomad\" not found "
                           "(looked for %s/jobs/nope.nomad)",
                           path, dir);
    assert_string_equal(line, expected);
    free(expected);
    free(line);
    diag_list_free(&d);

    assert_load_error("name: app\njobs:\n  web: { file: x, clustr: main }\n",
                      "t.yaml:3:19: error: jobs.web.clustr: unknown key \"clustr\" (did you mean "
                      "\"cluster\"?)");
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(jobs);
    free(file);
    free(path);
}

static void test_topology_outputs_keep_references_and_record_deps(void **unused)
{
    topology *t = load_ok("name: app\nvariables: { port: 8080 }\nproviders: { p: {} }\n"
                          "load_balancers:\n  lb: {}\n"
                          "outputs:\n"
                          "  url: \"http://${load_balancer.lb.dns_name}:${port}/\"\n"
                          "  port: ${port}\n"
                          "  both: [\"${load_balancer.lb.dns_name}\", { p: \"${var.port}\" }]\n");
    assert_int_equal(t->noutputs, 3);
    assert_string_equal(t->outputs[0].name, "url");
    assert_json(t->outputs[0].value, "\"http://${load_balancer.lb.dns_name}:8080/\"");
    assert_deps(&t->outputs[0], "load_balancer.lb");
    assert_json(t->outputs[1].value, "8080");
    assert_int_equal(t->outputs[1].ndeps, 0);
    assert_json(t->outputs[2].value, "[\"${load_balancer.lb.dns_name}\",{\"p\":8080}]");
    assert_int_equal(t->outputs[2].loc.line, 9);
    topology_free(t);
}

static void test_topology_locate_finds_attribute_then_resource(void **unused)
{
    topology *t = load_ok(web_yaml);
    diag_loc loc = {0};
    assert_int_equal(topology_locate(t, "instance.web[1]", "tags.Name", &loc), 0);
    assert_int_equal(loc.line, 12);
    assert_int_equal(loc.column, 19);
    assert_string_equal(loc.file, "t.yaml");
    assert_int_equal(topology_locate(t, "instance.web[2]", "ports[1]", &loc), 0);
    assert_int_equal(loc.line, 13);
    assert_int_equal(loc.column, 17);
    /* Unknown attribute: the deepest part found, then the resource itself. */
    assert_int_equal(topology_locate(t, "instance.web[0]", "tags.Missing", &loc), 0);
    assert_int_equal(loc.line, 12);
    assert_int_equal(loc.column, 11);
    assert_int_equal(topology_locate(t, "instance.web[0]", "ports[7]", &loc), 0);
    assert_int_equal(loc.line, 13);
    assert_int_equal(topology_locate(t, "network.main", "nothing", &loc), 0);
    assert_int_equal(loc.line, 5);
    assert_int_equal(loc.column, 3);
    assert_int_equal(topology_locate(t, "network.main", NULL, &loc), 0);
    assert_int_equal(loc.line, 5);
    assert_int_equal(topology_locate(t, "provider.cloud", "region", &loc), 0);
    assert_int_equal(loc.line, 3);
    assert_int_equal(loc.column, 20);
    loc.line = 99;
    assert_int_equal(topology_locate(t, "instance.nope", "x", &loc), INFRA_ENOTFOUND);
    assert_int_equal(loc.line, 99);
    topology_free(t);
}

static void test_topology_provider_is_the_only_one_or_must_be_named(void **unused)
{
    const char *two = "name: app\nproviders:\n  aws-us: { plugin: aws, parallelism: 2 }\n"
                      "  gcp-eu: { plugin: gcp }\n";
    char *yaml = util_printf("%snetworks:\n  main: { provider: gcp-eu }\n", two);
    topology *t = load_ok(yaml);
    assert_string_equal(res(t, "network.main")->provider, "gcp-eu");
    assert_string_equal(t->providers[0].plugin, "aws");
    assert_int_equal(t->providers[0].parallelism, 2);
    topology_free(t);
    free(yaml);
    yaml = util_printf("%snetworks:\n  main: { cidr: x }\n", two);
    assert_load_error(yaml, "t.yaml:6:9: error: networks.main: missing required key \"provider\"");
    free(yaml);
    yaml = util_printf("%snetworks:\n  main: { provider: aws-eu }\n", two);
    assert_load_error(yaml, "t.yaml:6:21: error: networks.main.provider: unknown provider "
                            "\"aws-eu\" (did you mean \"aws-us\"?)");
    free(yaml);
    assert_load_error("name: app\nproviders: { p: { parallelism: 0 } }\n",
                      "t.yaml:2:32: error: providers.p.parallelism: expected an integer >= 1, got "
                      "integer 0");
    assert_load_error("name: app\nproviders: { p: { plugn: x } }\n",
                      "t.yaml:2:19: error: providers.p.plugn: unknown key \"plugn\" (did you mean "
                      "\"plugin\"?)");
    assert_load_error("name: app\nproviders: { p: { token: \"${network.main.id}\" } }\n",
                      "t.yaml:2:26: error: providers.p.token: ${network.main.id}: provider "
                      "settings cannot refer to resources (only to variables and environment "
                      "variables)");
}

static void test_topology_images_are_data_sources_and_resources_takes_any_type(void **unused)
{
    topology *t = load_ok("name: app\nproviders: { p: {} }\n"
                          "images:\n  base: { owners: [self] }\n"
                          "resources:\n  bucket:\n    logs: { versioning: true, count: 2 }\n"
                          "  queue:\n    jobs: { after: \"${bucket.logs[1].arn}\" }\n");
    assert_int_equal(res(t, "image.base")->data, 1);
    assert_string_equal(res(t, "image.base")->type, "image");
    const topo_resource *b = res(t, "bucket.logs[1]");
    assert_string_equal(b->type, "bucket");
    assert_int_equal(b->data, 0);
    assert_deps(res(t, "queue.jobs"), "bucket.logs[1]");
    topology_free(t);
    assert_load_error(
        "name: app\nproviders: { p: {} }\nresources:\n  cluster:\n    x: {}\n",
        "t.yaml:4:3: error: resources.cluster: resource type \"cluster\" is reserved");
    assert_load_error("name: app\nproviders: { p: {} }\nnetworks:\n  a: {}\n"
                      "resources:\n  network:\n    a: {}\n",
                      "t.yaml:7:5: error: resources.network.a: resource \"network.a\" is already "
                      "declared at line 4, column 3");
}

static void test_topology_literal_dollar_brace_survives_to_the_config(void **unused)
{
    topology *t = load_ok("name: app\nvariables: { v: \"a$${b}\" }\nproviders: { p: {} }\n"
                          "instances:\n  x:\n    script: \"echo $${HOME} ${v}\"\n"
                          "    whole: ${v}\n    plain: \"cost $5\"\n");
    /* In configs a literal ${ stays escaped: topology_eval turns $${ back into ${. */
    assert_json(res(t, "instance.x")->config,
                "{\"script\":\"echo $${HOME} a$${b}\",\"whole\":\"a$${b}\",\"plain\":\"cost $5\"}");
    topology_free(t);
    /* Provider settings are final values: no escaping left. */
    t = load_ok("name: app\nproviders: { p: { s: \"$${x}\" } }\n");
    assert_json(t->providers[0].settings, "{\"s\":\"${x}\"}");
    topology_free(t);
}

static void
test_topology_meta_key_misspellings_are_errors_but_similar_settings_are_not(void **unused)
{
    assert_load_error("name: app\nproviders: { p: {} }\ninstances:\n  web:\n    cout: 3\n",
                      "t.yaml:5:5: error: instances.web.cout: unknown key \"cout\" (did you mean "
                      "\"count\"?)");
    assert_load_error("name: app\nproviders: { p: {} }\ninstances:\n  web:\n"
                      "    prevent_destory: true\n",
                      "t.yaml:5:5: error: instances.web.prevent_destory: unknown key "
                      "\"prevent_destory\" (did you mean \"prevent_destroy\"?)");
    topology *t = load_ok("name: app\nproviders: { p: {} }\ninstances:\n  web:\n"
                          "    mount: /data\n    counter: 1\n    provider_region: x\n");
    assert_json(res(t, "instance.web")->config,
                "{\"mount\":\"/data\",\"counter\":1,\"provider_region\":\"x\"}");
    topology_free(t);
}

static void test_topology_top_level_keys_and_name_are_checked(void **unused)
{
    assert_load_error("name: app\ninstance: {}\n",
                      "t.yaml:2:1: error: instance: unknown key \"instance\" (did you mean "
                      "\"instances\"?)");
    assert_load_error("name: app\nzzz: {}\n",
                      "t.yaml:2:1: error: zzz: unknown key \"zzz\" (expected one of: name, "
                      "description, variables, environments, providers, networks, firewalls, "
                      "instances, load_balancers, dns_records, images, resources, clusters, jobs, "
                      "apps, outputs, backend)");
    assert_load_error("description: x\n", "t.yaml:1:1: error: missing required key \"name\"");
    assert_load_error("name: My App\n",
                      "t.yaml:1:7: error: name: invalid name \"My App\": use only "
                      "lowercase letters, digits and \"-\"");
    assert_load_error("",
                      "t.yaml:1:1: error: the topology is empty: missing required key \"name\"");
    assert_load_error("- a\n", "t.yaml:1:1: error: expected a mapping at the top of the file, got "
                               "a list");
    assert_load_error("name: app\ninstances: [a]\n",
                      "t.yaml:2:12: error: instances: expected a mapping, got a list");
}

static void test_topology_collects_several_errors_in_one_load(void **unused)
{
    diag_list d = load_errors("name: app\nproviders: { p: {} }\n"
                              "instances:\n"
                              "  a: { count: x }\n"
                              "  b: { net: \"${network.nope.id}\" }\n"
                              "  c: { provider: q }\n"
                              "outputs:\n  o: ${nothing}\n",
                              NULL);
    assert_int_equal(d.count, 4);
    assert_int_equal(d.items[0].line, 4);
    assert_string_equal(d.items[0].key, "instances.a.count");
    assert_int_equal(d.items[1].line, 6);
    assert_string_equal(d.items[1].key, "instances.c.provider");
    assert_int_equal(d.items[2].line, 5);
    assert_int_equal(d.items[3].line, 8);
    assert_string_equal(d.items[3].message, "unknown variable \"nothing\" in ${nothing}");
    diag_list_free(&d);
}

static void test_topology_dependency_on_a_broken_declaration_reports_only_its_error(void **unused)
{
    diag_list d = load_errors(
        "name: app\nproviders: { p: {} }\n"
        "firewalls:\n  fw: { count: x }\n"
        "instances:\n  web: { depends_on: [firewall.fw], ip: \"${firewall.fw[0].ip}\" }\n",
        NULL);
    assert_int_equal(d.count, 1);
    assert_string_equal(d.items[0].key, "firewalls.fw.count");
    diag_list_free(&d);
}

static void test_topology_loads_ten_thousand_resources(void **unused)
{
    util_buf b = {0};
    util_buf_puts(&b, "name: big\nproviders:\n  p: {}\nnetworks:\n  main: { cidr: 10.0.0.0/16 }\n"
                      "instances:\n");
    for (int i = 0; i < 9998; i++)
        util_buf_printf(&b, "  web%d: { size: small, network: \"${network.main.id}\", n: %d }\n", i,
                        i);
    util_buf_puts(&b, "load_balancers:\n  lb: { last: \"${instance.web9997.ip}\" }\n");
    topology *t = load_ok(b.data);
    assert_int_equal(t->nresources, 10000);
    const topo_resource *r = res(t, "instance.web5000");
    assert_ptr_equal(r, &t->resources[5001]);
    assert_json(r->config, "{\"size\":\"small\",\"network\":\"${network.main.id}\",\"n\":5000}");
    assert_deps(r, "network.main");
    assert_int_equal(r->loc.line, 5007);
    assert_deps(res(t, "load_balancer.lb"), "instance.web9997");
    topology_free(t);
    util_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topology_resources_keep_file_order_locations_and_yaml_order),
        cmocka_unit_test(test_topology_references_become_deduplicated_deps_never_self),
        cmocka_unit_test(test_topology_count_expands_from_a_variable_and_zero_declares_nothing),
        cmocka_unit_test(test_topology_splat_lists_every_instance_as_a_dependency),
        cmocka_unit_test(test_topology_bad_references_are_load_errors_with_suggestions),
        cmocka_unit_test(test_topology_cluster_nodes_become_instances_on_their_provider),
        cmocka_unit_test(test_topology_cluster_scheduler_resources_follow_the_nodes),
        cmocka_unit_test(test_topology_datacenter_settings_refer_to_resources_and_wait_for_depends_on),
        cmocka_unit_test(test_topology_cluster_references_name_the_matching_nodes),
        cmocka_unit_test(test_topology_cluster_errors_point_at_the_cluster),
        cmocka_unit_test(test_topology_jobs_and_apps_run_on_declared_cluster_regions),
        cmocka_unit_test(test_topology_outputs_keep_references_and_record_deps),
        cmocka_unit_test(test_topology_locate_finds_attribute_then_resource),
        cmocka_unit_test(test_topology_provider_is_the_only_one_or_must_be_named),
        cmocka_unit_test(test_topology_images_are_data_sources_and_resources_takes_any_type),
        cmocka_unit_test(test_topology_literal_dollar_brace_survives_to_the_config),
        cmocka_unit_test(
            test_topology_meta_key_misspellings_are_errors_but_similar_settings_are_not),
        cmocka_unit_test(test_topology_top_level_keys_and_name_are_checked),
        cmocka_unit_test(test_topology_collects_several_errors_in_one_load),
        cmocka_unit_test(test_topology_dependency_on_a_broken_declaration_reports_only_its_error),
        cmocka_unit_test(test_topology_loads_ten_thousand_resources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
