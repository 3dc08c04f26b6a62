/* DescribeInstances, the waiter every instance wait of a provider shares,
 * and the lookups by token it shares likewise.
 *
 * The engine applies each instance from its own worker thread, so many
 * threads wait for "running" (or "terminated") at once. Each registers
 * what it waits for; whichever thread finds the next poll due makes one
 * DescribeInstances naming every instance still waited on, updates every
 * waiter and sets the next poll time (backing off from 0.5 s to 5 s), so
 * the calls made per poll do not grow with the number of instances.
 * Lookups by infra:token (creates resumed after a crash, reads of what
 * they made) are shared the same way: one thread asks EC2 about every
 * token waiting, the others wait for its answer. */
#include "aws_res.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_FIRST_MS 500
#define POLL_MAX_MS 5000
#define BATCH_MAX 200 /* ids per DescribeInstances */

void aws_instance_clear(aws_instance *i)
{
    if (i == NULL)
        return;
    free(i->id);
    free(i->state);
    free(i->private_ip);
    free(i->public_ip);
    free(i->private_dns);
    free(i->public_dns);
    free(i->zone);
    free(i->subnet);
    free(i->vpc);
    free(i->image);
    free(i->type);
    free(i->key_name);
    free(i->client_token);
    aws_strv_free(i->groups);
    aws_tags_free(&i->tags);
    memset(i, 0, sizeof(*i));
}

void aws_instance_copy(aws_instance *to, const aws_instance *from)
{
    memset(to, 0, sizeof(*to));
#define COPY(f) to->f = from->f ? pu_strdup(from->f) : NULL
    COPY(id);
    COPY(state);
    COPY(private_ip);
    COPY(public_ip);
    COPY(private_dns);
    COPY(public_dns);
    COPY(zone);
    COPY(subnet);
    COPY(vpc);
    COPY(image);
    COPY(type);
    COPY(key_name);
    COPY(client_token);
#undef COPY
    to->source_dest_check = from->source_dest_check;
    to->groups = pu_calloc(1, sizeof(char *));
    for (size_t g = 0; from->groups && from->groups[g]; g++)
        aws_strv_push(&to->groups, from->groups[g]);
    for (size_t t = 0; t < from->tags.n; t++)
        aws_tags_set(&to->tags, from->tags.v[t].key, from->tags.v[t].value);
}

static char *nonempty(char *s)
{
    if (s != NULL && *s == '\0') {
        free(s);
        return NULL;
    }
    return s;
}

void aws_instance_parse(const xmlNode *item, aws_instance *out)
{
    memset(out, 0, sizeof(*out));
    out->id = aws_xml_get(item, "instanceId");
    out->state = aws_xml_get(item, "instanceState/name");
    out->private_ip = nonempty(aws_xml_get(item, "privateIpAddress"));
    out->public_ip = nonempty(aws_xml_get(item, "ipAddress"));
    out->private_dns = nonempty(aws_xml_get(item, "privateDnsName"));
    out->public_dns = nonempty(aws_xml_get(item, "dnsName"));
    out->zone = nonempty(aws_xml_get(item, "placement/availabilityZone"));
    out->subnet = nonempty(aws_xml_get(item, "subnetId"));
    out->vpc = nonempty(aws_xml_get(item, "vpcId"));
    out->image = nonempty(aws_xml_get(item, "imageId"));
    out->type = nonempty(aws_xml_get(item, "instanceType"));
    out->key_name = nonempty(aws_xml_get(item, "keyName"));
    out->client_token = nonempty(aws_xml_get(item, "clientToken"));
    out->groups = pu_calloc(1, sizeof(char *));
    xmlNode *groups = aws_xml_child(item, "groupSet");
    for (xmlNode *g = aws_xml_child(groups, "item"); g != NULL; g = aws_xml_next(g)) {
        char *id = aws_xml_get(g, "groupId");
        if (id != NULL && *id)
            aws_strv_push(&out->groups, id);
        free(id);
    }
    aws_tags_parse(aws_xml_child(item, "tagSet"), &out->tags);
    char *check = aws_xml_get(item, "sourceDestCheck");
    out->source_dest_check = check == NULL ? -1 : strcmp(check, "true") == 0;
    free(check);
    if (out->state == NULL)
        out->state = pu_strdup("unknown");
}

static void push_instance(aws_instance **v, size_t *n, const xmlNode *item)
{
    aws_instance *grown = pu_realloc(*v, (*n + 1) * sizeof(**v));
    *v = grown;
    aws_instance_parse(item, &(*v)[*n]);
    (*n)++;
}

