/*
 * imagestore: an image store on iSulad's / containers-storage's on-disk layout.
 *
 * Layout: <dir>/<id>/images.json holds one image record; the image's big-data
 * files (manifest, config, ...) sit beside it. Entries of <dir> whose name
 * starts with "." are the store's own (.imagestore.lock, .imagestore.snapshot,
 * .quarantine, .tmp-* leftovers) and are never loaded as images.
 * containers/storage's layout (Podman, CRI-O, Buildah: every record in one
 * <dir>/images.json, big data in <dir>/<id>/, its lock in <dir>/images.lock)
 * opens read-only (see new_image_store()).
 *
 * Calling sequence
 *   image_store_t st;
 *   if (new_image_store(false, false, "/var/lib/images", &st) != 0) {
 *       fprintf(stderr, "%s\n", image_store_error_message(&st));
 *       image_store_close(&st);           // always, even after a failed open
 *       return -1;
 *   }
 *   image_storage_images img;
 *   if (st.create(NULL, names, 1, NULL, "{}", IMAGE_TIME_NOW, NULL, &st, &img) == 0)
 *       image_storage_images_clear(&img);
 *   image_store_close(&st);
 *
 * Errors: every member that can fail returns 0 or -1 (exists: a bool). After a
 * failure, image_store_error_code() gives the reason (IMAGE_STORE_E*),
 * image_store_error_name() a stable name ("ENOTFOUND", or the errno name such as
 * "ENOSPC" for a failed system call) and image_store_error_message() a message
 * naming the problem. The error slot belongs to the store; nothing is global.
 * A failed mutation leaves memory and disk as they were (save() and
 * image_store_repair() work step by step: see there).
 *
 * The common codes, which every call on a store can give besides those its
 * comment lists:
 *   IMAGE_STORE_ESYS    a system call failed, errno kept (ENOMEM: out of
 *                       memory); this includes catching up with other
 *                       processes' writes before answering, and taking the
 *                       lock file: errno EDEADLK, at once, when this thread
 *                       holds it through another store (in that store's
 *                       batch or hook).
 *   IMAGE_STORE_EINVAL  the store is closed ("store is closed"), or the call
 *                       comes from inside one of the store's own hooks.
 * After a failed new_image_store() every member fails and the slot keeps the
 * open's error. A member that changes the store fails IMAGE_STORE_EREADONLY on
 * a read-only store before it looks at its arguments. One that rewrites an
 * existing image's record can also fail with the "rewrite codes":
 * IMAGE_STORE_ECORRUPT (the image directory holds a subdirectory;
 * image_store_repair() moves it away) and IMAGE_STORE_EINVAL (the record,
 * written by another tool, holds a string that is not valid UTF-8).
 *
 * References: every member that takes an image "id" accepts, tried in this
 * order, a full ID, a name an image holds, the name hook's candidates,
 * "repo@<algo>:<hex>" (the image that holds a name in that repository and has
 * that digest), or a unique lowercase hex ID prefix (1 to 63 characters). It
 * can fail IMAGE_STORE_ENOTFOUND (nothing matches), IMAGE_STORE_EAMBIGUOUS
 * (the prefix, repo@digest or the hook's candidates match several images),
 * IMAGE_STORE_EINVAL (a NULL reference, or the name hook refused it) and
 * IMAGE_STORE_EHOOK (the name hook failed): the "reference codes" below.
 *
 * Memory: everything returned through an out-parameter belongs to the caller;
 * a plain string is released with free(), the rest with the matching *_free /
 * *_clear function below. Out-parameters must not be NULL unless a comment
 * says so; a failed call returns nothing through them (they are left as they
 * were, or zeroed) unless its comment says otherwise. Strings passed in are
 * copied. A store is not thread-safe; two stores are independent (on one
 * directory they coordinate through its lock file, across threads and
 * processes).
 */
#ifndef IMAGE_STORE_H
#define IMAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* C only (C11): the seed's member named `delete` and the `[static N]`
 * array parameters are not C++. A C++ program wraps the store in a C file. */
#ifdef __cplusplus
#error "image_store.h is a C11 header; include it from C"
#endif

/* What the shared library exports: the core is built with
 * -fvisibility=hidden, and only declarations marked so are visible
 * (`make check` compares `nm -D` of libimagestore.so with this list). */
#if defined(__GNUC__)
#define IMAGE_STORE_API __attribute__((visibility("default")))
#else
#define IMAGE_STORE_API
#endif

/* Error codes. IMAGE_STORE_ESYS keeps the errno of the failed system call. */
enum image_store_error {
    IMAGE_STORE_OK = 0,
    IMAGE_STORE_ESYS = -1,       /* a system call failed; see image_store_error_errno() */
    IMAGE_STORE_ENOTFOUND = -2,  /* no such image, name, big-data key or store */
    IMAGE_STORE_EEXIST = -3,     /* the image ID is taken */
    IMAGE_STORE_ENAMEINUSE = -4, /* the name belongs to another image */
    IMAGE_STORE_EINVAL = -5,     /* malformed argument (ID, key, digest, name, time, ...),
                                  * or misuse (closed store, call from a hook, batch) */
    IMAGE_STORE_EAMBIGUOUS = -6, /* a reference matches several images */
    IMAGE_STORE_EREADONLY = -7,  /* the store was opened read-only */
    IMAGE_STORE_ECORRUPT = -8,   /* a store file (lock file, .quarantine) or an entry
                                  * in an image directory is not what the store needs */
    IMAGE_STORE_EHOOK = -9,      /* a hook failed; the message is the hook's */
    IMAGE_STORE_ELAYOUT = -10    /* the directory holds another tool's layout */
};

/* A point in time: seconds since the epoch (UTC) and nanoseconds. {0,0} is
 * the epoch itself; IMAGE_TIME_NOW in create() means "now". The store takes
 * nanos 0..999999999 and the years 0000 to 9999. */
typedef struct timestamp {
    int64_t seconds;
    int32_t nanos;
} timestamp;

/* "Now", for create() only (its seconds are INT64_MIN; elsewhere EINVAL). */
#define IMAGE_TIME_NOW ((timestamp){INT64_MIN, 0})

/* The JSON type of a flag's value. */
typedef enum image_flag_kind {
    IMAGE_FLAG_NULL,
    IMAGE_FLAG_BOOL,
    IMAGE_FLAG_NUMBER, /* text holds the number as written in JSON */
    IMAGE_FLAG_STRING, /* text holds the string */
    IMAGE_FLAG_JSON    /* an array or object: text holds its JSON */
} image_flag_kind;

