#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdio.h>
#include <unistd.h>

#include "digest.h"
#include "fs.h"
#include "image_store.h"
#include "index.h"
#include "text.h"

/* 2: stamps of record files (with size), not of directories; 3: no word for
 * "digest given at create" (a digest once set is kept, whoever set it) */
#define SNAPSHOT_MAGIC "imgstsn3"
#define HEADER_LEN (8 + 8 + 8 + 32 + 8 + 40) /* magic, count, body length, sha256(body), generation, boot id */
#define NO_STRING UINT32_MAX
/* An entry: the stamp (inode with the racy bit, mtime, ctime, size), the
 * record's length, then the record, whose first field is the id (its length
 * and 64 bytes). */
#define STAMP_WORDS 6
#define ID_AT (STAMP_WORDS * 8 + 4 + 4)

/* ---- writing ---- */

typedef struct buf {
    char *data;
    size_t len, cap;
    bool failed;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (grown == NULL) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_u32(buf *b, uint32_t v) { put(b, &v, sizeof(v)); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, sizeof(v)); }

static void put_str(buf *b, const char *s)
{
    if (s == NULL) {
        put_u32(b, NO_STRING);
        return;
    }
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    put(b, s, n);
}

static void put_list(buf *b, const str_list *l)
{
    put_u32(b, (uint32_t)l->len);
    for (size_t i = 0; i < l->len; i++)
        put_str(b, l->items[i]);
}

static void put_record(buf *b, const image_record *r)
{
    put_str(b, r->id);
    put_str(b, r->digest);
    put_list(b, &r->names);
    put_list(b, &r->names_history);
    put_str(b, r->layer);
    put_str(b, r->metadata);
    put_u32(b, (uint32_t)r->big_data_len);
    for (size_t i = 0; i < r->big_data_len; i++) {
        put_str(b, r->big_data[i].name);
        put_u64(b, (uint64_t)r->big_data[i].size);
        put_str(b, r->big_data[i].digest);
    }
    put_str(b, r->created);
    put_str(b, r->loaded);
    put_u64(b, (uint64_t)r->size);
    put_str(b, r->flags_json);
    put_u32(b, (uint32_t)r->extra_len);
    for (size_t i = 0; i < r->extra_len; i++) {
        put_str(b, r->extra_keys[i]);
        put_str(b, r->extra_values[i]);
    }
}

/* The kernel's boot id: a change token from before a reboot means nothing. */
static void read_boot_id(char out[40])
{
    memset(out, 0, 40);
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, out, 39);
        close(fd);
        if (n > 0 && out[n - 1] == '\n')
            out[n - 1] = '\0';
    }
}

static void put_stamp(buf *b, const struct stat *st, bool racy)
{
    put_u64(b, (uint64_t)st->st_ino | (racy ? 1ULL << 63 : 0));
    put_u64(b, (uint64_t)st->st_mtim.tv_sec);
    put_u64(b, (uint64_t)st->st_mtim.tv_nsec);
    put_u64(b, (uint64_t)st->st_ctim.tv_sec);
    put_u64(b, (uint64_t)st->st_ctim.tv_nsec);
    put_u64(b, (uint64_t)st->st_size);
}

