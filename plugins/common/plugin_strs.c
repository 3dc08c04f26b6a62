/* Lists of strings, shell quoting, the names and addresses plugins accept
 * in what ends up in commands and files, and SHA-256 in hex. */
#include "plugin_remote.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void pu_strs_add(pu_strs *l, const char *s)
{
    l->v = pu_realloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = pu_strdup(s);
}

void pu_strs_addf(pu_strs *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = pu_vprintf(fmt, ap);
    va_end(ap);
    l->v = pu_realloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = s;
}

int pu_strs_has(const pu_strs *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

char *pu_strs_join(const pu_strs *l)
{
    if (l->n == 0)
        return pu_strdup("none");
    pu_buf b = {0};
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            pu_buf_puts(&b, ", ");
        pu_buf_puts(&b, l->v[i]);
    }
    return pu_buf_take(&b);
}

void pu_strs_free(pu_strs *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

char *pu_shell_quote(const char *text)
{
    pu_buf b = {0};
    pu_buf_puts(&b, "'");
    for (const char *p = text ? text : ""; *p; p++) {
        if (*p == '\'')
            pu_buf_puts(&b, "'\\''");
        else
            pu_buf_put(&b, p, 1);
    }
    pu_buf_puts(&b, "'");
    return pu_buf_take(&b);
}

static int word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

int pu_name_ok(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if (!word_char(*s))
            return 0;
    return 1;
}

int pu_path_ok(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (const char *p = s; *p; p++)
        if (!word_char(*p) && *p != '/' && *p != '+')
            return 0;
    /* a relative path with a slash would depend on the login directory */
    return s[0] == '/' || strchr(s, '/') == NULL;
}

int pu_ip_ok(const char *s)
{
    unsigned char buf[16];
    return s != NULL && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

void pu_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32) {
        out[0] = '\0';
        return;
    }
    pu_hex_encode(md, n, out);
}
