/* The test provider's "cloud": one JSON file per object under
 * DIR/TYPE/ID.json, an image catalog under DIR/catalog/images, and an
 * append-only DIR/calls.log of mutating calls. */
#include "testprov.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_ulong temp_seq;

char *testprov_printf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

int testprov_mkdirs(const char *path)
{
    char *copy = strdup(path);
    int error = 0;

    if (copy == NULL)
        return INFRA_EINTERNAL;
    for (char *p = copy + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0755) < 0 && errno != EEXIST)
            error = INFRA_EINTERNAL;
        *p = '/';
    }
    if (mkdir(copy, 0755) < 0 && errno != EEXIST)
        error = INFRA_EINTERNAL;
    free(copy);
    return error;
}

int testprov_id_valid(const char *id)
{
    if (id == NULL || id[0] == '\0' || id[0] == '.')
        return 0;
    for (const char *c = id; *c != '\0'; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-'))
            return 0;
    }
    return 1;
}

uint64_t testprov_hash(const char *text)
{
    return pu_fnv1a(text, strlen(text));
}

int testprov_id_for_token(const char *token, char *out, size_t len)
{
    uint64_t h;
    size_t hex = 0;

    if (len < 20)
        return INFRA_EINTERNAL;
    if (token != NULL) {
        while (hex < 16 && ((token[hex] >= '0' && token[hex] <= '9') ||
                            (token[hex] >= 'a' && token[hex] <= 'f')))
            hex++;
        if (hex == 16) { /* the engine's tokens are random hex: use them as they are */
            snprintf(out, len, "tp-%.16s", token);
            return 0;
        }
        h = pu_fnv1a(token, strlen(token));
    } else if (getrandom(&h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
        return INFRA_EINTERNAL;
    }
    snprintf(out, len, "tp-%016llx", (unsigned long long)h);
    return 0;
}

static char *object_path(infra_provider *p, const char *type, const char *id)
{
    return testprov_printf("%s/%s/%s.json", p->dir, type, id);
}

static int read_file(const char *path, char **out, size_t *out_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int error = 0;

    if (fd < 0)
        return errno == ENOENT ? INFRA_ENOTFOUND : INFRA_EINTERNAL;
    if (fstat(fd, &st) < 0 || (buf = malloc((size_t)st.st_size + 1)) == NULL) {
        error = INFRA_EINTERNAL;
        goto done;
    }
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* a file shortened meanwhile: parse what is there */
        len += (size_t)n;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    buf = NULL;
done:
    free(buf);
    close(fd);
    return error;
}

int testprov_object_load(infra_provider *p, infra_call *call, const char *type, const char *id,
                         infra_json **record)
{
    int error = 0;
    char *path = object_path(p, type, id);
    char *text = NULL;
    size_t len = 0;
    infra_json *doc = NULL;

    if (path == NULL)
        return INFRA_EINTERNAL;
    if ((error = read_file(path, &text, &len)) < 0) {
        if (error != INFRA_ENOTFOUND)
            pu_diagf(call, "", "cannot read %s", path);
        goto done;
    }
    doc = TPJ->parse(text, len);
    if (doc == NULL || TPJ->type(doc) != INFRA_JSON_OBJECT ||
        TPJ->type(TPJ->get(doc, "attributes")) != INFRA_JSON_OBJECT) {
        pu_diagf(call, "", "%s is not a test provider object", path);
        error = INFRA_EINTERNAL;
        goto done;
    }
    *record = doc;
    doc = NULL;
done:
    TPJ->release(doc);
    free(text);
    free(path);
    return error;
}

/* No fsync: the crashes this provider simulates kill the process, not the
 * machine, so the page cache survives them; syncing would make the
 * benchmark measure the disk instead of the engine. */
int testprov_object_save(infra_provider *p, infra_call *call, const char *type, const char *id,
                         const infra_json *record)
{
    int error = 0;
    char *typedir = testprov_printf("%s/%s", p->dir, type);
    char *path = object_path(p, type, id);
    char *tmp = testprov_printf("%s/.%s.json.%ld.%lu.tmp", typedir ? typedir : "", id,
                                (long)getpid(), (unsigned long)atomic_fetch_add(&temp_seq, 1));
    char *text = TPJ->dump(record);
    int fd = -1;

    if (typedir == NULL || path == NULL || tmp == NULL || text == NULL) {
        error = INFRA_EINTERNAL;
        goto done;
    }
    if ((error = testprov_mkdirs(typedir)) < 0) {
        pu_diagf(call, "", "cannot create %s", typedir);
        goto done;
    }
    /* 0600: the object holds its sensitive attributes, as a cloud would. */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || pu_write_all(fd, text, strlen(text)) < 0 || pu_write_all(fd, "\n", 1) < 0 ||
        close(fd) < 0) {
        if (fd >= 0)
            unlink(tmp);
        fd = -1;
        pu_diagf(call, "", "cannot write %s", tmp);
        error = INFRA_EINTERNAL;
        goto done;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        unlink(tmp);
        pu_diagf(call, "", "cannot rename %s to %s", tmp, path);
        error = INFRA_EINTERNAL;
    }
done:
    if (fd >= 0)
        close(fd);
    if (text != NULL)
        pu_host->free(text);
    free(tmp);
    free(path);
    free(typedir);
    return error;
}