int aws_instances_parse(const xmlNode *result, aws_instance **out, size_t *n)
{
    xmlNode *res = aws_xml_child(result, "reservationSet");
    for (xmlNode *r = aws_xml_child(res, "item"); r != NULL; r = aws_xml_next(r)) {
        xmlNode *set = aws_xml_child(r, "instancesSet");
        for (xmlNode *it = aws_xml_child(set, "item"); it != NULL; it = aws_xml_next(it))
            push_instance(out, n, it);
    }
    /* RunInstances answers one reservation directly. */
    xmlNode *direct = aws_xml_child(result, "instancesSet");
    for (xmlNode *it = aws_xml_child(direct, "item"); it != NULL; it = aws_xml_next(it))
        push_instance(out, n, it);
    return 0;
}

void aws_instances_free(aws_instance *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        aws_instance_clear(&v[i]);
    free(v);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* DescribeInstances with params, following nextToken. */
static int describe_all(infra_provider *p, infra_call *call, const char *attr, aws_params *params,
                        const char *quiet, aws_instance **out, size_t *n, int paginate)
{
    char *next = NULL;
    int error = 0;
    do {
        aws_params q = {0};
        for (size_t i = 0; i < params->n; i++)
            aws_params_add(&q, params->keys[i], params->values[i]);
        if (paginate)
            aws_params_add(&q, "MaxResults", "1000");
        if (next != NULL)
            aws_params_add(&q, "NextToken", next);
        free(next);
        next = NULL;
        aws_resp *r = NULL;
        error = aws_query(p, call, AWS_EC2, "DescribeInstances", &q, attr, AWS_SAFE, quiet, &r);
        aws_params_free(&q);
        if (error == 0) {
            aws_instances_parse(r->result, out, n);
            next = nonempty(aws_xml_get(r->result, "nextToken"));
        }
        aws_resp_free(r);
    } while (error == 0 && next != NULL);
    free(next);
    return error;
}

int aws_instances_describe(infra_provider *p, infra_call *call, const char *attr, char *const *ids,
                           aws_instance **out, size_t *n)
{
    aws_params q = {0};
    int error = 0;

    *out = NULL;
    *n = 0;
    if (aws_strv_len(ids) == 0)
        return 0;
    aws_params_list(&q, AWS_LIST_EC2, "InstanceId", ids);
    error = describe_all(p, call, attr, &q, "InvalidInstanceID.NotFound", out, n, 0);
    aws_params_free(&q);
    if (error == INFRA_ENOTFOUND) {
        /* One unknown id fails the whole call; a filter returns the others. */
        aws_instances_free(*out, *n);
        *out = NULL;
        *n = 0;
        aws_params_filter(&q, "instance-id", ids);
        error = describe_all(p, call, attr, &q, NULL, out, n, 1);
        aws_params_free(&q);
    }
    if (error < 0) {
        aws_instances_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return error;
}

/* ------------------------------------------------------------------ */
/* Lookups by token, shared                                           */

typedef struct token_entry {
    const char *token;
    int taken; /* asked about by the lookup under way */
    int done;
    int error;
    aws_instance *v;
    size_t n;
    struct token_entry *next;
} token_entry;

struct aws_lookups {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    token_entry *entries;
    int busy;
    long calls;
};

aws_lookups *aws_lookups_new(void)
{
    aws_lookups *l = pu_calloc(1, sizeof(*l));
    pthread_condattr_t attr;
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cond, &attr);
    pthread_condattr_destroy(&attr);
    return l;
}

void aws_lookups_free(aws_lookups *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->cond);
    free(l);
}

long aws_lookups_calls(const aws_lookups *l)
{
    aws_lookups *m = (aws_lookups *)l;
    pthread_mutex_lock(&m->lock);
    long n = m->calls;
    pthread_mutex_unlock(&m->lock);
    return n;
}

/* One DescribeInstances for the tokens of every entry not asked about
 * yet (BATCH_MAX of them); called with the lock held, returns with it. */
