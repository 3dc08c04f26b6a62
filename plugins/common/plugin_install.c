/* Installing what a node lacks, the local side: an item's settings, its
 * files read and checked by SHA-256 on infra's machine before anything is
 * sent, a program taken out of a .zip (see plugin_install.h). */
#include "plugin_install.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zip.h>

#define NJSON (pu_host->json)

/* A .deb is an ar archive. */
static const char ar_magic[] = "!<arch>\n";

int pu_install_sha256_ok(const char *s)
{
    if (s == NULL || strlen(s) != 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
            return 0;
    return 1;
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'F')
            *s = (char)(*s - 'A' + 'a');
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A package's file name becomes a path on the node and a shell word. */
static int package_name_ok(const char *s)
{
    if (s == NULL || !ends_with(s, ".deb") || s[0] == '.' || strlen(s) > 200)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._+~-", *p)))
            return 0;
    return 1;
}

int pu_install_is_packages(const infra_json *spec)
{
    const char *file = pu_json_str(spec, "file");
    struct stat st;
    if (file == NULL)
        return 0;
    if (stat(file, &st) == 0 && S_ISDIR(st.st_mode))
        return 1;
    return ends_with(file, ".deb");
}

int pu_install_check_spec(infra_call *call, const char *attr, const infra_json *spec)
{
    int error = 0;
    if (NJSON->type(spec) != INFRA_JSON_OBJECT) {
        pu_diagf(call, attr, "%s must be a map: {file: PATH, sha256: HASH}", attr);
        return INFRA_EINVALID;
    }
    void *it = NULL;
    const char *key;
    const infra_json *v;
    while (NJSON->next(spec, &it, &key, &v))
        if (strcmp(key, "file") != 0 && strcmp(key, "sha256") != 0) {
            char *a = pu_printf("%s.%s", attr, key);
            pu_diagf(call, a, "%s: unknown key \"%s\" (an item has file and sha256)", attr, key);
            free(a);
            error = INFRA_EINVALID;
        }
    const char *file = pu_json_str(spec, "file");
    if (file == NULL || *file == '\0') {
        char *a = pu_printf("%s.file", attr);
        pu_diagf(call, a,
                 "%s needs file: the program, .zip, .deb or directory of .deb files "
                 "to install, on this machine",
                 attr);
        free(a);
        error = INFRA_EINVALID;
    }
    const infra_json *sha = NJSON->get(spec, "sha256");
    char *a = pu_printf("%s.sha256", attr);
    if (sha == NULL || NJSON->type(sha) == INFRA_JSON_NULL) {
        pu_diagf(call, a,
                 "%s needs sha256: the SHA-256 of %s as published with it (sha256sum prints "
                 "it); nothing is installed unchecked",
                 attr, file ? file : "the file");
        error = INFRA_EINVALID;
    } else if (NJSON->type(sha) == INFRA_JSON_STRING) {
        if (!pu_install_sha256_ok(NJSON->string(sha))) {
            pu_diagf(call, a, "%s must be 64 hexadecimal digits (a SHA-256), not \"%s\"", a,
                     NJSON->string(sha));
            error = INFRA_EINVALID;
        }
    } else if (NJSON->type(sha) == INFRA_JSON_OBJECT) {
        void *it2 = NULL;
        while (NJSON->next(sha, &it2, &key, &v)) {
            if (!package_name_ok(key)) {
                pu_diagf(call, a,
                         "%s: \"%s\" is not the name of a .deb file (letters, digits and . _ + ~ "
                         "-, ending in .deb)",
                         a, key);
                error = INFRA_EINVALID;
            } else if (NJSON->type(v) != INFRA_JSON_STRING ||
                       !pu_install_sha256_ok(NJSON->string(v))) {
                pu_diagf(call, a, "%s.%s must be 64 hexadecimal digits (a SHA-256)", a, key);
                error = INFRA_EINVALID;
            }
        }
        if (NJSON->length(sha) == 0) {
            pu_diagf(call, a, "%s names no package", a);
            error = INFRA_EINVALID;
        }
    } else {
        pu_diagf(call, a,
                 "%s must be a SHA-256 (64 hexadecimal digits), or for a directory a map of "
                 "each .deb file's name to its SHA-256",
                 a);
        error = INFRA_EINVALID;
    }
    free(a);
    return error;
}

/* ------------------------------------------------------------------ */
/* Files                                                              */

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) == 1 && n == 32)
        pu_hex_encode(md, n, out);
}