int snapshot_write(int dirfd, const char *dir, image_record *const *records, size_t n,
                   uint64_t generation, image_error *err)
{
    buf b = {0};
    char header[HEADER_LEN] = SNAPSHOT_MAGIC;
    put(&b, header, sizeof(header)); /* filled in below */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t count = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        char rel[64 + 1 + sizeof(RECORD_FILE)];
        snprintf(rel, sizeof(rel), "%s/%s", records[i]->id, RECORD_FILE);
        if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue; /* not on disk (yet): nothing to vouch for */
        bool racy = st.st_ctim.tv_sec >= now.tv_sec - 1 || st.st_mtim.tv_sec >= now.tv_sec - 1;
        put_stamp(&b, &st, racy);
        size_t at = b.len;
        put_u32(&b, 0); /* the record's length, patched below */
        put_record(&b, records[i]);
        if (!b.failed) {
            uint32_t len = (uint32_t)(b.len - at - 4);
            memcpy(b.data + at, &len, 4);
        }
        count++;
    }
    if (b.failed) {
        free(b.data);
        return error_sys(err, ENOMEM, "malloc", dir);
    }
    uint64_t body_len = b.len - HEADER_LEN;
    char digest[72];
    memcpy(b.data + 8, &count, 8);
    memcpy(b.data + 16, &body_len, 8);
    memcpy(b.data + 56, &generation, 8);
    read_boot_id(b.data + 64);
    if (digest_sha256(digest, b.data + HEADER_LEN, body_len) != 0) {
        free(b.data);
        return error_set(err, IMAGE_STORE_ESYS, "sha256: OpenSSL failed");
    }
    for (int i = 0; i < 32; i++) { /* raw bytes from the hex */
        unsigned hi = (unsigned)(digest[7 + 2 * i] <= '9' ? digest[7 + 2 * i] - '0' : digest[7 + 2 * i] - 'a' + 10);
        unsigned lo = (unsigned)(digest[8 + 2 * i] <= '9' ? digest[8 + 2 * i] - '0' : digest[8 + 2 * i] - 'a' + 10);
        b.data[24 + i] = (char)(hi << 4 | lo);
    }
    int rc = fs_write_file(dirfd, dir, SNAPSHOT_FILE, b.data, b.len, err);
    free(b.data);
    return rc;
}

/* ---- reading ---- */

typedef struct reader {
    const char *p, *end;
    bool bad;
} reader;

static void get(reader *r, void *out, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p, n);
    r->p += n;
}

static uint32_t get_u32(reader *r) { uint32_t v; get(r, &v, sizeof(v)); return v; }
static uint64_t get_u64(reader *r) { uint64_t v; get(r, &v, sizeof(v)); return v; }

/* Lays a record out in one block: a first pass with base NULL measures, the
 * second copies (as record_pack() does, straight from the snapshot bytes). */
typedef struct layout {
    char *base;
    size_t used;
} layout;

static void *lay(layout *l, size_t n, size_t align)
{
    l->used = (l->used + align - 1) & ~(align - 1);
    void *p = l->base ? l->base + l->used : NULL;
    l->used += n;
    return p;
}

static char *lay_str(layout *l, reader *r)
{
    uint32_t n = get_u32(r);
    if (r->bad || n == NO_STRING)
        return NULL;
    if ((size_t)(r->end - r->p) < n || memchr(r->p, '\0', n) != NULL || !text_is_utf8(r->p, n)) {
        r->bad = true;
        return NULL;
    }
    char *s = lay(l, (size_t)n + 1, 1);
    if (s != NULL) {
        memcpy(s, r->p, n);
        s[n] = '\0';
    }
    r->p += n;
    return s;
}

static void lay_list(layout *l, reader *r, str_list *out)
{
    uint32_t n = get_u32(r);
    if (r->bad || n > (size_t)(r->end - r->p) / 4) {
        r->bad = true;
        return;
    }
    out->items = lay(l, n * sizeof(char *), sizeof(char *));
    out->len = out->cap = n;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        char *s = lay_str(l, r);
        if (out->items != NULL)
            out->items[i] = s;
    }
}

/* One pass over an entry's record bytes; d is filled when l->base is set. */
static void walk_record(reader *r, layout *l, image_record *d)
{
    lay(l, sizeof(image_record), sizeof(void *));
    d->packed = true;
    d->size = -1;
    d->id = lay_str(l, r);
    d->digest = lay_str(l, r);
    lay_list(l, r, &d->names);
    lay_list(l, r, &d->names_history);
    d->layer = lay_str(l, r);
    d->metadata = lay_str(l, r);
    uint32_t n = get_u32(r);
    if (r->bad || n > (size_t)(r->end - r->p) / 16) {
        r->bad = true;
        return;
    }
    d->big_data = lay(l, n * sizeof(big_data_item), sizeof(void *));
    d->big_data_len = n;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        char *name = lay_str(l, r);
        int64_t size = (int64_t)get_u64(r);
        char *digest = lay_str(l, r);
        if (d->big_data != NULL)
            d->big_data[i] = (big_data_item){name, size, digest};
    }
    d->created = lay_str(l, r);
    d->loaded = lay_str(l, r);
    d->size = (int64_t)get_u64(r);
    d->flags_json = lay_str(l, r);
    n = get_u32(r);
    if (r->bad || n > (size_t)(r->end - r->p) / 8) {
        r->bad = true;
        return;
    }
    d->extra_keys = lay(l, n * sizeof(char *), sizeof(char *));
    d->extra_values = lay(l, n * sizeof(char *), sizeof(char *));
    d->extra_len = n;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        char *k = lay_str(l, r), *v = lay_str(l, r);
        if (d->extra_keys != NULL) {
            d->extra_keys[i] = k;
            d->extra_values[i] = v;
        }
    }
    d->digests.items = lay(l, (d->big_data_len + 1) * sizeof(char *), sizeof(char *));
}

