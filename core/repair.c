/*
 * Upkeep, beside check.c (which finds): a daemon open's recovery (temp
 * entries removed, unusable image directories quarantined), check(), and
 * repair() in two phases: files (quarantine, temp files), then records
 * (re-recorded sizes and digests, dropped or recorded big data, names).
 * Nothing is deleted but temp files; what cannot be an image is moved to
 * .quarantine.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "digest.h"
#include "isulad_check.h"
#include "snapshot.h"
#include "store_internal.h"

/* Moves <dir>/<rel> (an entry, or "<id>/<file>") to <dir>/.quarantine/<rel>
 * (with a numbered suffix when taken); *moved_to receives the new path.
 * Moved, never deleted. No symlink is followed on either side: the source
 * is renamed from its own parent, opened beneath the store, and
 * .quarantine (and .quarantine/<id>) must be real directories. */
static int quarantine(store_state *s, const char *rel, char **moved_to)
{
    char target[256 + 16], parent_rel[65], *qpath = fs_join(s->dir, QUARANTINE_DIR);
    const char *slash = strchr(rel, '/'), *leaf = slash ? slash + 1 : rel;
    int qfd = -1, into = -1, from = s->dirfd, rc = 0;
    *moved_to = NULL;
    if (qpath == NULL)
        return oom(s);
    if (mkdirat(s->dirfd, QUARANTINE_DIR, 0700) != 0 && errno != EEXIST)
        rc = error_sys(&s->err, errno, "mkdir", qpath);
    else if ((qfd = fs_open_beneath(s->dirfd, QUARANTINE_DIR, O_RDONLY | O_DIRECTORY, 0)) < 0)
        rc = errno == ENOTDIR || errno == ELOOP
                 ? error_set(&s->err, IMAGE_STORE_ECORRUPT,
                             "%s is not a directory; move it away so that upkeep can quarantine",
                             qpath)
                 : error_sys(&s->err, errno, "open", qpath);
    into = qfd;
    if (rc == 0 && slash != NULL) { /* a file of an image: kept under the image's ID */
        snprintf(parent_rel, sizeof(parent_rel), "%.*s", (int)(slash - rel), rel);
        if ((mkdirat(qfd, parent_rel, 0700) != 0 && errno != EEXIST) ||
            (into = fs_open_beneath(qfd, parent_rel, O_RDONLY | O_DIRECTORY, 0)) < 0)
            rc = errno == ENOTDIR || errno == ELOOP
                     ? error_set(&s->err, IMAGE_STORE_ECORRUPT, "%s/%s is not a directory", qpath,
                                 parent_rel)
                     : error_sys(&s->err, errno, "mkdir", qpath);
        else if ((from = fs_open_beneath(s->dirfd, parent_rel, O_RDONLY | O_DIRECTORY, 0)) < 0)
            rc = error_sys(&s->err, errno, "open", s->dir);
    }
    for (int n = 0; rc == 0; n++) {
        snprintf(target, sizeof(target), n ? "%s.%d" : "%s", leaf, n);
        if (renameat2(from, leaf, into, target, RENAME_NOREPLACE) == 0)
            break;
        if (errno != EEXIST || n > 1000) {
            char *path = fs_join(s->dir, rel);
            rc = error_sys(&s->err, errno, "rename", path ? path : s->dir);
            free(path);
        }
    }
    if (rc == 0) { /* durable: the entry left one directory and entered another */
        if (fsync(into) != 0 || fsync(from) != 0)
            rc = error_sys(&s->err, errno, "fsync", qpath);
        else if (slash ? asprintf(moved_to, "%s/%s/%s", qpath, parent_rel, target) < 0
                       : asprintf(moved_to, "%s/%s", qpath, target) < 0)
            *moved_to = NULL, rc = oom(s);
    }
    if (into >= 0 && into != qfd)
        close(into);
    if (qfd >= 0)
        close(qfd);
    if (from != s->dirfd && from >= 0)
        close(from);
    free(qpath);
    return rc;
}