/* Reads path whole (data NULL: only hashes it) and its SHA-256. 0, or
 * INFRA_ENOTFOUND / INFRA_EINTERNAL with errno set. */
static int read_hashed(const char *path, char **data, size_t *len, char sha[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? INFRA_ENOTFOUND : INFRA_EINTERNAL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int saved = fstat(fd, &st) < 0 ? errno : EINVAL;
        close(fd);
        errno = saved;
        return INFRA_EINTERNAL;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t cap = data ? (size_t)st.st_size + 1 : 0, used = 0;
    char *buf = data ? pu_malloc(cap) : NULL;
    char chunk[65536];
    int error = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : INFRA_EINTERNAL;
    while (error == 0) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            error = INFRA_EINTERNAL;
            break;
        }
        if (n == 0)
            break;
        if (EVP_DigestUpdate(md, chunk, (size_t)n) != 1)
            error = INFRA_EINTERNAL;
        if (buf) {
            if (used + (size_t)n + 1 > cap) { /* it grew while we read */
                cap = (used + (size_t)n + 1) * 2;
                buf = pu_realloc(buf, cap);
            }
            memcpy(buf + used, chunk, (size_t)n);
        }
        used += (size_t)n;
    }
    int saved = errno;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (error == 0 && (EVP_DigestFinal_ex(md, digest, &dlen) != 1 || dlen != 32))
        error = INFRA_EINTERNAL;
    EVP_MD_CTX_free(md);
    close(fd);
    if (error < 0) {
        free(buf);
        errno = saved;
        return error;
    }
    pu_hex_encode(digest, dlen, sha);
    if (data) {
        buf[used] = '\0';
        *data = buf;
        *len = used;
    } else if (len) {
        *len = used;
    }
    return 0;
}

static void add_file(pu_install *in, const char *name, char *data_take, size_t len, const char *sha)
{
    in->files = pu_realloc(in->files, (in->nfiles + 1) * sizeof(*in->files));
    pu_install_file *f = &in->files[in->nfiles++];
    f->name = pu_strdup(name);
    f->data = data_take;
    f->len = len;
    memcpy(f->sha256, sha, 65);
}

/* "FILE has SHA-256 X, but the topology gives Y" at attr.sha256. */
static int wrong_hash(infra_call *call, const char *attr, const char *path, const char *got,
                      const char *want)
{
    char *a = pu_printf("%s.sha256", attr);
    pu_diagf(call, a,
             "%s: %s has SHA-256 %s, not %s as the topology says: refusing to install it (a "
             "new version needs its own sha256)",
             attr, path, got, want);
    free(a);
    return INFRA_EINVALID;
}

static int cannot_read(infra_call *call, const char *attr, const char *path, int error)
{
    int saved = errno;
    char *a = pu_printf("%s.file", attr);
    pu_diagf(call, a, "%s: cannot read %s: %s", attr, path,
             saved == EINVAL ? "not a regular file" : strerror(saved));
    free(a);
    return error == INFRA_ENOTFOUND ? INFRA_ENOTFOUND : INFRA_EINVALID;
}

