/*
 * What iSulad would do to the store at its next start: the "isulad-*"
 * findings of image_store_check_with() with the isulad option. iSulad reads
 * this layout, but when it starts it skips, converts, deletes and rewrites
 * images by rules of its own (docs/contract.md, "Interoperability", gives
 * each with its upstream source).
 */
#ifndef IMAGE_ISULAD_CHECK_H
#define IMAGE_ISULAD_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "problem.h"

/* iSulad's default-host when the caller names none: the one its shipped
 * /etc/isulad/daemon_constants.json sets. */
#define ISULAD_DEFAULT_REGISTRY "docker.io"

/* Whether iSulad would start with host as its default-host: "" (none set),
 * or a host name of at most 64 bytes, dot-separated labels of letters,
 * digits and '-' that neither start nor end with '-' (no port). */
bool isulad_registry_is_valid(const char *host);

/* The documents iSulad parses at start, each with its own parser. */
typedef enum isulad_doc {
    ISULAD_RECORD,          /* images.json (storage_image) */
    ISULAD_OCI_CONFIG,      /* the config big data (oci_image_spec) */
    ISULAD_DOCKER_CONFIG,   /* the same file on the schema 1 path (docker_image_config_v2) */
    ISULAD_SCHEMA2_MANIFEST, /* "manifest" (registry_manifest_schema2) */
    ISULAD_OCI_MANIFEST,    /* "manifest" (oci_image_manifest) */
    ISULAD_SCHEMA1_MANIFEST /* "manifest" (registry_manifest_schema1) */
} isulad_doc;

/* Whether iSulad's parser for doc accepts the file content data (len
 * bytes; read only up to its first NUL, as iSulad does): 1; 0 with the
 * reason in why; -1 when memory ran out; -2 when this library cannot tell
 * (nested deeper than it follows). For tests and the scan below. */
int isulad_doc_accepts(isulad_doc doc, const char *data, size_t len, char *why, size_t why_len);

/* Appends to out, for each image directory below dirfd (the store at dir),
 * what iSulad would do with it, given its default-host registry ("": none
 * set). Reads through fs_read_file_max(): no symlink is followed, no file
 * larger than iSulad reads is read. 0, or an IMAGE_STORE_ESYS code in err
 * (out of memory, or the store cannot be listed). */
int isulad_check_scan(int dirfd, const char *dir, const char *registry, problem_list *out,
                      image_error *err);

#endif
