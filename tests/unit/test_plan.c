/* Plans against an in-process provider: each action with its reasons,
 * unknown values after a create or replace, drift, sensitive values. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_engine_fake.h"
#include "base/unknown.h"

static const char base_yaml[] =
    "name: plantest\n"
    "providers:\n"
    "  fake: {}\n"
    "networks:\n"
    "  main: { cidr: 10.0.0.0/24 }\n"
    "instances:\n"
    "  web:\n"
    "    count: 2\n"
    "    size: %s\n"
    "    image: img-1\n"
    "    network: \"${network.main.id}\"\n"
    "    password: %s\n";

static char *topo(const char *size, const char *password)
{
    return util_printf(base_yaml, size, password);
}

static fixture *applied(const char *size, const char *password)
{
    fixture *fx = fixture_new();
    char *yaml = topo(size, password);
    fixture_open(fx, yaml);
    free(yaml);
    engine_apply_summary sum;
    assert_int_equal(fixture_apply(fx, &sum), 0);
    assert_int_equal(sum.done, 3);
    return fx;
}

static void reopen(fixture *fx, const char *yaml)
{
    fixture_open(fx, yaml);
}

static void test_plan_on_empty_state_creates_all_with_references_unknown(void **unused)
{
    fixture *fx = fixture_new();
    char *yaml = topo("small", "pw-not-shown-1");
    fixture_open(fx, yaml);
    free(yaml);
    plan *p = fixture_plan(fx, 1);
    assert_int_equal(p->ncreate, 3);
    assert_int_equal(plan_changes(p), 3);
    const plan_item *web = item(p, "instance.web[1]");
    assert_int_equal(web->action, PLAN_CREATE);
    assert_true(unknown_is(json_object_get(web->desired, "network")));
    assert_string_equal(json_string_value(json_object_get(web->desired, "size")), "small");
    fixture_free(fx);
}

static void test_plan_after_apply_has_no_changes_with_or_without_refresh(void **unused)
{
    fixture *fx = applied("small", "pw-not-shown-2");
    plan *p = fixture_plan(fx, 1);
    assert_int_equal(plan_changes(p), 0);
    assert_int_equal(item(p, "instance.web[0]")->action, PLAN_NOOP);
    p = fixture_plan(fx, 0);
    assert_int_equal(plan_changes(p), 0);
    fixture_free(fx);
}

static void test_plan_changed_attribute_is_an_update_naming_it(void **unused)
{
    fixture *fx = applied("small", "pw-not-shown-3");
    char *yaml = topo("large", "pw-not-shown-3");
    reopen(fx, yaml);
    free(yaml);
    plan *p = fixture_plan(fx, 1);
    assert_int_equal(p->nupdate, 2);
    assert_int_equal(plan_changes(p), 2);
    assert_int_equal(item(p, "instance.web[0]")->action, PLAN_UPDATE);
    assert_true(reasons_are(item(p, "instance.web[0]"), "size"));
    assert_int_equal(item(p, "network.main")->action, PLAN_NOOP);
    fixture_free(fx);
}

static void test_plan_force_new_change_replaces_and_dependents_see_unknown(void **unused)
{
    fixture *fx = applied("small", "pw-not-shown-4");
    char *yaml = topo("small", "pw-not-shown-4");
    char *changed = util_printf("%.*s10.9.0.0/24%s", (int)(strstr(yaml, "10.0.0.0/24") - yaml),
                                yaml, strstr(yaml, "10.0.0.0/24") + strlen("10.0.0.0/24"));
    reopen(fx, changed);
    free(changed);
    free(yaml);
    plan *p = fixture_plan(fx, 1);
    const plan_item *net = item(p, "network.main");
    assert_int_equal(net->action, PLAN_REPLACE);
    assert_true(reasons_are(net, "cidr"));
    const plan_item *web = item(p, "instance.web[0]");
    assert_int_equal(web->action, PLAN_UPDATE);
    assert_true(reasons_are(web, "network"));
    assert_true(unknown_is(json_object_get(web->desired, "network")));
    assert_int_equal(p->nreplace, 1);
    assert_int_equal(p->nupdate, 2);
    fixture_free(fx);
}

static void test_plan_force_new_change_of_an_instance_replaces_it(void **unused)
{
    fixture *fx = applied("small", "pw-not-shown-5");
    char *yaml = topo("small", "pw-not-shown-5");
    char *at = strstr(yaml, "img-1");
    at[4] = '2';
    reopen(fx, yaml);
    free(yaml);
    plan *p = fixture_plan(fx, 1);
    assert_int_equal(item(p, "instance.web[1]")->action, PLAN_REPLACE);
    assert_true(reasons_are(item(p, "instance.web[1]"), "image"));
    assert_int_equal(p->nreplace, 2);
    fixture_free(fx);
}

static void test_plan_resource_removed_from_topology_is_deleted(void **unused)
{
    fixture *fx = applied("small", "pw-not-shown-6");
    char *yaml = topo("small", "pw-not-shown-6");
    char *count = strstr(yaml, "count: 2");
    count[7] = '1';
    reopen(fx, yaml);
    free(yaml);
    plan *p = fixture_plan(fx, 1);
    assert_int_equal(item(p, "instance.web[1]")->action, PLAN_DELETE);
    assert_null(item(p, "instance.web[1]")->res);
    assert_int_equal(item(p, "instance.web[0]")->action, PLAN_NOOP);
    assert_int_equal(p->ndelete, 1);
    assert_int_equal(plan_changes(p), 1);
    fixture_free(fx);
}

static void test_plan_drift_outside_infra_is_shown_and_planned_back(void **unused)
{
    fixture *fx = applied("small", "pw-not-shown-7");
    json_t *obj = fake_object_of("instance.web[0]");
    json_object_set_new(json_object_get(obj, "attrs"), "size", json_string("large"));
    plan *p = fixture_plan(fx, 1);
    const plan_item *web = item(p, "instance.web[0]");
    assert_non_null(web->drift);
    assert_string_equal(json_string_value(json_array_get(web->drift, 0)), "size");
    assert_int_equal(web->action, PLAN_UPDATE);
    assert_true(reasons_are(web, "size"));
    assert_int_equal(item(p, "instance.web[1]")->action, PLAN_NOOP);
    p = fixture_plan(fx, 0); /* without refresh nothing is seen */
    assert_int_equal(plan_changes(p), 0);
    fixture_free(fx);
}