/* The program called name out of the zip at path (its hash was checked). */
static int zip_member(infra_call *call, const char *attr, const char *path, const char *name,
                      unsigned flags, pu_install *in)
{
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY, &zerr);
    if (z == NULL) {
        zip_error_t e;
        zip_error_init_with_code(&e, zerr);
        pu_diagf(call, attr, "%s: %s is not a readable .zip: %s", attr, path,
                 zip_error_strerror(&e));
        zip_error_fini(&e);
        return INFRA_EINVALID;
    }
    int error = 0;
    zip_int64_t found = -1, count = 0, n = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; i < n; i++) {
        const char *entry = zip_get_name(z, (zip_uint64_t)i, 0);
        if (entry == NULL || ends_with(entry, "/"))
            continue;
        const char *base = strrchr(entry, '/');
        base = base ? base + 1 : entry;
        if (strcmp(base, name) == 0) {
            found = i;
            count++;
        }
    }
    zip_stat_t zs;
    if (count != 1) {
        pu_diagf(call, attr, "%s: %s holds %s file called %s: it should hold the program", attr,
                 path, count == 0 ? "no" : "more than one", name);
        error = INFRA_EINVALID;
    } else if (zip_stat_index(z, (zip_uint64_t)found, 0, &zs) < 0 || !(zs.valid & ZIP_STAT_SIZE)) {
        pu_diagf(call, attr, "%s: %s: cannot read the entry of %s", attr, path, name);
        error = INFRA_EINVALID;
    } else if (zs.size > PU_INSTALL_MAX_MEMBER) {
        pu_diagf(call, attr, "%s: %s: %s would be %llu bytes once unpacked; refusing more than %zu",
                 attr, path, name, (unsigned long long)zs.size, PU_INSTALL_MAX_MEMBER);
        error = INFRA_EINVALID;
    } else {
        zip_file_t *zf = zip_fopen_index(z, (zip_uint64_t)found, 0);
        char *buf = pu_malloc((size_t)zs.size + 1);
        zip_int64_t got = zf ? zip_fread(zf, buf, zs.size) : -1;
        if (zf == NULL || got < 0 || (zip_uint64_t)got != zs.size) {
            pu_diagf(call, attr, "%s: %s: cannot unpack %s: %s", attr, path, name, zip_strerror(z));
            free(buf);
            error = INFRA_EINVALID;
        } else {
            char sha[65];
            buf[zs.size] = '\0';
            sha256_hex(buf, (size_t)zs.size, sha);
            if (flags & PU_INSTALL_CHECK_ONLY) {
                free(buf);
                buf = NULL;
            }
            add_file(in, name, buf, (size_t)zs.size, sha);
        }
        if (zf)
            zip_fclose(zf);
    }
    zip_discard(z);
    return error;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .deb files of directory path, sorted; they must be the keys of sha. */
static int dir_packages(infra_call *call, const char *attr, const char *path, const infra_json *sha,
                        unsigned flags, pu_install *in)
{
    char *a = pu_printf("%s.sha256", attr);
    int error = 0;
    if (NJSON->type(sha) != INFRA_JSON_OBJECT) {
        pu_diagf(call, a,
                 "%s: %s is a directory of packages: give sha256 as a map of each .deb file's "
                 "name to its SHA-256",
                 attr, path);
        free(a);
        return INFRA_EINVALID;
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        free(a);
        return cannot_read(call, attr, path, INFRA_EINVALID);
    }
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!ends_with(e->d_name, ".deb"))
            continue;
        names = pu_realloc(names, (n + 1) * sizeof(*names));
        names[n++] = pu_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++)
        if (NJSON->get(sha, names[i]) == NULL) {
            pu_diagf(call, a,
                     "%s: %s/%s has no sha256: every package of the directory is "
                     "checked",
                     attr, path, names[i]);
            error = INFRA_EINVALID;
        }
    void *it = NULL;
    const char *key;
    const infra_json *v;
    while (NJSON->next(sha, &it, &key, &v)) {
        int listed = 0;
        for (size_t i = 0; i < n && !listed; i++)
            listed = strcmp(names[i], key) == 0;
        if (!listed) {
            pu_diagf(call, a, "%s: names %s, which is not in %s", attr, key, path);
            error = INFRA_EINVALID;
        }
    }
    if (n == 0 && error == 0) {
        pu_diagf(call, attr, "%s: %s holds no .deb file", attr, path);
        error = INFRA_EINVALID;
    }
    for (size_t i = 0; i < n && error == 0; i++) {
        if (!package_name_ok(names[i])) {
            pu_diagf(call, attr,
                     "%s: %s/%s: a package's name may only hold letters, digits and "
                     ". _ + ~ -",
                     attr, path, names[i]);
            error = INFRA_EINVALID;
            break;
        }
        char *full = pu_printf("%s/%s", path, names[i]);
        char *data = NULL, got[65];
        size_t len = 0;
        int rc = read_hashed(full, (flags & PU_INSTALL_CHECK_ONLY) ? NULL : &data, &len, got);
        char want[65];
        snprintf(want, sizeof(want), "%s", NJSON->string(NJSON->get(sha, names[i])));
        lower(want);
        if (rc < 0)
            error = cannot_read(call, attr, full, rc);
        else if (strcmp(got, want) != 0)
            error = wrong_hash(call, attr, full, got, want);
        else if (data && (len < 8 || memcmp(data, ar_magic, 8) != 0)) {
            pu_diagf(call, attr, "%s: %s is not a Debian package", attr, full);
            error = INFRA_EINVALID;
        }
        if (error == 0)
            add_file(in, names[i], data, len, got);
        else
            free(data);
        free(full);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(a);
    return error;
}

