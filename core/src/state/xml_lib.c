/* libxml2, opened when an s3 backend is first made (see xml_lib.h). */
#include "state/xml_lib.h"

#include <pthread.h>

#include "base/lazylib.h"
#include "base/util.h"

#ifndef INFRA_XML_SONAME
#error "INFRA_XML_SONAME is set by cmake/LazyLibrary.cmake"
#endif

static pthread_once_t xml_lib_once = PTHREAD_ONCE_INIT;
static xml_lib xml_lib_table;
static const xml_lib *xml_lib_loaded;
static char *xml_lib_error; /* why it could not be loaded; kept until exit */

static void xml_lib_load(void)
{
    void *handle = NULL;
    if (lazylib_open(INFRA_XML_SONAME, &handle, &xml_lib_error) < 0)
        return;
#define XML_LIB_RESOLVE(name)                                                                      \
    if (!(xml_lib_table.name = (__typeof__(xml_lib_table.name))lazylib_symbol(                     \
              handle, INFRA_XML_SONAME, "xml" #name, &xml_lib_error)))                             \
        return;
    XML_LIB_FUNCTIONS(XML_LIB_RESOLVE)
#undef XML_LIB_RESOLVE
    xml_lib_loaded = &xml_lib_table;
}

const xml_lib *xml_lib_get(char **err)
{
    pthread_once(&xml_lib_once, xml_lib_load);
    if (!xml_lib_loaded)
        *err = util_strdup(xml_lib_error ? xml_lib_error : "cannot load " INFRA_XML_SONAME);
    return xml_lib_loaded;
}