/* One member of a record's "flags" object, in the record's order. */
typedef struct image_flag {
    char *key;
    image_flag_kind kind;
    bool boolean; /* IMAGE_FLAG_BOOL: the value */
    char *text;   /* NUMBER, STRING, JSON: see image_flag_kind; else NULL */
} image_flag;

/* A copy of one image record, owned by the caller; release it with
 * image_storage_images_clear() (or, in an array, image_storage_images_free()).
 * Absent strings are NULL; absent sizes are -1. */
typedef struct image_storage_images {
    char *id;                /* the full ID, 64 lowercase hex */
    char *digest;            /* the digest given at create(), else the first
                                manifest's (a key starting with "manifest"),
                                else NULL; once set it stays when the manifest
                                changes (containers/storage) */
    char **digests;          /* digest, then every manifest digest, deduplicated */
    size_t digests_len;
    char **names;            /* in the order they were given */
    size_t names_len;
    char **names_history;    /* names the image has held, newest first, as
                                containers/storage keeps them (set_names()) */
    size_t names_history_len;
    char *layer;             /* the top layer's ID */
    char *metadata;
    char **big_data_names;   /* keys, in the order they were first set */
    size_t big_data_names_len;
    int64_t *big_data_sizes; /* parallel to big_data_names; -1 unknown */
    char **big_data_digests; /* parallel to big_data_names; NULL unknown */
    char *created;           /* RFC 3339, exactly as stored */
    char *loaded;            /* RFC 3339, exactly as stored */
    int64_t size;            /* -1 when not recorded */
    image_flag *flags;       /* the record's "flags" object, or NULL */
    size_t flags_len;
    bool read_only;          /* true when the store was opened read-only, and
                                for an image of an additional store */
    char *store;             /* the additional store that holds the image, its
                                directory as given to image_store_open(); NULL
                                for an image of the store itself */
    void *internal_block;    /* private to the store: what holds the fields above
                                (NULL: each field is its own malloc block) */
} image_storage_images;

/* Something load() skipped, check() found or repair() did: the file, a
 * stable kind, and a sentence.
 * problems() (what open or load() skipped): "unparseable", "id-mismatch",
 * "no-record", "not-an-image", "not-a-directory", "unreadable",
 * "unsupported", "duplicate-name", "lock-file", and "additional-store" (an
 * additional store that cannot be read now: path is its directory as given;
 * its images are left out until it can be read again); and, in the
 * containers/storage layout, where the path is <dir>/images.json and the
 * sentence names the element ("images.json[3]: ..."): "unparseable" (the
 * file, or one element of its array), "unsupported", "no-record"
 * (images.json is not a regular file), "duplicate-name" (the last image
 * holding the name keeps it) and "duplicate-id" (an ID held again later in
 * the array: the later record is loaded).
 * check(): those but "lock-file", and "not-a-file", "big-data-missing",
 * "big-data-size", "big-data-digest", "orphan-file", "temp-file"; with the
 * isulad option (image_store_check_with()) also what iSulad would do at its
 * next start: "isulad-delete" (it deletes the image directory),
 * "isulad-skip" (it does not load the image and leaves it on disk),
 * "isulad-convert" (a Docker schema 1 image: re-created under a new ID),
 * "isulad-misfiled" (the record's id names another directory),
 * "isulad-rename" (a name loses its default registry) and
 * "isulad-drops-field" (a rewrite of the record loses fields iSulad does
 * not know, such as "names-history" and "flags").
 * repair(): "quarantined", "removed", "re-recorded", "dropped-big-data",
 * "recorded-file", "dropped-name". */
typedef struct image_store_problem {
    char *path;    /* <dir>/<entry>[/<file>] it is about */
    char *kind;
    char *problem; /* a sentence */
} image_store_problem;

struct image_store_state; /* opaque; all of a store's state lives here */
typedef struct image_store image_store_t;

/* A store: the caller owns this struct (on the stack, say);
 * new_image_store() fills it in and image_store_close() releases what it
 * holds. Call the members through it, passing the store itself:
 * st.get(id, &st, &img). */
struct image_store {
    /** Private to the store: NULL, or its state (a marker once closed). */
    struct image_store_state *state;

    /* The seed interface (iSulad's image module design), argument orders as written. */

    /**
     * Creates an image and writes its record. Fires the CREATE event.
     *
     * @param id the new image's ID (64 lowercase hex); NULL or "": a random one
     * @param names the image's names, each through the name hook, duplicates
     *        dropped (first kept); NULL when names_len is 0
     * @param names_len how many names
     * @param layer the top layer's ID; NULL or "": none
     * @param metadata text kept as given (valid UTF-8); NULL: none
     * @param time the "created" time; IMAGE_TIME_NOW: now ("loaded" is set
     *        to now either way)
     * @param searchable_digest the image's digest (sha256:<64 hex>,
     *        sha384:<96 hex> or sha512:<128 hex>); NULL or "": none, the
     *        digest then follows the manifests
     * @param image_store the store
     * @param image out, may be NULL: a copy of the new image, released with
     *        image_storage_images_clear(); on failure left as it was or zeroed
     * With additional stores, an id that one of them holds copies that image
     * up (see "Additional stores" below); reading it can then fail with its
     * store's code ("cannot copy image <id> up from <dir>: <why>").
     * @return 0, or -1: IMAGE_STORE_EINVAL (bad ID, name, layer, metadata,
     *         digest or time, names NULL with names_len > 0, a name refused by
     *         the name hook), IMAGE_STORE_EEXIST (an image, or a directory
     *         entry, has that ID), IMAGE_STORE_ENAMEINUSE (another image holds
     *         a name; nothing is taken from it), IMAGE_STORE_EHOOK,
     *         IMAGE_STORE_EREADONLY
     */
    int (*create)(const char *id, const char **names, size_t names_len, const char *layer,
                  const char *metadata, timestamp time, const char *searchable_digest,
                  image_store_t *image_store, image_storage_images *image);

