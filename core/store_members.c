/*
 * The seed's member functions (iSulad's image module design, argument orders
 * as written there): each takes the store's lock discipline around one
 * operation of store_write.c or store_read.c (or, with additional stores,
 * store_layers.c). A writer holds the lock file
 * exclusively, catches up with other processes, runs, then publishes what it
 * changed (WRITE_OP); a reader catches up only when another process wrote
 * (READ_OP).
 */
#include <string.h>

#include "store_internal.h"

/* A mutator of an image by reference: with additional stores, one that only
 * they resolve is EREADONLY (store_layers.c). */
#define LAYERED_WRITE_OP(st, op, ref, call)                                                        \
    WRITE_OP(st, op, store_layers_refuse(s, op, ref, (call)))

/* A reader: the store itself, or the whole stack when it has additional
 * stores. */
#define LAYERED_READ_OP(st, call, layered) READ_OP(st, s->layers == NULL ? (call) : (layered))

static int m_create(const char *id, const char **names, size_t names_len, const char *layer,
                    const char *metadata, timestamp time, const char *searchable_digest,
                    image_store_t *st, image_storage_images *image)
{
    WRITE_OP(st, "create",
             store_layers_create(s, id, names, names_len, layer, metadata, time, searchable_digest,
                                 image));
}

static int m_set_names(const char *id, const char **names, size_t names_len, image_store_t *st)
{
    LAYERED_WRITE_OP(st, "set_names", id, store_op_set_names(s, id, names, names_len, false));
}

static int m_add_name(const char *id, const char *name, image_store_t *st)
{
    LAYERED_WRITE_OP(st, "add_name", id, store_op_set_names(s, id, &name, 1, true));
}

static int m_remove_name(const char *id, const char *name, image_store_t *st)
{
    LAYERED_WRITE_OP(st, "remove_name", id, store_op_remove_name(s, id, name));
}

static int m_delete(const char *id, image_store_t *st)
{
    LAYERED_WRITE_OP(st, "delete", id, store_op_delete(s, id));
}

static int m_wipe(image_store_t *st)
{
    WRITE_OP(st, "wipe", store_op_wipe(s));
}

static int m_set_loaded_time(const char *id, timestamp loaded, image_store_t *st)
{
    LAYERED_WRITE_OP(st, "set_loaded_time", id, store_op_set_loaded_time(s, id, loaded));
}

static int m_save(const image_store_t *st)
{
    WRITE_OP(st, "save", store_op_save(s));
}

static int m_set_metadata(image_store_t *st, const char *id, const char *metadata)
{
    LAYERED_WRITE_OP(st, "set_metadata", id, store_op_set_metadata(s, id, metadata));
}

static int m_set_size(image_store_t *st, const char *id, int64_t size)
{
    LAYERED_WRITE_OP(st, "set_size", id, store_op_set_size(s, id, size));
}

static int m_set_big_data_len(image_store_t *st, const char *id, const char *key,
                              const void *data, size_t len)
{
    LAYERED_WRITE_OP(st, "set_big_data", id, store_op_set_big_data(s, id, key, data, len));
}

static int m_set_big_data(image_store_t *st, const char *id, const char *key, const char *data)
{
    return m_set_big_data_len(st, id, key, data, data ? strlen(data) : 0);
}

static bool m_exists(const char *id, const image_store_t *st)
{
    store_state *s = state_of(st);
    image_record *r;
    if (s == NULL || s->dirfd < 0 || store_begin_read(s) != 0)
        return false;
    bool found = s->layers == NULL ? store_resolve(s, id, &r) == 0 : store_layers_exists(s, id);
    store_end_read(s);
    return found;
}

static int m_get(const char *id, const image_store_t *st, image_storage_images *image)
{
    LAYERED_READ_OP(st, store_op_get(s, id, image), store_layers_get(s, id, image));
}

static int m_lookup(const char *name, const image_store_t *st, char **id)
{
    LAYERED_READ_OP(st, store_op_lookup(s, name, id), store_layers_lookup(s, name, id));
}

static int m_images(const image_store_t *st, image_storage_images **images, size_t *len)
{
    LAYERED_READ_OP(st, store_op_images(s, images, len), store_layers_images(s, images, len));
}

static int m_by_digest(const image_store_t *st, const char *digest, image_storage_images **images,
                       size_t *len)
{
    LAYERED_READ_OP(st, store_op_by_digest(s, digest, images, len),
                    store_layers_by_digest(s, digest, images, len));
}

static int m_load(image_store_t *st)
{
    STATE_OR_FAIL(st);
    error_clear(&s->err);
    int rc = store_reload(s);
    if (s->layers != NULL) {
        image_error kept = s->err;
        store_layers_reload(s);
        s->err = kept;
    }
    return rc == 0 ? 0 : -1;
}

static int m_metadata(const image_store_t *st, const char *id, char **metadata)
{
    LAYERED_READ_OP(st, store_op_metadata(s, id, metadata), store_layers_metadata(s, id, metadata));
}

static int m_big_data_len(const image_store_t *st, const char *id, const char *key, char **data,
                          size_t *len)
{
    LAYERED_READ_OP(st, store_op_big_data(s, id, key, data, len),
                    store_layers_big_data(s, id, key, data, len));
}

static int m_big_data(const image_store_t *st, const char *id, const char *key, char **data)
{
    size_t len;
    return m_big_data_len(st, id, key, data, &len);
}

static int m_big_data_size(const image_store_t *st, const char *id, const char *key, int64_t *size)
{
    LAYERED_READ_OP(st, store_op_big_data_size(s, id, key, size),
                    store_layers_big_data_size(s, id, key, size));
}

static int m_big_data_digest(const image_store_t *st, const char *id, const char *key,
                             char **digest)
{
    LAYERED_READ_OP(st, store_op_big_data_digest(s, id, key, digest),
                    store_layers_big_data_digest(s, id, key, digest));
}

static int m_big_data_names(const image_store_t *st, const char *id, char ***names, size_t *len)
{
    LAYERED_READ_OP(st, store_op_big_data_names(s, id, names, len),
                    store_layers_big_data_names(s, id, names, len));
}

static int m_problems(const image_store_t *st, image_store_problem **problems, size_t *len)
{
    LAYERED_READ_OP(st, store_op_problems(s, problems, len),
                    store_layers_problems(s, problems, len));
}

void store_set_members(image_store_t *st)
{
    st->create = m_create;
    st->set_names = m_set_names;
    st->delete = m_delete;
    st->wipe = m_wipe;
    st->set_loaded_time = m_set_loaded_time;
    st->add_name = m_add_name;
    st->save = m_save;
    st->set_metadata = m_set_metadata;
    st->set_big_data = m_set_big_data;
    st->exists = m_exists;
    st->get = m_get;
    st->lookup = m_lookup;
    st->images = m_images;
    st->by_digest = m_by_digest;
    st->load = m_load;
    st->metadata = m_metadata;
    st->big_data = m_big_data;
    st->big_data_size = m_big_data_size;
    st->big_data_digest = m_big_data_digest;
    st->big_data_names = m_big_data_names;
    st->set_big_data_len = m_set_big_data_len;
    st->big_data_len = m_big_data_len;
    st->remove_name = m_remove_name;
    st->set_size = m_set_size;
    st->problems = m_problems;
}
