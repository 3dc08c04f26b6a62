/* The JSON service plugins see: every slot, iteration and ownership
 * (the suite also runs under ASan, which catches a wrong reference count). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/host.h"

static const infra_json_api *J;

static int setup(void **state)
{
    J = host_table()->json;
    return J ? 0 : -1;
}

static void test_host_json_table_fills_every_slot(void **state)
{
    assert_int_equal(J->size, sizeof(infra_json_api));
    assert_true(INFRA_HAS_SLOT(J, parse));
    assert_true(INFRA_HAS_SLOT(J, dump));
    assert_true(INFRA_HAS_SLOT(J, release));
    assert_true(INFRA_HAS_SLOT(J, type));
    assert_true(INFRA_HAS_SLOT(J, get));
    assert_true(INFRA_HAS_SLOT(J, length));
    assert_true(INFRA_HAS_SLOT(J, at));
    assert_true(INFRA_HAS_SLOT(J, next));
    assert_true(INFRA_HAS_SLOT(J, string));
    assert_true(INFRA_HAS_SLOT(J, integer));
    assert_true(INFRA_HAS_SLOT(J, real));
    assert_true(INFRA_HAS_SLOT(J, boolean));
    assert_true(INFRA_HAS_SLOT(J, new_object));
    assert_true(INFRA_HAS_SLOT(J, new_array));
    assert_true(INFRA_HAS_SLOT(J, new_string));
    assert_true(INFRA_HAS_SLOT(J, new_integer));
    assert_true(INFRA_HAS_SLOT(J, new_real));
    assert_true(INFRA_HAS_SLOT(J, new_bool));
    assert_true(INFRA_HAS_SLOT(J, new_null));
    assert_true(INFRA_HAS_SLOT(J, set));
    assert_true(INFRA_HAS_SLOT(J, append));
    assert_true(INFRA_HAS_SLOT(J, remove));
    assert_true(INFRA_HAS_SLOT(J, copy));
    assert_true(INFRA_HAS_SLOT(J, equal));
    assert_true(INFRA_HAS_SLOT(J, new_unknown));
    assert_true(INFRA_HAS_SLOT(J, get_mutable));
    assert_true(INFRA_HAS_SLOT(J, at_mutable));
}

static void test_host_json_parse_reads_every_type_and_dump_is_compact(void **state)
{
    const char *text = "{\"s\": \"text\", \"i\": -42, \"r\": 2.5, \"t\": true, \"f\": false,"
                       " \"n\": null, \"a\": [1, \"two\", [3]], \"o\": {\"k\": \"v\"}}";
    infra_json *doc = J->parse(text, strlen(text));
    assert_non_null(doc);
    assert_int_equal(J->type(doc), INFRA_JSON_OBJECT);
    assert_int_equal(J->length(doc), 8);
    assert_int_equal(J->type(J->get(doc, "s")), INFRA_JSON_STRING);
    assert_string_equal(J->string(J->get(doc, "s")), "text");
    assert_int_equal(J->type(J->get(doc, "i")), INFRA_JSON_INT);
    assert_int_equal(J->integer(J->get(doc, "i")), -42);
    assert_true(J->real(J->get(doc, "i")) == -42.0);
    assert_int_equal(J->type(J->get(doc, "r")), INFRA_JSON_REAL);
    assert_true(J->real(J->get(doc, "r")) == 2.5);
    assert_int_equal(J->integer(J->get(doc, "r")), 2);
    assert_int_equal(J->type(J->get(doc, "t")), INFRA_JSON_BOOL);
    assert_int_equal(J->boolean(J->get(doc, "t")), 1);
    assert_int_equal(J->boolean(J->get(doc, "f")), 0);
    assert_int_equal(J->type(J->get(doc, "n")), INFRA_JSON_NULL);
    assert_non_null(J->get(doc, "n"));
    assert_null(J->get(doc, "missing"));
    assert_int_equal(J->type(NULL), INFRA_JSON_NULL);

    const infra_json *a = J->get(doc, "a");
    assert_int_equal(J->type(a), INFRA_JSON_ARRAY);
    assert_int_equal(J->length(a), 3);
    assert_int_equal(J->integer(J->at(a, 0)), 1);
    assert_string_equal(J->string(J->at(a, 1)), "two");
    assert_int_equal(J->length(J->at(a, 2)), 1);
    assert_null(J->at(a, 3));
    assert_string_equal(J->string(J->get(J->get(doc, "o"), "k")), "v");

    /* Accessors on the wrong type answer neutrally instead of crashing. */
    assert_null(J->string(J->get(doc, "i")));
    assert_int_equal(J->integer(J->get(doc, "s")), 0);
    assert_true(J->real(J->get(doc, "s")) == 0.0);
    assert_int_equal(J->boolean(J->get(doc, "s")), 0);
    assert_null(J->get(a, "k"));
    assert_null(J->at(doc, 0));
    assert_int_equal(J->length(J->get(doc, "s")), 0);

    char *dumped = J->dump(J->get(doc, "a"));
    assert_string_equal(dumped, "[1,\"two\",[3]]");
    host_table()->free(dumped);
    dumped = J->dump(NULL);
    assert_string_equal(dumped, "null");
    host_table()->free(dumped);
    J->release(doc);
}

