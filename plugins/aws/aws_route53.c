/* Route 53 over REST-XML: hosted zone lookup by name, record sets, changes
 * and their propagation. Route 53 is global and signed for us-east-1. */
#include "aws_api.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/tree.h>

#define R53_NS "https://route53.amazonaws.com/doc/2013-04-01/"
#define R53_VERSION "/2013-04-01"

void aws_rrset_free(aws_rrset *r)
{
    if (r == NULL)
        return;
    free(r->name);
    free(r->type);
    aws_strv_free(r->values);
    free(r->alias_zone);
    free(r->alias_dns);
    memset(r, 0, sizeof(*r));
}

char *aws_r53_unescape(const char *name)
{
    pu_buf b = {0};
    for (const char *s = name; s && *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            char c = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            pu_buf_put(&b, &c, 1);
            s += 3;
        } else {
            pu_buf_put(&b, s, 1);
        }
    }
    return pu_buf_take(&b);
}

char *aws_r53_dotted(const char *name)
{
    char *s = aws_r53_unescape(name);
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '.')
        s[--n] = '\0';
    for (char *c = s; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    char *out = pu_printf("%s.", s);
    free(s);
    return out;
}

static int r53(infra_provider *p, infra_call *call, const char *attr, const char *action,
               const char *method, const char *path, const aws_kv *query, size_t nquery,
               const char *body, unsigned flags, const char *quiet, aws_resp **out)
{
    aws_op op = {
        .service = AWS_R53,
        .action = action,
        .method = method,
        .path = path,
        .query = query,
        .nquery = nquery,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .content_type = body ? "application/xml" : NULL,
        .attr = attr ? attr : "",
        .flags = flags,
        .quiet = quiet,
    };
    return aws_call(p, call, &op, out);
}

static char *strip_prefix(const char *id, const char *prefix)
{
    size_t n = strlen(prefix);
    return pu_strdup(strncmp(id, prefix, n) == 0 ? id + n : id);
}

int aws_r53_zone_id(infra_provider *p, infra_call *call, const char *attr, const char *zone,
                    char **id)
{
    char *want = aws_r53_dotted(zone);
    int error = 0;

    *id = NULL;
    pthread_mutex_lock(&p->cache_lock);
    for (size_t i = 0; i + 1 < p->nzone_cache && *id == NULL; i += 2)
        if (strcmp(p->zone_cache[i], want) == 0)
            *id = pu_strdup(p->zone_cache[i + 1]);
    pthread_mutex_unlock(&p->cache_lock);
    if (*id != NULL) {
        free(want);
        return 0;
    }
    aws_kv q[] = {{"dnsname", want}, {"maxitems", "1"}};
    aws_resp *r = NULL;
    error = r53(p, call, attr, "ListHostedZonesByName", "GET", R53_VERSION "/hostedzonesbyname", q,
                2, NULL, AWS_SAFE, NULL, &r);
    if (error == 0) {
        xmlNode *hz = aws_xml_path(r->result, "HostedZones/HostedZone");
        char *name = aws_xml_get(hz, "Name");
        char *zid = aws_xml_get(hz, "Id");
        char *got = name ? aws_r53_dotted(name) : NULL;
        if (hz == NULL || got == NULL || strcmp(got, want) != 0 || zid == NULL) {
            pu_diagf(call, attr, "aws: Route 53 has no hosted zone %s", want);
            error = INFRA_ENOTFOUND;
        } else {
            *id = strip_prefix(zid, "/hostedzone/");
            /* Another thread may have looked it up meanwhile. */
            pthread_mutex_lock(&p->cache_lock);
            if (!aws_strv_has(p->zone_cache, want)) {
                aws_strv_push(&p->zone_cache, want);
                aws_strv_push(&p->zone_cache, *id);
                p->nzone_cache = aws_strv_len(p->zone_cache);
            }
            pthread_mutex_unlock(&p->cache_lock);
        }
        free(name);
        free(zid);
        free(got);
    }
    aws_resp_free(r);
    free(want);
    return error;
}

static void parse_rrset(const xmlNode *n, aws_rrset *out)
{
    memset(out, 0, sizeof(*out));
    char *name = aws_xml_get(n, "Name");
    out->name = aws_r53_dotted(name ? name : "");
    free(name);
    out->type = aws_xml_get(n, "Type");
    out->ttl = aws_xml_get_long(n, "TTL", -1);
    out->values = pu_calloc(1, sizeof(char *));
    xmlNode *set = aws_xml_child(n, "ResourceRecords");
    for (xmlNode *rr = aws_xml_child(set, "ResourceRecord"); rr != NULL; rr = aws_xml_next(rr)) {
        char *v = aws_xml_get(rr, "Value");
        if (v != NULL)
            aws_strv_push(&out->values, v);
        free(v);
    }
    xmlNode *alias = aws_xml_child(n, "AliasTarget");
    if (alias != NULL) {
        out->alias_zone = aws_xml_get(alias, "HostedZoneId");
        out->alias_dns = aws_xml_get(alias, "DNSName");
        out->alias_health = aws_xml_get_bool(alias, "EvaluateTargetHealth");
    }
}

