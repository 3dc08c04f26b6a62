/* Where the topology of a command that does not require one on its
 * command line (env, ssh) is found, so that `eval "$(infra env)"` works in
 * the directory of the topology. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/util.h"
#include "cli/cli.h"

static int yaml_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml"));
}

static int regular_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

const char *cli_find_topology(const cli_args *a, int *used)
{
    static char only[1024];
    *used = 0;
    if (a->topology && yaml_name(a->topology)) {
        *used = 1;
        return a->topology;
    }
    const char *env = getenv("INFRA_TOPOLOGY");
    if (env && *env)
        return env;
    if (regular_file("infra.yaml"))
        return "infra.yaml";
    DIR *d = opendir(".");
    size_t found = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !yaml_name(de->d_name) || !regular_file(de->d_name))
            continue;
        if (found++ == 0)
            snprintf(only, sizeof(only), "%s", de->d_name);
    }
    if (d)
        closedir(d);
    if (found == 1)
        return only;
    fprintf(stderr,
            "infra: %s: which topology? %s; name it (infra %s TOPOLOGY.yaml ...), set "
            "INFRA_TOPOLOGY, or call it infra.yaml\n",
            a->command,
            found ? "several *.yaml files are in this directory"
                  : "no infra.yaml and no other *.yaml file in this directory",
            a->command);
    return NULL;
}
