/* Prints the user data of a client pool as the nomad plugin renders it,
 * for scenario tests that launch pool instances without infra:
 *
 *   pool_user_data REGION DATACENTER JOIN CONSUL_BINARY NOMAD_BINARY
 *
 * Plain settings (no ACL, TLS or gossip encryption), raw_exec on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/host.h"
#include "nomad.h"

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: pool_user_data REGION DATACENTER JOIN CONSUL_BINARY NOMAD_BINARY\n");
        return 2;
    }
    pu_init(host_table(), "nomad plugin");
    nomad_settings s;
    memset(&s, 0, sizeof(s));
    s.raw_exec = 1;
    s.binary[NOMAD_AGENT_CONSUL] = argv[4];
    s.binary[NOMAD_AGENT_NOMAD] = argv[5];
    nomad_pool_in in = {.s = &s,
                        .cluster = "main",
                        .region = argv[1],
                        .datacenter = argv[2],
                        .authority = argv[1],
                        .join = argv[3]};
    char *script = NULL;
    if (nomad_pool_user_data(&in, &script) < 0) {
        fprintf(stderr, "pool_user_data: rendering failed\n");
        return 1;
    }
    fputs(script, stdout);
    free(script);
    return 0;
}
