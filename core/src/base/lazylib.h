/* Libraries opened at their first use instead of at program start.
 *
 * Linking a library makes the dynamic loader map and relocate it, and all
 * of its own dependencies, before main() runs, in every command. libcurl
 * (with krb5, LDAP, GnuTLS, nghttp2...), libpq and libxml2 (with ICU) cost
 * more than the rest of `infra validate` together, yet only the commands
 * that talk HTTP or use the postgres or s3 state backend need them. Such a
 * library is not linked: its module loads it by its soname (the same file
 * the loader would have used, found the same way) the first time it is
 * needed and reaches its functions through a table whose member types are
 * taken from the library's own header, so a call with wrong arguments does
 * not compile:
 *
 *   services/curl_lib.h   libcurl   (the HTTP host service)
 *   state/pq_lib.h        libpq     (the postgres state backend)
 *   state/xml_lib.h       libxml2   (the s3 state backend's answers)
 *
 * The soname is the one the build found (cmake/LazyLibrary.cmake), so the
 * binary asks for exactly the ABI it was compiled against. A library is
 * never closed: its global state lives until the process exits. */
#ifndef INFRA_LAZYLIB_H
#define INFRA_LAZYLIB_H

/* Opens soname (RTLD_NOW | RTLD_LOCAL). 0 with *handle, or INFRA_ENOTSUP
 * with *err ("cannot load libcurl.so.4: ...", caller frees). */
int lazylib_open(const char *soname, void **handle, char **err);

/* The address of name in the library soname opened as handle, or NULL
 * with *err naming both (caller frees). */
void *lazylib_symbol(void *handle, const char *soname, const char *name, char **err);

#endif
