/*
 * The store's private state and the API its files share (never installed).
 *
 * The store is split by concern, each file owning one part:
 *   store.c           lifecycle (open, close, errors), batches, hooks set-up
 *   store_members.c   the seed's member functions: a lock discipline
 *                     (WRITE_OP / READ_OP) around each operation
 *   store_resolve.c   references to records, and checks of what callers give
 *   store_write.c     the write operations, each one changeset
 *   store_read.c      the read operations
 *   store_changeset.c staging edited records and files, commit, swap into memory
 *   store_load.c      reading the whole store from disk into a fresh index,
 *                     and which layout a directory holds
 *   store_sync.c      keeping up with other processes through the lock file
 *   store_cstorage.c  the containers/storage layout (read-only): its
 *                     images.json and its images.lock protocol
 *   store_layers.c    additional read-only stores below this one
 *   repair.c          daemon recovery, check() and repair()
 *   store_gc.c        store garbage collection and the usage figures
 * Every function here that can fail returns 0 or an IMAGE_STORE_E* code and
 * sets s->err.
 */
#ifndef IMAGE_STORE_INTERNAL_H
#define IMAGE_STORE_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "fs.h"
#include "hooks.h"
#include "image_store.h"
#include "index.h"
#include "lock.h"
#include "problem.h"
#include "record.h"

/* The on-disk layout a store directory holds. Everything but loading and
 * the lock protocol is shared: the index, resolving, reads, problems(). */
typedef enum store_layout {
    STORE_LAYOUT_ISULAD,   /* <dir>/<id>/images.json per image; ours */
    STORE_LAYOUT_CSTORAGE, /* containers/storage: <dir>/images.json for all; read-only */
} store_layout;

/* containers/storage's last-writer token: the first bytes of images.lock,
 * read under its lock (store_cstorage.c). */
typedef struct cstorage_token {
    enum { CSTORAGE_NO_LOCK_FILE, CSTORAGE_LOCK_UNREADABLE, CSTORAGE_TOKEN } state;
    size_t len;
    unsigned char bytes[64];
} cstorage_token;

struct image_store_state {
    char *dir;
    int dirfd;
    bool daemon;
    bool readonly;
    store_layout layout;
    struct {
        int lock_fd;         /* images.lock while a call holds its lock, else -1 */
        int kept_fd;         /* images.lock, open between calls once it exists, else -1 */
        bool classic_locks;  /* no OFD locks here: F_SETLKW */
        bool loaded;         /* memory reflects images.json as of `seen` */
        cstorage_token seen;
    } cstorage;
    image_index index;
    problem_list problems;    /* what the last load could not load */
    store_lock lock;
    uint64_t seen_generation; /* of the lock file, as far as memory reflects it */
    str_list changed;         /* IDs the current operation (or batch) wrote */
    bool changed_all;         /* ... or everything */
    bool in_batch;
    fs_txn batch;             /* the open batch's staged writes (deferred sync) */
    bool batch_failed;        /* a write inside the batch failed: commit refuses */
    int batch_errno;
    strmap batch_disk_names;  /* id -> the names its record on disk holds (store_changeset.c) */
    char batch_failure[1024];
    size_t stale;             /* records the snapshot does not vouch for */
    hook_slot hooks;
    image_error err;
    struct store_layers *layers; /* additional stores (store_layers.c), or NULL */
    bool ref_missed;             /* the last store_resolve() found nothing */
};

typedef struct image_store_state store_state;

/* What a closed store's state points at: never read or written, only told
 * apart from a store whose allocation failed (NULL). */
extern const char store_closed_marker;
#define CLOSED_STATE ((store_state *)(uintptr_t)&store_closed_marker)

static inline store_state *state_of(const image_store_t *st)
{
    return st != NULL && st->state != CLOSED_STATE ? st->state : NULL;
}

static inline int oom(store_state *s)
{
    return error_sys(&s->err, ENOMEM, "malloc", s->dir);
}

