/* Secrets store and the infra_secret_api. Values live in heap copies that
 * are zeroised before they are freed; that includes the text of a secrets
 * file and the strings jansson made while parsing or writing it. */
#include "services/secrets.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin/host.h"
#include "services/log.h"
#include "base/file.h"
#include "base/util.h"

#define SECRETS_FILE_MAX (16 * 1024 * 1024) /* far beyond any real secrets file */
#define SECRETS_GENERATE_MAX 1024

struct infra_secret {
    char *value;
    size_t len;
};

typedef struct secret_entry {
    char *name;
    char *value;
    size_t len;
} secret_entry;

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static secret_entry *store;
static size_t nstore;
static int store_dirty;
/* Counts the store's changes, so that a save clears store_dirty only when
 * nothing changed between its snapshot and the end of its write. */
static unsigned long store_changes;
static secrets_free_hook free_hook;

/* ------------------------------------------------------------------ */
/* Secret values                                                      */

static infra_secret *secret_new(const char *value, size_t len)
{
    infra_secret *s = util_malloc(sizeof(*s));
    s->value = util_strndup(value, len);
    s->len = len;
    log_add_secret(s->value);
    return s;
}

infra_secret *secrets_wrap(const char *value)
{
    return value ? secret_new(value, strlen(value)) : NULL;
}

const char *secrets_value(const infra_secret *secret)
{
    return secret ? secret->value : NULL;
}

void secrets_free(infra_secret *secret)
{
    if (!secret)
        return;
    util_zero(secret->value, secret->len);
    if (free_hook)
        free_hook(secret->value, secret->len);
    free(secret->value);
    util_zero(secret, sizeof(*secret));
    free(secret);
}

void secrets_set_free_hook(secrets_free_hook hook)
{
    free_hook = hook;
}

/* ------------------------------------------------------------------ */
/* The store                                                          */

static void entry_wipe(secret_entry *e)
{
    util_zero(e->value, e->len);
    free(e->value);
    free(e->name);
    e->value = e->name = NULL;
    e->len = 0;
}

/* Caller holds store_lock. */
static secret_entry *store_find(const char *name)
{
    for (size_t i = 0; i < nstore; i++)
        if (strcmp(store[i].name, name) == 0)
            return &store[i];
    return NULL;
}

/* Caller holds store_lock. */
static void store_put(const char *name, const char *value, size_t len)
{
    secret_entry *e = store_find(name);
    if (e) {
        util_zero(e->value, e->len);
        free(e->value);
    } else {
        store = util_realloc(store, (nstore + 1) * sizeof(*store));
        e = &store[nstore++];
        e->name = util_strdup(name);
    }
    e->value = util_strndup(value, len);
    e->len = len;
    log_add_secret(e->value);
}

void secrets_clear(void)
{
    pthread_mutex_lock(&store_lock);
    for (size_t i = 0; i < nstore; i++)
        entry_wipe(&store[i]);
    free(store);
    store = NULL;
    nstore = 0;
    store_dirty = 0;
    pthread_mutex_unlock(&store_lock);
}

int secrets_dirty(void)
{
    pthread_mutex_lock(&store_lock);
    int dirty = store_dirty;
    pthread_mutex_unlock(&store_lock);
    return dirty;
}

int secrets_set(const char *name, const char *value)
{
    if (!name || !*name || !value)
        return INFRA_EINVALID;
    pthread_mutex_lock(&store_lock);
    store_put(name, value, strlen(value));
    store_dirty = 1;
    store_changes++;
    pthread_mutex_unlock(&store_lock);
    return 0;
}

char *secrets_env_name(const char *name)
{
    util_buf b = {0};
    util_buf_puts(&b, "INFRA_SECRET_");
    for (const char *p = name ? name : ""; *p; p++) {
        char c = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
        util_buf_put(&b, &c, 1);
    }
    return util_buf_take(&b);
}

int secrets_lookup(const char *name, infra_secret **out)
{
    *out = NULL;
    if (!name || !*name)
        return INFRA_ENOTFOUND;
    pthread_mutex_lock(&store_lock);
    secret_entry *e = store_find(name);
    if (e)
        *out = secret_new(e->value, e->len);
    pthread_mutex_unlock(&store_lock);
    if (*out)
        return 0;

    char *var = secrets_env_name(name);
    const char *value = getenv(var);
    free(var);
    if (!value)
        return INFRA_ENOTFOUND;
    *out = secrets_wrap(value);
    return 0;
}

