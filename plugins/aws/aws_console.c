/* The SSH host key fingerprint of an instance, from the block cloud-init
 * writes to the console:
 *
 *   -----BEGIN SSH HOST KEY FINGERPRINTS-----
 *   256 SHA256:... root@ip-10-0-0-5 (ECDSA)
 *   256 SHA256:... root@ip-10-0-0-5 (ED25519)
 *   -----END SSH HOST KEY FINGERPRINTS-----
 *
 * Lines may carry a prefix ("ec2: ") and end in "\r\n". ECDSA is preferred
 * because it is the host key type every SSH library negotiates. */
#include "aws_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BEGIN_MARK "-----BEGIN SSH HOST KEY FINGERPRINTS-----"
#define END_MARK "-----END SSH HOST KEY FINGERPRINTS-----"

/* The "SHA256:..." word of line[0..len), copied into fp; 0 when none. */
static int line_fingerprint(const char *line, size_t len, char *fp, size_t fp_size, char *type,
                            size_t type_size)
{
    const char *s = line, *end = line + len;
    fp[0] = type[0] = '\0';
    while (s < end) {
        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        const char *w = s;
        while (s < end && *s != ' ' && *s != '\t' && *s != '\r')
            s++;
        size_t n = (size_t)(s - w);
        if (n > 7 && strncmp(w, "SHA256:", 7) == 0 && n < fp_size) {
            memcpy(fp, w, n);
            fp[n] = '\0';
        } else if (n > 2 && w[0] == '(' && w[n - 1] == ')' && n - 2 < type_size) {
            memcpy(type, w + 1, n - 2);
            type[n - 2] = '\0';
        }
        if (n == 0 && s < end)
            s++;
    }
    return fp[0] != '\0';
}

int aws_console_fingerprint(const char *console, char **out)
{
    const char *begin = console ? strstr(console, BEGIN_MARK) : NULL;
    if (begin == NULL)
        return INFRA_ENOTFOUND;
    const char *stop = strstr(begin, END_MARK);
    if (stop == NULL)
        return INFRA_ENOTFOUND;
    char best[128] = "", first[128] = "";
    int rank_best = 0;
    const char *line = strchr(begin, '\n');
    while (line != NULL && line < stop) {
        line++;
        const char *nl = strchr(line, '\n');
        size_t len = (size_t)((nl && nl < stop ? nl : stop) - line);
        char fp[128], type[32];
        if (line_fingerprint(line, len, fp, sizeof(fp), type, sizeof(type))) {
            int rank = strcmp(type, "ECDSA") == 0 ? 3 : strcmp(type, "ED25519") == 0 ? 2 : 1;
            if (first[0] == '\0')
                snprintf(first, sizeof(first), "%s", fp);
            if (rank > rank_best) {
                rank_best = rank;
                snprintf(best, sizeof(best), "%s", fp);
            }
        }
        line = nl;
    }
    if (best[0] == '\0' && first[0] == '\0')
        return INFRA_ENOTFOUND;
    *out = pu_strdup(best[0] ? best : first);
    return 0;
}

/* The fingerprint in the console output of id, waiting at most wait_ms for
 * cloud-init to print it. INFRA_ENOTFOUND when it does not. */
int aws_console_wait_fingerprint(infra_provider *p, infra_call *call, const char *id,
                                 int64_t wait_ms, char **out)
{
    int64_t deadline = pu_host->now_ms() + wait_ms;
    int64_t delay = 1000;
    for (;;) {
        aws_params q = {0};
        aws_resp *r = NULL;
        aws_params_add(&q, "InstanceId", id);
        int error =
            aws_query(p, call, AWS_EC2, "GetConsoleOutput", &q, "", AWS_SAFE | AWS_FRESH, "*", &r);
        aws_params_free(&q);
        char *text = error == 0 ? aws_xml_get(r->result, "output") : NULL;
        aws_resp_free(r);
        if (error == INFRA_ECANCELLED)
            return error;
        if (text != NULL && *text) {
            /* EC2 sends the console base64-encoded. */
            char *decoded = NULL;
            if (aws_console_fingerprint(text, out) == 0 ||
                (aws_base64_decode(text, &decoded, NULL) == 0 &&
                 aws_console_fingerprint(decoded, out) == 0)) {
                free(decoded);
                free(text);
                return 0;
            }
            free(decoded);
        }
        free(text);
        if (pu_host->now_ms() + delay > deadline)
            return INFRA_ENOTFOUND;
        if ((error = aws_sleep(p, call, delay)) < 0)
            return error;
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
}