/* The rules record_parse() applies, for a record that came from the snapshot:
 * it is a file in the store, as open to tampering as any images.json. */
static bool record_is_sound(image_record *d)
{
    if (!image_id_is_valid(d->id) || (d->digest && !digest_is_valid(d->digest)) || d->size < -1)
        return false;
    for (size_t i = 0; i < d->names.len; i++)
        if (d->names.items[i] == NULL || d->names.items[i][0] == '\0')
            return false;
    for (size_t i = 0; i < d->names_history.len; i++)
        if (d->names_history.items[i] == NULL)
            return false;
    for (size_t i = 0; i < d->big_data_len; i++) {
        big_data_item *b = &d->big_data[i];
        const char *why;
        char file[256];
        if (b->name == NULL || big_data_file_name_into(file, b->name, &why) != 0 || b->size < -1 ||
            (b->digest && !digest_is_valid(b->digest)))
            return false;
    }
    for (size_t i = 0; i < d->extra_len; i++)
        if (d->extra_keys[i] == NULL || d->extra_values[i] == NULL)
            return false;
    /* digests: pointers to strings already in the block */
    d->digests.len = 0;
    if (d->digest != NULL)
        d->digests.items[d->digests.len++] = d->digest;
    /* A set only when there are many (a tampered entry may list thousands):
     * open decodes every record here, and most have a manifest or two. */
    strmap seen;
    bool many = d->big_data_len > 16;
    strmap_init(&seen);
    if (many && strmap_reserve(&seen, d->big_data_len + 1) != 0)
        return false;
    if (many && d->digests.len > 0)
        strmap_put(&seen, d->digest, d);
    for (size_t i = 0; i < d->big_data_len; i++) {
        const big_data_item *b = &d->big_data[i];
        if (b->digest == NULL || !record_is_manifest_key(b->name) ||
            (many ? strmap_get(&seen, b->digest) != NULL : str_list_contains(&d->digests, b->digest)))
            continue;
        if (many)
            strmap_put(&seen, b->digest, d); /* room was made */
        d->digests.items[d->digests.len++] = b->digest;
    }
    strmap_free(&seen);
    d->digests.cap = d->digests.len;
    if (d->digest == NULL && d->digests.len > 0) /* record_recompute_digests()'s rule */
        d->digest = d->digests.items[0];
    return true;
}

static image_record *decode_record(const char *p, size_t len, record_arena *arena)
{
    image_record measured;
    memset(&measured, 0, sizeof(measured));
    layout l = {NULL, 0};
    reader r = {p, p + len, false};
    walk_record(&r, &l, &measured);
    if (r.bad || r.p != r.end)
        return NULL;
    record_chunk *chunk;
    layout fill = {record_block_alloc(arena, l.used, &chunk), 0};
    if (fill.base == NULL)
        return NULL;
    image_record *d = (image_record *)(void *)fill.base;
    memset(d, 0, sizeof(*d)); /* the walk sets every other byte it uses */
    d->chunk = chunk;
    reader again = {p, p + len, false};
    walk_record(&again, &fill, d);
    if (again.bad || !record_is_sound(d)) {
        d->packed = true;
        record_free(d);
        return NULL;
    }
    return d;
}