int aws_r53_parse_rrsets(const xmlNode *result, aws_rrset **out, size_t *n)
{
    xmlNode *set = aws_xml_child(result, "ResourceRecordSets");
    *out = NULL;
    *n = 0;
    for (xmlNode *m = aws_xml_child(set, "ResourceRecordSet"); m != NULL; m = aws_xml_next(m)) {
        aws_rrset *grown = pu_realloc(*out, (*n + 1) * sizeof(**out));
        *out = grown;
        parse_rrset(m, &(*out)[(*n)++]);
    }
    return 0;
}

int aws_r53_get(infra_provider *p, infra_call *call, const char *attr, const char *zone_id,
                const char *name, const char *type, aws_rrset *out)
{
    char *want = aws_r53_dotted(name);
    char *path = pu_printf(R53_VERSION "/hostedzone/%s/rrset", zone_id);
    /* Route 53 lists a wildcard under its escaped form. */
    pu_buf escaped = {0};
    for (const char *c = want; *c; c++)
        pu_buf_puts(&escaped, *c == '*' ? "\\052" : (char[]){*c, '\0'});
    aws_kv q[] = {{"name", escaped.data}, {"type", type}, {"maxitems", "1"}};
    aws_resp *r = NULL;
    memset(out, 0, sizeof(*out));
    int error =
        r53(p, call, attr, "ListResourceRecordSets", "GET", path, q, 3, NULL, AWS_SAFE, NULL, &r);
    if (error == 0) {
        aws_rrset *v = NULL;
        size_t n = 0;
        aws_r53_parse_rrsets(r->result, &v, &n);
        error = INFRA_ENOTFOUND;
        /* The list starts at name: the first set is it only when names match. */
        for (size_t i = 0; i < n; i++) {
            if (error != 0 && strcmp(v[i].name, want) == 0 && v[i].type != NULL &&
                strcasecmp(v[i].type, type) == 0) {
                *out = v[i];
                memset(&v[i], 0, sizeof(v[i]));
                error = 0;
            }
            aws_rrset_free(&v[i]);
        }
        free(v);
    }
    aws_resp_free(r);
    free(path);
    free(want);
    free(escaped.data);
    return error;
}

int aws_r53_list(infra_provider *p, infra_call *call, const char *attr, const char *zone_id,
                 int (*each)(void *ud, aws_rrset *rrset), void *ud)
{
    char *path = pu_printf(R53_VERSION "/hostedzone/%s/rrset", zone_id);
    char *name = NULL, *type = NULL, *ident = NULL;
    int error = 0, more = 1;
    while (error == 0 && more) {
        aws_kv q[4] = {{"maxitems", "300"}};
        size_t nq = 1;
        if (name != NULL)
            q[nq++] = (aws_kv){"name", name};
        if (type != NULL)
            q[nq++] = (aws_kv){"type", type};
        if (ident != NULL)
            q[nq++] = (aws_kv){"identifier", ident};
        aws_resp *r = NULL;
        error = r53(p, call, attr, "ListResourceRecordSets", "GET", path, q, nq, NULL, AWS_SAFE,
                    NULL, &r);
        free(name);
        free(type);
        free(ident);
        name = type = ident = NULL;
        if (error == 0) {
            aws_rrset *v = NULL;
            size_t n = 0;
            aws_r53_parse_rrsets(r->result, &v, &n);
            for (size_t i = 0; i < n; i++) {
                if (error == 0)
                    error = each(ud, &v[i]);
                aws_rrset_free(&v[i]);
            }
            free(v);
            more = aws_xml_get_bool(r->result, "IsTruncated");
            name = aws_xml_get(r->result, "NextRecordName");
            type = aws_xml_get(r->result, "NextRecordType");
            ident = aws_xml_get(r->result, "NextRecordIdentifier");
            if (more && (name == NULL || *name == '\0')) {
                pu_diagf(call, attr,
                         "aws: ListResourceRecordSets of %s is truncated without a "
                         "next record name",
                         zone_id);
                error = INFRA_EINTERNAL;
            }
        }
        aws_resp_free(r);
    }
    free(name);
    free(type);
    free(ident);
    free(path);
    return error;
}