static void lookup_now(aws_lookups *l, infra_provider *p, infra_call *call)
{
    char **tokens = pu_calloc(1, sizeof(char *));
    token_entry **mine = NULL;
    size_t nmine = 0;
    char *states[] = {"pending", "running", "stopping", "stopped", NULL};
    for (token_entry *e = l->entries; e != NULL && nmine < BATCH_MAX; e = e->next) {
        if (e->taken || e->done)
            continue;
        e->taken = 1;
        mine = pu_realloc(mine, (nmine + 1) * sizeof(*mine));
        mine[nmine++] = e;
        if (!aws_strv_has(tokens, e->token))
            aws_strv_push(&tokens, e->token);
    }
    l->busy = 1;
    pthread_mutex_unlock(&l->lock);

    aws_params q = {0};
    aws_instance *v = NULL;
    size_t n = 0;
    aws_params_filter(&q, "tag:infra:token", tokens);
    aws_params_filter(&q, "instance-state-name", states);
    int error = describe_all(p, call, "", &q, NULL, &v, &n, 1);
    aws_params_free(&q);

    pthread_mutex_lock(&l->lock);
    l->calls++;
    for (size_t k = 0; k < nmine; k++) {
        token_entry *e = mine[k];
        e->error = error;
        for (size_t i = 0; error == 0 && i < n; i++) {
            const char *t = aws_tags_get(&v[i].tags, "infra:token");
            if (t == NULL || strcmp(t, e->token) != 0)
                continue;
            e->v = pu_realloc(e->v, (e->n + 1) * sizeof(*e->v));
            aws_instance_copy(&e->v[e->n++], &v[i]);
        }
        e->done = 1;
    }
    l->busy = 0;
    pthread_cond_broadcast(&l->cond);
    aws_instances_free(v, n);
    aws_strv_free(tokens);
    free(mine);
}

int aws_instances_by_token(infra_provider *p, infra_call *call, const char *token,
                           aws_instance **out, size_t *n)
{
    aws_lookups *l = p->lookups;
    token_entry e = {.token = token};
    int error = 0;

    *out = NULL;
    *n = 0;
    /* Lookups made at the same time (the creates of many instances
     * resumed together) share one DescribeInstances. */
    pthread_mutex_lock(&l->lock);
    e.next = l->entries;
    l->entries = &e;
    while (!e.done || (e.error == INFRA_ECANCELLED && aws_check_cancel(p, call) == 0)) {
        if (e.done) {
            /* Another call's lookup was cancelled, not this one: again. */
            aws_instances_free(e.v, e.n);
            e.v = NULL;
            e.n = 0;
            e.done = e.taken = 0;
            e.error = 0;
        }
        if (!e.taken && (error = aws_check_cancel(p, call)) < 0)
            break;
        if (!l->busy) {
            lookup_now(l, p, call);
            continue;
        }
        int64_t until = mono_ms() + 200;
        struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000L};
        pthread_cond_timedwait(&l->cond, &l->lock, &ts);
    }
    for (token_entry **pp = &l->entries; *pp != NULL; pp = &(*pp)->next)
        if (*pp == &e) {
            *pp = e.next;
            break;
        }
    pthread_mutex_unlock(&l->lock);
    if (error == 0)
        error = e.error;
    if (error == 0) {
        *out = e.v;
        *n = e.n;
    } else {
        aws_instances_free(e.v, e.n);
    }
    return error;
}

/* ------------------------------------------------------------------ */
/* The shared waiter                                                  */

typedef struct wait_entry {
    const char *id;
    const char *target;
    int done;
    int error;
    char *final_state;
    int64_t missing_since; /* -1 while EC2 knows the instance */
    aws_instance info;
    struct wait_entry *next;
} wait_entry;

struct aws_waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    wait_entry *entries;
    int polling;
    int64_t next_poll_ms;
    int64_t interval_ms;
    long polls;
};

aws_waiter *aws_waiter_new(void)
{
    aws_waiter *w = pu_calloc(1, sizeof(*w));
    pthread_condattr_t attr;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    w->interval_ms = POLL_FIRST_MS;
    return w;
}

void aws_waiter_free(aws_waiter *w)
{
    if (w == NULL)
        return;
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}

long aws_waiter_polls(const aws_waiter *w)
{
    aws_waiter *m = (aws_waiter *)w;
    pthread_mutex_lock(&m->lock);
    long n = m->polls;
    pthread_mutex_unlock(&m->lock);
    return n;
}

static void remove_entry(aws_waiter *w, wait_entry *e)
{
    for (wait_entry **pp = &w->entries; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            return;
        }
    }
}

static int final_state(const char *s)
{
    return strcmp(s, "terminated") == 0 || strcmp(s, "shutting-down") == 0 ||
           strcmp(s, "stopped") == 0 || strcmp(s, "stopping") == 0;
}