    /**
     * Replaces the image's names (none: the names are cleared, as
     * containers/storage does; iSulad refuses). Each of the new names then
     * goes to the front of the names history in turn, so the last given is
     * first (containers/storage); names given at create() stay out of it. A
     * name another image holds is taken from it (its history is left alone);
     * both records are written. Fires a NAMES event for the image, then for
     * each image that lost a name.
     *
     * @param id reference to the image
     * @param names the new names, each through the name hook, duplicates
     *        dropped (first kept); NULL when names_len is 0 (no names left)
     * @param names_len how many names
     * @param image_store the store
     * @return 0, or -1: IMAGE_STORE_EINVAL (a bad or refused name, names NULL
     *         with names_len > 0), IMAGE_STORE_EHOOK, IMAGE_STORE_EREADONLY,
     *         the reference codes
     */
    int (*set_names)(const char *id, const char **names, size_t names_len,
                     image_store_t *image_store);

    /**
     * Deletes the image: its directory and everything in it. Fires DELETE.
     *
     * @param id reference to the image
     * @param image_store the store
     * @return 0, or -1: IMAGE_STORE_EHOOK, IMAGE_STORE_EREADONLY, the
     *         reference codes
     */
    int (*delete)(const char *id, image_store_t *image_store);

    /**
     * Deletes every image, in one transaction (all or none). Fires DELETE
     * for each image first; the store stays usable.
     *
     * @param image_store the store
     * @return 0, or -1: IMAGE_STORE_EHOOK, IMAGE_STORE_EREADONLY
     */
    int (*wipe)(image_store_t *image_store);

    /**
     * Sets the image's "loaded" time. Fires LOADED.
     *
     * @param id reference to the image
     * @param loaded the time, years 0000 to 9999 (IMAGE_TIME_NOW is EINVAL)
     * @param image_store the store
     * @return 0, or -1: IMAGE_STORE_EINVAL (time out of range),
     *         IMAGE_STORE_EHOOK, IMAGE_STORE_EREADONLY, the reference codes
     */
    int (*set_loaded_time)(const char *id, timestamp loaded, image_store_t *image_store);

    /**
     * Adds a name to the image, appended as iSulad does (containers/storage
     * puts it first), taking it from the image that holds it; both records
     * are written. The history is then what containers/storage makes it:
     * the name, then the image's other names, each in turn to the front (so
     * {a, b} given, then c added: history {b, a, c}). A name the image
     * already holds: success, nothing written, no event.
     * Fires NAMES for the image, then for the image that lost the name.
     *
     * @param id reference to the image
     * @param name the name, through the name hook
     * @param image_store the store
     * @return 0, or -1: IMAGE_STORE_EINVAL (a bad or refused name),
     *         IMAGE_STORE_EHOOK, IMAGE_STORE_EREADONLY, the reference codes
     */
    int (*add_name)(const char *id, const char *name, image_store_t *image_store);

    /**
     * Rewrites every record from memory, one image at a time: a failure
     * part-way leaves the records before it rewritten. Fires no event.
     *
     * @param image_store the store (const in the seed; it is written)
     * @return 0, or -1: IMAGE_STORE_EREADONLY
     */
    int (*save)(const image_store_t *image_store);

    /**
     * Sets the image's metadata. Fires no event.
     *
     * @param image_store the store
     * @param id reference to the image
     * @param metadata the text (valid UTF-8), copied; NULL removes it
     * @return 0, or -1: IMAGE_STORE_EINVAL (not UTF-8),
     *         IMAGE_STORE_EREADONLY, the reference codes
     */
    int (*set_metadata)(image_store_t *image_store, const char *id, const char *metadata);

    /**
     * Writes a big-data item (a file beside the record) and records its size
     * and sha256 digest. A new key is appended to the image's keys; a key
     * starting with "manifest" adds its digest to the image's digests (the
     * image's digest stays what it was, once set).
     * Fires BIG_DATA. Same as set_big_data_len(..., data, strlen(data)).
     *
     * @param image_store the store
     * @param id reference to the image
     * @param key the item's key: valid UTF-8, not "", ".", "..", "images.json",
     *        and its file name (the key when made of [.0-9a-z], else
     *        "=" + base64) without '/' and at most 255 bytes
     * @param data NUL-terminated bytes; NULL: empty
     * @return 0, or -1: IMAGE_STORE_EINVAL (bad key), IMAGE_STORE_EHOOK,
     *         IMAGE_STORE_EREADONLY, the reference codes
     */
    int (*set_big_data)(image_store_t *image_store, const char *id, const char *key,
                        const char *data);

    /**
     * Whether a reference finds an image.
     *
     * @param id the reference
     * @param image_store the store
     * @return true when it finds exactly one image; false otherwise, with the
     *         reason in the error slot (the reference codes, or any other
     *         failure, a closed store included)
     */
    bool (*exists)(const char *id, const image_store_t *image_store);

    /**
     * Copies an image's record.
     *
     * @param id reference to the image
     * @param image_store the store
     * @param image out: the copy, released with image_storage_images_clear()
     * @return 0, or -1: the reference codes
     */
    int (*get)(const char *id, const image_store_t *image_store, image_storage_images *image);

    /**
     * Resolves a reference to the image's full ID.
     *
     * @param name the reference (any form, not only a name)
     * @param image_store the store
     * @param id out: the full ID, released with free()
     * @return 0, or -1: the reference codes
     */
    int (*lookup)(const char *name, const image_store_t *image_store, char **id);

    /**
     * Copies every image's record, in ID order.
     *
     * @param image_store the store
     * @param images out: the array (not NULL, also when empty), released with
     *        image_storage_images_free(*images, *len)
     * @param len out: how many
     * @return 0, or -1 (only the common codes)
     */
    int (*images)(const image_store_t *image_store, image_storage_images **images, size_t *len);

    /**
     * Copies the records of the images that have a digest among their
     * digests (the one given at create(), or a manifest's).
     *
     * @param image_store the store
     * @param digest sha256:<64 hex>, sha384:<96 hex> or sha512:<128 hex>
     * @param images out: the array (not NULL; none found is success),
     *        released with image_storage_images_free(*images, *len)
     * @param len out: how many
     * @return 0, or -1: IMAGE_STORE_EINVAL (a malformed or NULL digest)
     */
    int (*by_digest)(const image_store_t *image_store, const char *digest,
                     image_storage_images **images, size_t *len);