int testprov_object_remove(infra_provider *p, infra_call *call, const char *type, const char *id)
{
    int error = 0;
    char *path = object_path(p, type, id);

    if (path == NULL)
        return INFRA_EINTERNAL;
    if (unlink(path) < 0) {
        if (errno == ENOENT) {
            error = INFRA_ENOTFOUND;
        } else {
            pu_diagf(call, "", "cannot remove %s", path);
            error = INFRA_EINTERNAL;
        }
    }
    free(path);
    return error;
}

void testprov_calls_log(infra_provider *p, const char *op, const char *address, const char *id,
                        const char *note)
{
    char *line = testprov_printf("%s %s %s%s%s\n", op, address[0] ? address : "-", id,
                                 note ? " " : "", note ? note : "");

    /* One write on an O_APPEND descriptor: lines from concurrent calls and
     * processes never interleave. */
    if (line != NULL && p->calls_fd >= 0)
        (void)pu_write_all(p->calls_fd, line, strlen(line));
    free(line);
}

/* Keeps the better of *best and candidate: newest "created", then highest id
 * so that equal dates still give one stable answer. */
static void keep_newest(infra_json **best, infra_json *candidate)
{
    int cmp;

    if (*best == NULL) {
        *best = candidate;
        return;
    }
    cmp = strcmp(pu_json_str(candidate, "created"), pu_json_str(*best, "created"));
    if (cmp == 0)
        cmp = strcmp(pu_json_str(candidate, "id"), pu_json_str(*best, "id"));
    if (cmp > 0) {
        TPJ->release(*best);
        *best = candidate;
    } else {
        TPJ->release(candidate);
    }
}

static int catalog_entry(const char *catalog, const char *file, infra_json **out)
{
    char *path = testprov_printf("%s/%s", catalog, file);
    char *text = NULL;
    size_t len = 0;
    infra_json *doc = NULL;
    int error;

    if (path == NULL)
        return INFRA_EINTERNAL;
    if ((error = read_file(path, &text, &len)) == 0) {
        doc = TPJ->parse(text, len);
        if (pu_json_str(doc, "id") == NULL || pu_json_str(doc, "name") == NULL ||
            pu_json_str(doc, "created") == NULL) {
            TPJ->release(doc);
            doc = NULL;
            error = INFRA_EINVALID;
        }
    }
    *out = doc;
    free(text);
    free(path);
    return error;
}

int testprov_image_lookup(infra_provider *p, infra_call *call, const char *pattern,
                          const char *id, infra_json **image)
{
    char *catalog = testprov_printf("%s/catalog/images", p->dir);
    DIR *d = NULL;
    struct dirent *ent;
    infra_json *best = NULL;
    int error = 0;

    if (catalog == NULL)
        return INFRA_EINTERNAL;
    if ((d = opendir(catalog)) != NULL) {
        while ((ent = readdir(d)) != NULL) {
            size_t n = strlen(ent->d_name);
            infra_json *entry = NULL;
            if (ent->d_name[0] == '.' || n < 6 || strcmp(ent->d_name + n - 5, ".json") != 0)
                continue;
            if (catalog_entry(catalog, ent->d_name, &entry) < 0) {
                char *msg = testprov_printf("skipping %s/%s: not an image {id, name, created}",
                                            catalog, ent->d_name);
                if (msg != NULL)
                    pu_host->log(call, INFRA_LOG_WARN, msg);
                free(msg);
                continue;
            }
            if (pattern != NULL ? fnmatch(pattern, pu_json_str(entry, "name"), 0) == 0
                                : strcmp(id, pu_json_str(entry, "id")) == 0)
                keep_newest(&best, entry);
            else
                TPJ->release(entry);
        }
        closedir(d);
    }
    if (best == NULL) {
        error = INFRA_ENOTFOUND;
        goto done;
    }
    *image = best;
done:
    free(catalog);
    return error;
}

void testprov_reads_log(infra_provider *p, const char *type, const char *count)
{
    char *path = testprov_printf("%s/reads.log", p->dir);
    char *line = testprov_printf("read_many %s %s\n", type, count);
    int fd = path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
    if (fd >= 0 && line != NULL && pu_write_all(fd, line, strlen(line)) < 0)
        pu_logf(NULL, INFRA_LOG_WARN, "test provider: cannot write %s", path);
    if (fd >= 0)
        close(fd);
    free(line);
    free(path);
}
