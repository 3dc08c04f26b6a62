/* Job JSON transforms, without I/O: reading a JSON job file, the request
 * that asks Nomad to turn an HCL file into JSON, applying a topology job's
 * `set` values, and the message naming a failed task.
 *
 * HCL is never parsed here: Nomad converts it (POST /v1/jobs/parse). The
 * only thing read from HCL text is which variables it declares, because
 * Nomad refuses values for undeclared variables. */
#include "nomad.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nomad_job_from_json(const char *content, infra_json **job, char **err)
{
    infra_json *doc = nomad_jparse(content);
    if (doc == NULL || NJ->type(doc) != INFRA_JSON_OBJECT) {
        *err = pu_strdup("the job file is not a JSON object");
        NJ->release(doc);
        return INFRA_EINVALID;
    }
    const infra_json *inner = NJ->get(doc, "Job");
    if (inner != NULL && NJ->type(inner) != INFRA_JSON_OBJECT) {
        *err = pu_strdup("\"Job\" in the job file must be an object");
        NJ->release(doc);
        return INFRA_EINVALID;
    }
    *job = NJ->copy(inner ? inner : doc);
    NJ->release(doc);
    return *job ? 0 : INFRA_EINTERNAL;
}

/* Skips a quoted string, a comment or a heredoc-free run of text. */
static const char *skip_string(const char *p)
{
    for (p++; *p && *p != '"'; p++)
        if (*p == '\\' && p[1])
            p++;
    return *p ? p + 1 : p;
}

static const char *skip_comment(const char *p)
{
    if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
        while (*p && *p != '\n')
            p++;
        return p;
    }
    const char *end = strstr(p + 2, "*/");
    return end ? end + 2 : p + strlen(p);
}

static int ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

void nomad_hcl_variables(const char *hcl, nomad_strs *out)
{
    int depth = 0, line_start = 1;
    for (const char *p = hcl ? hcl : ""; *p;) {
        if (*p == '"') {
            p = skip_string(p);
            line_start = 0;
        } else if (*p == '#' || (p[0] == '/' && (p[1] == '/' || p[1] == '*'))) {
            p = skip_comment(p);
        } else if (*p == '{') {
            depth++, p++, line_start = 0;
        } else if (*p == '}') {
            depth -= depth > 0, p++, line_start = 0;
        } else if (*p == '\n') {
            line_start = 1, p++;
        } else if (isspace((unsigned char)*p)) {
            p++;
        } else if (depth == 0 && line_start && strncmp(p, "variable", 8) == 0 &&
                   !ident_char(p[8])) {
            const char *q = p + 8;
            while (*q == ' ' || *q == '\t')
                q++;
            const char *name = q, *end;
            if (*q == '"') {
                name = q + 1;
                end = strchr(name, '"');
            } else {
                for (end = q; ident_char(*end); end++) {
                }
            }
            if (end && end > name) {
                char *v = pu_printf("%.*s", (int)(end - name), name);
                if (!nomad_strs_has(out, v))
                    nomad_strs_add(out, v);
                free(v);
            }
            p = end && *end ? end + (*end == '"') : q;
            line_start = 0;
        } else {
            if (ident_char(*p))
                while (ident_char(*p))
                    p++;
            else
                p++;
            line_start = 0;
        }
    }
}

static void hcl_string(pu_buf *b, const char *s)
{
    pu_buf_puts(b, "\"");
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            pu_buf_printf(b, "\\%c", c);
        } else if (c == '\n') {
            pu_buf_puts(b, "\\n");
        } else if (c == '\r') {
            pu_buf_puts(b, "\\r");
        } else if (c == '\t') {
            pu_buf_puts(b, "\\t");
        } else if (c < 0x20) {
            pu_buf_printf(b, "\\u%04x", c);
        } else if ((c == '$' || c == '%') && p[1] == '{') {
            /* a literal "${" or "%{", not a template */
            pu_buf_printf(b, "%c%c", c, c);
        } else {
            pu_buf_put(b, p, 1);
        }
    }
    pu_buf_puts(b, "\"");
}

