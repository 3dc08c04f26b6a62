/* libxml2 helpers: parse without network or stderr noise, walk by local
 * names, read text, decode the two shapes of AWS error documents. */
#include "aws_xml.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "aws.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init_once(void)
{
    xmlInitParser();
}

void aws_xml_init(void)
{
    pthread_once(&xml_once, xml_init_once);
}

xmlDoc *aws_xml_parse(const char *body, size_t len)
{
    aws_xml_init();
    if (body == NULL || len == 0 || len > (size_t)0x7fffffff)
        return NULL;
    return xmlReadMemory(body, (int)len, NULL, NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                             XML_PARSE_NOCDATA);
}

int aws_xml_is(const xmlNode *n, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

xmlNode *aws_xml_child(const xmlNode *n, const char *name)
{
    for (xmlNode *c = n ? n->children : NULL; c != NULL; c = c->next)
        if (aws_xml_is(c, name))
            return c;
    return NULL;
}

xmlNode *aws_xml_next(const xmlNode *n)
{
    for (xmlNode *c = n ? n->next : NULL; c != NULL; c = c->next)
        if (aws_xml_is(c, (const char *)n->name))
            return c;
    return NULL;
}

xmlNode *aws_xml_path(const xmlNode *n, const char *path)
{
    const xmlNode *cur = n;
    const char *s = path;
    char name[128];
    while (cur != NULL && *s) {
        const char *slash = strchr(s, '/');
        size_t len = slash ? (size_t)(slash - s) : strlen(s);
        if (len == 0 || len >= sizeof(name))
            return NULL;
        memcpy(name, s, len);
        name[len] = '\0';
        cur = aws_xml_child(cur, name);
        s += len;
        if (*s == '/')
            s++;
    }
    return (xmlNode *)cur;
}

char *aws_xml_text(const xmlNode *n)
{
    if (n == NULL)
        return NULL;
    xmlChar *raw = xmlNodeGetContent(n);
    const char *s = raw ? (const char *)raw : "";
    size_t len = strlen(s);
    while (len > 0 && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 &&
           (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == '\t'))
        len--;
    char *out = pu_strndup(s, len);
    xmlFree(raw);
    return out;
}

char *aws_xml_get(const xmlNode *n, const char *path)
{
    return aws_xml_text(aws_xml_path(n, path));
}

int aws_xml_get_bool(const xmlNode *n, const char *path)
{
    char *s = aws_xml_get(n, path);
    int v = s != NULL && strcmp(s, "true") == 0;
    free(s);
    return v;
}

long aws_xml_get_long(const xmlNode *n, const char *path, long fallback)
{
    char *s = aws_xml_get(n, path);
    long v = fallback;
    if (s != NULL && *s) {
        char *end = NULL;
        errno = 0;
        long parsed = strtol(s, &end, 10);
        if (*end == '\0' && errno == 0)
            v = parsed;
    }
    free(s);
    return v;
}

int aws_xml_error(const xmlNode *root, char **code, char **message)
{
    const xmlNode *err = NULL;
    if (aws_xml_is(root, "Response"))
        err = aws_xml_path(root, "Errors/Error");
    else if (aws_xml_is(root, "ErrorResponse"))
        err = aws_xml_child(root, "Error");
    else if (aws_xml_is(root, "Error")) /* a bare error element */
        err = root;
    if (err == NULL)
        return INFRA_ENOTFOUND;
    char *c = aws_xml_get(err, "Code");
    if (c == NULL || *c == '\0') {
        free(c);
        return INFRA_ENOTFOUND;
    }
    char *m = aws_xml_get(err, "Message");
    *code = c;
    *message = m ? m : pu_strdup("");
    return 0;
}
