/*
 * imagestore: an image store on iSulad's / containers-storage's on-disk layout.
 *
 * Layout: <dir>/<id>/images.json holds one image record; the image's big-data
 * files (manifest, config, ...) sit beside it.
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
 * A failed mutation leaves memory and disk as they were.
 *
 * References: every member that takes an image "id" accepts a full ID, a name,
 * a unique hex ID prefix, or "repo@sha256:<hex>" (an image that holds a name in
 * that repository and has that digest).
 *
 * Memory: everything returned through an out-parameter belongs to the caller
 * and is released with the matching *_free / *_clear function below. Strings
 * passed in are copied. A store is not thread-safe; two stores are independent.
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
    IMAGE_STORE_ENOTFOUND = -2,  /* no such image, big-data key or store */
    IMAGE_STORE_EEXIST = -3,     /* the image ID is taken */
    IMAGE_STORE_ENAMEINUSE = -4, /* the name belongs to another image */
    IMAGE_STORE_EINVAL = -5,     /* malformed ID, key, digest, name or time */
    IMAGE_STORE_EAMBIGUOUS = -6, /* an ID prefix matches several images */
    IMAGE_STORE_EREADONLY = -7,  /* the store was opened read-only */
    IMAGE_STORE_ECORRUPT = -8,   /* a store file (lock file, .quarantine) is unusable */
    IMAGE_STORE_EHOOK = -9,      /* a hook failed; the message is the hook's */
    IMAGE_STORE_ELAYOUT = -10    /* the directory holds another tool's layout */
};

/* A point in time: seconds since the epoch (UTC) and nanoseconds. {0,0} is
 * the epoch itself; IMAGE_TIME_NOW in create() means "now". */
typedef struct timestamp {
    int64_t seconds;
    int32_t nanos;
} timestamp;

#define IMAGE_TIME_NOW ((timestamp){INT64_MIN, 0})

typedef enum image_flag_kind {
    IMAGE_FLAG_NULL,
    IMAGE_FLAG_BOOL,
    IMAGE_FLAG_NUMBER, /* text holds the number as written in JSON */
    IMAGE_FLAG_STRING, /* text holds the string */
    IMAGE_FLAG_JSON    /* an array or object: text holds its JSON */
} image_flag_kind;

typedef struct image_flag {
    char *key;
    image_flag_kind kind;
    bool boolean;
    char *text;
} image_flag;

/* A copy of one image record. Absent strings are NULL; absent sizes are -1. */
typedef struct image_storage_images {
    char *id;
    char *digest;            /* the image's digest */
    char **digests;          /* digest, then every manifest digest, deduplicated */
    size_t digests_len;
    char **names;
    size_t names_len;
    char **names_history;    /* newest first */
    size_t names_history_len;
    char *layer;
    char *metadata;
    char **big_data_names;
    size_t big_data_names_len;
    int64_t *big_data_sizes; /* parallel to big_data_names; -1 unknown */
    char **big_data_digests; /* parallel to big_data_names; NULL unknown */
    char *created;           /* RFC 3339, exactly as stored */
    char *loaded;
    int64_t size;            /* -1 when not recorded */
    image_flag *flags;
    size_t flags_len;
    bool read_only;          /* true when the store was opened read-only */
    void *internal_block;    /* private to the store: what holds the fields above */
} image_storage_images;

/* Something load() skipped, check() found or repair() did: the file, a
 * stable kind ("unparseable", "id-mismatch", "no-record", "not-an-image",
 * "not-a-directory", "not-a-file", "unreadable", "unsupported",
 * "duplicate-name", "big-data-missing", "big-data-size", "big-data-digest",
 * "orphan-file", "temp-file", "lock-file"; for repair(): "quarantined", "removed",
 * "re-recorded", "dropped-big-data", "recorded-file", "dropped-name"), and
 * a sentence. */
typedef struct image_store_problem {
    char *path;
    char *kind;
    char *problem;
} image_store_problem;

