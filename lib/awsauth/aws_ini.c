/* A small reader for the AWS CLI's INI files (~/.aws/credentials and
 * ~/.aws/config). The format has no library in Debian; this follows what
 * the CLI accepts: "[section]", "key = value" (or "key: value"), comments
 * on their own line starting with '#' or ';', keys case-insensitive, and
 * indented "sub = value" lines under a key with an empty value (the
 * services sections' "ec2 =\n  endpoint_url = ..."). */
#include "aws_profile.h"

#include <stdlib.h>
#include <string.h>

#include "awsauth_util.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* A copy of s[0..n) without leading and trailing whitespace. */
static char *trimmed(const char *s, size_t n)
{
    while (n > 0 && is_space(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_space(s[n - 1]))
        n--;
    return awsauth_strndup(s, n);
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

static void add(aws_ini *ini, const char *section, char *key, char *value)
{
    ini->entries = awsauth_realloc(ini->entries, (ini->n + 1) * sizeof(*ini->entries));
    ini->entries[ini->n].section = awsauth_strdup(section);
    ini->entries[ini->n].key = key;
    ini->entries[ini->n].value = value;
    ini->n++;
}

void aws_ini_parse(const char *text, aws_ini *out)
{
    char *section = NULL;
    char *parent = NULL; /* key with an empty value, owner of indented lines */
    const char *line = text;

    memset(out, 0, sizeof(*out));
    while (line != NULL && *line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        int indented = len > 0 && is_space(line[0]);
        char *t = trimmed(line, len);
        line = nl ? nl + 1 : NULL;

        if (t[0] == '\0' || t[0] == '#' || t[0] == ';') {
            free(t);
            continue;
        }
        size_t tl = strlen(t);
        if (t[0] == '[' && t[tl - 1] == ']') {
            free(section);
            section = trimmed(t + 1, tl - 2);
            free(parent);
            parent = NULL;
            free(t);
            continue;
        }
        char *eq = strpbrk(t, "=:");
        if (eq == NULL || section == NULL || eq == t) {
            free(t); /* not a key line, or a key before any section */
            continue;
        }
        char *key = trimmed(t, (size_t)(eq - t));
        char *value = trimmed(eq + 1, strlen(eq + 1));
        lower(key);
        if (indented && parent != NULL) {
            char *nested = awsauth_printf("%s.%s", parent, key);
            free(key);
            key = nested;
        } else {
            free(parent);
            parent = value[0] == '\0' ? awsauth_strdup(key) : NULL;
        }
        add(out, section, key, value);
        free(t);
    }
    free(section);
    free(parent);
}

int aws_ini_load(const char *path, aws_ini *out)
{
    char *text = NULL;
    size_t len = 0;

    memset(out, 0, sizeof(*out));
    int error = awsauth_read_secret_file(path, &text, &len);
    if (error < 0)
        return error;
    aws_ini_parse(text, out);
    /* The text may hold secret keys. */
    memset(text, 0, len);
    free(text);
    return 0;
}

const char *aws_ini_get(const aws_ini *ini, const char *section, const char *key)
{
    const char *found = NULL;
    for (size_t i = 0; ini != NULL && i < ini->n; i++)
        if (strcmp(ini->entries[i].section, section) == 0 && strcmp(ini->entries[i].key, key) == 0)
            found = ini->entries[i].value;
    return found;
}

int aws_ini_has_section(const aws_ini *ini, const char *section)
{
    for (size_t i = 0; ini != NULL && i < ini->n; i++)
        if (strcmp(ini->entries[i].section, section) == 0)
            return 1;
    return 0;
}

void aws_ini_free(aws_ini *ini)
{
    for (size_t i = 0; ini != NULL && i < ini->n; i++) {
        free(ini->entries[i].section);
        free(ini->entries[i].key);
        aws_free_secret_copy(ini->entries[i].value);
    }
    if (ini != NULL) {
        free(ini->entries);
        ini->entries = NULL;
        ini->n = 0;
    }
}
