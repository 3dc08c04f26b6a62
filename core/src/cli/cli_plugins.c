/* `infra plugins` and `infra plugin check FILE.so`: what the loader would
 * load, and why it would not. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "plugin/loader.h"
#include "base/util.h"

static const struct {
    uint32_t bit;
    const char *name;
} capability_names[] = {
    {INFRA_CAP_IMPORT, "import"},
    {INFRA_CAP_TOKEN_CREATE, "token-create"},
    {INFRA_CAP_READ_BY_TOKEN, "read-by-token"},
    {INFRA_CAP_CONCURRENT, "concurrent"},
    {INFRA_CAP_HOST_SLOTS_CHECKED, "host-slots-checked"},
};

#define NCAPABILITIES (sizeof(capability_names) / sizeof(capability_names[0]))

/* "import,concurrent", or "-" when no known bit is set; caller frees. */
static char *capabilities_text(uint32_t caps)
{
    util_buf b = {0};
    for (size_t i = 0; i < NCAPABILITIES; i++)
        if (caps & capability_names[i].bit)
            util_buf_printf(&b, "%s%s", b.len ? "," : "", capability_names[i].name);
    if (!b.len)
        util_buf_puts(&b, "-");
    return util_buf_take(&b);
}

static json_t *capabilities_json(uint32_t caps)
{
    json_t *list = json_array();
    for (size_t i = 0; i < NCAPABILITIES; i++)
        if (caps & capability_names[i].bit)
            json_array_append_new(list, json_string(capability_names[i].name));
    return list;
}

static json_t *plugin_json(const loader_plugin *p)
{
    const infra_plugin *d = p->desc;
    char *abi = util_printf("%u.%u", (unsigned)d->abi_major, (unsigned)d->abi_minor);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "name", d->name, "kind",
                          loader_kind_name(d->kind), "version", d->version, "abi", abi, "path",
                          p->path, "capabilities", capabilities_json(d->capabilities));
    free(abi);
    return o;
}

static json_t *dirs_json(char *const *dirs)
{
    json_t *list = json_array();
    for (size_t i = 0; dirs && dirs[i]; i++)
        json_array_append_new(list, json_string(dirs[i]));
    return list;
}

static void print_json(const loader *ld)
{
    json_t *plugins = json_array();
    json_t *refused = json_array();
    for (size_t i = 0; i < ld->nplugins; i++)
        json_array_append_new(plugins, plugin_json(&ld->plugins[i]));
    for (size_t i = 0; i < ld->nrefusals; i++)
        json_array_append_new(refused, json_pack("{s:s, s:s}", "path", ld->refused_files[i],
                                                 "reason", ld->refusals[i]));
    json_t *doc = json_pack("{s:o, s:o, s:o}", "plugins", plugins, "refused", refused, "searched",
                            dirs_json(ld->dirs));
    json_dumpf(doc, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(doc);
}

/* One table row, columns padded to width except the last. */
static void print_row(const char *const *cells, const size_t *width, size_t ncols)
{
    for (size_t c = 0; c + 1 < ncols; c++)
        printf("%-*s  ", (int)width[c], cells[c]);
    printf("%s\n", cells[ncols - 1]);
}

static void print_table(const loader *ld)
{
    static const char *const head[] = {"NAME", "KIND", "VERSION", "ABI", "PATH", "CAPABILITIES"};
    enum { NCOLS = sizeof(head) / sizeof(head[0]) };
    size_t width[NCOLS];
    char **cells = util_calloc(ld->nplugins * NCOLS + 1, sizeof(*cells));

    for (size_t c = 0; c < NCOLS; c++)
        width[c] = strlen(head[c]);
    for (size_t i = 0; i < ld->nplugins; i++) {
        const infra_plugin *d = ld->plugins[i].desc;
        char **row = cells + i * NCOLS;
        row[0] = util_strdup(d->name);
        row[1] = util_strdup(loader_kind_name(d->kind));
        row[2] = util_strdup(d->version);
        row[3] = util_printf("%u.%u", (unsigned)d->abi_major, (unsigned)d->abi_minor);
        row[4] = util_strdup(ld->plugins[i].path);
        row[5] = capabilities_text(d->capabilities);
        for (size_t c = 0; c < NCOLS; c++)
            if (strlen(row[c]) > width[c])
                width[c] = strlen(row[c]);
    }

    if (ld->nplugins) {
        print_row(head, width, NCOLS);
        for (size_t i = 0; i < ld->nplugins; i++)
            print_row((const char *const *)cells + i * NCOLS, width, NCOLS);
    } else {
        printf("no plugins loaded\n");
    }
    if (ld->nrefusals) {
        printf("\n");
        for (size_t i = 0; i < ld->nrefusals; i++)
            printf("%s\n", ld->refusals[i]);
    }
    printf("\nsearched: ");
    for (size_t i = 0; ld->dirs && ld->dirs[i]; i++)
        printf("%s%s", i ? ", " : "", ld->dirs[i]);
    printf("\n");

    for (size_t i = 0; i < ld->nplugins * NCOLS; i++)
        free(cells[i]);
    free(cells);
}

int cli_cmd_plugins(const cli_args *args)
{
    loader ld = {0};

    if (args->topology) {
        fprintf(stderr, "infra: usage: infra plugins [--json]\n");
        return 1;
    }
    if (loader_scan(&ld) < 0) {
        loader_free(&ld);
        fprintf(stderr, "infra: plugins: cannot scan the plugin directories\n");
        return 1;
    }
    if (args->json)
        print_json(&ld);
    else
        print_table(&ld);
    loader_free(&ld);
    /* Refusals are information here, not a failure of the command. */
    return 0;
}

int cli_cmd_plugin_check(const cli_args *args)
{
    const char *path = args->positionals[0];
    loader_plugin p;
    char *err = NULL;

    if (loader_load_file(path, 0, &p, &err) < 0) {
        if (args->json) {
            json_t *doc = json_pack("{s:s, s:b, s:s}", "path", path, "ok", 0, "reason", err);
            json_dumpf(doc, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
            json_decref(doc);
        } else {
            fprintf(stderr, "%s\n", err);
        }
        free(err);
        return 1;
    }
    const infra_plugin *d = p.desc;
    if (args->json) {
        json_t *doc = plugin_json(&p);
        json_object_set_new(doc, "ok", json_true());
        json_dumpf(doc, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(doc);
    } else {
        printf("%s: ok: %s \"%s\" %s (ABI %u.%u)\n", path, loader_kind_name(d->kind), d->name,
               d->version, (unsigned)d->abi_major, (unsigned)d->abi_minor);
    }
    loader_plugin_unload(&p);
    return 0;
}