/* Removes the .tmp- entries an interrupted write left in the store directory. */
static void remove_temp_entries(store_state *s)
{
    fs_dirent *entries;
    size_t n;
    const char *failed;
    if (fs_list_dir(s->dirfd, NULL, &entries, &n, &failed) != 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (strncmp(entries[i].name, FS_TMP_PREFIX, strlen(FS_TMP_PREFIX)) == 0)
            fs_remove_tree_at(s->dirfd, entries[i].name);
    fs_dirents_free(entries, n);
}

/* The store directory entry a path below it is in ("<dir>/<entry>[/...]"). */
static char *entry_of(const store_state *s, const char *path)
{
    size_t n = strlen(s->dir);
    if (strncmp(path, s->dir, n) != 0 || path[n] != '/')
        return NULL;
    const char *entry = path + n + 1;
    return strndup(entry, strcspn(entry, "/"));
}

/* Whether entry is (still) unusable, looked at again under the exclusive
 * lock: what load saw may have been fixed since. */
static bool still_unusable(store_state *s, const char *entry)
{
    struct stat st;
    if (entry[0] == '.' || fstatat(s->dirfd, entry, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return false;
    if (!image_id_is_valid(entry) || !S_ISDIR(st.st_mode))
        return true;
    char why[512];
    problem_kind kind = PROBLEM_NONE;
    image_record *r = NULL;
    if (store_read_record(s, entry, &r, why, sizeof(why), &kind, NULL) != 0 || r != NULL) {
        record_free(r);
        return false;
    }
    return problem_kind_is_unusable_dir(kind);
}

/* Daemon open: clear temp entries, then quarantine every image directory
 * without a valid record; problems() keeps saying what was moved, or why
 * it could not be. */
void store_recover(store_state *s)
{
    remove_temp_entries(s);
    for (size_t i = 0; i < s->problems.len; i++) {
        const problem *p = &s->problems.items[i];
        char *entry = problem_kind_is_unusable_dir(p->kind) ? entry_of(s, p->path) : NULL;
        char *moved = NULL;
        if (entry != NULL && still_unusable(s, entry)) {
            char more[1100];
            if (quarantine(s, entry, &moved) == 0)
                snprintf(more, sizeof(more), "moved to %s", moved);
            else
                snprintf(more, sizeof(more), "not moved: %s", s->err.message);
            problem_list_append_text(&s->problems, i, more);
        }
        free(moved);
        free(entry);
    }
    error_clear(&s->err);
}

/* The findings, then the problems in more (NULL: none), as the caller's list. */
static int findings_to_problems(store_state *s, const finding *f, size_t n,
                                const problem_list *more, image_store_problem **out, size_t *len)
{
    problem_list list = {NULL, 0, 0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = problem_list_add(&list, f[i].kind, f[i].path, f[i].detail);
    for (size_t i = 0; more != NULL && i < more->len && rc == 0; i++)
        rc = problem_list_add(&list, more->items[i].kind, more->items[i].path,
                              more->items[i].text);
    if (rc == 0)
        rc = problem_list_to_public(&list, out, len);
    problem_list_free(&list);
    return rc == 0 ? 0 : oom(s);
}

int image_store_check(image_store_t *image_store, image_store_problem **findings, size_t *len)
{
    return image_store_check_with(image_store, NULL, findings, len);
}

int image_store_check_with(image_store_t *image_store, const image_store_check_options *opts,
                           image_store_problem **findings, size_t *len)
{
    STATE_OR_FAIL(image_store);
    error_clear(&s->err);
    const char *registry = NULL;
    if (opts != NULL && opts->isulad) {
        registry = opts->isulad_default_registry ? opts->isulad_default_registry
                                                 : ISULAD_DEFAULT_REGISTRY;
        if (!isulad_registry_is_valid(registry)) {
            error_set(&s->err, IMAGE_STORE_EINVAL,
                      "default registry \"%s\" is not a host name iSulad accepts", registry);
            return -1;
        }
    }
    finding *f = NULL;
    size_t n = 0;
    problem_list isulad = {NULL, 0, 0};
    /* shared, so that no writer is half-way through while we look (a batch
     * already holds it exclusively) */
    bool take = !s->in_batch && s->layout == STORE_LAYOUT_ISULAD;
    int rc = take ? lock_acquire(&s->lock, false, s->dir, &s->err) : 0;
    if (rc == 0 && s->layout == STORE_LAYOUT_CSTORAGE) {
        rc = cstorage_check(s, &f, &n);
    } else if (rc == 0) {
        rc = check_scan(s->dirfd, s->dir, &f, &n, &s->err);
        if (rc == 0 && registry != NULL)
            rc = isulad_check_scan(s->dirfd, s->dir, registry, &isulad, &s->err);
        if (take)
            lock_release(&s->lock);
    }
    if (rc == 0)
        rc = findings_to_problems(s, f, n, &isulad, findings, len);
    findings_free(f, n);
    problem_list_free(&isulad);
    return rc == 0 ? 0 : -1;
}

/* The actual size and sha256 of <entry>/<file>. */
static int measure_file(store_state *s, const char *entry, const char *file, int64_t *size,
                        char digest[72])
{
    char rel[64 + 1 + 256], *data = NULL;
    size_t len;
    snprintf(rel, sizeof(rel), "%s/%s", entry, file);
    int rc = fs_read_file(s->dirfd, s->dir, rel, 0, &data, &len, &s->err);
    if (rc == 0 && digest_sha256(digest, data, len) != 0)
        rc = error_set(&s->err, IMAGE_STORE_ESYS, "sha256: OpenSSL failed");
    *size = (int64_t)len;
    free(data);
    return rc;
}

/* The action list of a repair, and the first error it met (it goes on). */
typedef struct repair_log {
    problem_list acts;
    int rc;
    image_error first;
} repair_log;

static void repair_note(store_state *s, repair_log *log, int rc, const char *path,
                        problem_kind action, const char *text)
{
    if (rc != 0) {
        if (log->rc == 0) {
            log->rc = rc;
            log->first = s->err;
        }
        return;
    }
    if (action != PROBLEM_NONE && problem_list_add(&log->acts, action, path, text) != 0 &&
        log->rc == 0) {
        log->rc = oom(s);
        log->first = s->err;
    }
}

/* Whether a file name is some big-data key's (verbatim or "=" + base64). */
static bool is_big_data_file(const char *file)
{
    char *key = big_data_key_of_file(file);
    bool is = key != NULL;
    free(key);
    return is;
}

/* Phase 1, the files: quarantine what cannot be an image or is not a file,
 * clear temp files. */
static void repair_files(store_state *s, const finding *f, size_t n, repair_log *log)
{
    for (size_t i = 0; i < n; i++) {
        char *moved = NULL, rel[64 + 1 + 256], text[1400];
        problem_kind action = PROBLEM_NONE;
        int rc = 0;
        bool entry_level = problem_kind_is_unusable_dir(f[i].kind) &&
                           f[i].entry[0] != '.'; /* never .quarantine itself */
        if (entry_level || f[i].kind == PROBLEM_NOT_FILE ||
            (f[i].kind == PROBLEM_ORPHAN_FILE && !is_big_data_file(f[i].item))) {
            if (entry_level)
                snprintf(rel, sizeof(rel), "%s", f[i].entry);
            else
                snprintf(rel, sizeof(rel), "%s/%s", f[i].entry, f[i].item);
            if ((rc = quarantine(s, rel, &moved)) == 0) {
                action = PROBLEM_QUARANTINED;
                snprintf(text, sizeof(text), "%s; moved to %s", f[i].detail, moved);
            }
        } else if (f[i].kind == PROBLEM_TEMP_FILE) {
            bool in_image = strcmp(f[i].entry, f[i].item) != 0;
            if (in_image)
                snprintf(rel, sizeof(rel), "%s/%s", f[i].entry, f[i].item);
            else
                snprintf(rel, sizeof(rel), "%s", f[i].entry);
            /* from the image directory itself, opened without symlinks */
            int dfd = in_image ? fs_open_beneath(s->dirfd, f[i].entry, O_RDONLY | O_DIRECTORY, 0)
                               : s->dirfd;
            int e = dfd < 0 ? errno : fs_remove_tree_at(dfd, in_image ? f[i].item : rel);
            if (in_image && dfd >= 0)
                close(dfd);
            if (e != 0 && e != ENOENT) {
                char *path = fs_join(s->dir, rel);
                rc = error_sys(&s->err, e, "remove", path ? path : s->dir);
                free(path);
            } else {
                action = PROBLEM_REMOVED;
                snprintf(text, sizeof(text), "removed %s", f[i].detail);
            }
        }
        repair_note(s, log, rc, f[i].path, action, text);
        free(moved);
    }
}

/* Phase 2, the records (after memory is reloaded from what phase 1 left):
 * each image's fixes in one change, all of them in one transaction. */
static void repair_records(store_state *s, const finding *f, size_t n, repair_log *log)
{
    changeset cs;
    changeset_init(s, &cs);
    size_t first_action = log->acts.len;
    for (size_t i = 0; i < n; i++) {
        image_record *r = f[i].entry ? strmap_get(&s->index.by_id, f[i].entry) : NULL;
        problem_kind action = PROBLEM_NONE;
        char text[1400];
        int rc = 0;
        if (r == NULL)
            continue;
        change *c = changeset_edit(s, &cs, r);
        if (c == NULL) {
            repair_note(s, log, IMAGE_STORE_ESYS, f[i].path, PROBLEM_NONE, NULL);
            break;
        }
        switch (f[i].kind) {
        case PROBLEM_BIG_DATA_SIZE:
        case PROBLEM_BIG_DATA_DIGEST:
            rc = record_set_big_data(c->next, f[i].item, f[i].size, f[i].digest) ? 0 : oom(s);
            action = PROBLEM_RE_RECORDED;
            snprintf(text, sizeof(text), "recorded %lld bytes and %s for \"%s\"",
                     (long long)f[i].size, f[i].digest, f[i].item);
            break;
        case PROBLEM_NOT_FILE: /* moved away in phase 1: a recorded key's file is gone now */
        case PROBLEM_BIG_DATA_MISSING: {
            char *key = f[i].kind == PROBLEM_NOT_FILE ? big_data_key_of_file(f[i].item)
                                                       : strdup(f[i].item);
            if (key != NULL && record_find_big_data(c->next, key) != NULL &&
                faccessat(s->dirfd, f[i].path + strlen(s->dir) + 1, F_OK, AT_SYMLINK_NOFOLLOW) != 0 &&
                errno == ENOENT) {
                record_remove_big_data(c->next, key);
                action = PROBLEM_DROPPED_BIG_DATA;
                snprintf(text, sizeof(text), "dropped \"%s\", whose file is gone", key);
            }
            free(key);
            break;
        }
        case PROBLEM_ORPHAN_FILE: {
            char *key = big_data_key_of_file(f[i].item), digest[72];
            int64_t size;
            if (key != NULL && (rc = measure_file(s, f[i].entry, f[i].item, &size, digest)) == 0 &&
                (rc = record_set_big_data(c->next, key, size, digest) ? 0 : oom(s)) == 0) {
                action = PROBLEM_RECORDED_FILE;
                snprintf(text, sizeof(text), "recorded %s as big-data item \"%s\"", f[i].item, key);
            }
            free(key);
            break;
        }
        case PROBLEM_DUPLICATE_NAME: /* load gave it to the first image: save that */
            action = PROBLEM_DROPPED_NAME;
            snprintf(text, sizeof(text), "dropped name \"%s\" from image %s", f[i].item, r->id);
            break;
        default:
            break;
        }
        repair_note(s, log, rc, f[i].path, action, text);
    }
    int rc = cs.len > 0 ? changeset_apply(s, &cs) : 0;
    if (rc != 0) { /* none of the record fixes happened */
        for (size_t i = first_action; i < log->acts.len; i++) {
            free(log->acts.items[i].path);
            free(log->acts.items[i].text);
        }
        log->acts.len = first_action;
        repair_note(s, log, rc, NULL, PROBLEM_NONE, NULL);
    }
    changeset_free(&cs);
}

/* Fixes what it can and lists every action it took in *out, also when it
 * ends with an error (the first one met; it goes on past it). */
static int do_repair(store_state *s, image_store_problem **out, size_t *out_len)
{
    finding *f = NULL;
    size_t n = 0;
    repair_log log;
    memset(&log, 0, sizeof(log));
    *out = NULL;
    *out_len = 0;
    int rc = check_scan(s->dirfd, s->dir, &f, &n, &s->err);
    if (rc != 0)
        return rc;
    repair_files(s, f, n, &log);
    if ((rc = store_load_all(s)) == 0)
        repair_records(s, f, n, &log);
    else
        repair_note(s, &log, rc, NULL, PROBLEM_NONE, NULL);
    findings_free(f, n);
    s->changed_all = true; /* files moved under other processes' feet: they reload */
    if (problem_list_to_public(&log.acts, out, out_len) != 0 && log.rc == 0) {
        problem_list_free(&log.acts);
        return oom(s);
    }
    problem_list_free(&log.acts);
    if (log.rc != 0)
        s->err = log.first;
    return log.rc;
}

int image_store_repair(image_store_t *image_store, image_store_problem **actions, size_t *len)
{
    if (actions != NULL && len != NULL) {
        *actions = NULL;
        *len = 0;
    }
    STATE_OR_FAIL(image_store);
    if (s->in_batch)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "cannot repair inside a batch"), -1;
    if (store_begin_write(s, "repair") != 0)
        return -1;
    return store_end_write(s, do_repair(s, actions, len));
}
