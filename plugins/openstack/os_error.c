/* Error answers of every OpenStack service, each in its own shape, decoded
 * into a code, a message and, for quota errors, the quota concerned; and
 * their INFRA_E* category. */
#include "os_api.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *member_text(const infra_json *obj, const char *key)
{
    const infra_json *v = OJ->get(obj, key);
    char *s = v ? os_json_text(v) : NULL;
    if (s != NULL && *s == '\0') {
        free(s);
        s = NULL;
    }
    return s;
}

/* The first meaningful line of a text or HTML body, tags removed. */
static char *text_line(const char *body, size_t len)
{
    pu_buf b = {0};
    int in_tag = 0, in_title = 0;
    /* An HTML page's <h1> or <title> says nothing the status does not;
     * the text after it is the message. */
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (c == '<') {
            in_tag = 1;
            if (len - i > 6 && strncasecmp(body + i, "<title", 6) == 0)
                in_title = 1;
            if (len - i > 7 && strncasecmp(body + i, "</title", 7) == 0)
                in_title = 0;
            if (b.len > 0)
                pu_buf_put(&b, "\n", 1);
            continue;
        }
        if (c == '>') {
            in_tag = 0;
            continue;
        }
        if (!in_tag && !in_title)
            pu_buf_put(&b, &c, 1);
    }
    char *all = pu_buf_take(&b);
    char *best = NULL;
    for (char *save = NULL, *line = strtok_r(all, "\r\n", &save); line != NULL;
         line = strtok_r(NULL, "\r\n", &save)) {
        while (isspace((unsigned char)*line))
            line++;
        size_t n = strlen(line);
        while (n > 0 && isspace((unsigned char)line[n - 1]))
            line[--n] = '\0';
        if (n == 0)
            continue;
        /* "404 Not Found" lines repeat the status; keep looking. */
        if (isdigit((unsigned char)line[0]) && isdigit((unsigned char)line[1]) &&
            isdigit((unsigned char)line[2]) && line[3] == ' ' && best == NULL) {
            best = pu_strdup(line);
            continue;
        }
        free(best);
        best = pu_strndup(line, 300);
        break;
    }
    free(all);
    return best;
}

/* "cores" from "Quota exceeded for cores: Requested 2, ...", "network"
 * from "Quota exceeded for resources: ['network'].", "Load Balancer" from
 * "Quota has been met for resources: Load Balancer". */
static char *quota_name(const char *message)
{
    static const char *const marks[] = {
        "for resources:",      "for resource:",           "Quota exceeded for ",
        "quota exceeded for ", "Quota has been met for ", NULL};
    const char *s = NULL;
    for (size_t i = 0; marks[i] != NULL && s == NULL; i++) {
        const char *m = message ? strstr(message, marks[i]) : NULL;
        if (m != NULL)
            s = m + strlen(marks[i]);
    }
    if (s == NULL)
        return NULL;
    pu_buf b = {0};
    for (; *s && *s != ':' && *s != '\n'; s++) {
        if (*s == '[' || *s == ']' || *s == '\'' || *s == '"')
            continue;
        if (*s == '.' && (s[1] == '\0' || s[1] == ' '))
            break;
        if (*s == ',' && s[1] == ' ' && strncmp(s, ", but", 5) == 0)
            break;
        pu_buf_put(&b, s, 1);
    }
    char *q = pu_buf_take(&b);
    char *t = q;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n > 0 && t[n - 1] == ' ')
        t[--n] = '\0';
    char *out = *t ? pu_strdup(t) : NULL;
    free(q);
    return out;
}

static int is_quota(long status, const os_error *e)
{
    if (e->code != NULL &&
        (strcmp(e->code, "OverQuota") == 0 || strcmp(e->code, "over_quota") == 0 ||
         strcasecmp(e->code, "QuotaExceeded") == 0))
        return 1;
    if (e->message == NULL || (status != 403 && status != 409 && status != 413 && status != 400))
        return 0;
    return strstr(e->message, "Quota exceeded") != NULL ||
           strstr(e->message, "quota exceeded") != NULL ||
           strstr(e->message, "Quota has been met") != NULL ||
           strstr(e->message, "exceeds quota") != NULL;
}

void os_error_decode(long status, const char *body, size_t len, os_error *out)
{
    memset(out, 0, sizeof(*out));
    infra_json *doc = body && len ? OJ->parse(body, len) : NULL;
    if (doc != NULL && OJ->type(doc) == INFRA_JSON_OBJECT) {
        const infra_json *inner;
        if ((inner = OJ->get(doc, "NeutronError")) != NULL &&
            OJ->type(inner) == INFRA_JSON_OBJECT) {
            out->code = member_text(inner, "type");
            out->message = member_text(inner, "message");
        } else if ((inner = OJ->get(doc, "error")) != NULL &&
                   OJ->type(inner) == INFRA_JSON_OBJECT) {
            /* Keystone (and Glance's JSON errors). */
            out->code = member_text(inner, "title");
            out->message = member_text(inner, "message");
        } else if (OJ->get(doc, "faultstring") != NULL) {
            out->code = member_text(doc, "faultcode");
            out->message = member_text(doc, "faultstring");
        } else if ((inner = OJ->get(doc, "errors")) != NULL &&
                   OJ->type(inner) == INFRA_JSON_ARRAY && OJ->length(inner) > 0) {
            const infra_json *first = OJ->at(inner, 0);
            out->code = member_text(first, "code");
            if (out->code == NULL)
                out->code = member_text(first, "title");
            out->message = member_text(first, "detail");
            if (out->message == NULL)
                out->message = member_text(first, "title");
        } else if (OJ->get(doc, "message") != NULL &&
                   OJ->type(OJ->get(doc, "message")) == INFRA_JSON_STRING) {
            /* Designate: {"code": 409, "type": "duplicate_recordset", "message": ...}. */
            out->code = member_text(doc, "type");
            out->message = member_text(doc, "message");
        } else if (OJ->length(doc) == 1) {
            /* Nova: one member named after the fault, {"code", "message"}. */
            void *iter = NULL;
            const char *key;
            const infra_json *value;
            OJ->next(doc, &iter, &key, &value);
            if (OJ->type(value) == INFRA_JSON_OBJECT && OJ->get(value, "message") != NULL) {
                out->code = pu_strdup(key);
                out->message = member_text(value, "message");
            }
        }
    }
    OJ->release(doc);
    if (out->message == NULL && body != NULL && len > 0 && doc == NULL)
        out->message = text_line(body, len);
    if (is_quota(status, out)) {
        out->quota = quota_name(out->message);
        if (out->quota == NULL)
            out->quota = pu_strdup("unnamed");
    }
}

void os_error_clear(os_error *e)
{
    if (e == NULL)
        return;
    free(e->code);
    free(e->message);
    free(e->quota);
    memset(e, 0, sizeof(*e));
}

int os_error_category(long status, const os_error *e)
{
    if (e != NULL && e->quota != NULL)
        return INFRA_EINVALID; /* a quota is raised by the cloud's owner, not by retrying */
    switch (status) {
    case 401:
    case 403:
        return INFRA_EAUTH;
    case 404:
        return INFRA_ENOTFOUND;
    case 409:
        return INFRA_ECONFLICT;
    case 400:
    case 405:
    case 406:
    case 411:
    case 413:
    case 415:
    case 422:
        return INFRA_EINVALID;
    case 501:
        return INFRA_ENOTSUP;
    default:
        return status == 429 || status >= 500 ? INFRA_ETRANSIENT : INFRA_EINTERNAL;
    }
}
