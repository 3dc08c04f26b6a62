/* plan, apply, read and import of the test provider.
 *
 * An object file DIR/TYPE/ID.json holds
 *   { "type": T, "id": ID, "address": A, "token": TOKEN|null,
 *     "attributes": { ...configured and computed attributes, "id": ID } }
 * and the state handed back to the engine is its "attributes". */
#include "testprov.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_LEN 24

static int check_type(infra_call *call, const char *type, const pu_type **out)
{
    if ((*out = pu_type_find(&testprov_schema_table, type)) == NULL) {
        pu_diagf(call, "", "unknown resource type \"%s\"", type ? type : "");
        return INFRA_ENOTSUP;
    }
    return 0;
}

static int set_string(infra_json *obj, const char *key, const char *value)
{
    infra_json *v = TPJ->new_string(value);
    return v == NULL ? INFRA_EINTERNAL : TPJ->set(obj, key, v);
}

static int set_owned_string(infra_json *obj, const char *key, char *value)
{
    int error = value == NULL ? INFRA_EINTERNAL : set_string(obj, key, value);
    free(value);
    return error;
}

/* Sets id and the attributes the "cloud" computes, all derived from the id
 * or the config so that the same object always shows the same values. */
static int add_computed(const pu_type *t, infra_json *attrs, const char *id)
{
    int error = 0;
    uint64_t h = testprov_hash(id);

    if ((error = set_string(attrs, "id", id)) < 0)
        return error;
    if (strcmp(t->name, "instance") == 0) {
        if ((error = set_owned_string(attrs, "private_ip",
                                      testprov_printf("10.%u.%u.%u", (unsigned)(h >> 16) & 255,
                                                      (unsigned)(h >> 8) & 255,
                                                      (unsigned)(h % 254) + 1))) < 0 ||
            (error = set_owned_string(attrs, "public_ip",
                                      testprov_printf("198.%u.%u.%u",
                                                      18 + ((unsigned)(h >> 40) & 1),
                                                      (unsigned)(h >> 32) & 255,
                                                      (unsigned)((h >> 24) % 254) + 1))) < 0 ||
            (error = set_string(attrs, "status", "running")) < 0)
            return error;
    } else if (strcmp(t->name, "load_balancer") == 0) {
        error = set_owned_string(attrs, "dns_name", testprov_printf("%s.lb.test.invalid", id));
    } else if (strcmp(t->name, "dns_record") == 0) {
        const char *name = pu_json_str(attrs, "name");
        const char *zone = pu_json_str(attrs, "zone");
        if (name != NULL && zone != NULL) {
            size_t zlen = strlen(zone);
            if (zlen > 0 && zone[zlen - 1] == '.')
                zlen--;
            error = set_owned_string(attrs, "fqdn",
                                     testprov_printf("%s.%.*s", name, (int)zlen, zone));
        }
    }
    return error;
}

static int values_differ(const infra_json *a, const infra_json *b)
{
    if (a == NULL || b == NULL)
        return a != b;
    return !TPJ->equal(a, b);
}

int testprov_plan(infra_provider *self, infra_call *call, const char *type,
                  const infra_json *prior, const infra_json *desired, infra_json **planned,
                  infra_json **requires_replace)
{
    int error = 0;
    const pu_type *t;
    infra_json *plan = NULL;
    infra_json *replace = NULL;

    (void)self;
    if ((error = check_type(call, type, &t)) < 0)
        return error;
    if ((replace = TPJ->new_array()) == NULL)
        return INFRA_EINTERNAL;
    if (desired == NULL) /* a delete: nothing to plan beyond it */
        goto out;
    if (TPJ->type(desired) != INFRA_JSON_OBJECT ||
        (prior != NULL && TPJ->type(prior) != INFRA_JSON_OBJECT)) {
        pu_diagf(call, "", "a %s must be described by a map", type);
        error = INFRA_EINVALID;
        goto done;
    }
    if ((plan = TPJ->copy(desired)) == NULL) {
        error = INFRA_EINTERNAL;
        goto done;
    }
    /* A limit of the account, known only once configured: no offline
     * check can see it, only plan. */
    const char *size = pu_json_str(desired, "size");
    if (self != NULL && self->knobs.largest_size > 0 && size != NULL &&
        testprov_size_rank(size) > self->knobs.largest_size) {
        pu_diagf(call, "size", "size \"%s\" is larger than this account allows", size);
        error = INFRA_EINVALID;
        goto done;
    }
    if (prior == NULL)
        goto out;
    for (size_t i = 0; i < t->nattrs; i++) {
        const char *name = t->attrs[i].name;
        if ((t->attrs[i].flags & PU_ATTR_FORCE_NEW) &&
            values_differ(TPJ->get(prior, name), TPJ->get(desired, name)) &&
            (error = TPJ->append(replace, TPJ->new_string(name))) < 0)
            goto done;
    }
    /* A replacement gets a new id, so the prior computed values would lie. */
    if (TPJ->length(replace) > 0)
        goto out;
    for (size_t i = 0; i < t->nattrs; i++) {
        const char *name = t->attrs[i].name;
        const infra_json *old = TPJ->get(prior, name);
        if ((t->attrs[i].flags & PU_ATTR_COMPUTED) && old != NULL && TPJ->get(plan, name) == NULL &&
            (error = TPJ->set(plan, name, TPJ->copy(old))) < 0)
            goto done;
    }
    /* What an instance should be whatever its state says: an update
     * starts one found stopped. */
    if (strcmp(t->name, "instance") == 0 && (error = set_string(plan, "status", "running")) < 0)
        goto done;
out:
    if (self != NULL) {
        testprov_fault fault = testprov_misbehaviour(self, "plan", pu_host->call_address(call));
        if (fault != TESTPROV_FAULT_NONE)
            testprov_misbehave(self, call, fault, "plan", &plan);
    }
    *planned = plan;
    *requires_replace = replace;
    plan = replace = NULL;
done:
    TPJ->release(plan);
    TPJ->release(replace);
    return error;
}

