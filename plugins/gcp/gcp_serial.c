/* The SSH host key fingerprint of an instance, from the block cloud-init
 * prints on the first serial port:
 *
 *   -----BEGIN SSH HOST KEY FINGERPRINTS-----
 *   256 SHA256:... root@node-1 (ECDSA)
 *   256 SHA256:... root@node-1 (ED25519)
 *   -----END SSH HOST KEY FINGERPRINTS-----
 *
 * Lines may carry a prefix (a timestamp, "ci-info: ") and end in "\r\n".
 * ECDSA is preferred because it is the host key type every SSH library
 * negotiates. */
#include "gcp_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BEGIN_MARK "-----BEGIN SSH HOST KEY FINGERPRINTS-----"
#define END_MARK "-----END SSH HOST KEY FINGERPRINTS-----"

/* The "SHA256:..." word and the "(TYPE)" word of one line. */
static int line_words(const char *line, size_t len, char *fp, size_t fp_size, char *type,
                      size_t type_size)
{
    const char *s = line, *end = line + len;
    fp[0] = type[0] = '\0';
    while (s < end) {
        while (s < end && (*s == ' ' || *s == '\t' || *s == '\r'))
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
    }
    return fp[0] != '\0';
}

int gcp_console_fingerprint(const char *console, char **out)
{
    /* The last block wins: a reboot prints it again, with the keys of now. */
    const char *begin = NULL, *s = console;
    while (s != NULL && (s = strstr(s, BEGIN_MARK)) != NULL) {
        begin = s;
        s += strlen(BEGIN_MARK);
    }
    if (begin == NULL)
        return INFRA_ENOTFOUND;
    const char *stop = strstr(begin, END_MARK);
    if (stop == NULL)
        return INFRA_ENOTFOUND;
    char best[128] = "";
    int rank_best = 0;
    const char *line = strchr(begin, '\n');
    while (line != NULL && line < stop) {
        line++;
        const char *nl = strchr(line, '\n');
        size_t len = (size_t)((nl && nl < stop ? nl : stop) - line);
        char fp[128], type[32];
        if (line_words(line, len, fp, sizeof(fp), type, sizeof(type))) {
            int rank = strcmp(type, "ECDSA") == 0 ? 3 : strcmp(type, "ED25519") == 0 ? 2 : 1;
            if (rank > rank_best) {
                rank_best = rank;
                snprintf(best, sizeof(best), "%s", fp);
            }
        }
        line = nl;
    }
    if (best[0] == '\0')
        return INFRA_ENOTFOUND;
    *out = pu_strdup(best);
    return 0;
}