struct image_store_state; /* opaque; all of a store's state lives here */
typedef struct image_store image_store_t;

struct image_store {
    struct image_store_state *state;

    /* The seed interface (iSulad's image module design), argument orders as written. */
    int (*create)(const char *id, const char **names, size_t names_len, const char *layer,
                  const char *metadata, timestamp time, const char *searchable_digest,
                  image_store_t *image_store, image_storage_images *image);
    int (*set_names)(const char *id, const char **names, size_t names_len,
                     image_store_t *image_store);
    int (*delete)(const char *id, image_store_t *image_store);
    int (*wipe)(image_store_t *image_store);
    int (*set_loaded_time)(const char *id, timestamp loaded, image_store_t *image_store);
    int (*add_name)(const char *id, const char *name, image_store_t *image_store);
    int (*save)(const image_store_t *image_store);
    int (*set_metadata)(image_store_t *image_store, const char *id, const char *metadata);
    int (*set_big_data)(image_store_t *image_store, const char *id, const char *key,
                        const char *data);
    bool (*exists)(const char *id, const image_store_t *image_store);
    int (*get)(const char *id, const image_store_t *image_store, image_storage_images *image);
    int (*lookup)(const char *name, const image_store_t *image_store, char **id);
    int (*images)(const image_store_t *image_store, image_storage_images **images, size_t *len);
    int (*by_digest)(const image_store_t *image_store, const char *digest,
                     image_storage_images **images, size_t *len);
    int (*load)(image_store_t *image_store);
    int (*metadata)(const image_store_t *image_store, const char *id, char **metadata);
    int (*big_data)(const image_store_t *image_store, const char *id, const char *key,
                    char **big_data);
    int (*big_data_size)(const image_store_t *image_store, const char *id, const char *key,
                         int64_t *big_data_size);
    int (*big_data_digest)(const image_store_t *image_store, const char *id, const char *key,
                           char **big_data_digest);
    int (*big_data_names)(const image_store_t *image_store, const char *id,
                          char ***big_data_names, size_t *big_data_names_len);

    /* Additions. */
    int (*set_big_data_len)(image_store_t *image_store, const char *id, const char *key,
                            const void *data, size_t len); /* binary-safe */
    int (*big_data_len)(const image_store_t *image_store, const char *id, const char *key,
                        char **big_data, size_t *len); /* binary-safe; *big_data NUL-terminated */
    int (*remove_name)(const char *id, const char *name, image_store_t *image_store);
    int (*set_size)(image_store_t *image_store, const char *id, int64_t size);
    int (*problems)(const image_store_t *image_store, image_store_problem **problems,
                    size_t *len);
};

/* Opens (and, unless readonly, creates with mode 0700) the store at dir and
 * loads every record. Returns 0, or -1 with the error in image_store. The
 * members are set either way; call image_store_close() in both cases. A
 * missing dir with readonly is IMAGE_STORE_ENOTFOUND. */
IMAGE_STORE_API int new_image_store(bool daemon, bool readonly, const char *dir, image_store_t *image_store);

/* Releases everything the store holds. Accepts NULL and a closed store. */
IMAGE_STORE_API void image_store_close(image_store_t *image_store);

/* The last failure on this store. The message is valid until the next call. */
IMAGE_STORE_API int image_store_error_code(const image_store_t *image_store);
IMAGE_STORE_API int image_store_error_errno(const image_store_t *image_store);
IMAGE_STORE_API const char *image_store_error_name(const image_store_t *image_store);
IMAGE_STORE_API const char *image_store_error_message(const image_store_t *image_store);

/* The change token this store has caught up with: the count of committed
 * writes to the directory, by any process. After a successful mutator, the
 * token its own write published (so successes across processes are ordered). */
IMAGE_STORE_API uint64_t image_store_generation(const image_store_t *image_store);

/* The store's directory, as given to new_image_store(). */
IMAGE_STORE_API const char *image_store_dir(const image_store_t *image_store);