static inline int refuse_readonly(store_state *s, const char *op)
{
    if (!s->readonly)
        return 0;
    return error_set(&s->err, IMAGE_STORE_EREADONLY, "store is read-only: cannot %s", op);
}

/* ---- store_resolve.c: references and input checks ---- */

/* Resolves a reference: full ID, name, the name hook's candidates,
 * repo@digest, then unique ID prefix; ENOTFOUND, EAMBIGUOUS, EINVAL. */
int store_resolve(store_state *s, const char *ref, image_record **out);
/* EINVAL unless value (NULL allowed) is UTF-8; what names the field. */
int store_check_text(store_state *s, const char *what, const char *value);
/* EINVAL for a time RFC 3339 cannot write (outside the years 0000..9999). */
int store_check_time(store_state *s, timestamp t);
/* t as RFC 3339, malloc'd; NULL on allocation failure. */
char *store_format_time(timestamp t);
/* name as the name hook would have it stored, checked; *out is name or a
 * string owned by holder. */
int store_given_name(store_state *s, const char *name, const char **out, str_list *holder);
/* Names deduplicated in order, each checked (after the name hook). */
int store_collect_names(store_state *s, const char **names, size_t len, str_list *out);
/* A set of the strings of l (borrowed); 0 or -1. */
int store_set_of(strmap *set, const str_list *l);
/* The file name of a big-data key, into file; EINVAL for an unsafe key. */
int store_check_key(store_state *s, const char *key, char file[static 256]);

/* ---- store_changeset.c: stage, commit, swap into memory ---- */

typedef struct change {
    image_record *old;  /* NULL for a new image */
    image_record *next; /* the staged replacement (owned until published) */
} change;

typedef struct changeset {
    change items[8];
    change *more; /* when items is not enough */
    size_t len, cap;
    strmap later; /* id of old -> index + 1, for the changes in more */
    fs_txn own;   /* outside a batch */
    fs_txn *txn;  /* own, or the batch's */
} changeset;

void changeset_init(store_state *s, changeset *cs);
change *changeset_at(changeset *cs, size_t i);
/* The change for old (existing, or NULL for a new image), with a clone to
 * edit; NULL on OOM (s->err set). */
change *changeset_edit(store_state *s, changeset *cs, image_record *old);
void changeset_free(changeset *cs);
/* Stages a file in c's image directory. */
int change_stage_file(store_state *s, changeset *cs, change *c, const char *name, const void *data,
                      size_t len);
/* Stages every record, commits (outside a batch), then swaps the records
 * into memory; memory and disk are unchanged when it fails. */
int changeset_apply(store_state *s, changeset *cs);
/* Notes id among the IDs this operation (or batch) changed. */
int store_note_changed(store_state *s, const char *id);
/* At batch commit: stages each record the batch changed, once; the images
 * that gained names go last, behind a barrier (fs_txn_commit_last). */
int store_stage_batch_records(store_state *s);
/* Inside a batch: remembers r's names as its record on disk holds them
 * (the first time r is edited); 0 or ESYS (ENOMEM). */
int store_batch_note_names(store_state *s, const image_record *r);
/* Forgets what store_batch_note_names() remembered (the batch ended). */
void store_batch_names_free(store_state *s);

/* ---- store_write.c and store_read.c: the operations ---- */

int store_op_create(store_state *s, const char *id, const char **names, size_t names_len,
                    const char *layer, const char *metadata, timestamp time, const char *digest,
                    image_storage_images *out);
/* create() of the image base of the additional store from (its ID): what the
 * call leaves unset is base's, its big data and names history are copied,
 * and its names follow the given ones, taken from their holders here. */
int store_op_create_over(store_state *s, const char *id, const char **names, size_t names_len,
                         const char *layer, const char *metadata, timestamp time,
                         const char *digest, store_state *from, const image_record *base,
                         image_storage_images *out);
