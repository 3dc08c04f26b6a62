/* `infra import TOPOLOGY ADDRESS ID` (engine/import.c). */
#ifndef INFRA_IMPORT_H
#define INFRA_IMPORT_H

#include "engine/engine.h"

/* Adopts the existing object id as the resource at address: the plugin's
 * import op, then a read, recorded in e->st (opened with the lock) with
 * the configuration the topology sets as the object has it, so that the
 * next plan updates what differs. Refused when address is not in the
 * topology, is already in the state, is a data source, or the plugin
 * cannot import. 0, or a negative INFRA_E* with *err (caller frees). */
int engine_import(engine *e, const char *address, const char *id, char **err);

#endif