/* The record written for a new object. */
static int new_record(const char *type, const char *id, const char *address, const char *token,
                      infra_json *attrs, infra_json **out)
{
    int error = 0;
    infra_json *rec = TPJ->new_object();

    if (rec == NULL) {
        TPJ->release(attrs);
        return INFRA_EINTERNAL;
    }
    if ((error = set_string(rec, "type", type)) < 0 || (error = set_string(rec, "id", id)) < 0 ||
        (error = set_string(rec, "address", address)) < 0 ||
        (error = TPJ->set(rec, "token", token ? TPJ->new_string(token) : TPJ->new_null())) < 0 ||
        (error = TPJ->set(rec, "attributes", attrs)) < 0) {
        TPJ->release(rec);
        return error;
    }
    *out = rec;
    return 0;
}

static int attributes_copy(const infra_json *record, infra_json **out)
{
    return (*out = TPJ->copy(TPJ->get(record, "attributes"))) == NULL ? INFRA_EINTERNAL : 0;
}

static int do_create(infra_provider *p, infra_call *call, const pu_type *t,
                     const infra_json *planned, char *id, const char **note, infra_json **state)
{
    int error = 0;
    const char *token = pu_host->call_token(call);
    const char *address = pu_host->call_address(call);
    infra_json *record = NULL;
    infra_json *attrs = NULL;

    if ((error = testprov_id_for_token(token, id, ID_LEN)) < 0)
        return error;
    if ((error = testprov_injected_failure(p, call, address)) < 0)
        return error;
    error = testprov_object_load(p, call, t->name, id, &record);
    if (error == 0) {
        /* A retried create: hand back what the first attempt made. */
        const char *owner = pu_json_str(record, "token");
        if (token == NULL || owner == NULL || strcmp(owner, token) != 0) {
            pu_diagf(call, "", "object %s already exists for another token", id);
            error = INFRA_ECONFLICT;
            goto done;
        }
        *note = "existing";
        error = attributes_copy(record, state);
        goto done;
    }
    if (error != INFRA_ENOTFOUND)
        goto done;
    /* The host says when the token is an interrupted run's: the object
     * was looked up first (above), and was not there. */
    if (INFRA_HAS_SLOT(pu_host, call_resuming) && pu_host->call_resuming(call))
        *note = "resumed";
    if ((attrs = TPJ->copy(planned)) == NULL) {
        error = INFRA_EINTERNAL;
        goto done;
    }
    if ((error = add_computed(t, attrs, id)) < 0)
        goto done;
    error = new_record(t->name, id, address, token, attrs, &record);
    attrs = NULL;
    if (error < 0 || (error = testprov_object_save(p, call, t->name, id, record)) < 0)
        goto done;
    error = attributes_copy(record, state);
done:
    TPJ->release(attrs);
    TPJ->release(record);
    return error;
}

static int prior_id(infra_call *call, const infra_json *prior, const char **id)
{
    const char *found = pu_json_str(prior, "id");

    if (!testprov_id_valid(found)) {
        pu_diagf(call, "id", "the state holds no valid object id");
        return INFRA_EINVALID;
    }
    *id = found;
    return 0;
}

