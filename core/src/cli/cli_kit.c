/* `infra plugin test PLUGIN.so FIXTURE.yaml`: the conformance kit
 * (kit/kit.h), one line per check, or --json. A subcommand of infra
 * rather than a library to link: a plugin author runs the binary they
 * already have, with no test program to build, and the plugin is driven
 * by the same host table and call layer every infra command uses. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "kit/kit.h"

typedef struct kit_output {
    int json;
    json_t *checks; /* with json: every result */
    size_t count;
    size_t failed;
    size_t known; /* failed as the fixture expects */
} kit_output;

static void print_result(void *ud, const char *type, const char *check, kit_result result,
                         const char *detail)
{
    kit_output *out = ud;
    out->count++;
    out->failed += result == KIT_FAIL;
    out->known += result == KIT_KNOWN;
    if (out->json) {
        json_t *item =
            json_pack("{s:s, s:s, s:b}", "type", type, "check", check, "ok", result != KIT_FAIL);
        if (result == KIT_KNOWN)
            json_object_set_new(item, "known_failure", json_true());
        if (detail)
            json_object_set_new(item, "detail", json_string(detail));
        json_array_append_new(out->checks, item);
        return;
    }
    if (result == KIT_OK)
        printf("ok   %s %s\n", type, check);
    else if (result == KIT_KNOWN)
        printf("KNOWN %s %s (expect_fail): %s\n", type, check, detail ? detail : "");
    else
        printf("FAIL %s %s: %s\n", type, check, detail ? detail : "");
    fflush(stdout);
}

int cli_cmd_plugin_test(const cli_args *args)
{
    const char *plugin = args->positionals[0];
    const char *fixture = args->positionals[1];
    kit_fixture *f = NULL;
    diag_list diags = {0};
    kit_output out = {args->json, args->json ? json_array() : NULL, 0, 0, 0};
    char *err = NULL;
    int status = 1;

    if (kit_fixture_load(fixture, &f, &diags) < 0) {
        diag_print(&diags, stderr);
        goto done;
    }
    int rc = kit_run(plugin, f, print_result, &out, &err);
    if (rc < 0) {
        fprintf(stderr, "infra: plugin test: %s\n", err ? err : "cannot load the plugin");
        goto done;
    }
    status = rc == 0 && out.failed == 0 ? 0 : 1;
    if (args->json) {
        json_t *doc = json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:O}", "plugin", plugin, "fixture",
                                fixture, "ok", status == 0, "checks_run", (json_int_t)out.count,
                                "failed", (json_int_t)out.failed, "known_failures",
                                (json_int_t)out.known, "checks", out.checks);
        json_dumpf(doc, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(doc);
    } else {
        printf("%zu checks, %zu failed", out.count, out.failed);
        if (out.known)
            printf(", %zu known to fail", out.known);
        printf("\n");
    }
done:
    json_decref(out.checks);
    free(err);
    kit_fixture_free(f);
    diag_list_free(&diags);
    return status;
}
