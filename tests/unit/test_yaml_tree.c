/* The YAML tree: locations, core-schema scalars, anchors and merge keys,
 * and the documents it refuses (syntax errors, duplicate keys, several
 * documents, alias bombs, deep nesting). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "infra/plugin.h"
#include "base/util.h"
#include "topology/yaml_tree.h"

static ytree *parse_ok(const char *text)
{
    diag_list d = {0};
    ytree *doc = NULL;
    int rc = ytree_parse("t.yaml", text, strlen(text), &doc, &d);
    if (rc != 0)
        diag_print(&d, stderr);
    assert_int_equal(rc, 0);
    assert_int_equal(d.count, 0);
    diag_list_free(&d);
    return doc;
}

/* The first diagnostic of a document that must be refused; caller frees. */
static char *parse_error(const char *text)
{
    diag_list d = {0};
    ytree *doc = NULL;
    int rc = ytree_parse("t.yaml", text, strlen(text), &doc, &d);
    assert_int_equal(rc, INFRA_EINVALID);
    assert_null(doc);
    assert_true(d.count >= 1);
    char *line = diag_format(&d.items[0]);
    diag_list_free(&d);
    return line;
}

static void test_ytree_records_line_and_column_of_every_node(void **unused)
{
    ytree *doc = parse_ok("name: app\n"
                          "instances:\n"
                          "  web:\n"
                          "    ports: [22, 80]\n"
                          "    tags: { role: web }\n");
    const ytree_node *root = doc->root;
    assert_int_equal(root->type, YTREE_MAP);
    assert_int_equal(root->npairs, 2);
    const ytree_node *name = ytree_get(root, "name");
    assert_int_equal(name->line, 1);
    assert_int_equal(name->column, 7);
    assert_int_equal(root->pairs[1].key->line, 2);
    assert_int_equal(root->pairs[1].key->column, 1);
    const ytree_node *web = ytree_get(ytree_get(root, "instances"), "web");
    const ytree_node *ports = ytree_get(web, "ports");
    assert_int_equal(ports->type, YTREE_LIST);
    assert_int_equal(ports->nitems, 2);
    assert_int_equal(ports->items[1]->line, 4);
    assert_int_equal(ports->items[1]->column, 17);
    const ytree_node *role = ytree_get(ytree_get(web, "tags"), "role");
    assert_int_equal(role->line, 5);
    assert_int_equal(role->column, 19);
    diag_loc loc = ytree_loc(doc, role);
    assert_string_equal(loc.file, "t.yaml");
    assert_int_equal(loc.line, 5);
    ytree_free(doc);
}

static void test_ytree_resolves_plain_scalars_with_the_core_schema(void **unused)
{
    ytree *doc = parse_ok("a: 42\nb: -7\nc: 0x1F\nd: 0o17\ne: 2.5\nf: 1e3\ng: true\nh: False\n"
                          "i: null\nj: ~\nk:\nl: \"42\"\nm: 'true'\nn: !!str 12\no: yes\np: 1.0.0\n"
                          "q: ${n}\nr: !!int \"12\"\n");
    const ytree_node *r = doc->root;
    assert_int_equal(ytree_get(r, "a")->type, YTREE_INT);
    assert_int_equal(ytree_get(r, "a")->integer, 42);
    assert_int_equal(ytree_get(r, "b")->integer, -7);
    assert_int_equal(ytree_get(r, "c")->integer, 31);
    assert_int_equal(ytree_get(r, "d")->integer, 15);
    assert_int_equal(ytree_get(r, "e")->type, YTREE_FLOAT);
    assert_true(ytree_get(r, "e")->number == 2.5);
    assert_int_equal(ytree_get(r, "f")->type, YTREE_FLOAT);
    assert_int_equal(ytree_get(r, "g")->type, YTREE_BOOL);
    assert_int_equal(ytree_get(r, "g")->boolean, 1);
    assert_int_equal(ytree_get(r, "h")->boolean, 0);
    assert_int_equal(ytree_get(r, "i")->type, YTREE_NULL);
    assert_int_equal(ytree_get(r, "j")->type, YTREE_NULL);
    assert_int_equal(ytree_get(r, "k")->type, YTREE_NULL);
    /* Quoted scalars and !!str are strings; YAML 1.1 words are not booleans. */
    assert_int_equal(ytree_get(r, "l")->type, YTREE_STRING);
    assert_string_equal(ytree_get(r, "l")->text, "42");
    assert_int_equal(ytree_get(r, "m")->type, YTREE_STRING);
    assert_int_equal(ytree_get(r, "n")->type, YTREE_STRING);
    assert_int_equal(ytree_get(r, "o")->type, YTREE_STRING);
    assert_int_equal(ytree_get(r, "p")->type, YTREE_STRING);
    assert_int_equal(ytree_get(r, "q")->type, YTREE_STRING);
    assert_string_equal(ytree_get(r, "q")->text, "${n}");
    assert_int_equal(ytree_get(r, "r")->type, YTREE_INT);
    assert_int_equal(ytree_get(r, "r")->integer, 12);
    ytree_free(doc);
}

