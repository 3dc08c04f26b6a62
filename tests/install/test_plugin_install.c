/* plugins/common/plugin_install: items read and checked on this machine
 * (hash first, a .zip's program, a directory of packages), the scripts run
 * on a node (what they quote and check), the skip logic, and the whole
 * install against a real OpenSSH sshd on 127.0.0.1 that this test starts.
 * dpkg runs for real, in a directory of the test's own: the sshd session's
 * PATH (SetEnv) puts wrappers first that give dpkg --root and dpkg-query
 * --admindir, so the machine's package database is never touched. Needs
 * root (sshd). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>

#include "plugin/host.h"
#include "plugin_install.h"
#include "services/ssh.h"
#include "base/util.h"

#define SSHD "/usr/sbin/sshd"

static struct {
    int available;
    char *dir;         /* mktemp -d: keys, config, files */
    char *fingerprint; /* of the host key */
    char *user_key;
    char *dpkg_root; /* dpkg's --root */
    char *bin;       /* the bin_dir of the tests */
    char item[64];   /* an item name of this run: its package cache is ours */
    int port;
    pid_t sshd;
    infra_ssh *ssh; /* the session of the tests, opened by the first */
} fx;

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = util_vprintf(fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("command failed (%d): %s", st, cmd);
    free(cmd);
}