static void test_plan_object_deleted_outside_infra_is_created_again(void **unused)
{
    fixture *fx = applied("small", "pw-not-shown-8");
    json_object_del(fake.objects,
                    json_string_value(json_object_get(
                        json_object_get(fake_object_of("instance.web[1]"), "attrs"), "id")));
    plan *p = fixture_plan(fx, 1);
    const plan_item *web = item(p, "instance.web[1]");
    assert_true(web->gone);
    assert_int_equal(web->action, PLAN_CREATE);
    assert_int_equal(p->ncreate, 1);
    engine_apply_summary sum;
    assert_int_equal(engine_apply(fx->e, p, &sum), 0);
    assert_int_equal(fake_count("instance"), 2);
    fixture_free(fx);
}

static void test_plan_sensitive_value_is_hashed_in_state_and_a_change_is_detected(void **unused)
{
    fixture *fx = applied("small", "pw-not-shown-9");
    char *text = fixture_state_text(fx);
    assert_null(strstr(text, "pw-not-shown-9"));
    free(text);
    json_t *entry = state_get(fx->e->st, "instance.web[0]");
    const char *stored = json_string_value(json_object_get(json_object_get(entry, "config"),
                                                           "password"));
    assert_non_null(stored);
    assert_memory_equal(stored, "hmac-sha256:", 12); /* keyed: services/secrets_hash.c */
    assert_int_equal(strlen(stored), 12 + 64);
    assert_null(json_object_get(json_object_get(entry, "attributes"), "password"));
    json_decref(entry);

    char *yaml = topo("small", "pw-changed-10");
    reopen(fx, yaml);
    free(yaml);
    plan *p = fixture_plan(fx, 1);
    assert_int_equal(item(p, "instance.web[0]")->action, PLAN_UPDATE);
    assert_true(reasons_are(item(p, "instance.web[0]"), "password"));
    json_t *doc = plan_json(p);
    char *dump = json_dumps(doc, 0);
    assert_null(strstr(dump, "pw-changed-10"));
    assert_null(strstr(dump, "pw-not-shown-9"));
    assert_non_null(strstr(dump, ENGINE_SENSITIVE));
    free(dump);
    json_decref(doc);

    char *human = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&human, &len);
    plan_print(p, out, 0);
    fclose(out);
    assert_null(strstr(human, "pw-changed-10"));
    assert_non_null(strstr(human, "~ password = (sensitive) -> (sensitive)"));
    assert_non_null(strstr(human, "Plan: 0 to create, 2 to update, 0 to replace, 0 to delete."));
    free(human);
    fixture_free(fx);
}

