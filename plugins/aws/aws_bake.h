/* Built images (an `image` with a `build:` block): the block's checks,
 * the build hash, plan, and the build itself. See docs/images.md. */
#ifndef AWS_BAKE_H
#define AWS_BAKE_H

#include "aws_res.h"
#include "plugin_bake.h"

/* aws_bake.c */

/* 1 when an image's configuration (or state) has a build block. */
int aws_bake_is_build(const infra_json *config);
/* Offline checks of an image's configuration, with a build block or
 * without (a lookup): diagnostics at "build.steps[N].KEY"... 0 or
 * INFRA_EINVALID. */
int aws_bake_validate(infra_call *call, const infra_json *config);
/* The prefix of the AMI names of config's generations: name, else one
 * derived from the call (caller frees). */
char *aws_bake_prefix(infra_call *call, const infra_json *config);
/* The AMI id of config's build.base: an id, a name pattern among the
 * account's images, or {name, owners, architecture}, the newest match
 * that is not one of config's own generations (caller frees). */
int aws_bake_base(infra_provider *p, infra_call *call, const infra_json *config, char **ami);
/* plan() of a built image: build_hash and base_id of plan (resolving the
 * base), and id, image_name, creation_date, generations unknown when the
 * hash differs from prior's (a new generation is built). */
int aws_bake_plan(infra_provider *p, infra_call *call, const infra_json *prior, infra_json *plan);

/* aws_bake_run.c */

/* Create or update of a built image: reuses the generation of the planned
 * hash when there is one, else builds it; then keeps `keep` generations. */
int aws_bake_apply(aws_act *a);
/* Deregisters every generation the state names, and their snapshots;
 * terminates the build instance a state read by token names. */
int aws_bake_remove(aws_act *a);
/* Refresh: INFRA_ENOTFOUND once the current AMI is gone. Without a state
 * (an interrupted create), what its token tagged: the image, and a build
 * instance still alive as "build_instance". */
int aws_bake_read(aws_act *a);

#endif
