#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "fs.h"
#include "image_store.h"
#include "index.h"
#include "record.h"


typedef struct scan {
    int dirfd;
    const char *dir;
    finding *items;
    size_t len, cap;
    strmap names; /* name -> the image ID holding it (keys owned by `held`) */
    str_list held;
    bool failed;  /* allocation */
} scan;

static finding *add(scan *sc, problem_kind kind, const char *entry, const char *file,
                    const char *item, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static finding *add(scan *sc, problem_kind kind, const char *entry, const char *file,
                    const char *item, const char *fmt, ...)
{
    if (sc->len == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 8;
        finding *grown = realloc(sc->items, cap * sizeof(*grown));
        if (grown == NULL) {
            sc->failed = true;
            return NULL;
        }
        sc->items = grown;
        sc->cap = cap;
    }
    finding *f = &sc->items[sc->len];
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->size = -1;
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    char *in_dir = entry ? fs_join(sc->dir, entry) : strdup(sc->dir);
    f->path = in_dir && file ? fs_join(in_dir, file) : in_dir;
    if (in_dir != f->path)
        free(in_dir);
    f->detail = strdup(detail);
    f->entry = entry ? strdup(entry) : NULL;
    f->item = item ? strdup(item) : NULL;
    if (f->path == NULL || f->detail == NULL || (entry && !f->entry) || (item && !f->item)) {
        free(f->path);
        free(f->detail);
        free(f->entry);
        free(f->item);
        sc->failed = true;
        return NULL;
    }
    sc->len++;
    return f;
}

static bool is_temp(const char *name)
{
    return strncmp(name, FS_TMP_PREFIX, strlen(FS_TMP_PREFIX)) == 0;
}

char *big_data_key_of_file(const char *file)
{
    const char *why;
    char check[256];
    char *key;
    if (file[0] != '=') {
        key = strdup(file);
    } else {
        size_t n = strlen(file + 1);
        if (n == 0 || n % 4 != 0)
            return NULL;
        key = malloc(n / 4 * 3 + 1);
        if (key == NULL || base64_decode_into(key, file + 1, n) < 0) {
            free(key);
            return NULL;
        }
    }
    /* a name is a key's only if the key maps back to exactly this name */
    if (key != NULL && (big_data_file_name_into(check, key, &why) != 0 || strcmp(check, file) != 0)) {
        free(key);
        return NULL;
    }
    return key;
}

/* Compares each recorded big-data file with the record. */
static void check_big_data(scan *sc, const char *entry, const image_record *r)
{
    for (size_t i = 0; i < r->big_data_len && !sc->failed; i++) {
        const big_data_item *b = &r->big_data[i];
        char file[256], rel[64 + 1 + 256], digest[72];
        const char *why;
        if (big_data_file_name_into(file, b->name, &why) != 0)
            continue; /* record_parse() refuses such records */
        snprintf(rel, sizeof(rel), "%s/%s", entry, file);
        char *data = NULL;
        size_t len = 0;
        image_error err;
        if (fs_read_file(sc->dirfd, sc->dir, rel, 0, &data, &len, &err) != 0) {
            struct stat st;
            if (err.sys_errno == ENOMEM)
                sc->failed = true;
            else if (err.sys_errno == ENOENT)
                add(sc, PROBLEM_BIG_DATA_MISSING, entry, file, b->name,
                    "big-data item \"%s\" is missing: its file %s is not there", b->name, file);
            else if (fstatat(sc->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
                continue; /* check_files() reports it */
            else
                add(sc, PROBLEM_UNREADABLE, entry, file, b->name,
                    "big-data item \"%s\" cannot be read: %s", b->name,
                    strerror(err.sys_errno ? err.sys_errno : EIO));
            continue;
        }
        if (digest_sha256(digest, data, len) != 0) {
            free(data);
            sc->failed = true;
            return;
        }
        free(data);
        finding *f = NULL;
        if (b->size >= 0 && (uint64_t)b->size != len)
            f = add(sc, PROBLEM_BIG_DATA_SIZE, entry, file, b->name,
                    "big-data item \"%s\" is %zu bytes; the record says %lld", b->name, len,
                    (long long)b->size);
        else if (b->digest != NULL && strcmp(b->digest, digest) != 0)
            f = add(sc, PROBLEM_BIG_DATA_DIGEST, entry, file, b->name,
                    "big-data item \"%s\" has digest %s; the record says %s", b->name, digest,
                    b->digest);
        if (f != NULL) {
            f->size = (int64_t)len;
            memcpy(f->digest, digest, sizeof(digest));
        }
    }
}

/* Files in the image directory that neither the record nor the store made,
 * and entries that are not regular files at all. */
static void check_files(scan *sc, const char *entry, const image_record *r)
{
    fs_dirent *files;
    size_t n;
    const char *failed;
    int err = fs_list_dir(sc->dirfd, entry, &files, &n, &failed);
    if (err != 0) {
        if (err == ENOMEM)
            sc->failed = true;
        else
            add(sc, PROBLEM_UNREADABLE, entry, NULL, NULL,
                "image directory %s cannot be listed: %s", entry, strerror(err));
        return;
    }
    int dfd = fs_open_beneath(sc->dirfd, entry, O_RDONLY | O_DIRECTORY, 0);
    for (size_t i = 0; i < n && !sc->failed; i++) {
        const char *name = files[i].name;
        struct stat st;
        if (is_temp(name)) {
            add(sc, PROBLEM_TEMP_FILE, entry, name, name, "leftover temporary file %s", name);
            continue;
        }
        if (dfd >= 0 && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
            add(sc, PROBLEM_NOT_FILE, entry, name, name, "%s is %s, not a file", name,
                fs_type_name(st.st_mode));
            continue;
        }
        if (strcmp(name, RECORD_FILE) == 0)
            continue;
        char *key = big_data_key_of_file(name);
        if (key == NULL || record_find_big_data(r, key) == NULL)
            add(sc, PROBLEM_ORPHAN_FILE, entry, name, name, "file %s is in no record", name);
        free(key);
    }
    if (dfd >= 0)
        close(dfd);
    fs_dirents_free(files, n);
}

static void check_names(scan *sc, const char *entry, const image_record *r)
{
    for (size_t i = 0; i < r->names.len && !sc->failed; i++) {
        const char *name = r->names.items[i];
        const char *holder = strmap_get(&sc->names, name);
        if (holder != NULL) {
            add(sc, PROBLEM_DUPLICATE_NAME, entry, RECORD_FILE, name,
                "name \"%s\" is also held by image %s", name, holder);
            continue;
        }
        if (str_list_reserve(&sc->held, 2) != 0 || str_list_append(&sc->held, name) != 0 ||
            str_list_append(&sc->held, entry) != 0 ||
            strmap_put(&sc->names, sc->held.items[sc->held.len - 2],
                       sc->held.items[sc->held.len - 1]) != 0)
            sc->failed = true;
    }
}

static void check_entry(scan *sc, const char *entry)
{
    struct stat st;
    if (is_temp(entry)) {
        add(sc, PROBLEM_TEMP_FILE, entry, NULL, entry, "leftover temporary entry %s", entry);
        return;
    }
    if (fstatat(sc->dirfd, entry, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) /* else gone since the listing */
            add(sc, PROBLEM_UNREADABLE, entry, NULL, NULL, "cannot stat %s: %s", entry,
                strerror(errno));
        return;
    }
    if (strcmp(entry, QUARANTINE_DIR) == 0 && !S_ISDIR(st.st_mode)) {
        add(sc, PROBLEM_NOT_DIRECTORY, entry, NULL, NULL,
            "%s is %s, not a directory: nothing can be quarantined until it is moved away",
            entry, fs_type_name(st.st_mode));
        return;
    }
    if (entry[0] == '.')
        return; /* the store's own files (.imagestore.*, .quarantine) */
    if (!S_ISDIR(st.st_mode)) {
        if (image_id_is_valid(entry)) /* else a plain file: not ours to judge */
            add(sc, PROBLEM_NOT_DIRECTORY, entry, NULL, NULL,
                "an image's place is taken by %s, not a directory", fs_type_name(st.st_mode));
        return;
    }
    if (!image_id_is_valid(entry)) {
        add(sc, PROBLEM_NOT_IMAGE, entry, NULL, NULL,
            "directory %s is not an image directory: the name is not a 64-hex ID", entry);
        return;
    }
    char why[512];
    image_record *r = NULL;
    problem_kind kind;
    const char *about;
    if (check_read_record(sc->dirfd, sc->dir, entry, &r, &kind, &about, why, sizeof(why)) != 0) {
        sc->failed = true;
    } else if (r == NULL) {
        add(sc, kind, entry, about, NULL, "%s", why);
    } else {
        check_big_data(sc, entry, r);
        check_files(sc, entry, r);
        check_names(sc, entry, r);
    }
    record_free(r);
}

int check_read_record(int dirfd, const char *dir, const char *id, image_record **out,
                      problem_kind *kind, const char **about, char *why, size_t why_len)
{
    char rel[64 + 1 + sizeof(RECORD_FILE)], *json = NULL;
    size_t len;
    image_error err;
    struct stat st;
    *out = NULL;
    *about = RECORD_FILE;
    snprintf(rel, sizeof(rel), "%s/%s", id, RECORD_FILE);
    if (fs_read_file(dirfd, dir, rel, 0, &json, &len, &err) != 0) {
        int e = err.sys_errno;
        if (e == ENOMEM)
            return -1;
        if (e == ENOENT) {
            *kind = PROBLEM_NO_RECORD;
            *about = NULL;
            snprintf(why, why_len, "image directory %s has no %s", id, RECORD_FILE);
        } else if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
            *kind = PROBLEM_NO_RECORD;
            snprintf(why, why_len, "%s is %s, not a file", RECORD_FILE, fs_type_name(st.st_mode));
        } else {
            *kind = PROBLEM_UNREADABLE;
            snprintf(why, why_len, "cannot read the record: %s", strerror(e ? e : EIO));
        }
        return 0;
    }
    int parsed = record_parse(out, json, len, why, why_len);
    free(json);
    if (parsed == RECORD_NOMEM)
        return -1;
    if (parsed != 0) {
        *kind = parsed == RECORD_UNSUPPORTED ? PROBLEM_UNSUPPORTED : PROBLEM_UNPARSEABLE;
        return 0;
    }
    if (strcmp((*out)->id, id) != 0) {
        *kind = PROBLEM_ID_MISMATCH;
        snprintf(why, why_len, "record id %s does not match its directory %s", (*out)->id, id);
        record_free(*out);
        *out = NULL;
    }
    return 0;
}

int check_scan(int dirfd, const char *dir, finding **out, size_t *len, image_error *err)
{
    scan sc;
    memset(&sc, 0, sizeof(sc));
    sc.dirfd = dirfd;
    sc.dir = dir;
    strmap_init(&sc.names);
    fs_dirent *entries;
    size_t n;
    const char *failed;
    int list_err = fs_list_dir(dirfd, NULL, &entries, &n, &failed);
    if (list_err != 0) {
        strmap_free(&sc.names);
        return error_sys(err, list_err, "opendir", dir);
    }
    for (size_t i = 0; i < n && !sc.failed; i++)
        check_entry(&sc, entries[i].name);
    fs_dirents_free(entries, n);
    strmap_free(&sc.names);
    str_list_free(&sc.held);
    if (sc.failed) {
        findings_free(sc.items, sc.len);
        return error_sys(err, ENOMEM, "check", dir);
    }
    *out = sc.items;
    *len = sc.len;
    return 0;
}

int check_image_files(int dirfd, const char *dir, const char *entry, const image_record *r,
                      finding **out, size_t *len, image_error *err)
{
    scan sc;
    memset(&sc, 0, sizeof(sc));
    sc.dirfd = dirfd;
    sc.dir = dir;
    sc.items = *out;
    sc.len = sc.cap = *len;
    struct stat st;
    check_big_data(&sc, entry, r);
    if (!sc.failed && fstatat(dirfd, entry, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
        check_files(&sc, entry, r);
    *out = sc.items;
    *len = sc.len;
    return sc.failed ? error_sys(err, ENOMEM, "check", dir) : 0;
}

void findings_free(finding *findings, size_t len)
{
    if (findings == NULL)
        return;
    for (size_t i = 0; i < len; i++) {
        free(findings[i].path);
        free(findings[i].detail);
        free(findings[i].entry);
        free(findings[i].item);
    }
    free(findings);
}
