/* What the provider plugins share to build images (an `images:` entry
 * with a `build:` block, see docs/images.md): the checks of the steps,
 * the build hash that names a generation, the number of generations
 * kept, and the provisioning of a build machine over the host's SSH
 * service (files uploaded, commands run, as root through `sudo -n` when
 * the login user is not root). The provider launches the machine, finds
 * its host key, and makes the image; this is the part that is the same
 * on every cloud.
 *
 * A static library (plugin_bake) beside plugin_common; like it, hidden
 * inside each plugin that links it. */
#ifndef PLUGIN_BAKE_H
#define PLUGIN_BAKE_H

#include "plugin_util.h"

/* Bytes of a failing step's output its diagnostic shows (the end). */
#define PU_BAKE_OUTPUT_TAIL 4000

/* A step's mode: an integer or octal digits ("0644"); 0644 when v is
 * NULL. 0, or INFRA_EINVALID. */
int pu_bake_mode(const infra_json *v, int *out);

/* Whether obj has the member key as a non-empty string, or as a value not
 * known until apply (which validate accepts). */
int pu_bake_has_text(const infra_json *obj, const char *key);
/* Offline checks of build.steps (a list of uploads and commands):
 * diagnostics at "build.steps[N].KEY". 0 or INFRA_EINVALID. */
int pu_bake_check_steps(infra_call *call, const infra_json *steps);
/* Offline check of the entry's keep (1..100 when given). 0 or INFRA_EINVALID. */
int pu_bake_check_keep(infra_call *call, const infra_json *config);
/* The generations kept (keep, default 3). */
long pu_bake_keep(const infra_json *config);
/* Sets each of keys (space-separated) of plan to an unknown value
 * ("known after apply"); removes them with a host that has none. */
int pu_bake_set_unknown(infra_json *plan, const char *keys);
/* The end of a built image's plan: build_hash and base_id set; when
 * prior has another hash or no image (prior_id NULL), the keys of a new
 * generation (space-separated) made unknown, so that what refers to the
 * image waits for it; with the same hash and another keep, generations. */
int pu_bake_plan_hash(infra_json *plan, const infra_json *prior, const char *prior_id,
                      const char *hash, const char *base_id, const char *new_keys);
/* Deletes the image generation id (on aws with its snapshots); gone
 * already is 0. */
typedef int (*pu_bake_drop_fn)(void *ctx, const char *id);
/* Sets st's "generations" after a build or reuse of id: id first, then
 * the prior state's generations (newest first) up to planned's keep;
 * the older ones are deleted with drop. A generation whose delete fails
 * stays in the list with every one after it, for the next run to delete.
 * 0, or the first error (st is set either way). */
int pu_bake_generations(const infra_json *prior, const infra_json *planned, const char *id,
                        pu_bake_drop_fn drop, void *ctx, infra_json *st);

/* The build hash (hex SHA-256) of the base image's id and the steps,
 * uploads by their upload_sha256 (which the core adds when it reads the
 * file). 0, or INFRA_EINVALID when an upload has no digest. */
int pu_bake_hash(const char *base_id, const infra_json *steps, char out[65]);

/* Logs in to a build machine (t: its address, login user, key, pinned
 * host key) and runs every step of steps in order: an upload is checked
 * against its digest, written to a temporary file and installed with its
 * mode (as root); a command runs in the login user's shell, as root when
 * its sudo says so (the default for a user other than root). A failing
 * step is a diagnostic at build.steps[N] naming image (the prefix) and
 * showing the last PU_BAKE_OUTPUT_TAIL bytes of its output; a sudo that
 * asks a password fails the step clearly (sudo -n). 0, or the error. */
int pu_bake_provision(infra_call *call, const infra_ssh_target *t, const char *image,
                      const char *hash, const infra_json *steps);

#endif