static void test_ytree_aliases_share_the_anchored_node(void **unused)
{
    ytree *doc = parse_ok("base: &b { size: small, tags: [a] }\n"
                          "copy: *b\n"
                          "word: &w hello\n"
                          "again: *w\n");
    const ytree_node *base = ytree_get(doc->root, "base");
    assert_ptr_equal(ytree_get(doc->root, "copy"), base);
    assert_string_equal(ytree_get(doc->root, "again")->text, "hello");
    /* The expanded weight counts the alias twice. */
    assert_true(doc->root->weight > 2 * base->weight);
    json_t *j = ytree_to_json(doc->root);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "copy"), "size")),
                        "small");
    json_decref(j);
    ytree_free(doc);
}

static void test_ytree_merge_key_gives_way_to_explicit_keys(void **unused)
{
    ytree *doc = parse_ok("defaults: &d { size: small, image: img-1 }\n"
                          "extra: &e { zone: a, size: tiny }\n"
                          "web:\n"
                          "  <<: [*d, *e]\n"
                          "  size: large\n");
    const ytree_node *web = ytree_get(doc->root, "web");
    assert_int_equal(web->npairs, 3);
    /* Merged keys take the place of <<, explicit keys win, earlier sources win. */
    assert_string_equal(web->pairs[0].key->text, "image");
    assert_string_equal(web->pairs[1].key->text, "zone");
    assert_string_equal(web->pairs[2].key->text, "size");
    assert_string_equal(ytree_get(web, "size")->text, "large");
    /* A merged value keeps the location where it was written. */
    assert_int_equal(ytree_get(web, "image")->line, 1);
    ytree_free(doc);
}

static void test_ytree_duplicate_key_is_an_error_at_the_repetition(void **unused)
{
    char *line = parse_error("instances:\n  web:\n    count: 1\n    size: a\n    count: 2\n");
    assert_string_equal(line, "t.yaml:5:5: error: instances.web.count: duplicate key \"count\" "
                              "(first at line 3, column 5)");
    free(line);
}

static void test_ytree_duplicate_key_in_a_large_mapping_is_found(void **unused)
{
    util_buf b = {0};
    util_buf_puts(&b, "instances:\n");
    for (int i = 0; i < 40; i++)
        util_buf_printf(&b, "  n%d: {}\n", i);
    util_buf_puts(&b, "  n7: {}\n");
    char *line = parse_error(b.data);
    assert_string_equal(line, "t.yaml:42:3: error: instances.n7: duplicate key \"n7\" (first at "
                              "line 9, column 3)");
    free(line);
    util_buf_free(&b);
}

static void test_ytree_syntax_error_gives_the_libyaml_problem_and_place(void **unused)
{
    char *line = parse_error("name: app\ninstances:\n  web: [1, 2\n  db: {}\n");
    assert_non_null(strstr(line, "t.yaml:"));
    assert_non_null(strstr(line, ": error: YAML syntax error: "));
    free(line);
    line = parse_error("a: b: c\n");
    assert_string_equal(line, "t.yaml:1:5: error: YAML syntax error: mapping values are not "
                              "allowed in this context");
    free(line);
}

static void test_ytree_second_document_is_an_error(void **unused)
{
    char *line = parse_error("name: a\n---\nname: b\n");
    assert_string_equal(line, "t.yaml:2:1: error: more than one YAML document: a topology is a "
                              "single document");
    free(line);
}

static void test_ytree_alias_bomb_is_refused(void **unused)
{
    util_buf b = {0};
    util_buf_puts(&b, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 9; i++) {
        util_buf_printf(&b, "a%d: &a%d [", i, i);
        for (int k = 0; k < 10; k++)
            util_buf_printf(&b, "%s*a%d", k ? ", " : "", i - 1);
        util_buf_puts(&b, "]\n");
    }
    char *line = parse_error(b.data);
    assert_non_null(strstr(line, "aliases expand to more than"));
    free(line);
    util_buf_free(&b);
}

static void test_ytree_deep_nesting_is_refused(void **unused)
{
    util_buf b = {0};
    for (int i = 0; i < 300; i++)
        util_buf_puts(&b, "[");
    for (int i = 0; i < 300; i++)
        util_buf_puts(&b, "]");
    char *line = parse_error(b.data);
    assert_non_null(strstr(line, "nested deeper than 256 levels"));
    free(line);
    util_buf_free(&b);
}