static int do_update(infra_provider *p, infra_call *call, const pu_type *t, const char *id,
                     const infra_json *planned, infra_json **state)
{
    int error = 0;
    infra_json *record = NULL;
    infra_json *attrs = NULL;

    if ((error = testprov_injected_failure(p, call, pu_host->call_address(call))) < 0)
        return error;
    if ((error = testprov_object_load(p, call, t->name, id, &record)) < 0)
        return error;
    if ((attrs = TPJ->copy(planned)) == NULL) {
        error = INFRA_EINTERNAL;
        goto done;
    }
    if ((error = add_computed(t, attrs, id)) < 0)
        goto done;
    error = TPJ->set(record, "attributes", attrs);
    attrs = NULL;
    if (error < 0 || (error = testprov_object_save(p, call, t->name, id, record)) < 0)
        goto done;
    error = attributes_copy(record, state);
done:
    TPJ->release(attrs);
    TPJ->release(record);
    return error;
}

/* The state of an image data source: its configuration plus what the
 * catalog says about the newest match. */
static int image_state(const infra_json *config, const infra_json *image, infra_json **out)
{
    int error = 0;
    infra_json *st = config ? TPJ->copy(config) : TPJ->new_object();

    if (st == NULL)
        return INFRA_EINTERNAL;
    if (pu_json_str(st, "name") == NULL)
        error = set_string(st, "name", pu_json_str(image, "name"));
    if (error < 0 || (error = set_string(st, "id", pu_json_str(image, "id"))) < 0 ||
        (error = set_string(st, "image_name", pu_json_str(image, "name"))) < 0 ||
        (error = set_string(st, "created", pu_json_str(image, "created"))) < 0) {
        TPJ->release(st);
        return error;
    }
    *out = st;
    return 0;
}

static int image_find(infra_provider *p, infra_call *call, const infra_json *config,
                      infra_json **out)
{
    int error;
    const char *pattern = pu_json_str(config, "name");
    infra_json *image = NULL;

    if (pattern == NULL) {
        pu_diagf(call, "name", "an image needs a name pattern");
        return INFRA_EINVALID;
    }
    if ((error = testprov_image_lookup(p, call, pattern, NULL, &image)) < 0) {
        if (error == INFRA_ENOTFOUND)
            pu_diagf(call, "name", "no image in %s/catalog/images matches \"%s\"", p->dir, pattern);
        return error;
    }
    error = image_state(config, image, out);
    TPJ->release(image);
    return error;
}

int testprov_apply(infra_provider *self, infra_call *call, const char *type,
                   const infra_json *prior, const infra_json *planned, const void *private_in,
                   size_t private_in_len, infra_json **new_state, void **private_out,
                   size_t *private_out_len)
{
    int error = 0;
    const pu_type *t;
    const char *address = pu_host->call_address(call);
    const char *op = prior == NULL ? "create" : planned == NULL ? "delete" : "update";
    const char *note = NULL;
    const char *id = "-";
    char new_id[ID_LEN] = "-";
    long n;

    (void)private_in;
    (void)private_in_len;
    *new_state = NULL;
    if (private_out != NULL)
        *private_out = NULL;
    if (private_out_len != NULL)
        *private_out_len = 0;
    if ((error = check_type(call, type, &t)) < 0)
        return error;
    if (atomic_load(&self->stopped))
        return INFRA_ECANCELLED;
    if ((prior == NULL && planned == NULL) ||
        (planned != NULL && TPJ->type(planned) != INFRA_JSON_OBJECT)) {
        pu_diagf(call, "", "apply needs a planned %s map", type);
        return INFRA_EINVALID;
    }
    if ((error = testprov_latency(self, call)) < 0)
        return error;
    testprov_fault fault = testprov_misbehaviour(self, op, address);
    if (fault == TESTPROV_FAULT_HANG || fault == TESTPROV_FAULT_EXIT)
        testprov_misbehave(self, call, fault, op, new_state);
    if (t->data_source) /* a lookup: nothing is created, updated or deleted */
        return planned == NULL ? 0 : image_find(self, call, planned, new_state);

    n = testprov_mutation_begin(self);
    if (prior == NULL) {
        error = do_create(self, call, t, planned, new_id, &note, new_state);
        id = new_id;
    } else if ((error = prior_id(call, prior, &id)) == 0) {
        error = planned == NULL ? testprov_object_remove(self, call, t->name, id)
                                : do_update(self, call, t, id, planned, new_state);
    }
    if (error == INFRA_ENOTFOUND && planned == NULL)
        note = "missing";
    else if (error == INFRA_ETRANSIENT)
        note = "transient";
    else if (error < 0)
        note = "failed";
    testprov_calls_log(self, op, address, id, note);
    testprov_mutation_end(self, n);
    if (error == 0 && fault != TESTPROV_FAULT_NONE)
        testprov_misbehave(self, call, fault, op, new_state);
    return error;
}

