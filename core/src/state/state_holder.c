/* Who runs: the record a lock holds and a commit leaves behind, so that a
 * refused run or a refused write can name the other process. The command
 * line is kept without the values of --var and --backend-config (a value
 * may be a password) and with registered secrets masked. */
#define _GNU_SOURCE
#include "state/state_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "services/log.h"

static char *host_name(void)
{
    char buf[256];
    if (gethostname(buf, sizeof(buf)) < 0)
        return util_strdup("unknown");
    buf[sizeof(buf) - 1] = '\0';
    return util_strdup(buf);
}

static const char *user_name(void)
{
    const char *user = getenv("USER");
    if (!user || !*user)
        user = getenv("LOGNAME");
    if (!user || !*user) {
        struct passwd *pw = getpwuid(getuid());
        user = pw ? pw->pw_name : "unknown";
    }
    return user;
}

/* Options whose value is hidden: "--var NAME=VALUE" keeps NAME and
 * shows NAME=(value hidden). */
static int hides_value(const char *arg)
{
    return !strcmp(arg, "--var") || !strcmp(arg, "--backend-config");
}

static void put_masked_pair(util_buf *b, const char *pair)
{
    const char *eq = strchr(pair, '=');
    if (eq)
        util_buf_printf(b, "%.*s=(value hidden)", (int)(eq - pair), pair);
    else
        util_buf_puts(b, "(value hidden)");
}

char *state_holder_command(void)
{
    util_buf raw = {0}, out = {0};
    char chunk[4096];
    ssize_t n;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        while ((n = read(fd, chunk, sizeof(chunk))) > 0)
            util_buf_put(&raw, chunk, (size_t)n);
        close(fd);
    }
    int hide_next = 0;
    for (size_t i = 0; i < raw.len;) {
        const char *arg = raw.data + i;
        size_t len = strnlen(arg, raw.len - i);
        if (out.len)
            util_buf_put(&out, " ", 1);
        if (hide_next) {
            put_masked_pair(&out, arg);
            hide_next = 0;
        } else if (!strncmp(arg, "--var=", 6) || !strncmp(arg, "--backend-config=", 17)) {
            const char *eq = strchr(arg, '=');
            util_buf_put(&out, arg, (size_t)(eq - arg) + 1);
            put_masked_pair(&out, eq + 1);
        } else {
            util_buf_put(&out, arg, len);
            hide_next = hides_value(arg);
        }
        i += len + 1;
    }
    util_buf_free(&raw);
    char *line = util_buf_take(&out);
    for (char *c = line; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
            *c = '?';
    if (strlen(line) > 2048)
        line[2048] = '\0';
    char *clean = log_redact(line);
    free(line);
    return clean;
}

static char *time_now_iso(void)
{
    char buf[32];
    struct tm tm;
    time_t now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return util_strdup(buf);
}

char *state_holder_json(const char *owner)
{
    char *host = host_name(), *command = state_holder_command(), *when = time_now_iso();
    char *run = util_random_hex();
    const char *user = user_name();
    json_t *doc = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s}", "owner",
                            owner && *owner ? owner : user, "user", user, "host", host, "pid",
                            (json_int_t)getpid(), "command", command, "time", when, "run", run);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    free(host);
    free(command);
    free(when);
    free(run);
    return text ? text : util_strdup("{}");
}

static const char *field(const json_t *doc, const char *key)
{
    const char *s = json_string_value(json_object_get(doc, key));
    return s && *s ? s : "unknown";
}

char *state_holder_describe(const char *holder)
{
    json_t *doc = holder ? json_loads(holder, 0, NULL) : NULL;
    char *out;
    if (!json_is_object(doc))
        out = util_strdup("another process (its details are not readable)");
    else
        out = util_printf("%s (pid %lld on %s) since %s", field(doc, "owner"),
                          (long long)json_integer_value(json_object_get(doc, "pid")),
                          field(doc, "host"), field(doc, "time"));
    json_decref(doc);
    return out;
}

int state_holder_is_dead_here(const char *holder)
{
    json_t *doc = holder ? json_loads(holder, 0, NULL) : NULL;
    char *host = host_name();
    long long pid = (long long)json_integer_value(json_object_get(doc, "pid"));
    int dead = json_is_object(doc) && strcmp(host, field(doc, "host")) == 0 && pid > 0 &&
               kill((pid_t)pid, 0) < 0 && errno == ESRCH;
    free(host);
    json_decref(doc);
    return dead;
}

int state_holder_same_run(const char *holder, const char *other)
{
    json_t *a = holder ? json_loads(holder, 0, NULL) : NULL;
    json_t *b = other ? json_loads(other, 0, NULL) : NULL;
    const char *ra = json_string_value(json_object_get(a, "run"));
    const char *rb = json_string_value(json_object_get(b, "run"));
    int same = ra && rb && *ra && strcmp(ra, rb) == 0;
    json_decref(a);
    json_decref(b);
    return same;
}
