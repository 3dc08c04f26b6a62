/* Reading AWS XML answers with libxml2, by local element names (the
 * namespaces differ between services and API versions and carry no
 * information the client needs), and writing Route 53 request bodies. */
#ifndef AWS_XML_H
#define AWS_XML_H

#include <libxml/tree.h>

/* Parses body without network access or messages on stderr. NULL when it
 * is not well-formed XML. Free with xmlFreeDoc. */
xmlDoc *aws_xml_parse(const char *body, size_t len);

/* The first element child of n called name (local name), or NULL. */
xmlNode *aws_xml_child(const xmlNode *n, const char *name);
/* The next element sibling of n with the same local name as n, or NULL. */
xmlNode *aws_xml_next(const xmlNode *n);
/* Follows a '/'-separated path of local names from n; NULL when absent. */
xmlNode *aws_xml_path(const xmlNode *n, const char *path);
/* 1 when n is an element called name. */
int aws_xml_is(const xmlNode *n, const char *name);

/* The text content of n, trimmed (caller frees), or NULL when n is NULL. */
char *aws_xml_text(const xmlNode *n);
/* aws_xml_text of aws_xml_path(n, path). */
char *aws_xml_get(const xmlNode *n, const char *path);
/* 1 when the text at path is "true". */
int aws_xml_get_bool(const xmlNode *n, const char *path);
/* The integer at path, or fallback when absent or not a number. */
long aws_xml_get_long(const xmlNode *n, const char *path, long fallback);

/* The code and message of an AWS error document: EC2's
 * Response/Errors/Error or the other services' ErrorResponse/Error.
 * 0 with both set (caller frees; message may be ""), INFRA_ENOTFOUND when
 * the document is not an error. */
int aws_xml_error(const xmlNode *root, char **code, char **message);

/* Initialises libxml2 once (thread-safe). */
void aws_xml_init(void);

#endif