static void test_plan_json_lists_each_change_with_action_and_reasons(void **unused)
{
    fixture *fx = applied("small", "pw-not-shown-11");
    char *yaml = topo("large", "pw-not-shown-11");
    reopen(fx, yaml);
    free(yaml);
    plan *p = fixture_plan(fx, 1);
    json_t *doc = plan_json(p);
    assert_int_equal(json_array_size(doc), 2);
    json_t *first = json_array_get(doc, 0);
    assert_string_equal(json_string_value(json_object_get(first, "action")), "update");
    assert_string_equal(json_string_value(json_array_get(json_object_get(first, "reasons"), 0)),
                        "size");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(first, "before"), "size")), "small");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(first, "after"), "size")), "large");
    json_decref(doc);
    fixture_free(fx);
}

static void test_plan_print_says_no_changes_when_up_to_date(void **unused)
{
    fixture *fx = applied("small", "pw-not-shown-12");
    plan *p = fixture_plan(fx, 1);
    char *human = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&human, &len);
    plan_print(p, out, 0);
    fclose(out);
    assert_string_equal(human, "No changes.\n");
    free(human);
    fixture_free(fx);
}

static void test_plan_refuses_to_delete_a_resource_with_prevent_destroy(void **unused)
{
    fixture *fx = applied("small", "pw-not-shown-13");
    /* Mark the entry as applied with prevent_destroy, then drop it from
     * the topology. */
    json_t *old = state_get(fx->e->st, "instance.web[1]");
    json_t *entry = json_deep_copy(old);
    json_decref(old);
    json_object_set_new(entry, "prevent_destroy", json_true());
    state_put(fx->e->st, "instance.web[1]", entry);
    char *yaml = topo("small", "pw-not-shown-13");
    strstr(yaml, "count: 2")[7] = '1';
    reopen(fx, yaml);
    free(yaml);
    plan *p = NULL;
    assert_int_equal(plan_build(fx->e, 1, &p), INFRA_EINVALID);
    assert_true(fx->e->diags.errors >= 1);
    assert_non_null(strstr(fx->e->diags.items[0].message, "prevent_destroy"));
    assert_non_null(strstr(fx->e->diags.items[0].message, "instance.web[1]"));
    plan_free(p);
    fixture_free(fx);
}

/* What a plugin is given has the types its schema declares, also when it
 * comes through a reference: an integer attribute read into a string one
 * arrives as text, and text the user wrote that looks like the CLI's word
 * for an unknown value is applied as the text it is. */
static void test_plan_converts_referenced_values_and_keeps_user_text(void **unused)
{
    fixture *fx = fixture_new();
    fixture_open(fx, "name: plantest\n"
                     "providers:\n  fake: {}\n"
                     "instances:\n"
                     "  a: { size: small, disk_gb: \"20\" }\n"
                     "  b: { size: small, user_data: \"${instance.a.disk_gb}\", "
                     "tags: { note: \"(known after apply)\" } }\n"
                     "  c: { size: small, user_data: \"(known after apply)\" }\n");
    engine_apply_summary sum;
    assert_int_equal(fixture_apply(fx, &sum), 0);
    assert_int_equal(sum.done, 3);
    json_t *a = json_object_get(fake_object_of("instance.a"), "attrs");
    json_t *b = json_object_get(fake_object_of("instance.b"), "attrs");
    json_t *c = json_object_get(fake_object_of("instance.c"), "attrs");
    assert_true(json_is_integer(json_object_get(a, "disk_gb")));
    assert_string_equal(json_string_value(json_object_get(b, "user_data")), "20");
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "tags"), "note")),
                        "(known after apply)");
    assert_string_equal(json_string_value(json_object_get(c, "user_data")),
                        "(known after apply)");
    plan *p = fixture_plan(fx, 1);
    assert_int_equal(plan_changes(p), 0);
    fixture_free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_on_empty_state_creates_all_with_references_unknown),
        cmocka_unit_test(test_plan_after_apply_has_no_changes_with_or_without_refresh),
        cmocka_unit_test(test_plan_changed_attribute_is_an_update_naming_it),
        cmocka_unit_test(test_plan_force_new_change_replaces_and_dependents_see_unknown),
        cmocka_unit_test(test_plan_force_new_change_of_an_instance_replaces_it),
        cmocka_unit_test(test_plan_resource_removed_from_topology_is_deleted),
        cmocka_unit_test(test_plan_drift_outside_infra_is_shown_and_planned_back),
        cmocka_unit_test(test_plan_object_deleted_outside_infra_is_created_again),
        cmocka_unit_test(test_plan_sensitive_value_is_hashed_in_state_and_a_change_is_detected),
        cmocka_unit_test(test_plan_json_lists_each_change_with_action_and_reasons),
        cmocka_unit_test(test_plan_print_says_no_changes_when_up_to_date),
        cmocka_unit_test(test_plan_refuses_to_delete_a_resource_with_prevent_destroy),
        cmocka_unit_test(test_plan_converts_referenced_values_and_keeps_user_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