snapshot *snapshot_read(int dirfd, const char *dir)
{
    snapshot *snap = calloc(1, sizeof(*snap));
    if (snap == NULL)
        return NULL;
    /* Read, not mapped: a mapping would die of SIGBUS if someone truncated
     * the file while we decode it. */
    image_error err;
    if (fs_read_file(dirfd, dir, SNAPSHOT_FILE, 0, &snap->data, &snap->len, &err) != 0 ||
        snap->len < HEADER_LEN)
        goto bad;
    if (memcmp(snap->data, SNAPSHOT_MAGIC, 8) != 0)
        goto bad;
    uint64_t count, body_len;
    memcpy(&count, snap->data + 8, 8);
    memcpy(&body_len, snap->data + 16, 8);
    if (body_len != snap->len - HEADER_LEN || count > body_len / 64)
        goto bad;
    char boot_id[40];
    read_boot_id(boot_id);
    memcpy(&snap->generation, snap->data + 56, 8);
    memcpy(snap->boot_id, snap->data + 64, 40);
    snap->boot_id[39] = '\0';
    if (strcmp(boot_id, snap->boot_id) != 0)
        snap->generation = UINT64_MAX; /* written before a reboot: never "current" */
    char digest[72];
    if (digest_sha256(digest, snap->data + HEADER_LEN, body_len) != 0)
        goto bad;
    for (int i = 0; i < 32; i++) {
        static const char hex[] = "0123456789abcdef";
        unsigned char c = (unsigned char)snap->data[24 + i];
        if (digest[7 + 2 * i] != hex[c >> 4] || digest[8 + 2 * i] != hex[c & 15])
            goto bad;
    }
    if ((snap->entries = calloc((size_t)count + 1, sizeof(size_t))) == NULL)
        goto bad;
    reader r = {snap->data + HEADER_LEN, snap->data + snap->len, false};
    for (uint64_t i = 0; i < count; i++) {
        size_t at = (size_t)(r.p - snap->data);
        uint64_t stamp[STAMP_WORDS];
        get(&r, stamp, sizeof(stamp));
        uint32_t len = get_u32(&r);
        reader peek = r; /* the id is the record's first string */
        uint32_t n = get_u32(&peek);
        if (r.bad || n != 64 || (size_t)(r.end - r.p) < len || len < 68)
            goto bad;
        /* entries are written in ID order: that makes lookups a merge. An entry
         * is the stamp (STAMP_WORDS * 8 bytes), the record length (4), then the record,
         * whose first field is the id: its length (4) and 64 bytes. */
        if (i > 0 && memcmp(snap->data + snap->entries[i - 1] + ID_AT, r.p + 4, 64) >= 0)
            goto bad;
        snap->entries[i] = at;
        r.p += len;
    }
    if (r.p != r.end)
        goto bad;
    snap->count = (size_t)count;
    return snap;
bad:
    snapshot_free(snap);
    return NULL;
}

image_record *snapshot_take(snapshot *snap, const char *id, const struct stat *st,
                            uint64_t generation, record_arena *arena)
{
    /* Callers ask in ID order, so the cursor only moves forward; a binary
     * search serves anyone who does not. */
    size_t lo = 0, hi = snap->count;
    if (snap->cursor < snap->count &&
        memcmp(snap->data + snap->entries[snap->cursor] + ID_AT, id, 64) <= 0)
        lo = snap->cursor;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (memcmp(snap->data + snap->entries[mid] + ID_AT, id, 64) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    snap->cursor = lo;
    if (lo == snap->count || memcmp(snap->data + snap->entries[lo] + ID_AT, id, 64) != 0)
        return NULL;
    reader r = {snap->data + snap->entries[lo], snap->data + snap->len, false};
    uint64_t ino = get_u64(&r), ms = get_u64(&r), mns = get_u64(&r), cs = get_u64(&r),
             cns = get_u64(&r), size = get_u64(&r);
    uint32_t len = get_u32(&r);
    bool racy = (ino >> 63) != 0;
    ino &= ~(1ULL << 63);
    if (racy && generation != snap->generation)
        return NULL;
    if (ino != (uint64_t)st->st_ino || ms != (uint64_t)st->st_mtim.tv_sec ||
        mns != (uint64_t)st->st_mtim.tv_nsec || cs != (uint64_t)st->st_ctim.tv_sec ||
        cns != (uint64_t)st->st_ctim.tv_nsec || size != (uint64_t)st->st_size)
        return NULL;
    image_record *rec = decode_record(r.p, len, arena);
    if (rec != NULL && strcmp(rec->id, id) != 0) {
        record_free(rec);
        return NULL;
    }
    return rec;
}

void snapshot_free(snapshot *snap)
{
    if (snap == NULL)
        return;
    free(snap->entries);
    free(snap->data);
    free(snap);
}