/* Batches, for bulk work (imports, mirroring):
 *   image_store_batch_begin(&st);          // takes the store's lock exclusively
 *   st.create(...); st.set_big_data_len(...); ...   // applied in order, in memory at once
 *   image_store_batch_commit(&st);         // one sync; returns when all is durable
 * Inside, files are staged without syncing and nothing is visible to other
 * processes; commit syncs once (syncfs), then renames everything into place,
 * new images whole. After a crash mid-batch each new image is whole or absent.
 * If a write inside failed, or commit fails, nothing of the batch reaches the
 * disk and memory is reloaded from it; so does image_store_batch_abort().
 * load() is refused inside a batch. Not nestable. */
IMAGE_STORE_API int image_store_batch_begin(image_store_t *image_store);
IMAGE_STORE_API int image_store_batch_commit(image_store_t *image_store);
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
IMAGE_STORE_API int image_store_check(image_store_t *image_store, image_store_problem **findings, size_t *len);
IMAGE_STORE_API int image_store_repair(image_store_t *image_store, image_store_problem **actions, size_t *len);

/* Hooks: user code the store calls at defined points (a Lua binding
 * installs Lua functions here; see lua/imagestore_lua_hooks.h).
 *
 * The name hook sees every name before it is stored (create, set_names,
 * add_name, remove_name: IMAGE_NAME_STORE) and every reference before it is
 * looked up (IMAGE_NAME_LOOKUP; not a full image ID, and not a reference
 * that is exactly a held name). It returns:
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
 * A hook must not call the store that called it: such a call fails EINVAL. */
typedef enum image_name_use { IMAGE_NAME_STORE, IMAGE_NAME_LOOKUP } image_name_use;

typedef enum image_event_kind {
    IMAGE_EVENT_CREATE,
    IMAGE_EVENT_DELETE,
    IMAGE_EVENT_NAMES,
    IMAGE_EVENT_BIG_DATA,
    IMAGE_EVENT_LOADED
} image_event_kind;

typedef struct image_event {
    image_event_kind kind;
    const char *id;
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
/* For hooks: adds a name (copied) to the result; 0, or -1 out of memory. */
IMAGE_STORE_API int image_hook_result_add_name(image_hook_result *result, const char *name);
/* For hooks: the message that goes with a refusal or failure (copied). */
IMAGE_STORE_API void image_hook_result_set_message(image_hook_result *result, const char *message);

typedef struct image_store_hooks {
    int (*name)(void *data, image_name_use use, const char *name, image_hook_result *result);
    int (*event)(void *data, const image_event *event, image_hook_result *result);
    void *data; /* passed to both; the store never frees it */
} image_store_hooks;

/* Installs hooks (copied; either member may be NULL); NULL removes them.
 * 0, or -1 (EINVAL) when called from inside a hook. */
IMAGE_STORE_API int image_store_set_hooks(image_store_t *image_store, const image_store_hooks *hooks);
/* True while one of the store's hooks is running. */
IMAGE_STORE_API bool image_store_in_hook(const image_store_t *image_store);

/* Release what the members return. All accept NULL. */
IMAGE_STORE_API void image_storage_images_clear(image_storage_images *image);
IMAGE_STORE_API void image_storage_images_free(image_storage_images *images, size_t len);
IMAGE_STORE_API void image_store_problems_free(image_store_problem *problems, size_t len);
IMAGE_STORE_API void image_store_strings_free(char **strings, size_t len);

/* Time helpers. timestamp_parse accepts RFC 3339 with any offset; 0 or -1. */
IMAGE_STORE_API int timestamp_parse(const char *text, timestamp *out);
/* Writes "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" (31 bytes with the NUL) to buf. */
IMAGE_STORE_API void timestamp_format(timestamp t, char buf[static 40]);
IMAGE_STORE_API timestamp timestamp_now(void);

/* "sha256:<64 hex>" of data into out (72 bytes with the NUL); 0 or -1. */
IMAGE_STORE_API int image_store_sha256(char out[static 72], const void *data, size_t len);

#endif