/* set_names (append false: replace) and add_name (append true). */
int store_op_set_names(store_state *s, const char *ref, const char **names, size_t names_len,
                       bool append);
int store_op_remove_name(store_state *s, const char *ref, const char *given);
int store_op_set_big_data(store_state *s, const char *ref, const char *key, const void *data,
                          size_t len);
int store_op_delete(store_state *s, const char *ref);
int store_op_wipe(store_state *s);
int store_op_save(store_state *s);
int store_op_set_loaded_time(store_state *s, const char *id, timestamp loaded);
int store_op_set_metadata(store_state *s, const char *id, const char *metadata);
int store_op_set_size(store_state *s, const char *id, int64_t size);

int store_op_get(store_state *s, const char *id, image_storage_images *image);
int store_op_lookup(store_state *s, const char *name, char **id);
int store_op_images(store_state *s, image_storage_images **images, size_t *len);
int store_op_by_digest(store_state *s, const char *digest, image_storage_images **images,
                       size_t *len);
int store_op_metadata(store_state *s, const char *id, char **metadata);
int store_op_big_data(store_state *s, const char *id, const char *key, char **data, size_t *len);
int store_op_big_data_size(store_state *s, const char *id, const char *key, int64_t *size);
int store_op_big_data_digest(store_state *s, const char *id, const char *key, char **digest);
int store_op_big_data_names(store_state *s, const char *id, char ***names, size_t *len);
int store_op_problems(store_state *s, image_store_problem **problems, size_t *len);

/* ---- store_load.c: reading the disk ---- */

/* Reads <name>/images.json (check_read_record()), packed into arena. An
 * unusable record is *out NULL with *why and *kind.
 * Returns -1 only when memory ran out. */
int store_read_record(store_state *s, const char *name, image_record **out, char *why,
                      size_t why_len, problem_kind *kind, record_arena *arena);
/* Builds a fresh index from the disk (with the snapshot's help); replaces
 * memory only on success. */
int store_load_all(store_state *s);
/* ELAYOUT when dirfd holds containers/storage's top-level images.json. */
int store_refuse_foreign_layout(store_state *s, int dirfd);
/* Which layout dirfd holds: containers/storage's when <dir>/images.json
 * exists (as anything: reading it judges what it is), else ours. */
int store_detect_layout(store_state *s, int dirfd, store_layout *layout);
/* Opens the layout s->dirfd holds (s->dir, s->dirfd, s->readonly and
 * s->daemon set; s->lock.fd -1) and loads it: ours under a shared lock of
 * .imagestore.lock; containers/storage's only when readonly (else ELAYOUT),
 * under its images.lock. What a constructor calls after opening the
 * directory; the caller closes s->lock and s->dirfd when it fails. */
int store_open_layout(store_state *s);
/* load(): re-reads the disk from the directory's path. */
int store_reload(store_state *s);

/* ---- store_sync.c: other processes ---- */

/* Whether more than 1/share of the records are not in the snapshot. */
bool store_snapshot_is_stale(const store_state *s, size_t share);
void store_write_snapshot(store_state *s);
/* Brings memory up to the lock file's generation. */
int store_catch_up(store_state *s);
/* Tells other processes what this operation (or batch) changed. */
void store_publish_changes(store_state *s);
/* EINVAL when called from inside one of the store's own hooks. */
int store_refuse_in_hook(store_state *s);
int store_begin_read(store_state *s);
/* After the call a successful store_begin_read() began. */
void store_end_read(store_state *s);
int store_begin_write(store_state *s, const char *op);
/* Publishes, refreshes the snapshot when stale, unlocks; 0 or -1 for rc. */
int store_end_write(store_state *s, int rc);

#define STATE_OR_FAIL(st)                                                                          \
    store_state *s = state_of(st);                                                                 \
    if (s == NULL || s->dirfd < 0 || store_refuse_in_hook(s) != 0)                                       \
    return -1