    /**
     * Re-reads the whole disk, re-opening the directory by its path (it may
     * have been replaced). Needed only after writers that do not use the lock
     * file (iSulad, containers/storage): this store's other calls see other
     * imagestore writers by themselves. Memory changes only on success;
     * problems() is rebuilt. Additional stores are re-read too (one that
     * fails becomes a problem, not a failure of load()).
     *
     * @param image_store the store
     * @return 0, or -1: IMAGE_STORE_EINVAL (inside a batch),
     *         IMAGE_STORE_ELAYOUT (<dir>/images.json exists, and the store
     *         opened in our layout), IMAGE_STORE_ECORRUPT (a replaced
     *         directory's lock file is not a regular file), IMAGE_STORE_ESYS
     *         (e.g. the directory is gone)
     */
    int (*load)(image_store_t *image_store);

    /**
     * The image's metadata.
     *
     * @param image_store the store
     * @param id reference to the image
     * @param metadata out: a copy, "" when there is none; released with free()
     * @return 0, or -1: the reference codes
     */
    int (*metadata)(const image_store_t *image_store, const char *id, char **metadata);

    /**
     * Reads a big-data item; for text (use big_data_len() for bytes). A key
     * the record does not list is read from its file in the image's
     * directory (the key's file name), as containers/storage and iSulad do;
     * nothing is recorded (check() still reports the file as "orphan-file").
     *
     * @param image_store the store
     * @param id reference to the image
     * @param key the item's key
     * @param big_data out: the bytes, NUL-terminated; released with free()
     * @return 0, or -1: IMAGE_STORE_ENOTFOUND (no such key nor file, or the
     *         key's file is gone from disk), IMAGE_STORE_EINVAL (bad key), IMAGE_STORE_ESYS
     *         (errno EINVAL: the file is not a regular file; ELOOP: a
     *         symlink), the reference codes
     */
    int (*big_data)(const image_store_t *image_store, const char *id, const char *key,
                    char **big_data);

    /**
     * The size of a big-data item: as recorded, else the file's length (also
     * for a key the record does not list, as big_data() reads it).
     *
     * @param image_store the store
     * @param id reference to the image
     * @param key the item's key
     * @param big_data_size out: bytes
     * @return 0, or -1: as big_data()
     */
    int (*big_data_size)(const image_store_t *image_store, const char *id, const char *key,
                         int64_t *big_data_size);

    /**
     * The digest of a big-data item: as recorded, else the sha256 of the file
     * (also for a key the record does not list, as big_data() reads it).
     *
     * @param image_store the store
     * @param id reference to the image
     * @param key the item's key
     * @param big_data_digest out: "<algo>:<hex>", released with free()
     * @return 0, or -1: as big_data()
     */
    int (*big_data_digest)(const image_store_t *image_store, const char *id, const char *key,
                           char **big_data_digest);

    /**
     * The image's big-data keys, in the order they were first set.
     *
     * @param image_store the store
     * @param id reference to the image
     * @param big_data_names out: the keys (not NULL, also when empty),
     *        released with image_store_strings_free(*big_data_names, *len)
     * @param big_data_names_len out: how many
     * @return 0, or -1: the reference codes
     */
    int (*big_data_names)(const image_store_t *image_store, const char *id,
                          char ***big_data_names, size_t *big_data_names_len);

    /* Additions. */

    /**
     * set_big_data() for bytes: data may hold NULs.
     *
     * @param image_store the store
     * @param id reference to the image
     * @param key the item's key, as in set_big_data()
     * @param data len bytes; NULL only when len is 0
     * @param len how many bytes
     * @return 0, or -1: IMAGE_STORE_EINVAL (bad key, data NULL with len > 0),
     *         IMAGE_STORE_EHOOK, IMAGE_STORE_EREADONLY, the reference codes
     */
    int (*set_big_data_len)(image_store_t *image_store, const char *id, const char *key,
                            const void *data, size_t len); /* binary-safe */

    /**
     * big_data() for bytes.
     *
     * @param image_store the store
     * @param id reference to the image
     * @param key the item's key
     * @param big_data out: the bytes, plus a NUL after them; released with free()
     * @param len out: how many bytes (without that NUL)
     * @return 0, or -1: as big_data()
     */
    int (*big_data_len)(const image_store_t *image_store, const char *id, const char *key,
                        char **big_data, size_t *len); /* binary-safe; *big_data NUL-terminated */

    /**
     * Removes a name from the image. The name stays in the history; the
     * names left each go to its front in turn, as containers/storage does.
     * Fires NAMES.
     *
     * @param id reference to the image
     * @param name the name, through the name hook
     * @param image_store the store
     * @return 0, or -1: IMAGE_STORE_ENOTFOUND (the image does not hold it),
     *         IMAGE_STORE_EINVAL (a bad or refused name), IMAGE_STORE_EHOOK,
     *         IMAGE_STORE_EREADONLY, the reference codes
     */
    int (*remove_name)(const char *id, const char *name, image_store_t *image_store);

    /**
     * Records the image's size. Fires no event.
     *
     * @param image_store the store
     * @param id reference to the image
     * @param size bytes, >= 0
     * @return 0, or -1: IMAGE_STORE_EINVAL (negative), IMAGE_STORE_EREADONLY,
     *         the reference codes
     */
    int (*set_size)(image_store_t *image_store, const char *id, int64_t size);

    /**
     * What the last full read of the disk (open, load(), or a full reload
     * while catching up) skipped, and why (kinds: see image_store_problem).
     * After a daemon open, the sentence of each entry recovery tried to move
     * ends "; moved to <path>" or "; not moved: <why>". Then, for each
     * additional store in order, what its own load skipped, or one
     * "additional-store" entry when it cannot be read now.
     *
     * @param image_store the store
     * @param problems out: the list (not NULL, also when empty), released
     *        with image_store_problems_free(*problems, *len)
     * @param len out: how many
     * @return 0, or -1 (only the common codes)
     */
    int (*problems)(const image_store_t *image_store, image_store_problem **problems,
                    size_t *len);
};