static void test_host_json_parse_takes_length_and_accepts_scalars(void **state)
{
    infra_json *v = J->parse("12345", 3);
    assert_non_null(v);
    assert_int_equal(J->integer(v), 123);
    J->release(v);
    v = J->parse("\"s\"", 3);
    assert_string_equal(J->string(v), "s");
    J->release(v);
    assert_null(J->parse("{nope", 5));
    assert_null(J->parse("", 0));
    assert_null(J->parse(NULL, 0));
    J->release(NULL);
}

static void test_host_json_next_iterates_members_in_insertion_order(void **state)
{
    infra_json *o = J->new_object();
    const char *names[] = {"zeta", "alpha", "mid"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(J->set(o, names[i], J->new_integer(i)), 0);

    void *iter = NULL;
    const char *key;
    const infra_json *value;
    int n = 0;
    while (J->next(o, &iter, &key, &value)) {
        assert_true(n < 3);
        assert_string_equal(key, names[n]);
        assert_int_equal(J->integer(value), n);
        n++;
    }
    assert_int_equal(n, 3);
    assert_null(iter); /* reset, so the same variable starts a new loop */
    assert_int_equal(J->next(o, &iter, &key, &value), 1);
    assert_string_equal(key, "zeta");

    infra_json *empty = J->new_object();
    iter = NULL;
    assert_int_equal(J->next(empty, &iter, &key, &value), 0);
    infra_json *arr = J->new_array();
    iter = NULL;
    assert_int_equal(J->next(arr, &iter, &key, &value), 0);
    J->release(arr);
    J->release(empty);
    J->release(o);
}

static void test_host_json_constructors_build_what_they_say(void **state)
{
    infra_json *v = J->new_string("héllo");
    assert_int_equal(J->type(v), INFRA_JSON_STRING);
    assert_string_equal(J->string(v), "héllo");
    J->release(v);
    assert_null(J->new_string("\xff\xfe not utf-8"));
    assert_null(J->new_string(NULL));

    v = J->new_integer(INT64_MAX);
    assert_int_equal(J->type(v), INFRA_JSON_INT);
    assert_true(J->integer(v) == INT64_MAX);
    J->release(v);
    v = J->new_real(0.25);
    assert_int_equal(J->type(v), INFRA_JSON_REAL);
    assert_true(J->real(v) == 0.25);
    J->release(v);
    assert_null(J->new_real((double)NAN));
    assert_null(J->new_real((double)INFINITY));
    v = J->new_bool(7);
    assert_int_equal(J->type(v), INFRA_JSON_BOOL);
    assert_int_equal(J->boolean(v), 1);
    J->release(v);
    v = J->new_bool(0);
    assert_int_equal(J->boolean(v), 0);
    J->release(v);
    v = J->new_null();
    assert_int_equal(J->type(v), INFRA_JSON_NULL);
    J->release(v);

    /* Huge reals clamp instead of overflowing into undefined behaviour. */
    v = J->new_real(1e300);
    assert_true(J->integer(v) == INT64_MAX);
    J->release(v);
    v = J->new_real(-1e300);
    assert_true(J->integer(v) == INT64_MIN);
    J->release(v);
}

static void test_host_json_set_and_append_take_the_value_even_on_failure(void **state)
{
    infra_json *o = J->new_object();
    infra_json *a = J->new_array();

    assert_int_equal(J->set(o, "k", J->new_string("v1")), 0);
    assert_int_equal(J->set(o, "k", J->new_string("v2")), 0); /* replaces, frees v1 */
    assert_string_equal(J->string(J->get(o, "k")), "v2");
    assert_int_equal(J->append(a, J->new_integer(1)), 0);
    assert_int_equal(J->append(a, J->new_integer(2)), 0);
    assert_int_equal(J->length(a), 2);
    assert_int_equal(J->set(o, "list", a), 0); /* o now owns a */
    assert_int_equal(J->length(J->get(o, "list")), 2);

    /* Wrong target or key: the value is still taken (ASan reports a leak otherwise). */
    assert_int_equal(J->set(a, "k", J->new_string("lost")), INFRA_EINVALID);
    assert_int_equal(J->set(o, NULL, J->new_string("lost")), INFRA_EINVALID);
    assert_int_equal(J->set(o, "\xff", J->new_string("lost")), INFRA_EINVALID);
    assert_int_equal(J->append(o, J->new_integer(3)), INFRA_EINVALID);
    assert_int_equal(J->set(o, "k", NULL), INFRA_EINVALID);
    assert_int_equal(J->append(a, NULL), INFRA_EINVALID);

    char *text = J->dump(o);
    assert_string_equal(text, "{\"k\":\"v2\",\"list\":[1,2]}");
    host_table()->free(text);
    J->release(o);
}

static void test_host_json_remove_reports_missing_keys(void **state)
{
    infra_json *o = J->parse("{\"a\":1,\"b\":2}", 13);
    assert_int_equal(J->remove(o, "a"), 0);
    assert_null(J->get(o, "a"));
    assert_int_equal(J->length(o), 1);
    assert_int_equal(J->remove(o, "a"), INFRA_ENOTFOUND);
    infra_json *arr = J->new_array();
    assert_int_equal(J->remove(arr, "a"), INFRA_EINVALID);
    J->release(arr);
    J->release(o);
}

static void test_host_json_copy_is_deep_and_equal_compares_values(void **state)
{
    const char *text = "{\"a\":[1,{\"b\":\"c\"}],\"d\":1.5}";
    infra_json *orig = J->parse(text, strlen(text));
    infra_json *dup = J->copy(orig);
    assert_non_null(dup);
    assert_ptr_not_equal(dup, orig);
    assert_true(J->equal(orig, dup));

    /* Changing the copy's nested object leaves the original alone. */
    infra_json *inner = J->at_mutable(J->get_mutable(dup, "a"), 1);
    assert_int_equal(J->set(inner, "b", J->new_string("changed")), 0);
    assert_false(J->equal(orig, dup));
    assert_string_equal(J->string(J->get(J->at(J->get(orig, "a"), 1), "b")), "c");

    infra_json *reordered = J->parse("{\"d\":1.5,\"a\":[1,{\"b\":\"c\"}]}", 27);
    assert_true(J->equal(orig, reordered));
    infra_json *null_value = J->new_null();
    assert_true(J->equal(NULL, NULL));
    assert_true(J->equal(NULL, null_value));
    assert_false(J->equal(NULL, orig));
    assert_null(J->copy(NULL));

    J->release(null_value);
    J->release(reordered);
    J->release(dup);
    J->release(orig);
}

static void test_host_json_handles_are_jansson_values(void **state)
{
    json_t *j = json_pack("{s:i}", "n", 5);
    infra_json *h = host_json(j);
    assert_int_equal(J->integer(J->get(h, "n")), 5);
    assert_int_equal(J->set(h, "m", J->new_integer(6)), 0);
    assert_int_equal(json_integer_value(json_object_get(host_jansson(h), "m")), 6);
    J->release(h);
}

/* The unknown value is a type of its own that no text can forge. */
static void test_host_json_unknown_is_a_type_of_its_own(void **state)
{
    infra_json *u = J->new_unknown();
    assert_non_null(u);
    assert_int_equal(J->type(u), INFRA_JSON_UNKNOWN);
    assert_null(J->string(u));
    assert_int_equal(J->integer(u), 0);
    assert_int_equal(J->boolean(u), 0);
    assert_int_equal(J->length(u), 0);
    infra_json *again = J->new_unknown();
    assert_true(J->equal(u, again));
    infra_json *text = J->new_string("(known after apply)");
    assert_int_equal(J->type(text), INFRA_JSON_STRING);
    assert_false(J->equal(u, text));
    /* In a plan: copied like any value, dumped as null (JSON has no word
     * for it), never parsed back into existence. */
    infra_json *obj = J->new_object();
    assert_int_equal(J->set(obj, "id", J->copy(u)), 0);
    assert_int_equal(J->type(J->get(obj, "id")), INFRA_JSON_UNKNOWN);
    char *text_of = J->dump(obj);
    assert_string_equal(text_of, "{\"id\":null}");
    host_table()->free(text_of);
    const char *lookalike = "\"\\u00ffunknown\""; /* U+00FF is two bytes of UTF-8 */
    infra_json *parsed = J->parse(lookalike, strlen(lookalike));
    assert_int_equal(J->type(parsed), INFRA_JSON_STRING);
    J->release(parsed);
    J->release(obj);
    J->release(text);
    J->release(again);
    J->release(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_json_table_fills_every_slot),
        cmocka_unit_test(test_host_json_parse_reads_every_type_and_dump_is_compact),
        cmocka_unit_test(test_host_json_parse_takes_length_and_accepts_scalars),
        cmocka_unit_test(test_host_json_next_iterates_members_in_insertion_order),
        cmocka_unit_test(test_host_json_constructors_build_what_they_say),
        cmocka_unit_test(test_host_json_set_and_append_take_the_value_even_on_failure),
        cmocka_unit_test(test_host_json_remove_reports_missing_keys),
        cmocka_unit_test(test_host_json_copy_is_deep_and_equal_compares_values),
        cmocka_unit_test(test_host_json_handles_are_jansson_values),
        cmocka_unit_test(test_host_json_unknown_is_a_type_of_its_own),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