/* Applies one poll's answer to every entry still waiting. */
static void settle(aws_waiter *w, char *const *polled, const aws_instance *v, size_t n, int64_t now,
                   int64_t fresh_ms)
{
    for (wait_entry *e = w->entries; e != NULL; e = e->next) {
        /* An entry that joined during the poll was not asked about. */
        if (e->done || !aws_strv_has(polled, e->id))
            continue;
        const aws_instance *found = NULL;
        for (size_t i = 0; i < n && found == NULL; i++)
            if (v[i].id != NULL && strcmp(v[i].id, e->id) == 0)
                found = &v[i];
        int want_gone = strcmp(e->target, "terminated") == 0;
        if (found == NULL) {
            if (want_gone) {
                e->done = 1;
            } else if (e->missing_since < 0) {
                e->missing_since = now;
            } else if (now - e->missing_since > fresh_ms) {
                e->done = 1;
                e->error = INFRA_ENOTFOUND;
            }
            continue;
        }
        e->missing_since = -1;
        if (strcmp(found->state, e->target) == 0) {
            e->done = 1;
        } else if (!want_gone && final_state(found->state) &&
                   !(strcmp(e->target, "stopped") == 0 && strcmp(found->state, "stopping") == 0)) {
            e->done = 1;
            e->error = INFRA_ECONFLICT;
            free(e->final_state);
            e->final_state = pu_strdup(found->state);
        } else {
            continue;
        }
        aws_instance_clear(&e->info);
        aws_instance_copy(&e->info, found);
    }
}

/* One poll for every entry waiting; called with the lock held, returns with it held. */
static int poll_now(aws_waiter *w, infra_provider *p, infra_call *call, const char *attr)
{
    char **ids = pu_calloc(1, sizeof(char *));
    for (wait_entry *e = w->entries; e != NULL; e = e->next)
        if (!e->done && !aws_strv_has(ids, e->id) && aws_strv_len(ids) < BATCH_MAX)
            aws_strv_push(&ids, e->id);
    w->polling = 1;
    pthread_mutex_unlock(&w->lock);

    aws_instance *v = NULL;
    size_t n = 0;
    int error = aws_instances_describe(p, call, attr, ids, &v, &n);

    pthread_mutex_lock(&w->lock);
    int64_t now = mono_ms();
    w->polls++;
    if (error == 0)
        settle(w, ids, v, n, now, p->retry.fresh_ms);
    w->polling = 0;
    w->interval_ms = w->interval_ms * 3 / 2 > POLL_MAX_MS ? POLL_MAX_MS : w->interval_ms * 3 / 2;
    w->next_poll_ms = now + w->interval_ms;
    pthread_cond_broadcast(&w->cond);
    aws_instances_free(v, n);
    aws_strv_free(ids);
    return error;
}

int aws_waiter_wait(infra_provider *p, infra_call *call, const char *attr, const char *id,
                    const char *target, int64_t timeout_ms, aws_instance *out)
{
    aws_waiter *w = p->waiter;
    wait_entry e = {.id = id, .target = target, .missing_since = -1};
    int64_t deadline = mono_ms() + timeout_ms;
    int error = 0;

    pthread_mutex_lock(&w->lock);
    if (w->entries == NULL) {
        w->interval_ms = POLL_FIRST_MS;
        if (!w->polling)
            w->next_poll_ms = mono_ms() + POLL_FIRST_MS / 2;
    }
    e.next = w->entries;
    w->entries = &e;
    while (!e.done) {
        if ((error = aws_check_cancel(p, call)) < 0)
            break;
        int64_t now = mono_ms();
        if (now >= deadline) {
            error = INFRA_ETRANSIENT;
            break;
        }
        if (!w->polling && now >= w->next_poll_ms) {
            int rc = poll_now(w, p, call, attr);
            if (rc < 0 && rc != INFRA_ETRANSIENT) {
                /* This thread's call saw the error and reported it. */
                error = rc;
                break;
            }
            continue;
        }
        int64_t until = w->next_poll_ms > now ? w->next_poll_ms : now + 50;
        if (until > now + 200)
            until = now + 200;
        struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000L};
        pthread_cond_timedwait(&w->cond, &w->lock, &ts);
    }
    if (e.done && error == 0)
        error = e.error;
    remove_entry(w, &e);
    pthread_mutex_unlock(&w->lock);

    if (error == INFRA_ETRANSIENT)
        pu_diagf(call, attr, "aws: instance %s did not become %s within %lld s", id, target,
                 (long long)(timeout_ms / 1000));
    else if (error == INFRA_ECONFLICT)
        pu_diagf(call, attr, "aws: instance %s is %s instead of becoming %s", id,
                 e.final_state ? e.final_state : "gone", target);
    else if (error == INFRA_ENOTFOUND)
        pu_diagf(call, attr, "aws: instance %s is not known to EC2 in %s", id, p->region);
    free(e.final_state);
    if (error == 0 && out != NULL)
        *out = e.info;
    else
        aws_instance_clear(&e.info);
    return error;
}
