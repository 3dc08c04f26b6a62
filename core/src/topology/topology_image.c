/* Images that are built (an `images:` entry with a `build:` block): a
 * managed resource rather than a lookup. The files its steps upload are
 * read when the topology is loaded, relative to the topology's directory
 * like a job's file, so that a missing file is an error at its line and a
 * change of their bytes changes the configuration (and so the image's
 * build hash, which the provider computes from the base image, the steps
 * and these digests). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "topology/topology_int.h"
#include "base/file.h"
#include "base/util.h"

int topo_image_is_built(const ytree_node *body)
{
    return body != NULL && body->type == YTREE_MAP && ytree_get(body, "build") != NULL;
}

static char *sha256_hex(const char *data, size_t len)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (!EVP_Digest(data, len, digest, &dlen, EVP_sha256(), NULL))
        return NULL;
    char *hex = util_malloc(2 * dlen + 1);
    for (unsigned int i = 0; i < dlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return hex;
}

/* One step's upload: its absolute path and digest added to the step. */
static void upload_file(topo_ctx *ctx, const ytree_node *node, const char *path, json_t *step,
                        int quiet)
{
    const char *file = json_string_value(json_object_get(step, "upload"));
    if (file == NULL || *file == '\0')
        return; /* the provider's validate says what an upload must be */
    if (strstr(file, "${") != NULL) {
        if (!quiet)
            topo_error(ctx, NULL, node, path,
                       "the file an upload sends is read when the topology is loaded: it may "
                       "use variables, not resources");
        return;
    }
    char *full = file[0] == '/' ? util_strdup(file) : util_printf("%s/%s", ctx->topo->dir, file);
    char *text = NULL, *why = NULL;
    size_t len = 0;
    if (util_read_regular_file(full, TOPO_MAX_FILE, &text, &len, &why) < 0) {
        if (!quiet)
            topo_error(ctx, NULL, node, path, "upload %s: %s", full, why ? why : "unreadable");
    } else {
        char *sha = sha256_hex(text, len);
        util_buf b = {0};
        topo_escape(&b, full);
        char *escaped = util_buf_take(&b);
        json_object_set_new(step, "upload_path", json_string(escaped ? escaped : ""));
        json_object_set_new(step, "upload_sha256", json_string(sha ? sha : ""));
        free(escaped);
        free(sha);
    }
    free(why);
    free(text);
    free(full);
}

void topo_image_files(topo_ctx *ctx, const ytree_node *body, const char *path, json_t *config,
                      int quiet)
{
    json_t *steps = json_object_get(json_object_get(config, "build"), "steps");
    const ytree_node *nodes = ytree_get(ytree_get(body, "build"), "steps");
    if (!json_is_array(steps) || nodes == NULL || nodes->type != YTREE_LIST)
        return;
    for (size_t i = 0; i < json_array_size(steps) && i < nodes->nitems; i++) {
        json_t *step = json_array_get(steps, i);
        const ytree_node *at = ytree_get(nodes->items[i], "upload");
        if (!json_is_object(step) || at == NULL)
            continue;
        char *where = util_printf("%s.build.steps[%zu].upload", path, i);
        upload_file(ctx, at, where, step, quiet);
        free(where);
    }
}