static void hcl_value(pu_buf *b, const infra_json *v)
{
    switch (NJ->type(v)) {
    case INFRA_JSON_STRING:
        hcl_string(b, NJ->string(v));
        break;
    case INFRA_JSON_INT:
        pu_buf_printf(b, "%lld", (long long)NJ->integer(v));
        break;
    case INFRA_JSON_REAL:
        pu_buf_printf(b, "%.17g", NJ->real(v));
        break;
    case INFRA_JSON_BOOL:
        pu_buf_puts(b, NJ->boolean(v) ? "true" : "false");
        break;
    case INFRA_JSON_ARRAY:
        pu_buf_puts(b, "[");
        for (size_t i = 0; i < NJ->length(v); i++) {
            if (i)
                pu_buf_puts(b, ", ");
            hcl_value(b, NJ->at(v, i));
        }
        pu_buf_puts(b, "]");
        break;
    case INFRA_JSON_OBJECT: {
        void *it = NULL;
        const char *key;
        const infra_json *item;
        int first = 1;
        pu_buf_puts(b, "{");
        while (NJ->next(v, &it, &key, &item)) {
            pu_buf_puts(b, first ? "" : ", ");
            hcl_string(b, key);
            pu_buf_puts(b, " = ");
            hcl_value(b, item);
            first = 0;
        }
        pu_buf_puts(b, "}");
        break;
    }
    default:
        pu_buf_puts(b, "null");
    }
}

char *nomad_hcl_value(const infra_json *v)
{
    pu_buf b = {0};
    hcl_value(&b, v);
    return pu_buf_take(&b);
}

int nomad_job_parse_request(const char *hcl, const infra_json *set, char **body, char **err)
{
    nomad_strs declared = {0};
    pu_buf vars = {0};
    int error = 0;

    nomad_hcl_variables(hcl, &declared);
    void *it = NULL;
    const char *key;
    const infra_json *value;
    while (set && NJ->next(set, &it, &key, &value))
        if (nomad_strs_has(&declared, key)) {
            char *v = nomad_hcl_value(value);
            pu_buf_printf(&vars, "%s = %s\n", key, v);
            free(v);
        }
    infra_json *req = NJ->new_object();
    char *vtext = pu_buf_take(&vars);
    if (req == NULL || nomad_jset_str(req, "JobHCL", hcl) < 0 ||
        pu_json_set_bool(req, "Canonicalize", 1) < 0 ||
        nomad_jset_str(req, "Variables", vtext) < 0) {
        *err = pu_strdup("cannot build the parse request (is the file UTF-8?)");
        error = INFRA_EINVALID;
    } else {
        *body = nomad_jdump(req);
    }
    free(vtext);
    NJ->release(req);
    nomad_strs_free(&declared);
    return error;
}

char *nomad_image_with_tag(const char *image, const char *tag)
{
    size_t end = strcspn(image, "@"); /* a digest pins the old tag: drop it */
    size_t slash = 0, colon = 0;
    for (size_t i = 0; i < end; i++) {
        if (image[i] == '/')
            slash = i + 1, colon = 0;
        else if (image[i] == ':')
            colon = i + 1;
    }
    (void)slash;
    size_t keep = colon ? colon - 1 : end;
    return pu_printf("%.*s:%s", (int)keep, image, tag);
}

/* The text form of a `set` value for Meta (a map of strings). */
static char *meta_text(const infra_json *v)
{
    switch (NJ->type(v)) {
    case INFRA_JSON_STRING:
        return pu_strdup(NJ->string(v));
    case INFRA_JSON_INT:
        return pu_printf("%lld", (long long)NJ->integer(v));
    case INFRA_JSON_REAL:
        return pu_printf("%.17g", NJ->real(v));
    case INFRA_JSON_BOOL:
        return pu_strdup(NJ->boolean(v) ? "true" : "false");
    default:
        return nomad_jdump(v);
    }
}