static char *sh_output(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh_output(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = util_vprintf(fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    util_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        util_buf_put(&b, chunk, n);
    int st = pclose(p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("command failed (%d): %s", st, cmd);
    free(cmd);
    char *s = util_buf_take(&b);
    s[strcspn(s, "\n")] = '\0';
    return s;
}

static char *put_file(const char *name, const char *text, int mode)
{
    char *path = util_printf("%s/%s", fx.dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    chmod(path, (mode_t)mode);
    return path;
}

static char *sha_of(const char *path)
{
    return sh_output("sha256sum <'%s' | cut -c1-64", path);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Diagnostics of one call. */
typedef struct diags {
    util_buf text;
    int errors;
} diags;

/* The diagnostics of the last apply. */
static diags last;

static void collect(void *ud, infra_call *call, int severity, const char *attr, const char *message)
{
    diags *d = ud;
    if (severity >= INFRA_DIAG_ERROR)
        d->errors++;
    util_buf_printf(&d->text, "[%s] %s\n", attr ? attr : "", message);
}

static void call_begin(infra_call *call, diags *d)
{
    memset(d, 0, sizeof(*d));
    host_call_init(call, "test", "install");
    call->diag = collect;
    call->diag_ud = d;
}

static void call_end(infra_call *call, diags *d)
{
    host_call_clear(call);
    util_buf_free(&d->text);
}

static const char *text(const diags *d)
{
    return d->text.data ? d->text.data : "";
}

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL)                                                       \
            fail_msg("expected \"%s\" in:\n%s", (needle), (hay));                                  \
    } while (0)

/* {"file": file, "sha256": sha} as a host value. */
static infra_json *spec(const char *file, const char *sha)
{
    json_t *j = json_object();
    if (file)
        json_object_set_new(j, "file", json_string(file));
    if (sha)
        json_object_set_new(j, "sha256", json_string(sha));
    return host_json(j);
}

static infra_json *spec_json(const char *text_)
{
    json_t *j = json_loads(text_, 0, NULL);
    assert_non_null(j);
    return host_json(j);
}

static void release(infra_json *v)
{
    json_decref(host_jansson(v));
}

/* A zip at path holding name -> content pairs (NULL-terminated). */
static void make_zip(const char *path, const char *const *entries)
{
    int err = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    assert_non_null(z);
    for (size_t i = 0; entries[i]; i += 2) {
        zip_source_t *src = zip_source_buffer(z, entries[i + 1], strlen(entries[i + 1]), 0);
        assert_non_null(src);
        assert_true(zip_file_add(z, entries[i], src, ZIP_FL_OVERWRITE) >= 0);
    }
    assert_int_equal(zip_close(z), 0);
}

/* A .deb of package name at version holding /usr/bin/NAME; its path. */
static char *make_deb(const char *name, const char *version)
{
    char *tree = util_printf("%s/build-%s-%s", fx.dir, name, version);
    char *deb = util_printf("%s/debs-%s/%s_%s_all.deb", fx.dir, version, name, version);
    sh("mkdir -p '%s/DEBIAN' '%s/usr/bin' \"$(dirname '%s')\" && "
       "printf 'Package: %s\\nVersion: %s\\nArchitecture: all\\nMaintainer: infra tests "
       "<tests@example.org>\\nDescription: a test package\\n' >'%s/DEBIAN/control' && "
       "printf '#!/bin/sh\\necho %s\\n' >'%s/usr/bin/%s' && chmod 755 '%s/usr/bin/%s' && "
       "dpkg-deb --root-owner-group --build '%s' '%s' >/dev/null",
       tree, tree, deb, name, version, tree, version, tree, name, tree, name, tree, deb);
    free(tree);
    return deb;
}

/* ------------------------------------------------------------------ */
/* The sshd                                                           */

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        return -1;
    close(fd);
    return ntohs(sa.sin_port);
}

static int port_accepts(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static int group_setup(void **state)
{
    pu_init(host_table(), "install test");
    char tmpl[] = "/tmp/infra-test-install-XXXXXX";
    if (!mkdtemp(tmpl))
        return -1;
    fx.dir = util_strdup(tmpl);
    if (access(SSHD, X_OK) != 0 || geteuid() != 0)
        return 0; /* the tests that need it say so */
    snprintf(fx.item, sizeof(fx.item), "infratest-%ld", (long)getpid());
    fx.user_key = util_printf("%s/user_key", fx.dir);
    fx.dpkg_root = util_printf("%s/dpkg-root", fx.dir);
    fx.bin = util_printf("%s/bin", fx.dir);
    mkdir("/run/sshd", 0755);
    sh("ssh-keygen -q -t ed25519 -N '' -C infra-test -f '%s/host_key'", fx.dir);
    sh("ssh-keygen -q -t ed25519 -N '' -C infra-test -f '%s'", fx.user_key);
    sh("cp '%s.pub' '%s/authorized_keys'", fx.user_key, fx.dir);
    fx.fingerprint =
        sh_output("ssh-keygen -lf '%s/host_key.pub' -E sha256 | cut -d' ' -f2", fx.dir);
    /* dpkg and dpkg-query of the sessions work in dpkg_root */
    sh("mkdir -p '%s/shim' '%s/var/lib/dpkg/info' '%s/var/lib/dpkg/updates' && "
       "touch '%s/var/lib/dpkg/status' && "
       "printf '#!/bin/sh\\necho \"$*\" >>%s/dpkg.calls\\nexec /usr/bin/dpkg --root=%s \"$@\"\\n' "
       ">'%s/shim/dpkg' && "
       "printf '#!/bin/sh\\nexec /usr/bin/dpkg-query --admindir=%s/var/lib/dpkg \"$@\"\\n' "
       ">'%s/shim/dpkg-query' && chmod 755 '%s/shim/dpkg' '%s/shim/dpkg-query'",
       fx.dir, fx.dpkg_root, fx.dpkg_root, fx.dpkg_root, fx.dir, fx.dpkg_root, fx.dir, fx.dpkg_root,
       fx.dir, fx.dir, fx.dir);
    fx.port = free_port();
    char *config = util_printf("%s/sshd_config", fx.dir);
    char *text_ = util_printf(
        "ListenAddress 127.0.0.1\nPort %d\nHostKey %s/host_key\n"
        "AuthorizedKeysFile %s/authorized_keys\nPidFile %s/sshd.pid\nStrictModes no\n"
        "UsePAM no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nSubsystem sftp internal-sftp\n"
        "SetEnv PATH=%s/shim:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
        fx.port, fx.dir, fx.dir, fx.dir, fx.dir);
    FILE *f = fopen(config, "w");
    fputs(text_, f);
    fclose(f);
    free(text_);
    sh("%s -t -f '%s'", SSHD, config);
    /* sshd runs in a mount namespace of its own where /root is an empty
     * directory: the login shell of its root sessions must not read this
     * machine's own ~/.bashrc, whose output would mix with the scripts'. */
    char *log = util_printf("mkdir -p '%s/home' && mount --bind '%s/home' /root && "
                            "exec %s -D -e -f '%s' 2>>'%s/sshd.log'",
                            fx.dir, fx.dir, SSHD, config, fx.dir);
    char *argv[] = {"unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", log, NULL};
    if (posix_spawnp(&fx.sshd, "unshare", NULL, NULL, argv, environ) != 0)
        return -1;
    free(log);
    free(config);
    for (int i = 0; i < 200 && !port_accepts(fx.port); i++)
        usleep(50000);
    if (!port_accepts(fx.port))
        return -1;
    fx.available = 1;
    return 0;
}

static int group_teardown(void **state)
{
    ssh_api()->close(fx.ssh);
    if (fx.sshd > 0) {
        kill(fx.sshd, SIGTERM);
        waitpid(fx.sshd, NULL, 0);
    }
    if (fx.item[0]) {
        char *cache = util_printf(PU_INSTALL_CACHE_DIR "/%s", fx.item);
        nftw(cache, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(cache);
        rmdir(PU_INSTALL_CACHE_DIR); /* only when no other item is kept there */
        rmdir("/var/cache/infra");
    }
    if (fx.dir)
        nftw(fx.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    util_buf_free(&last.text);
    free(fx.dir);
    free(fx.fingerprint);
    free(fx.user_key);
    free(fx.dpkg_root);
    free(fx.bin);
    memset(&fx, 0, sizeof(fx));
    return 0;
}

#define REQUIRE_SSHD()                                                                             \
    do {                                                                                           \
        if (!fx.available)                                                                         \
            fail_msg("needs root and " SSHD " (scripts/deps.sh installs it)");                     \
    } while (0)

static infra_ssh *open_session(void)
{
    infra_call call;
    diags d;
    infra_ssh *ssh = NULL;
    call_begin(&call, &d);
    infra_ssh_target t = {.size = sizeof(t),
                          .host = "127.0.0.1",
                          .port = fx.port,
                          .user = "root",
                          .private_key = fx.user_key,
                          .host_key_sha256 = fx.fingerprint,
                          .deadline_ms = 10000};
    if (ssh_connect(&call, &t, &ssh) != 0)
        fail_msg("connect: %s", text(&d));
    call_end(&call, &d);
    return ssh;
}

/* Loads spec as item name, failing the test on an error. */
static void load(const char *name, infra_json *s, pu_install *in)
{
    infra_call call;
    diags d;
    call_begin(&call, &d);
    if (pu_install_load(&call, "install.x", name, s, 0, in) != 0)
        fail_msg("load: %s", text(&d));
    call_end(&call, &d);
}

/* pu_install_apply on the fixture's sshd; its result, diagnostics in d
 * (the last apply's, cleared first). */
static int apply(const pu_install *in, int root, pu_install_result *res, diags *d)
{
    infra_call call;
    if (fx.ssh == NULL) /* one session for every test: connecting is the slow part */
        fx.ssh = open_session();
    infra_ssh *ssh = fx.ssh;
    host_call_init(&call, "test", "install");
    util_buf_free(&d->text);
    memset(d, 0, sizeof(*d));
    call.diag = collect;
    call.diag_ud = d;
    pu_install_node node = {ssh, "node-0", root};
    int rc = pu_install_apply(&call, &node, in, fx.bin, "install.x", res);
    host_call_clear(&call);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Items on this machine                                              */

static void test_install_spec_without_sha256_is_refused(void **state)
{
    REQUIRE_SSHD();
    infra_call call;
    diags d;
    call_begin(&call, &d);
    infra_json *s = spec("/bin/true", NULL);
    assert_int_equal(pu_install_check_spec(&call, "install.nomad", s), INFRA_EINVALID);
    assert_contains(text(&d), "[install.nomad.sha256] install.nomad needs sha256");
    release(s);
    s = spec_json("{\"file\": \"/bin/true\", \"sha256\": \"abc\", \"version\": 1}");
    assert_int_equal(pu_install_check_spec(&call, "install.nomad", s), INFRA_EINVALID);
    assert_contains(text(&d), "must be 64 hexadecimal digits");
    assert_contains(text(&d), "unknown key \"version\"");
    release(s);
    s = spec_json("{\"sha256\": {\"a b.deb\": \"x\"}}");
    assert_int_equal(pu_install_check_spec(&call, "install.zk", s), INFRA_EINVALID);
    assert_contains(text(&d), "install.zk needs file");
    assert_contains(text(&d), "\"a b.deb\" is not the name of a .deb file");
    release(s);
    call_end(&call, &d);
}

static void test_install_wrong_hash_is_refused_before_anything_is_sent(void **state)
{
    REQUIRE_SSHD();
    char *prog = put_file("prog-wrong", "#!/bin/sh\necho one\n", 0755);
    char *sha = sha_of(prog);
    char wrong[65];
    snprintf(wrong, sizeof(wrong), "%s", sha);
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    infra_call call;
    diags d;
    pu_install in;
    call_begin(&call, &d);
    infra_json *s = spec(prog, wrong);
    assert_int_equal(pu_install_load(&call, "install.nomad", "nomad", s, 0, &in), INFRA_EINVALID);
    assert_contains(text(&d), "[install.nomad.sha256]");
    assert_contains(text(&d), sha);
    assert_contains(text(&d), wrong);
    assert_contains(text(&d), "refusing to install it");
    pu_install_free(&in);
    release(s);
    /* a missing file is named with why */
    s = spec("/nonexistent/nomad", sha);
    assert_int_equal(pu_install_load(&call, "install.nomad", "nomad", s, 0, &in), INFRA_ENOTFOUND);
    assert_contains(text(&d), "[install.nomad.file] install.nomad: cannot read /nonexistent/nomad");
    pu_install_free(&in);
    release(s);
    /* upper-case hex is the same hash */
    for (char *p = sha; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    s = spec(prog, sha);
    assert_int_equal(pu_install_load(&call, "install.nomad", "nomad", s, 0, &in), 0);
    assert_int_equal(in.packages, 0);
    assert_int_equal(in.nfiles, 1);
    assert_string_equal(in.files[0].name, "nomad");
    assert_string_equal(in.files[0].data, "#!/bin/sh\necho one\n");
    assert_string_equal(in.digest, in.files[0].sha256);
    pu_install_free(&in);
    release(s);
    call_end(&call, &d);
    free(sha);
    free(prog);
}

static void test_install_zip_gives_its_program(void **state)
{
    REQUIRE_SSHD();
    char *zip = util_printf("%s/nomad_1.7.7_linux_amd64.zip", fx.dir);
    const char *entries[] = {"LICENSE.txt", "license text\n", "nomad", "#!/bin/sh\necho zip\n",
                             NULL};
    make_zip(zip, entries);
    char *sha = sha_of(zip);
    pu_install in;
    infra_json *s = spec(zip, sha);
    load("nomad", s, &in);
    assert_int_equal(in.nfiles, 1);
    assert_string_equal(in.files[0].data, "#!/bin/sh\necho zip\n");
    /* what lands on nodes is the program, hashed as such */
    char *prog = put_file("zip-member", "#!/bin/sh\necho zip\n", 0755);
    char *want = sha_of(prog);
    assert_string_equal(in.files[0].sha256, want);
    assert_string_not_equal(in.files[0].sha256, sha);
    pu_install_free(&in);
    /* the check alone keeps nothing */
    infra_call call;
    diags d;
    call_begin(&call, &d);
    assert_int_equal(pu_install_load(&call, "install.x", "nomad", s, PU_INSTALL_CHECK_ONLY, &in),
                     0);
    assert_null(in.files[0].data);
    pu_install_free(&in);
    /* a zip without the program says so */
    assert_int_equal(pu_install_load(&call, "install.consul", "consul", s, 0, &in), INFRA_EINVALID);
    assert_contains(text(&d), "holds no file called consul");
    pu_install_free(&in);
    call_end(&call, &d);
    release(s);
    free(want);
    free(prog);
    free(sha);
    free(zip);
}

static void test_install_directory_must_match_its_hashes(void **state)
{
    REQUIRE_SSHD();
    char *a = make_deb("infratest-dir-a", "1.0");
    char *b = make_deb("infratest-dir-b", "1.0");
    char *dir = util_printf("%s/debs-1.0", fx.dir);
    char *sa = sha_of(a), *sb = sha_of(b);
    infra_call call;
    diags d;
    pu_install in;
    call_begin(&call, &d);
    /* b is not listed */
    char *js = util_printf("{\"file\": \"%s\", \"sha256\": {\"infratest-dir-a_1.0_all.deb\": "
                           "\"%s\", \"other_1.0_all.deb\": \"%s\"}}",
                           dir, sa, sb);
    infra_json *s = spec_json(js);
    assert_int_equal(pu_install_load(&call, "install.zk", "zk", s, 0, &in), INFRA_EINVALID);
    assert_contains(text(&d), "infratest-dir-b_1.0_all.deb has no sha256");
    assert_contains(text(&d), "names other_1.0_all.deb, which is not in");
    pu_install_free(&in);
    release(s);
    free(js);
    /* a string for a directory */
    s = spec(dir, sa);
    assert_int_equal(pu_install_load(&call, "install.zk", "zk", s, 0, &in), INFRA_EINVALID);
    assert_contains(text(&d), "is a directory of packages: give sha256 as a map");
    pu_install_free(&in);
    release(s);
    call_end(&call, &d);
    js = util_printf("{\"file\": \"%s\", \"sha256\": {\"infratest-dir-b_1.0_all.deb\": \"%s\", "
                     "\"infratest-dir-a_1.0_all.deb\": \"%s\"}}",
                     dir, sb, sa);
    s = spec_json(js);
    load("zk", s, &in);
    assert_int_equal(in.packages, 1);
    assert_int_equal(in.nfiles, 2);
    assert_string_equal(in.files[0].name, "infratest-dir-a_1.0_all.deb"); /* sorted */
    assert_string_equal(in.files[1].sha256, sb);
    assert_string_not_equal(in.digest, sa);
    pu_install_free(&in);
    release(s);
    free(js);
    free(sa);
    free(sb);
    free(dir);
    free(a);
    free(b);
}

/* ------------------------------------------------------------------ */
/* Scripts and the skip logic                                         */

static void test_install_scripts_quote_and_check_what_they_install(void **state)
{
    REQUIRE_SSHD();
    pu_install_file f = {"nomad", "x", 1,
                         "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"};
    pu_install in = {.name = "nomad", .source = "/d/nomad.zip", .files = &f, .nfiles = 1};
    char *s = pu_install_inspect_script(&in, "/opt/my bin");
    assert_contains(s, "f='/opt/my bin/nomad'");
    assert_contains(s, "stat -c '%a %u'");
    assert_contains(s, "sha256sum");
    free(s);
    unsigned char up[1] = {1};
    pu_install_plan plan = {.upload = up, .nupload = 1};
    s = pu_install_commit_script(&in, &plan, "/opt/my bin", "/tmp/tmp.abc");
    /* the staged copy is checked, installed as root's 0755, and checked again */
    assert_contains(s, "check '/tmp/tmp.abc/nomad' "
                       "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881");
    assert_contains(s,
                    "install -m 755 -o 0 -g 0 '/tmp/tmp.abc/nomad' '/opt/my bin/.nomad.infra-new'");
    assert_contains(s, "mv -f -- '/opt/my bin/.nomad.infra-new' '/opt/my bin/nomad'");
    assert_contains(s, "check '/opt/my bin/nomad' 2d71");
    assert_contains(s, "rm -rf '/tmp/tmp.abc'");
    free(s);
    /* a root login uploads beside the destination */
    s = pu_install_stage_path(&in, 0, NULL, NULL);
    assert_string_equal(s, "/usr/local/bin/.nomad.infra-new");
    free(s);

    pu_install_file p[2] = {{"a_1_all.deb", "!", 1, "aa"}, {"b'q_1_all.deb", "!", 1, "bb"}};
    pu_install pk = {.name = "mesos", .packages = 1, .files = p, .nfiles = 2};
    s = pu_install_inspect_script(&pk, NULL);
    assert_contains(s, "command -v dpkg");
    assert_contains(s, "f='/var/cache/infra/packages/mesos/a_1_all.deb'");
    assert_contains(s, "dpkg-query -W -f='${Status}|${Version}'");
    assert_contains(s, "echo \"pkg $h $i\" 'b'\\''q_1_all.deb'");
    free(s);
    unsigned char up2[2] = {0, 1};
    pu_install_plan plan2 = {.upload = up2, .nupload = 1, .not_installed = 1};
    s = pu_install_commit_script(&pk, &plan2, NULL, NULL);
    assert_contains(s, "chown 0:0 '/var/cache/infra/packages/mesos/.b'\\''q_1_all.deb.infra-new'");
    assert_non_null(strstr(s, "check '/var/cache/infra/packages/mesos/a_1_all.deb' aa"));
    assert_null(strstr(s, "/.a_1_all.deb.infra-new")); /* a's copy was already there */
    assert_contains(s, "case ${f##*/} in\n  'a_1_all.deb'|'b'\\''q_1_all.deb') ;;");
    assert_contains(s, "dpkg -i --force-confdef --force-confold "
                       "'/var/cache/infra/packages/mesos/a_1_all.deb' "
                       "'/var/cache/infra/packages/mesos/b'\\''q_1_all.deb' </dev/null");
    assert_contains(s, "echo dpkg-ran");
    free(s);
}

static void test_install_plan_skips_what_the_node_holds(void **state)
{
    REQUIRE_SSHD();
    char sha[65];
    memset(sha, 'a', 64);
    sha[64] = '\0';
    pu_install_file f = {"nomad", "x", 1, ""};
    memcpy(f.sha256, sha, 65);
    pu_install in = {.name = "nomad", .files = &f, .nfiles = 1};
    pu_install_plan plan;
    char *out = util_printf("prog 755 0 %s\n", sha);
    assert_int_equal(pu_install_plan_read(&in, out, &plan), 0);
    assert_true(pu_install_plan_done(&in, &plan));
    pu_install_plan_free(&plan);
    free(out);
    out = util_printf("prog 700 0 %s\n", sha); /* same bytes, wrong mode: no upload */
    assert_int_equal(pu_install_plan_read(&in, out, &plan), 0);
    assert_false(pu_install_plan_done(&in, &plan));
    assert_int_equal(plan.nupload, 0);
    assert_true(plan.fix_mode);
    pu_install_plan_free(&plan);
    free(out);
    assert_int_equal(pu_install_plan_read(&in, "prog - - -\n", &plan), 0);
    assert_int_equal(plan.nupload, 1);
    pu_install_plan_free(&plan);
    assert_int_equal(pu_install_plan_read(&in, "something else\n", &plan), INFRA_EINTERNAL);

    pu_install_file p[2] = {{"a.deb", "!", 1, ""}, {"b.deb", "!", 1, ""}};
    memcpy(p[0].sha256, sha, 65);
    memcpy(p[1].sha256, sha, 65);
    pu_install pk = {.name = "zk", .packages = 1, .files = p, .nfiles = 2};
    out = util_printf("pkg %s yes a.deb\npkg - no b.deb\n", sha);
    assert_int_equal(pu_install_plan_read(&pk, out, &plan), 0);
    assert_int_equal(plan.nupload, 1);
    assert_false(plan.upload[0]);
    assert_true(plan.upload[1]);
    assert_true(plan.not_installed);
    pu_install_plan_free(&plan);
    free(out);
    out = util_printf("pkg %s yes a.deb\npkg %s yes b.deb\n", sha, sha);
    assert_int_equal(pu_install_plan_read(&pk, out, &plan), 0);
    assert_true(pu_install_plan_done(&pk, &plan));
    pu_install_plan_free(&plan);
    free(out);
    assert_int_equal(pu_install_plan_read(&pk, "dpkg no\n", &plan), 0);
    assert_true(plan.no_dpkg);
    pu_install_plan_free(&plan);
}

/* ------------------------------------------------------------------ */
/* On a node                                                          */

static void test_install_program_uploads_once_and_again_only_when_it_changes(void **state)
{
    REQUIRE_SSHD();
    const char *name = "infratest-prog";
    char *prog = put_file("prog-v1", "#!/bin/sh\necho v1\n", 0644);
    char *sha = sha_of(prog);
    infra_json *s = spec(prog, sha);
    pu_install in;
    pu_install_result res;
    load(name, s, &in);
    char *dest = util_printf("%s/%s", fx.bin, name);

    /* first: uploaded, root's, 0755, the same bytes */
    if (apply(&in, 1, &res, &last) != 0)
        fail_msg("%s", text(&last));
    assert_int_equal(res.uploaded, 1);
    assert_int_equal(res.bytes, strlen("#!/bin/sh\necho v1\n"));
    assert_true(res.changed);
    assert_string_equal(res.path, dest);
    pu_install_result_free(&res);
    char *got = sha_of(dest);
    assert_string_equal(got, sha);
    free(got);
    got = sh_output("stat -c '%%a %%u' '%s'", dest);
    assert_string_equal(got, "755 0");
    free(got);
    got = sh_output("'%s'", dest);
    assert_string_equal(got, "v1");
    free(got);
    char *inode = sh_output("stat -c %%i '%s'", dest);

    /* second: the node has the same hash: nothing uploaded, nothing changed */
    assert_int_equal(apply(&in, 1, &res, &last), 0);
    assert_int_equal(res.uploaded, 0);
    assert_false(res.changed);
    pu_install_result_free(&res);
    got = sh_output("stat -c %%i '%s'", dest);
    assert_string_equal(got, inode);
    free(got);

    /* the mode changed behind our back: set again, still no upload */
    sh("chmod 0700 '%s'", dest);
    assert_int_equal(apply(&in, 1, &res, &last), 0);
    assert_int_equal(res.uploaded, 0);
    assert_false(res.changed);
    pu_install_result_free(&res);
    got = sh_output("stat -c '%%a' '%s'", dest);
    assert_string_equal(got, "755");
    free(got);
    pu_install_free(&in);
    release(s);

    /* a new file with its new hash: uploaded and replaced */
    char *prog2 = put_file("prog-v2", "#!/bin/sh\necho v2\n", 0644);
    char *sha2 = sha_of(prog2);
    s = spec(prog2, sha2);
    load(name, s, &in);
    assert_int_equal(apply(&in, 1, &res, &last), 0);
    assert_int_equal(res.uploaded, 1);
    assert_true(res.changed);
    pu_install_result_free(&res);
    got = sh_output("'%s'", dest);
    assert_string_equal(got, "v2");
    free(got);
    /* nothing is left beside it */
    got = sh_output("ls -A '%s' | tr '\\n' ' '", fx.bin);
    assert_string_equal(got, "infratest-prog ");
    free(got);
    pu_install_free(&in);
    release(s);
    free(sha2);
    free(prog2);
    free(inode);
    free(dest);
    free(sha);
    free(prog);
}

static void test_install_copy_that_differs_on_the_node_is_refused(void **state)
{
    REQUIRE_SSHD();
    const char *name = "infratest-corrupt";
    char *prog = put_file("prog-corrupt", "#!/bin/sh\necho good\n", 0644);
    char *sha = sha_of(prog);
    infra_json *s = spec(prog, sha);
    pu_install in;
    pu_install_result res;
    load(name, s, &in);
    /* the bytes that travel are not those that were checked (as if changed
     * on the way): the node's check after the upload refuses them */
    free(in.files[0].data);
    in.files[0].data = util_strdup("#!/bin/sh\necho evil\n");
    in.files[0].len = strlen(in.files[0].data);
    for (int root = 1; root >= 0; root--) {
        assert_int_equal(apply(&in, root, &res, &last), INFRA_EINVALID);
        assert_contains(text(&last),
                        "node node-0: install.x: installing failed: the uploaded copy of "
                        "infratest-corrupt on this node has SHA-256");
        assert_contains(text(&last), sha);
        char *dest = util_printf("%s/%s", fx.bin, name);
        assert_int_equal(access(dest, F_OK), -1); /* never put in place */
        free(dest);
    }
    pu_install_free(&in);
    release(s);
    free(sha);
    free(prog);
}

static void test_install_staged_for_a_login_that_is_not_root(void **state)
{
    REQUIRE_SSHD();
    /* root: 0 makes the plugin stage in a directory of the login user's
     * and install from there as root (sudo is the host's business) */
    char *prog = put_file("prog-staged", "#!/bin/sh\necho staged\n", 0644);
    char *sha = sha_of(prog);
    infra_json *s = spec(prog, sha);
    pu_install in;
    pu_install_result res;
    load("infratest-staged", s, &in);
    if (apply(&in, 0, &res, &last) != 0)
        fail_msg("%s", text(&last));
    assert_int_equal(res.uploaded, 1);
    pu_install_result_free(&res);
    char *got = sh_output("'%s/infratest-staged'", fx.bin);
    assert_string_equal(got, "staged");
    free(got);
    /* the staging directory is gone */
    got = sh_output("find /tmp -maxdepth 2 -name infratest-staged 2>/dev/null | wc -l");
    assert_string_equal(got, "0");
    free(got);
    pu_install_free(&in);
    release(s);
    free(sha);
    free(prog);
}

static void test_install_packages_with_dpkg_only_when_not_installed(void **state)
{
    REQUIRE_SSHD();
    char *pkg = util_printf("%s-tool", fx.item);
    char *deb = make_deb(pkg, "1.0");
    char *sha = sha_of(deb);
    infra_json *s = spec(deb, sha);
    pu_install in;
    pu_install_result res;
    load(fx.item, s, &in);
    assert_int_equal(in.packages, 1);
    char *calls = util_printf("%s/dpkg.calls", fx.dir);
    char *cached = util_printf(PU_INSTALL_CACHE_DIR "/%s/%s_1.0_all.deb", fx.item, pkg);

    if (apply(&in, 1, &res, &last) != 0)
        fail_msg("%s", text(&last));
    assert_int_equal(res.uploaded, 1);
    assert_true(res.changed);
    assert_null(res.path);
    pu_install_result_free(&res);
    char *got = sha_of(cached);
    assert_string_equal(got, sha);
    free(got);
    got = sh_output("/usr/bin/dpkg-query --admindir='%s/var/lib/dpkg' -W -f='${Status} ${Version}' "
                    "'%s'",
                    fx.dpkg_root, pkg);
    assert_string_equal(got, "install ok installed 1.0");
    free(got);
    got = sh_output("grep -c -- '-i' '%s'", calls);
    assert_string_equal(got, "1");
    free(got);

    /* again: the cache holds it and it is installed: nothing at all */
    assert_int_equal(apply(&in, 1, &res, &last), 0);
    assert_int_equal(res.uploaded, 0);
    assert_false(res.changed);
    pu_install_result_free(&res);
    got = sh_output("grep -c -- '-i' '%s'", calls);
    assert_string_equal(got, "1");
    free(got);

    /* the cache was cleaned: uploaded again, but installed already: no dpkg */
    unlink(cached);
    assert_int_equal(apply(&in, 1, &res, &last), 0);
    assert_int_equal(res.uploaded, 1);
    assert_false(res.changed);
    pu_install_result_free(&res);
    got = sh_output("grep -c -- '-i' '%s'", calls);
    assert_string_equal(got, "1");
    free(got);
    pu_install_free(&in);
    release(s);

    /* a new version: uploaded, installed, the old one dropped from the cache */
    char *deb2 = make_deb(pkg, "2.0");
    char *sha2 = sha_of(deb2);
    s = spec(deb2, sha2);
    load(fx.item, s, &in);
    assert_int_equal(apply(&in, 0, &res, &last), 0); /* staged this time */
    assert_int_equal(res.uploaded, 1);
    assert_true(res.changed);
    pu_install_result_free(&res);
    got = sh_output("/usr/bin/dpkg-query --admindir='%s/var/lib/dpkg' -W -f='${Version}' '%s'",
                    fx.dpkg_root, pkg);
    assert_string_equal(got, "2.0");
    free(got);
    assert_int_equal(access(cached, F_OK), -1);
    pu_install_free(&in);
    release(s);

    /* dpkg's refusal is quoted */
    char *bad = util_printf("%s/debs-bad/%s_3.0_all.deb", fx.dir, pkg);
    sh("mkdir -p \"$(dirname '%s')\" && { printf '!<arch>\\n'; echo broken; } >'%s'", bad, bad);
    char *sha3 = sha_of(bad);
    s = spec(bad, sha3);
    load(fx.item, s, &in);
    assert_int_equal(apply(&in, 1, &res, &last), INFRA_EINVALID);
    assert_contains(text(&last), "dpkg -i refused the packages");
    assert_contains(text(&last), "dpkg");
    pu_install_free(&in);
    release(s);
    free(sha3);
    free(bad);
    free(sha2);
    free(deb2);
    free(cached);
    free(calls);
    free(sha);
    free(deb);
    free(pkg);
}

/* ------------------------------------------------------------------ */
/* The ABI 1.2 slots                                                  */

static int runs, writes;

static int slot_run(infra_call *call, infra_ssh *ssh, const char *command, int as_root, int *status,
                    char **out, char **err)
{
    runs++;
    return as_root ? ssh_api()->exec_sudo(ssh, command, status, out, err)
                   : ssh_api()->exec(ssh, command, status, out, err);
}

static int slot_write(infra_call *call, infra_ssh *ssh, const char *path, const void *data,
                      size_t len, int mode)
{
    writes++;
    return ssh_api()->upload(ssh, path, data, len, mode);
}

static void test_install_uses_run_and_write_file_when_the_host_has_them(void **state)
{
    REQUIRE_SSHD();
    infra_ssh_api api = *ssh_api();
    api.size = sizeof(api);
    api.run = slot_run;
    api.write_file = slot_write;
    infra_host host = *host_table();
    host.ssh = &api;
    pu_init(&host, "install test");
    char *prog = put_file("prog-slots", "#!/bin/sh\necho slots\n", 0644);
    char *sha = sha_of(prog);
    infra_json *s = spec(prog, sha);
    pu_install in;
    pu_install_result res;
    load("infratest-slots", s, &in);
    runs = writes = 0;
    int rc = apply(&in, 1, &res, &last);
    pu_init(host_table(), "install test");
    if (rc != 0)
        fail_msg("%s", text(&last));
    assert_int_equal(res.uploaded, 1);
    assert_int_equal(writes, 1);
    assert_true(runs >= 2); /* the inspection and the install */
    pu_install_result_free(&res);
    pu_install_free(&in);
    release(s);
    free(sha);
    free(prog);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_install_spec_without_sha256_is_refused),
        cmocka_unit_test(test_install_wrong_hash_is_refused_before_anything_is_sent),
        cmocka_unit_test(test_install_zip_gives_its_program),
        cmocka_unit_test(test_install_directory_must_match_its_hashes),
        cmocka_unit_test(test_install_scripts_quote_and_check_what_they_install),
        cmocka_unit_test(test_install_plan_skips_what_the_node_holds),
        cmocka_unit_test(test_install_program_uploads_once_and_again_only_when_it_changes),
        cmocka_unit_test(test_install_copy_that_differs_on_the_node_is_refused),
        cmocka_unit_test(test_install_staged_for_a_login_that_is_not_root),
        cmocka_unit_test(test_install_packages_with_dpkg_only_when_not_installed),
        cmocka_unit_test(test_install_uses_run_and_write_file_when_the_host_has_them),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