/**
 * Opens the store at dir and loads every record, under a shared lock.
 *
 * Two layouts: ours (iSulad's, <dir>/<id>/images.json per image), and
 * containers/storage's (Podman, CRI-O, Buildah), which a <dir>/images.json
 * (of any file type) marks and which opens only readonly. A read-only store
 * of that layout follows containers/storage's protocol: each call holds a
 * shared fcntl lock on <dir>/images.lock while it runs, and re-reads
 * images.json only when the lock file's last-writer token changed; a
 * missing images.lock (never created) means no writer yet. Records that
 * containers/storage would refuse or drop (a bad element of the array,
 * IDs or names held twice), and an images.json that is not a JSON array
 * or not a regular file, are problems(), not a failed open.
 *
 * Unless readonly, a missing dir is created (mode 0700, with its missing
 * parents), and so is <dir>/.imagestore.lock. A read-only store refuses
 * every change and never writes. With daemon (and not readonly) this process
 * does the store's upkeep: the open removes .tmp-* leftovers, moves entries
 * that cannot be images (kinds unparseable, id-mismatch, no-record,
 * not-an-image, not-a-directory; never unreadable or unsupported ones) to
 * <dir>/.quarantine/, saying so in problems(), and rewrites a stale
 * snapshot; what fails there does not fail the open.
 *
 * @param daemon whether this process does the upkeep
 * @param readonly open read-only
 * @param dir the store's directory (copied; trailing '/' dropped)
 * @param image_store out: filled in either way; call image_store_close() in
 *        both cases
 * @return 0, or -1 with the error in image_store: IMAGE_STORE_EINVAL (dir
 *         NULL or ""), IMAGE_STORE_ENOTFOUND (readonly and dir missing),
 *         IMAGE_STORE_ELAYOUT (<dir>/images.json exists and not readonly:
 *         containers/storage's layout, left untouched), IMAGE_STORE_ECORRUPT
 *         (the lock file, .imagestore.lock or images.lock, is not a regular
 *         file), IMAGE_STORE_ESYS (any errno, e.g. ENOTDIR; EIO or EACCES
 *         reading containers/storage's images.json;
 *         EDEADLK: this thread holds the lock through another store; ENOMEM,
 *         also when the store's own allocation failed)
 */
IMAGE_STORE_API int new_image_store(bool daemon, bool readonly, const char *dir, image_store_t *image_store);

/* Additional stores (containers/storage's "additional image stores", which
 * clusters keep on NFS so that every node sees the same images): read-only
 * stores searched below the store itself. image_store_open() opens each one
 * as new_image_store(false, true, dir, ...) would, in either layout it reads.
 *
 *   Lookups (get, lookup, exists, metadata, big_data*, big_data_names, and
 *   every mutator's reference) resolve the reference in the store itself,
 *   then in each additional store in order, each in full (full ID, name, the
 *   name hook's candidates, repo@digest, ID prefix): the first store where it
 *   finds an image answers, so a name or prefix there hides the same one
 *   further down (containers/storage's order). A reference that is ambiguous
 *   in one store is IMAGE_STORE_EAMBIGUOUS there and then (containers/storage
 *   goes on to the next store instead). An image whose ID a store above
 *   holds is hidden: found in a lower store by a name, it is skipped. The
 *   big-data calls read the image that answered (containers/storage tries
 *   the next stores for a missing key).
 *   images() lists every image once, in ID order, the record of the highest
 *   store that holds its ID; by_digest() likewise, the store's own images
 *   first.
 *   An image of an additional store has read_only true and store set. Every
 *   mutator given a reference that only an additional store resolves fails
 *   IMAGE_STORE_EREADONLY, "image <id> is in the read-only additional store
 *   <dir>: cannot <op>" (containers/storage copies such an image up to change
 *   its names; here that is create() with its ID). create() with the ID of an
 *   image of an additional store copies it up, as containers/storage's
 *   CreateImage does: what the call leaves unset (layer, metadata, the
 *   created time, digest) is the lower image's, its big data and names
 *   history are copied, and its names follow the given ones, taken from
 *   images of this store that hold them; the lower image's names, then the
 *   given ones, go to the front of the history as containers/storage adds
 *   them. The copy then hides the lower image.
 *   Names held below do not count as taken: create() and add_name() may
 *   give them to images of this store, which then hide them.
 *   Another process's changes to an additional store are seen at the next
 *   call that consults it, as for the store itself (through its lock file;
 *   load() re-reads the additional stores too).
 *   An additional store that is missing, vanishes, is replaced by a
 *   non-directory or cannot be read is an "additional-store" entry in
 *   problems() (with the reason), and its images are absent; the open and
 *   lookups that the store itself answers never fail for it. A later call
 *   that consults it tries it again when its directory changed or a second
 *   has passed (one stat() per call otherwise). problems() also lists what
 *   each readable additional store's own load skipped.
 *   check(), repair(), wipe(), save(), batches, hooks' events and the change
 *   token act on the store itself only. The name hook also turns references
 *   into candidates for the additional stores (it may run once per store
 *   consulted). Two stores that name each other as additional and both
 *   write can deadlock; do not set that up.
 */

/* How image_store_open() opens a store. All zero (or a NULL pointer):
 * new_image_store(false, false, dir, ...). */
typedef struct image_store_options {
    bool daemon;                   /* this process does the upkeep (see new_image_store()) */
    bool readonly;                 /* open read-only */
    const char *const *additional; /* directories of additional stores, searched in this
                                      order below this one; copied; NULL when
                                      additional_len is 0 */
    size_t additional_len;
} image_store_options;

/**
 * Opens the store at dir as new_image_store() does, with options; with
 * additional stores below it (see above).
 *
 * @param image_store out: filled in either way; call image_store_close() in
 *        both cases
 * @param dir the store's directory (copied; trailing '/' dropped)
 * @param opts the options (copied); NULL: none
 * @return 0, or -1 with the error in image_store: the codes of
 *         new_image_store(), and IMAGE_STORE_EINVAL ("invalid additional
 *         stores: NULL list", "invalid additional store directory #N:
 *         empty"; checked before anything on disk is touched). An additional
 *         store that cannot be opened never fails the open.
 */
IMAGE_STORE_API int image_store_open(image_store_t *image_store, const char *dir, const image_store_options *opts);

/**
 * Releases everything the store holds. An open batch is discarded; a
 * writable store rewrites the snapshot when it is stale. Afterwards
 * every member fails IMAGE_STORE_EINVAL ("store is closed"). Called from
 * one of the store's own hooks it closes nothing and sets IMAGE_STORE_EINVAL
 * ("cannot close the store from inside one of its hooks"): the operation
 * that runs the hook still uses the store.
 *
 * @param image_store the store; NULL, closed or failed to open is fine
 */
IMAGE_STORE_API void image_store_close(image_store_t *image_store);