static int set_datacenters(infra_json *job, const infra_json *value, const char *const *dcs,
                           size_t ndcs, char **err)
{
    infra_json *arr = NJ->new_array();
    int error = arr ? 0 : INFRA_EINTERNAL;
    if (value != NULL && NJ->type(value) == INFRA_JSON_STRING) {
        error = nomad_jappend_str(arr, NJ->string(value));
    } else if (value != NULL && NJ->type(value) == INFRA_JSON_ARRAY) {
        for (size_t i = 0; error == 0 && i < NJ->length(value); i++) {
            const char *s = NJ->string(NJ->at(value, i));
            if (s == NULL) {
                *err = pu_strdup("set.datacenters must be a list of names");
                error = INFRA_EINVALID;
            } else {
                error = nomad_jappend_str(arr, s);
            }
        }
    } else if (value != NULL) {
        *err = pu_strdup("set.datacenters must be a name or a list of names");
        error = INFRA_EINVALID;
    } else {
        for (size_t i = 0; error == 0 && i < ndcs; i++)
            error = nomad_jappend_str(arr, dcs[i]);
    }
    if (error == 0)
        return pu_json_set(job, "Datacenters", arr);
    NJ->release(arr);
    return error;
}

int nomad_job_apply(infra_json *job, const char *id, const infra_json *set, const char *region,
                    const char *const *datacenters, size_t ndatacenters, char **err)
{
    const infra_json *name = set ? NJ->get(set, "name") : NULL;
    infra_json *groups = NJ->get_mutable(job, "TaskGroups");
    int error = 0;

    if (name && NJ->string(name) && *NJ->string(name))
        id = NJ->string(name);
    if (id == NULL || *id == '\0') {
        *err = pu_strdup("the job has no id");
        return INFRA_EINVALID;
    }
    if (groups == NULL || NJ->type(groups) != INFRA_JSON_ARRAY || NJ->length(groups) == 0) {
        *err = pu_strdup("the job has no task group (TaskGroups)");
        return INFRA_EINVALID;
    }
    if ((error = nomad_jset_str(job, "ID", id)) < 0 ||
        (error = nomad_jset_str(job, "Name", id)) < 0 ||
        (error = nomad_jset_str(job, "Region", region)) < 0 ||
        (error = set_datacenters(job, set ? NJ->get(set, "datacenters") : NULL, datacenters,
                                 ndatacenters, err)) < 0)
        return error;
    void *it = NULL;
    const char *key;
    const infra_json *value;
    while (set && NJ->next(set, &it, &key, &value)) {
        if (strcmp(key, "name") == 0 || strcmp(key, "datacenters") == 0)
            continue;
        if (strcmp(key, "count") == 0) {
            int64_t count;
            if (nomad_jvalue_int(value, &count) < 0 || count < 0) {
                *err = pu_strdup("set.count must be a whole number >= 0");
                return INFRA_EINVALID;
            }
            for (size_t g = 0; g < NJ->length(groups); g++)
                if ((error = pu_json_set_int(NJ->at_mutable(groups, g), "Count", count)) < 0)
                    return error;
        } else if (strcmp(key, "image_tag") == 0) {
            char *tag = meta_text(value);
            for (size_t g = 0; g < NJ->length(groups); g++) {
                infra_json *tasks = NJ->get_mutable(NJ->at_mutable(groups, g), "Tasks");
                for (size_t t = 0; t < NJ->length(tasks); t++) {
                    infra_json *config = NJ->get_mutable(NJ->at_mutable(tasks, t), "Config");
                    const char *image = pu_json_str(config, "image");
                    if (image == NULL)
                        continue;
                    char *tagged = nomad_image_with_tag(image, tag);
                    error = nomad_jset_str(config, "image", tagged);
                    free(tagged);
                    if (error < 0)
                        break;
                }
            }
            free(tag);
            if (error < 0)
                return error;
        } else {
            infra_json *meta = nomad_jobj(job, "Meta");
            char *text = meta_text(value);
            error = meta ? nomad_jset_str(meta, key, text) : INFRA_EINTERNAL;
            free(text);
            if (error < 0)
                return error;
        }
    }
    return 0;
}

/* The last event of a task, and the last Terminated event when the last
 * one only says that the task is not restarted. */
