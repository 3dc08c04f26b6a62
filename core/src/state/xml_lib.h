/* libxml2, opened when an s3 state backend is first made (base/lazylib.h
 * says why: libxml2 brings ICU, the largest library of all).
 *
 * Each member is the libxml2 function of the same name without its "xml"
 * prefix, with the type the header declares: xml->ReadMemory() is
 * xmlReadMemory(). Only the s3 backend (state_s3*.c) uses it. */
#ifndef INFRA_XML_LIB_H
#define INFRA_XML_LIB_H

#include <libxml/parser.h>
#include <libxml/tree.h>

/* The functions infra calls, without the "xml" prefix. Text is read into
 * an xmlBuffer rather than with xmlNodeGetContent(), whose result is freed
 * with xmlFree, a variable rather than a function. */
#define XML_LIB_FUNCTIONS(X)                                                                       \
    X(ReadMemory)                                                                                  \
    X(DocGetRootElement)                                                                           \
    X(FreeDoc)                                                                                     \
    X(BufferCreate)                                                                                \
    X(NodeBufGetContent)                                                                           \
    X(BufferContent)                                                                               \
    X(BufferFree)

typedef struct xml_lib {
#define XML_LIB_MEMBER(name) __typeof__(xml##name) *name;
    XML_LIB_FUNCTIONS(XML_LIB_MEMBER)
#undef XML_LIB_MEMBER
} xml_lib;

/* libxml2's functions, loaded by the first call of the process (any
 * thread); the table is borrowed and lives until exit. NULL with *err
 * (caller frees) when the library or one of its functions is missing;
 * every later call gives the same answer. */
const xml_lib *xml_lib_get(char **err);

#endif