/* A mutator: lock, catch up, run `call`, publish, unlock. */
#define WRITE_OP(st, op, call)                                                                     \
    do {                                                                                           \
        STATE_OR_FAIL(st);                                                                         \
        int rc_ = store_begin_write(s, op);                                                              \
        if (rc_ != 0)                                                                              \
            return -1;                                                                             \
        return store_end_write(s, (call));                                                               \
    } while (0)

/* A reader: catch up if another process wrote, run `call`, end the read
 * (the containers/storage layout holds its lock for the whole call). */
#define READ_OP(st, call)                                                                          \
    do {                                                                                           \
        STATE_OR_FAIL(st);                                                                         \
        if (store_begin_read(s) != 0)                                                              \
            return -1;                                                                             \
        int read_rc_ = (call);                                                                     \
        store_end_read(s);                                                                         \
        return read_rc_ == 0 ? 0 : -1;                                                             \
    } while (0)

/* ---- store_cstorage.c: the containers/storage layout, read-only ---- */

/* Open: the lock protocol's state, then the first load (under the lock). */
int cstorage_open(store_state *s);
/* Takes images.lock's shared lock for one call and reloads images.json when
 * its last-writer token changed (always, with force); held until
 * cstorage_end_read(). */
int cstorage_begin_read(store_state *s, bool force);
void cstorage_end_read(store_state *s);
/* Closes images.lock (image_store_close()). */
void cstorage_close(store_state *s);
/* Reads images.json into a fresh index (the lock held); replaces memory only
 * on success. */
int cstorage_load(store_state *s);
/* load(): the directory re-opened as fd (owned: kept on success, closed on
 * failure), everything re-read. */
int cstorage_reload(store_state *s, int fd);
/* check(): a fresh read of images.json and of the image directories (the
 * lock held), as findings (check.h). */
struct finding;
int cstorage_check(store_state *s, struct finding **out, size_t *len);
/* ---- store_layers.c: additional read-only stores below this one ---- */

/* Checks and copies opts' additional stores (before anything is opened);
 * EINVAL, ESYS (ENOMEM). */
int store_layers_init(store_state *s, const image_store_options *opts);
/* Opens each additional store; what fails is a problem, never a failure. */
void store_layers_open(store_state *s);
void store_layers_close(store_state *s);
/* load(): re-reads each additional store. */
void store_layers_reload(store_state *s);
/* A mutator's result: rc, or EREADONLY when rc is ENOTFOUND for ref and an
 * additional store resolves it. */
int store_layers_refuse(store_state *s, const char *op, const char *ref, int rc);
/* create(): copies up an image an additional store holds with that ID. */
int store_layers_create(store_state *s, const char *id, const char **names, size_t names_len,
                        const char *layer, const char *metadata, timestamp time,
                        const char *digest, image_storage_images *out);
bool store_layers_exists(store_state *s, const char *ref);
int store_layers_get(store_state *s, const char *ref, image_storage_images *image);
int store_layers_lookup(store_state *s, const char *ref, char **id);
int store_layers_images(store_state *s, image_storage_images **images, size_t *len);
int store_layers_by_digest(store_state *s, const char *digest, image_storage_images **images,
                           size_t *len);
int store_layers_metadata(store_state *s, const char *ref, char **metadata);
int store_layers_big_data(store_state *s, const char *ref, const char *key, char **data,
                          size_t *len);
int store_layers_big_data_size(store_state *s, const char *ref, const char *key, int64_t *size);
int store_layers_big_data_digest(store_state *s, const char *ref, const char *key,
                                 char **digest);
int store_layers_big_data_names(store_state *s, const char *ref, char ***names, size_t *len);
int store_layers_problems(store_state *s, image_store_problem **problems, size_t *len);

/* ---- store_members.c and repair.c ---- */

void store_set_members(image_store_t *st);
/* Daemon open: clear temp entries and quarantine unusable image directories. */
void store_recover(store_state *s);

#endif