static void task_events(pu_buf *b, const infra_json *state)
{
    const infra_json *events = NJ->get(state, "Events");
    size_t n = NJ->length(events);
    if (n == 0) {
        pu_buf_printf(b, "%s",
                      pu_json_str(state, "State") ? pu_json_str(state, "State") : "no events");
        return;
    }
    for (size_t k = 0; k < 2; k++) {
        const infra_json *ev = NULL;
        if (k == 0) {
            ev = NJ->at(events, n - 1);
        } else {
            const char *last = pu_json_str(NJ->at(events, n - 1), "Type");
            if (last && strcmp(last, "Terminated") == 0)
                break;
            for (size_t i = n; i-- > 0 && ev == NULL;) {
                const char *type = pu_json_str(NJ->at(events, i), "Type");
                if (type && strcmp(type, "Terminated") == 0)
                    ev = NJ->at(events, i);
            }
            if (ev == NULL)
                break;
            pu_buf_puts(b, "; before that: ");
        }
        const char *type = pu_json_str(ev, "Type");
        const char *msg = pu_json_str(ev, "DisplayMessage");
        if (msg == NULL || *msg == '\0')
            msg = pu_json_str(ev, "Message");
        if ((msg == NULL || *msg == '\0') && pu_json_str(ev, "DriverError"))
            msg = pu_json_str(ev, "DriverError");
        int64_t code = 0;
        if ((msg == NULL || *msg == '\0') && nomad_jint(ev, "ExitCode", &code) == 0) {
            pu_buf_printf(b, "%s: Exit Code: %lld", type ? type : "event", (long long)code);
            continue;
        }
        pu_buf_printf(b, "%s%s%s", type ? type : "event", msg && *msg ? ": " : "", msg ? msg : "");
    }
}

/* How telling an allocation is: failed > unhealthy > other. */
static int alloc_rank(const infra_json *alloc)
{
    const char *cs = pu_json_str(alloc, "ClientStatus");
    if (cs && strcmp(cs, "failed") == 0)
        return 3;
    const infra_json *healthy = nomad_jpath(alloc, "DeploymentStatus", "Healthy", NULL);
    if (healthy && NJ->type(healthy) == INFRA_JSON_BOOL && !NJ->boolean(healthy))
        return 2;
    void *it = NULL;
    const char *task;
    const infra_json *st;
    while (NJ->next(NJ->get(alloc, "TaskStates"), &it, &task, &st)) {
        int failed = 0;
        if (nomad_jbool(st, "Failed", 0, &failed) == 0 && failed)
            return 2;
    }
    return 0;
}

char *nomad_msg_task_failure(const infra_json *allocations, int64_t version)
{
    const infra_json *best = NULL;
    int best_rank = 0;
    for (size_t i = 0; i < NJ->length(allocations); i++) {
        const infra_json *al = NJ->at(allocations, i);
        int64_t v = 0;
        if (version >= 0 && nomad_jint(al, "JobVersion", &v) == 0 && v != version)
            continue;
        int rank = alloc_rank(al);
        if (rank > best_rank)
            best = al, best_rank = rank;
    }
    if (best == NULL)
        return NULL;
    const infra_json *states = NJ->get(best, "TaskStates");
    const char *task = NULL;
    const infra_json *state = NULL, *fallback = NULL;
    const char *fallback_task = NULL;
    void *it = NULL;
    const char *name;
    const infra_json *st;
    while (NJ->next(states, &it, &name, &st)) {
        int failed = 0;
        if (nomad_jbool(st, "Failed", 0, &failed) == 0 && failed && state == NULL)
            task = name, state = st;
        if (fallback == NULL)
            fallback_task = name, fallback = st;
    }
    if (state == NULL)
        task = fallback_task, state = fallback;
    pu_buf b = {0};
    const char *group = pu_json_str(best, "TaskGroup");
    const char *node = pu_json_str(best, "NodeName");
    if (node == NULL)
        node = pu_json_str(best, "NodeID");
    pu_buf_printf(&b, "task group %s", group ? group : "?");
    if (task)
        pu_buf_printf(&b, ", task %s", task);
    if (node)
        pu_buf_printf(&b, " on node %s", node);
    pu_buf_puts(&b, ": ");
    if (state)
        task_events(&b, state);
    else
        pu_buf_printf(&b, "allocation %s",
                      pu_json_str(best, "ClientStatus") ? pu_json_str(best, "ClientStatus")
                                                        : "failed");
    return pu_buf_take(&b);
}