/* The object of one resource now (the misbehaviour for its address
 * included), after the call's latency. */
static int read_one(infra_provider *self, infra_call *call, const pu_type *t,
                    const infra_json *state, infra_json **out)
{
    int error = 0;
    const char *id;
    char token_id[ID_LEN];
    infra_json *record = NULL;

    testprov_fault fault = testprov_misbehaviour(self, "read", pu_host->call_address(call));
    if (fault == TESTPROV_FAULT_HANG || fault == TESTPROV_FAULT_EXIT)
        testprov_misbehave(self, call, fault, "read", out);
    if (t->data_source) /* data sources are looked up again on every refresh */
        return state == NULL ? INFRA_ENOTFOUND : image_find(self, call, state, out);

    if (state == NULL) {
        const char *token = pu_host->call_token(call);
        if (token == NULL) {
            pu_diagf(call, "", "a read without state needs an idempotency token");
            return INFRA_EINVALID;
        }
        if ((error = testprov_id_for_token(token, token_id, sizeof(token_id))) < 0)
            return error;
        if ((error = testprov_object_load(self, call, t->name, token_id, &record)) < 0)
            return error;
        id = pu_json_str(record, "token");
        if (id == NULL || strcmp(id, token) != 0) { /* same id prefix, another token */
            error = INFRA_ENOTFOUND;
            goto done;
        }
    } else {
        if ((error = prior_id(call, state, &id)) < 0)
            return error;
        if ((error = testprov_object_load(self, call, t->name, id, &record)) < 0)
            return error;
    }
    error = attributes_copy(record, out);
    if (error == 0 && fault != TESTPROV_FAULT_NONE)
        testprov_misbehave(self, call, fault, "read", out);
done:
    TPJ->release(record);
    return error;
}

int testprov_read(infra_provider *self, infra_call *call, const char *type,
                  const infra_json *state, const void *private_in, size_t private_in_len,
                  infra_json **out)
{
    int error = 0;
    const pu_type *t;

    (void)private_in;
    (void)private_in_len;
    if ((error = check_type(call, type, &t)) < 0)
        return error;
    if (atomic_load(&self->stopped))
        return INFRA_ECANCELLED;
    if ((error = testprov_latency(self, call)) < 0)
        return error;
    return read_one(self, call, t, state, out);
}

int testprov_import(infra_provider *self, infra_call *call, const char *type, const char *id,
                    infra_json **out)
{
    int error = 0;
    const pu_type *t;
    infra_json *found = NULL;

    if ((error = check_type(call, type, &t)) < 0)
        return error;
    if (!testprov_id_valid(id)) {
        pu_diagf(call, "id", "\"%s\" is not an object id", id ? id : "");
        return INFRA_EINVALID;
    }
    if (t->data_source) {
        if ((error = testprov_image_lookup(self, call, NULL, id, &found)) < 0)
            return error;
        error = image_state(NULL, found, out);
        TPJ->release(found);
        return error;
    }
    if ((error = testprov_object_load(self, call, t->name, id, &found)) < 0)
        return error;
    error = attributes_copy(found, out);
    TPJ->release(found);
    return error;
}

int testprov_upgrade_state(infra_provider *self, infra_call *call, const char *type,
                           int from_version, const infra_json *state, infra_json **out)
{
    char from[16];
    int error = 0;
    const pu_type *t;

    if ((error = check_type(call, type, &t)) < 0)
        return error;
    /* Nothing changed shape between the versions of this provider: the
     * upgrade is recorded, and the state handed back as it was. */
    snprintf(from, sizeof(from), "%d", from_version);
    testprov_calls_log(self, "upgrade", pu_host->call_address(call), from, NULL);
    return (*out = TPJ->copy(state)) == NULL ? INFRA_EINTERNAL : 0;
}

int testprov_read_many(infra_provider *self, infra_call *call, const char *type,
                       infra_read_item *items, size_t count)
{
    int error = 0;
    const pu_type *t;
    char n[24];

    if ((error = check_type(call, type, &t)) < 0)
        return error;
    if (atomic_load(&self->stopped))
        return INFRA_ECANCELLED;
    /* One round trip for the whole batch, as one paged describe would be. */
    if ((error = testprov_latency(self, call)) < 0)
        return error;
    snprintf(n, sizeof(n), "%zu", count);
    testprov_reads_log(self, type, n);
    for (size_t i = 0; i < count; i++) {
        infra_read_item *it = &items[i];
        it->out = NULL;
        if (it->size < sizeof(infra_read_item)) {
            it->result = INFRA_EINVALID;
            continue;
        }
        it->result = read_one(self, it->call, t, it->state, &it->out);
    }
    return 0;
}