char *aws_r53_change_body(const char *action, const aws_rrset *rrset, const char *comment)
{
    xmlDoc *doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *root = xmlNewNode(NULL, (const xmlChar *)"ChangeResourceRecordSetsRequest");
    xmlDocSetRootElement(doc, root);
    xmlNewNs(root, (const xmlChar *)R53_NS, NULL);
    xmlNode *batch = xmlNewChild(root, NULL, (const xmlChar *)"ChangeBatch", NULL);
    if (comment != NULL)
        xmlNewTextChild(batch, NULL, (const xmlChar *)"Comment", (const xmlChar *)comment);
    xmlNode *changes = xmlNewChild(batch, NULL, (const xmlChar *)"Changes", NULL);
    xmlNode *change = xmlNewChild(changes, NULL, (const xmlChar *)"Change", NULL);
    xmlNewTextChild(change, NULL, (const xmlChar *)"Action", (const xmlChar *)action);
    xmlNode *set = xmlNewChild(change, NULL, (const xmlChar *)"ResourceRecordSet", NULL);
    xmlNewTextChild(set, NULL, (const xmlChar *)"Name", (const xmlChar *)rrset->name);
    xmlNewTextChild(set, NULL, (const xmlChar *)"Type", (const xmlChar *)rrset->type);
    if (rrset->alias_dns != NULL) {
        xmlNode *alias = xmlNewChild(set, NULL, (const xmlChar *)"AliasTarget", NULL);
        xmlNewTextChild(alias, NULL, (const xmlChar *)"HostedZoneId",
                        (const xmlChar *)(rrset->alias_zone ? rrset->alias_zone : ""));
        xmlNewTextChild(alias, NULL, (const xmlChar *)"DNSName", (const xmlChar *)rrset->alias_dns);
        xmlNewTextChild(alias, NULL, (const xmlChar *)"EvaluateTargetHealth",
                        (const xmlChar *)(rrset->alias_health ? "true" : "false"));
    } else {
        char ttl[24];
        snprintf(ttl, sizeof(ttl), "%ld", rrset->ttl >= 0 ? rrset->ttl : 300);
        xmlNewTextChild(set, NULL, (const xmlChar *)"TTL", (const xmlChar *)ttl);
        xmlNode *records = xmlNewChild(set, NULL, (const xmlChar *)"ResourceRecords", NULL);
        for (size_t i = 0; rrset->values != NULL && rrset->values[i] != NULL; i++) {
            xmlNode *rr = xmlNewChild(records, NULL, (const xmlChar *)"ResourceRecord", NULL);
            xmlNewTextChild(rr, NULL, (const xmlChar *)"Value", (const xmlChar *)rrset->values[i]);
        }
    }
    xmlChar *text = NULL;
    int len = 0;
    xmlDocDumpFormatMemoryEnc(doc, &text, &len, "UTF-8", 0);
    xmlFreeDoc(doc);
    char *out = pu_strndup((const char *)text, (size_t)len);
    xmlFree(text);
    return out;
}

int aws_r53_change(infra_provider *p, infra_call *call, const char *attr, const char *zone_id,
                   const char *action, const aws_rrset *rrset, const char *comment,
                   char **change_id)
{
    char *body = aws_r53_change_body(action, rrset, comment);
    char *path = pu_printf(R53_VERSION "/hostedzone/%s/rrset/", zone_id);
    aws_resp *r = NULL;
    /* UPSERT is idempotent; a repeated DELETE fails InvalidChangeBatch,
     * which the caller checks. */
    unsigned flags = strcmp(action, "CREATE") == 0 ? 0 : AWS_SAFE;
    int error = r53(p, call, attr, "ChangeResourceRecordSets", "POST", path, NULL, 0, body, flags,
                    strcmp(action, "DELETE") == 0 ? "InvalidChangeBatch" : NULL, &r);
    if (error == 0) {
        char *id = aws_xml_get(r->result, "ChangeInfo/Id");
        *change_id = id ? strip_prefix(id, "/change/") : NULL;
        free(id);
    }
    aws_resp_free(r);
    free(path);
    free(body);
    return error;
}

int aws_r53_wait(infra_provider *p, infra_call *call, const char *attr, const char *change_id,
                 int64_t deadline_ms)
{
    int64_t end = pu_host->now_ms() + deadline_ms;
    int64_t delay = 1000;
    char *path = pu_printf(R53_VERSION "/change/%s", change_id);
    int error;
    for (;;) {
        aws_resp *r = NULL;
        error = r53(p, call, attr, "GetChange", "GET", path, NULL, 0, NULL, AWS_SAFE | AWS_FRESH,
                    NULL, &r);
        char *status = error == 0 ? aws_xml_get(r->result, "ChangeInfo/Status") : NULL;
        aws_resp_free(r);
        int done = status != NULL && strcmp(status, "INSYNC") == 0;
        free(status);
        if (error < 0 || done)
            break;
        if (pu_host->now_ms() + delay > end) {
            pu_diagf(call, attr, "aws: Route 53 change %s is not INSYNC after %lld s", change_id,
                     (long long)(deadline_ms / 1000));
            error = INFRA_ETRANSIENT;
            break;
        }
        if ((error = aws_sleep(p, call, delay)) < 0)
            break;
        delay = delay * 2 > 10000 ? 10000 : delay * 2;
    }
    free(path);
    return error;
}