static char *encode(const unsigned char *raw, size_t n, secrets_encoding encoding)
{
    if (encoding == SECRETS_BASE64) {
        char *text = util_malloc(4 * ((n + 2) / 3) + 1);
        EVP_EncodeBlock((unsigned char *)text, raw, (int)n);
        return text;
    }
    static const char hex[] = "0123456789abcdef";
    char *text = util_malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        text[2 * i] = hex[raw[i] >> 4];
        text[2 * i + 1] = hex[raw[i] & 15];
    }
    text[2 * n] = '\0';
    return text;
}

int secrets_generate(const char *name, size_t bytes, secrets_encoding encoding, infra_secret **out)
{
    int error = 0;
    unsigned char raw[SECRETS_GENERATE_MAX];
    char *text = NULL;

    if (out)
        *out = NULL;
    if (!name || !*name || bytes == 0 || bytes > SECRETS_GENERATE_MAX)
        return INFRA_EINVALID;
    pthread_mutex_lock(&store_lock);
    secret_entry *e = store_find(name);
    if (!e) {
        if (util_random(raw, bytes) < 0) {
            error = INFRA_EINTERNAL;
            goto done;
        }
        text = encode(raw, bytes, encoding);
        store_put(name, text, strlen(text));
        store_dirty = 1;
        store_changes++;
        e = store_find(name);
    }
    if (out)
        *out = secret_new(e->value, e->len);

done:
    pthread_mutex_unlock(&store_lock);
    util_zero(raw, sizeof(raw));
    if (text) {
        util_zero(text, strlen(text));
        free(text);
    }
    return error;
}

/* ------------------------------------------------------------------ */
/* The secrets file                                                   */

/* Zeroises every string of a parsed or built document before it is
 * released: jansson frees without clearing. */
static void json_scrub(json_t *doc)
{
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value)
    {
        if (json_is_string(value))
            util_zero((char *)json_string_value(value), json_string_length(value));
    }
}

/* Reads the whole file from fd into a buffer of exactly its size, so that
 * no stale copy of the text is left behind by a reallocation. */
static int read_secret_text(int fd, const char *path, size_t size, char **text, char **err)
{
    char *buf = util_malloc(size + 1);
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *err = util_printf("%s: cannot read: %s", path, strerror(errno));
            util_zero(buf, got);
            free(buf);
            return INFRA_EINVALID;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    *text = buf;
    return 0;
}

int secrets_file_load(const char *path, char **err)
{
    int error = 0, fd = -1;
    char *text = NULL;
    size_t text_len = 0;
    json_t *doc = NULL;
    struct stat st;

    *err = NULL;
    /* Never through a planted link, hard link or FIFO: it sits in the
     * state directory and is read as root. */
    if ((fd = util_open_private(path, O_RDONLY, 0, "secrets file", err)) < 0) {
        error = errno == ENOENT ? INFRA_ENOTFOUND : INFRA_EINVALID;
        goto done;
    }
    /* fstat on the open descriptor: the file checked is the file read. */
    if (fstat(fd, &st) < 0) {
        *err = util_printf("%s: cannot read secrets file: %s", path, strerror(errno));
        error = INFRA_EINVALID;
        goto done;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        *err = util_printf("%s: secrets file has mode %04o, which lets other users read or "
                           "change it; it must be 0600 or stricter (chmod 600 %s)",
                           path, (unsigned)(st.st_mode & 07777), path);
        error = INFRA_EINVALID;
        goto done;
    }
    if (st.st_size > SECRETS_FILE_MAX) {
        *err = util_printf("%s: secrets file is larger than %d MiB", path, SECRETS_FILE_MAX >> 20);
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = read_secret_text(fd, path, (size_t)st.st_size, &text, err)) < 0)
        goto done;
    text_len = strlen(text);

    json_error_t jerr;
    if (!(doc = json_loadb(text, text_len, 0, &jerr))) {
        /* jansson's own text quotes the input near the error: a secret. */
        *err = util_printf("%s:%d:%d: not valid JSON", path, jerr.line, jerr.column);
        error = INFRA_EINVALID;
        goto done;
    }
    if (!json_is_object(doc)) {
        *err = util_printf("%s: a secrets file is a JSON object of \"name\": \"value\"", path);
        error = INFRA_EINVALID;
        goto done;
    }
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value)
    {
        if (!json_is_string(value) || !*key) {
            *err = util_printf("%s: secret '%s' must be a non-empty name with a string value", path,
                               key);
            error = INFRA_EINVALID;
            goto done;
        }
    }
    pthread_mutex_lock(&store_lock);
    json_object_foreach(doc, key, value)
        store_put(key, json_string_value(value), json_string_length(value));
    store_dirty = 0;
    pthread_mutex_unlock(&store_lock);