static void make_digest(pu_install *in)
{
    if (!in->packages && in->nfiles == 1) {
        memcpy(in->digest, in->files[0].sha256, 65);
        return;
    }
    pu_buf b = {0};
    for (size_t i = 0; i < in->nfiles; i++)
        pu_buf_printf(&b, "%s %s\n", in->files[i].name, in->files[i].sha256);
    sha256_hex(b.data ? b.data : "", b.len, in->digest);
    free(b.data);
}

int pu_install_load(infra_call *call, const char *attr, const char *name, const infra_json *spec,
                    unsigned flags, pu_install *out)
{
    int error = 0;
    memset(out, 0, sizeof(*out));
    if ((error = pu_install_check_spec(call, attr, spec)) < 0)
        return error;
    const char *file = pu_json_str(spec, "file");
    const infra_json *sha = NJSON->get(spec, "sha256");
    out->name = pu_strdup(name);
    out->source = pu_strdup(file);
    struct stat st;
    if (stat(file, &st) < 0)
        return cannot_read(call, attr, file, errno == ENOENT ? INFRA_ENOTFOUND : INFRA_EINVALID);
    if (S_ISDIR(st.st_mode)) {
        out->packages = 1;
        error = dir_packages(call, attr, file, sha, flags, out);
    } else {
        if (NJSON->type(sha) != INFRA_JSON_STRING) {
            char *a = pu_printf("%s.sha256", attr);
            pu_diagf(call, a, "%s: %s is a file: give its SHA-256 as one string", attr, file);
            free(a);
            return INFRA_EINVALID;
        }
        char want[65], got[65];
        snprintf(want, sizeof(want), "%s", NJSON->string(sha));
        lower(want);
        int zip = ends_with(file, ".zip");
        out->packages = ends_with(file, ".deb");
        char *data = NULL;
        size_t len = 0;
        /* the program of a zip is read from the zip itself */
        int keep = !(flags & PU_INSTALL_CHECK_ONLY) && !zip;
        int rc = read_hashed(file, keep ? &data : NULL, &len, got);
        if (rc < 0)
            return cannot_read(call, attr, file, rc);
        if (strcmp(got, want) != 0) {
            free(data);
            return wrong_hash(call, attr, file, got, want);
        }
        if (zip) {
            error = zip_member(call, attr, file, name, flags, out);
        } else if (out->packages) {
            const char *base = strrchr(file, '/');
            base = base ? base + 1 : file;
            if (!package_name_ok(base)) {
                pu_diagf(call, attr,
                         "%s: %s: a package's name may only hold letters, digits and "
                         ". _ + ~ -",
                         attr, file);
                error = INFRA_EINVALID;
            } else if (data && (len < 8 || memcmp(data, ar_magic, 8) != 0)) {
                pu_diagf(call, attr, "%s: %s is not a Debian package", attr, file);
                error = INFRA_EINVALID;
            }
            if (error == 0) {
                add_file(out, base, data, len, got);
                data = NULL;
            }
        } else {
            add_file(out, name, data, len, got);
            data = NULL;
        }
        free(data);
    }
    if (error == 0)
        make_digest(out);
    return error;
}

void pu_install_free(pu_install *in)
{
    for (size_t i = 0; i < in->nfiles; i++) {
        free(in->files[i].name);
        free(in->files[i].data);
    }
    free(in->files);
    free(in->name);
    free(in->source);
    memset(in, 0, sizeof(*in));
}