/* The last failure on this store. A member clears it on entry; a NULL or
 * closed store reads as IMAGE_STORE_EINVAL, "store is closed", and one whose
 * allocation failed in new_image_store() as IMAGE_STORE_ESYS, ENOMEM, "out
 * of memory". */

/**
 * @param image_store the store
 * @return the code (IMAGE_STORE_E*); IMAGE_STORE_OK after a member that
 *         succeeded
 */
IMAGE_STORE_API int image_store_error_code(const image_store_t *image_store);
/**
 * @param image_store the store
 * @return the errno of the failed system call with IMAGE_STORE_ESYS, else 0
 */
IMAGE_STORE_API int image_store_error_errno(const image_store_t *image_store);
/**
 * @param image_store the store
 * @return a stable name: "OK", "ENOTFOUND", ..., for IMAGE_STORE_ESYS the
 *         errno's name ("ENOSPC", "EDEADLK", ...; "ESYS" when unknown);
 *         never NULL, a static string
 */
IMAGE_STORE_API const char *image_store_error_name(const image_store_t *image_store);
/**
 * @param image_store the store
 * @return the message naming the problem ("" after a success), printable
 *         UTF-8, never NULL; owned by the store, valid until its next call
 */
IMAGE_STORE_API const char *image_store_error_message(const image_store_t *image_store);

/**
 * The change token this store has caught up with: a counter in
 * <dir>/.imagestore.lock that every committed change, by any process, moves
 * forward. After a successful mutator (or batch commit), the token its own
 * write published, so successes across processes are ordered. It starts at
 * a random value when the lock file is made or restamped. In the
 * containers/storage layout: a number made from images.lock's last-writer
 * token, which changes when the token does (it is not a count).
 *
 * @param image_store the store
 * @return the token; 0 for a closed store, and while the store has no
 *         usable lock file (read-only, before any writer)
 */
IMAGE_STORE_API uint64_t image_store_generation(const image_store_t *image_store);

/**
 * The store's directory, as given to new_image_store() without trailing '/'.
 *
 * @param image_store the store
 * @return the path, owned by the store (valid until close); NULL when closed
 */
IMAGE_STORE_API const char *image_store_dir(const image_store_t *image_store);

/* Batches, for bulk work (imports, mirroring):
 *   image_store_batch_begin(&st);          // takes the store's lock exclusively
 *   st.create(...); st.set_big_data_len(...); ...   // applied in order, in memory at once
 *   image_store_batch_commit(&st);         // one sync; returns when all is durable
 * Inside, files are staged without syncing and nothing is visible to other
 * processes; reads see the batch. Commit syncs once (syncfs), then renames
 * everything into place, new images whole. After a crash mid-batch each new
 * image is whole or absent. A change inside that fails with IMAGE_STORE_ESYS
 * makes commit refuse; any other failure fails that call only, and the
 * batch commits the rest. When commit fails, or on image_store_batch_abort()
 * or image_store_close(), nothing of the batch reaches the disk and memory is
 * reloaded from it. load() and image_store_repair() are refused inside a
 * batch. Not nestable. */

/**
 * Opens a batch: takes the lock file exclusively until commit, abort or
 * close.
 *
 * @param image_store the store
 * @return 0, or -1: IMAGE_STORE_EINVAL ("a batch is already open"),
 *         IMAGE_STORE_EREADONLY
 */
IMAGE_STORE_API int image_store_batch_begin(image_store_t *image_store);

/**
 * Writes the batch's records, syncs once, renames everything into place and
 * releases the lock; returns when all of it is durable. On failure the batch
 * is discarded (see above) and the lock released too.
 *
 * @param image_store the store
 * @return 0, or -1: IMAGE_STORE_EINVAL ("no batch is open"),
 *         IMAGE_STORE_ESYS ("batch not committed: <why>" with the errno of
 *         the change inside that failed, or the commit's own failure), the
 *         rewrite codes (see the top)
 */
IMAGE_STORE_API int image_store_batch_commit(image_store_t *image_store);

/**
 * Discards the open batch: nothing of it reaches the disk, memory is
 * reloaded from the disk, the lock is released. Does nothing without a
 * batch, on a closed store, or from inside a hook.
 *
 * @param image_store the store
 */
IMAGE_STORE_API void image_store_batch_abort(image_store_t *image_store);

/* check() lists what is wrong on disk (a fresh scan: records, big-data
 * sizes and digests, stray and temp files, names held twice) and changes
 * nothing; it needs no daemon flag. repair() fixes what can be fixed without
 * losing data: it quarantines (moves to <dir>/.quarantine/) what cannot be
 * an image, re-records actual sizes and digests, records big-data files no
 * record named, drops names held twice and what no file backs, and removes
 * temp files; it returns what it did. It goes on past a step that fails
 * and still returns, with -1, the list of what it did (release it too). It
 * never acts on what it could not read ("unreadable") or on records beyond
 * this library's limits ("unsupported"). Both return kinds as in
 * image_store_problem; release with image_store_problems_free(). */

/**
 * Scans the disk under a shared lock (inside a batch: the batch's, and what
 * the batch staged is not seen) and lists what is wrong. Works on a
 * read-only store. In the containers/storage layout: images.json read anew
 * (its problems() kinds), each image's big data, and "no-record" for an
 * image directory images.json has no record for.
 *
 * @param image_store the store
 * @param findings out: the list (not NULL, also when empty), released with
 *        image_store_problems_free(*findings, *len)
 * @param len out: how many
 * @return 0, or -1 (only the common codes: listing <dir> failed, out of memory)
 */
IMAGE_STORE_API int image_store_check(image_store_t *image_store, image_store_problem **findings, size_t *len);

/* What image_store_check_with() looks for besides image_store_check(). */
typedef struct image_store_check_options {
    /** Also say what iSulad would do to this store at its next start (the
     *  "isulad-*" kinds): which images it would delete, skip or convert,
     *  which names it would rewrite, which records it would rewrite
     *  without the fields it does not know. Reads each image's "manifest",
     *  config ("sha256:<id>") and images.json as iSulad's parsers do, up
     *  to the size iSulad reads (about 10 MiB). What needs iSulad's layer
     *  store (whether each layer is there) is not looked at. */
    bool isulad;
    /** iSulad's "default-host" (/etc/isulad/daemon_constants.json): names
     *  that start with it and "/", or with "library/", lose those prefixes.
     *  NULL: "docker.io", as iSulad ships it; "": none set (no name is
     *  rewritten). Used only with isulad. */
    const char *isulad_default_registry;
} image_store_check_options;