done:
    if (doc) {
        json_scrub(doc);
        json_decref(doc);
    }
    if (text) {
        util_zero(text, text_len);
        free(text);
    }
    if (fd >= 0)
        close(fd);
    return error;
}

int secrets_file_save(const char *path, char **err)
{
    int error = 0;
    char *text = NULL;
    json_t *doc = json_object();

    *err = NULL;
    pthread_mutex_lock(&store_lock);
    unsigned long snapshot = store_changes;
    for (size_t i = 0; i < nstore; i++)
        json_object_set_new(doc, store[i].name, json_stringn(store[i].value, store[i].len));
    pthread_mutex_unlock(&store_lock);

    if (!(text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS))) {
        *err = util_printf("%s: cannot encode the secrets", path);
        error = INFRA_EINTERNAL;
        goto done;
    }
    if ((error = util_file_replace(path, "secrets file", text, strlen(text), 1, 0600, NULL, NULL,
                                   err)) < 0)
        goto done;
    /* A secret made while the snapshot was written is not in the file:
     * the store stays dirty so that the next save writes it. */
    pthread_mutex_lock(&store_lock);
    if (store_changes == snapshot)
        store_dirty = 0;
    pthread_mutex_unlock(&store_lock);

done:
    if (text) {
        util_zero(text, strlen(text));
        free(text);
    }
    json_scrub(doc);
    json_decref(doc);
    return error;
}

/* ------------------------------------------------------------------ */
/* The file the plugins' secrets are kept in                          */

static pthread_mutex_t bind_lock = PTHREAD_MUTEX_INITIALIZER;
static char *bound_path;

int secrets_file_bind(const char *path, char **err)
{
    int error = 0;
    char *dir = path ? util_dir_of(path) : NULL;
    *err = NULL;
    /* Secrets are written there as they are made: a directory others can
     * write to could have them swapped or read through what was planted. */
    if (dir && (error = util_dir_check_private(dir, "state directory", err)) < 0) {
        free(dir);
        return error;
    }
    free(dir);
    pthread_mutex_lock(&bind_lock);
    free(bound_path);
    bound_path = path ? util_strdup(path) : NULL;
    if (path && (error = secrets_file_load(path, err)) == INFRA_ENOTFOUND) {
        free(*err);
        *err = NULL;
        error = 0;
    }
    pthread_mutex_unlock(&bind_lock);
    return error;
}

const char *secrets_file_bound(void)
{
    return bound_path;
}

int secrets_file_save_bound(char **err)
{
    int error = 0;
    *err = NULL;
    pthread_mutex_lock(&bind_lock);
    if (bound_path && secrets_dirty())
        error = secrets_file_save(bound_path, err);
    pthread_mutex_unlock(&bind_lock);
    return error;
}

/* Writes the store to the bound file when it changed; the plugin gets an
 * error rather than a secret that would not survive the process. */
static int save_bound(infra_call *call)
{
    char *err = NULL;
    int error = secrets_file_save_bound(&err);
    if (error < 0)
        host_table()->diag(call, INFRA_DIAG_ERROR, "", err ? err : "cannot save the secrets");
    free(err);
    return error;
}

/* ------------------------------------------------------------------ */
/* The table handed to plugins                                        */

static int api_get(infra_call *call, const char *name, infra_secret **out)
{
    if (!out)
        return INFRA_EINVALID;
    return secrets_lookup(name, out);
}

static int api_generate(infra_call *call, const char *name, size_t bytes, int encoding,
                        infra_secret **out)
{
    if (out)
        *out = NULL;
    if (encoding != INFRA_SECRET_HEX && encoding != INFRA_SECRET_BASE64)
        return INFRA_EINVALID;
    int error = secrets_generate(name, bytes,
                                 encoding == INFRA_SECRET_BASE64 ? SECRETS_BASE64 : SECRETS_HEX, out);
    if (error == 0 && (error = save_bound(call)) < 0 && out) {
        secrets_free(*out);
        *out = NULL;
    }
    return error;
}

static int api_set(infra_call *call, const char *name, const char *value)
{
    int error = secrets_set(name, value);
    return error < 0 ? error : save_bound(call);
}

static const infra_secret_api secrets_table = {
    .size = sizeof(infra_secret_api),
    .get = api_get,
    .wrap = secrets_wrap,
    .value = secrets_value,
    .free = secrets_free,
    .generate = api_generate,
    .set = api_set,
};

const infra_secret_api *secrets_api(void)
{
    return &secrets_table;
}