static void test_ytree_alias_before_its_anchor_is_an_error(void **unused)
{
    char *line = parse_error("a: *x\nb: &x 1\n");
    assert_string_equal(line, "t.yaml:1:4: error: a: alias *x refers to no anchor &x defined "
                              "before it");
    free(line);
    /* An alias inside its own anchor would be a cycle: the anchor is not defined yet. */
    line = parse_error("a: &x [1, *x]\n");
    assert_non_null(strstr(line, "alias *x refers to no anchor"));
    free(line);
}

static void test_ytree_refuses_what_json_cannot_hold(void **unused)
{
    char *line = parse_error("a: \"x\\0y\"\n");
    assert_non_null(strstr(line, "NUL character"));
    free(line);
    line = parse_error("a: 99999999999999999999\n");
    assert_string_equal(line, "t.yaml:1:4: error: a: integer 99999999999999999999 is out of range");
    free(line);
    line = parse_error("a: .inf\n");
    assert_non_null(strstr(line, "infinite and NaN"));
    free(line);
    line = parse_error("a: !custom x\n");
    assert_string_equal(line, "t.yaml:1:4: error: a: unsupported tag \"!custom\"");
    free(line);
    line = parse_error("? [a]\n: b\n");
    assert_non_null(strstr(line, "a mapping key must be a scalar"));
    free(line);
}

static void test_ytree_empty_document_has_no_root(void **unused)
{
    ytree *doc = parse_ok("# only a comment\n");
    assert_null(doc->root);
    ytree_free(doc);
}

static void test_ytree_to_json_keeps_document_order(void **unused)
{
    ytree *doc = parse_ok("z: 1\na: [true, null, 2.5, x]\nm: { b: 1, a: 2 }\n");
    json_t *j = ytree_to_json(doc->root);
    char *text = json_dumps(j, JSON_COMPACT);
    assert_string_equal(text, "{\"z\":1,\"a\":[true,null,2.5,\"x\"],\"m\":{\"b\":1,\"a\":2}}");
    free(text);
    json_decref(j);
    ytree_free(doc);
}

static void test_ytree_merge_overlays_mappings_deeply_without_changing_inputs(void **unused)
{
    ytree *doc = parse_ok("base:\n  instances:\n    web: { size: small, count: 2 }\n"
                          "  networks: { main: {} }\n"
                          "over:\n  instances:\n    web: { size: large }\n    db: {}\n");
    const ytree_node *base = ytree_get(doc->root, "base"), *over = ytree_get(doc->root, "over");
    const ytree_node *m = ytree_merge(doc, base, over);
    const ytree_node *web = ytree_get(ytree_get(m, "instances"), "web");
    assert_string_equal(ytree_get(web, "size")->text, "large");
    assert_int_equal(ytree_get(web, "count")->integer, 2);
    assert_non_null(ytree_get(ytree_get(m, "instances"), "db"));
    assert_non_null(ytree_get(m, "networks"));
    /* The base is untouched. */
    assert_string_equal(ytree_get(ytree_get(ytree_get(base, "instances"), "web"), "size")->text,
                        "small");
    assert_null(ytree_get(ytree_get(base, "instances"), "db"));
    ytree_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ytree_records_line_and_column_of_every_node),
        cmocka_unit_test(test_ytree_resolves_plain_scalars_with_the_core_schema),
        cmocka_unit_test(test_ytree_aliases_share_the_anchored_node),
        cmocka_unit_test(test_ytree_merge_key_gives_way_to_explicit_keys),
        cmocka_unit_test(test_ytree_duplicate_key_is_an_error_at_the_repetition),
        cmocka_unit_test(test_ytree_duplicate_key_in_a_large_mapping_is_found),
        cmocka_unit_test(test_ytree_syntax_error_gives_the_libyaml_problem_and_place),
        cmocka_unit_test(test_ytree_second_document_is_an_error),
        cmocka_unit_test(test_ytree_alias_bomb_is_refused),
        cmocka_unit_test(test_ytree_deep_nesting_is_refused),
        cmocka_unit_test(test_ytree_alias_before_its_anchor_is_an_error),
        cmocka_unit_test(test_ytree_refuses_what_json_cannot_hold),
        cmocka_unit_test(test_ytree_empty_document_has_no_root),
        cmocka_unit_test(test_ytree_to_json_keeps_document_order),
        cmocka_unit_test(test_ytree_merge_overlays_mappings_deeply_without_changing_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