/**
 * image_store_check() with options: the same scan, under the same lock,
 * and then what the options ask for, appended after its findings.
 *
 * @param image_store the store
 * @param opts what to look for besides; NULL (or all false) is exactly
 *        image_store_check(); borrowed for the call
 * @param findings out: the list (not NULL, also when empty), released with
 *        image_store_problems_free(*findings, *len)
 * @param len out: how many
 * @return 0, or -1: IMAGE_STORE_EINVAL (isulad_default_registry is not a
 *         host name iSulad accepts: at most 64 bytes of dot-separated
 *         labels of letters, digits and '-', no port), the common codes
 */
IMAGE_STORE_API int image_store_check_with(image_store_t *image_store, const image_store_check_options *opts,
                                           image_store_problem **findings, size_t *len);

/**
 * Scans as image_store_check() does and fixes, under the exclusive lock;
 * then reloads memory and tells other stores to reload everything. Runs no
 * hook. A step that fails does not stop the rest.
 *
 * @param image_store the store
 * @param actions out: what it did, also on failure (then it may be NULL),
 *        released with image_store_problems_free(*actions, *len)
 * @param len out: how many
 * @return 0, or -1 with the first error met: IMAGE_STORE_EINVAL (inside a
 *         batch), IMAGE_STORE_EREADONLY, IMAGE_STORE_ECORRUPT
 *         (<dir>/.quarantine, or .quarantine/<id>, is not a directory), the
 *         rewrite codes (see the top), IMAGE_STORE_ESYS
 */
IMAGE_STORE_API int image_store_repair(image_store_t *image_store, image_store_problem **actions, size_t *len);

/* Garbage collection of the store's own files (image GC, the policy of which
 * images to delete, is Lua: imagestore.gc). image_store_gc() removes what
 * no image needs: leftover temp entries (".tmp-*" in <dir> and in image
 * directories), big-data files that the image's record does not name
 * (check()'s "orphan-file" whose name is a big-data key's file name; other
 * stray files are left to repair()), and, when asked, entries of
 * <dir>/.quarantine last changed (ctime: a move there sets it) longer ago
 * than an age. Image directories whose record cannot be used, or that
 * cannot be listed, are not looked into (repair() quarantines the former;
 * check() reports both). No symlink is followed. */

/* How image_store_gc() runs. All zero (or NULL): remove temp entries and
 * unrecorded big-data files, keep everything quarantined. */
typedef struct image_store_gc_options {
    bool dry_run;           /* list what would be removed, change nothing */
    bool quarantine;        /* also remove quarantined entries older than quarantine_age */
    int64_t quarantine_age; /* seconds, >= 0: an entry is older when now - its ctime > this */
    int64_t now;            /* epoch seconds ages are measured from; 0: the current time */
} image_store_gc_options;

/* One entry image_store_gc() removed, or in a dry run would remove. */
typedef struct image_store_gc_entry {
    char *path;    /* <dir>/<entry>[/<file>], <dir>/.quarantine/<entry> */
    char *kind;    /* "temp-file", "orphan-file" or "quarantined" */
    char *problem; /* a sentence: "removed ..." or "would remove ..." */
    int64_t bytes; /* the disk blocks it held (st_blocks * 512, its whole tree);
                      -1 when part of it could not be measured */
} image_store_gc_entry;

/**
 * Collects the store's garbage (see above). Without dry_run it works under
 * the exclusive lock, syncs each directory it removed from before it
 * returns, and goes on past an entry it fails to remove; a dry run takes
 * the shared lock and also works on a read-only store. Runs no hook and
 * changes no record, so other stores need not reload.
 *
 * @param image_store the store
 * @param opts how; NULL: all zero; borrowed for the call
 * @param entries out: what it removed (or would remove), in order (the store
 *        directory's entries by name, then the quarantine's), also on
 *        failure (then it may be NULL); released with
 *        image_store_gc_entries_free(*entries, *len)
 * @param len out: how many
 * @return 0, or -1 with the first error met: IMAGE_STORE_EINVAL (inside a
 *         batch; quarantine_age or now negative), IMAGE_STORE_EREADONLY (not
 *         a dry run), IMAGE_STORE_ELAYOUT (containers/storage's layout),
 *         IMAGE_STORE_ESYS (listing, removing or syncing failed)
 */
IMAGE_STORE_API int image_store_gc(image_store_t *image_store, const image_store_gc_options *opts,
                                   image_store_gc_entry **entries, size_t *len);

/**
 * Frees each of the len entries' strings, then the array.
 *
 * @param entries from image_store_gc(); NULL is fine
 * @param len how many it holds
 */
IMAGE_STORE_API void image_store_gc_entries_free(image_store_gc_entry *entries, size_t len);

/* What image_store_usage() measures: the store itself, never its additional
 * stores (garbage collection frees only there). */
typedef struct image_store_usage_figures {
    size_t images;      /* how many images */
    int64_t size;       /* the sum of their sizes: each image's recorded size when it
                           has one, else the sum of its recorded big-data sizes
                           (an unrecorded one counts 0) */
    int64_t disk_bytes; /* the disk blocks (st_blocks * 512) of their directories and
                           everything in them, measured with fstatat() below the
                           store's directory, no symlink followed; a file with
                           several links counts once */
} image_store_usage_figures;

/**
 * The store's usage figures, under the shared lock (caught up with other
 * processes first). Inside a batch, images and size count what the batch
 * staged, and disk_bytes only what is on disk already. In
 * containers/storage's layout, the image directories are its <dir>/<id>.
 *
 * @param image_store the store
 * @param usage out: the figures
 * @return 0, or -1 (only the common codes: a stat or listing failed with
 *         something else than ENOENT, out of memory)
 */
IMAGE_STORE_API int image_store_usage(image_store_t *image_store, image_store_usage_figures *usage);

/* Hooks: user code the store calls at defined points (a Lua binding
 * installs Lua functions here; see lua/imagestore_lua_hooks.h).
 *
 * The name hook sees every name before it is stored (create, set_names,
 * add_name, remove_name: IMAGE_NAME_STORE) and every reference before it is
 * looked up (IMAGE_NAME_LOOKUP; not one that is an image's full ID or a
 * name an image holds). It returns:
 *   0, adding nothing to result      the name is used as given;
 *   0, adding names                  STORE: exactly one, the name to use;
 *                                    LOOKUP: candidates, tried in order; one
 *                                    image found is the answer, several are
 *                                    EAMBIGUOUS, none falls back to the
 *                                    reference as given;
 *   IMAGE_STORE_EINVAL              the name is refused (the message says why);
 *   anything else                   the hook failed: the operation is
 *                                   IMAGE_STORE_EHOOK with the hook's message.
 * The event hook runs once a change is complete but before it is committed
 * (as SQLite's commit hook), once per image changed: create, delete (wipe:
 * each image), names (the image named, then each image that lost a name to
 * it), big data written, loaded time set. Returning non-zero turns the
 * operation into IMAGE_STORE_EHOOK: memory and disk stay as they were. In a
 * batch an event describes what the batch will commit.
 * A hook must not use or close the store that runs it: its calls fail
 * EINVAL (exists() is false, batch_abort() does nothing). During a change
 * or a batch the store holds the lock file exclusively: then another store
 * of this thread on the same directory fails ESYS with errno EDEADLK where
 * it needs the lock (open, writes, catching up). Everything a hook is given
 * is borrowed for the call. */

/* Why the name hook is called: a name to store, or a reference to look up. */
typedef enum image_name_use { IMAGE_NAME_STORE, IMAGE_NAME_LOOKUP } image_name_use;

typedef enum image_event_kind {
    IMAGE_EVENT_CREATE,
    IMAGE_EVENT_DELETE,
    IMAGE_EVENT_NAMES,
    IMAGE_EVENT_BIG_DATA,
    IMAGE_EVENT_LOADED
} image_event_kind;

/* What the event hook is told; every pointer is the store's, valid during
 * the call. Fields that do not apply to the kind are NULL / 0. */
typedef struct image_event {
    image_event_kind kind;
    const char *id;               /* the image's full ID */
    const char *const *names;     /* CREATE, NAMES: the names after; DELETE: the names held */
    size_t names_len;
    const char *const *old_names; /* NAMES: the names before */
    size_t old_names_len;
    const char *layer;            /* CREATE, or NULL */
    const char *key;              /* BIG_DATA */
    int64_t size;                 /* BIG_DATA: bytes written */
    const char *digest;           /* BIG_DATA: sha256 of the data; CREATE: the digest or NULL */
    const char *loaded;           /* LOADED: the time set, RFC 3339 */
} image_event;

typedef struct image_hook_result image_hook_result; /* owned by the store */

/**
 * For hooks: adds a name (copied) to the result. The name hook's names are
 * used as described above; the event hook's are ignored.
 *
 * @param result the result the hook was given
 * @param name the name
 * @return 0, or -1 when result or name is NULL, or out of memory (a name
 *         hook's operation then fails IMAGE_STORE_EHOOK)
 */
IMAGE_STORE_API int image_hook_result_add_name(image_hook_result *result, const char *name);

/**
 * For hooks: the message that goes with a refusal or failure (copied, at
 * most 1023 bytes; NULL: none). The last one set counts.
 *
 * @param result the result the hook was given; NULL does nothing
 * @param message the message
 */
IMAGE_STORE_API void image_hook_result_set_message(image_hook_result *result, const char *message);

/* The hooks of a store; either function may be NULL. */
typedef struct image_store_hooks {
    int (*name)(void *data, image_name_use use, const char *name, image_hook_result *result);
    int (*event)(void *data, const image_event *event, image_hook_result *result);
    void *data; /* passed to both; the store never frees it */
} image_store_hooks;

/**
 * Installs hooks, replacing any installed before.
 *
 * @param image_store the store
 * @param hooks copied; NULL removes them
 * @return 0, or -1: IMAGE_STORE_EINVAL (closed store, or called from inside
 *         a hook), or the store failed to open (its error stays)
 */
IMAGE_STORE_API int image_store_set_hooks(image_store_t *image_store, const image_store_hooks *hooks);

/**
 * Whether one of the store's hooks is running now.
 *
 * @param image_store the store
 * @return true while one is; false otherwise and for a closed store
 */
IMAGE_STORE_API bool image_store_in_hook(const image_store_t *image_store);

/* Release what the members return. All accept NULL. */

/**
 * Frees what one image holds (not the struct itself) and zeroes it, size -1.
 *
 * @param image from get() or create(), or filled in field by field with
 *        malloc'd fields and internal_block NULL
 */
IMAGE_STORE_API void image_storage_images_clear(image_storage_images *image);
/**
 * Clears each of the len images, then frees the array.
 *
 * @param images from images() or by_digest()
 * @param len how many it holds
 */
IMAGE_STORE_API void image_storage_images_free(image_storage_images *images, size_t len);
/**
 * Frees each of the len entries' strings, then the array.
 *
 * @param problems from problems(), image_store_check() or image_store_repair()
 * @param len how many it holds
 */
IMAGE_STORE_API void image_store_problems_free(image_store_problem *problems, size_t len);
/**
 * Frees each of the len strings, then the array.
 *
 * @param strings from big_data_names()
 * @param len how many it holds
 */
IMAGE_STORE_API void image_store_strings_free(char **strings, size_t len);

/**
 * Parses an RFC 3339 time ("T"/"t"; "Z"/"z", +hh:mm or -hh:mm; a fraction
 * of any length, digits past the ninth dropped) into UTC. A leap second
 * :60 reads as :59.
 *
 * @param text the time
 * @param out the time in UTC; untouched on failure
 * @return 0, or -1 when text is not such a time
 */
IMAGE_STORE_API int timestamp_parse(const char *text, timestamp *out);

/**
 * Writes t as "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" (30 characters and the NUL).
 * A time outside the years 0000 to 9999 is written as the epoch.
 *
 * @param t the time (nanos out of 0..999999999 are carried into seconds)
 * @param buf out: 40 bytes, all written
 */
IMAGE_STORE_API void timestamp_format(timestamp t, char buf[static 40]);

/** The current time (CLOCK_REALTIME). */
IMAGE_STORE_API timestamp timestamp_now(void);

/**
 * The sha256 digest of data, as the store records it.
 *
 * @param out out: "sha256:<64 lowercase hex>" and a NUL (72 bytes)
 * @param data len bytes
 * @param len how many
 * @return 0, or -1 when OpenSSL fails
 */
IMAGE_STORE_API int image_store_sha256(char out[static 72], const void *data, size_t len);

#endif
