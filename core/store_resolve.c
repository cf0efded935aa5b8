/*
 * From what callers give to what the store holds: a reference (full ID,
 * name, the name hook's candidates, repo@digest, unique ID prefix) to its
 * record, and the checks of names, text, times and big-data keys.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "text.h"
#include "store_internal.h"

/* The repository part of a name: without "@digest" and without ":tag". */
static size_t repository_length(const char *name)
{
    size_t n = strcspn(name, "@");
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++)
        if (name[i] == ':')
            colon = name + i;
        else if (name[i] == '/')
            colon = NULL;
    return colon ? (size_t)(colon - name) : n;
}

static int resolve_repo_digest(store_state *s, const char *ref, const char *at, image_record **out)
{
    const char *digest = at + 1;
    size_t repo_len = (size_t)(at - ref);
    digest_bucket *b = digest_is_valid(digest) ? strmap_get(&s->index.by_digest, digest) : NULL;
    image_record *found = NULL;
    size_t matches = 0;
    for (size_t i = 0; b != NULL && i < b->len; i++) {
        image_record *r = b->items[i];
        for (size_t j = 0; j < r->names.len; j++) {
            const char *name = r->names.items[j];
            if (repository_length(name) == repo_len && strncmp(name, ref, repo_len) == 0) {
                if (found != r)
                    matches++;
                found = r;
                break;
            }
        }
    }
    if (matches > 1)
        return error_set(&s->err, IMAGE_STORE_EAMBIGUOUS,
                         "image reference \"%s\" is ambiguous: matches %zu images", ref, matches);
    *out = found;
    return 0;
}

/* An exact name, or repo@digest; NULL when neither matches. */
static int resolve_name(store_state *s, const char *ref, image_record **out)
{
    if ((*out = strmap_get(&s->index.by_name, ref)) != NULL)
        return 0;
    const char *at = strrchr(ref, '@');
    return at != NULL && at != ref ? resolve_repo_digest(s, ref, at, out) : 0;
}

/* The name hook's candidates for ref: one image, several (EAMBIGUOUS, the
 * message lists the names that matched), or none (*out NULL). */
static int resolve_candidates(store_state *s, const char *ref, image_record **out)
{
    str_list candidates;
    int rc = hooks_lookup_candidates(&s->hooks, &s->err, ref, &candidates);
    image_record **images = NULL; /* distinct images found, in candidate order */
    size_t found = 0;
    char listed[768] = "";
    size_t used = 0;
    if (rc == 0 && candidates.len > 0 &&
        (images = malloc(candidates.len * sizeof(*images))) == NULL)
        rc = oom(s);
    for (size_t i = 0; rc == 0 && i < candidates.len; i++) {
        image_record *r;
        if ((rc = resolve_name(s, candidates.items[i], &r)) != 0 || r == NULL)
            continue;
        bool seen = false;
        for (size_t j = 0; j < found; j++)
            seen = seen || images[j] == r;
        if (seen)
            continue;
        images[found++] = r;
        int n = snprintf(listed + used, sizeof(listed) - used, "%s%s (image %.12s)",
                         used ? ", " : "", candidates.items[i], r->id);
        used = n < 0 || (size_t)n >= sizeof(listed) - used ? sizeof(listed) - 1 : used + (size_t)n;
    }
    *out = rc == 0 && found == 1 ? images[0] : NULL;
    free(images);
    str_list_free(&candidates);
    if (rc == 0 && found > 1)
        rc = error_set(&s->err, IMAGE_STORE_EAMBIGUOUS,
                       "image reference \"%s\" is ambiguous: matches %s", ref, listed);
    return rc;
}

/* Resolves a reference: full ID, name, the name hook's candidates,
 * repo@digest, then unique ID prefix. */
int store_resolve(store_state *s, const char *ref, image_record **out)
{
    image_record *r;
    *out = NULL;
    s->ref_missed = false;
    if (ref == NULL)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid image reference: NULL");
    if ((r = strmap_get(&s->index.by_id, ref)) != NULL ||
        (r = strmap_get(&s->index.by_name, ref)) != NULL) {
        *out = r;
        return 0;
    }
    int rc = resolve_candidates(s, ref, &r);
    const char *at = strrchr(ref, '@');
    if (rc == 0 && r == NULL && at != NULL && at != ref) /* the exact name missed above */
        rc = resolve_repo_digest(s, ref, at, &r);
    if (rc != 0 || r != NULL) {
        *out = r;
        return rc;
    }
    size_t len = strlen(ref);
    if (len < 64 && is_lower_hex(ref, 0)) {
        size_t first, count = sorted_ids_prefix(&s->index.sorted, ref, &first);
        if (count > 1)
            return error_set(&s->err, IMAGE_STORE_EAMBIGUOUS,
                             "image reference \"%s\" is ambiguous: matches %zu images", ref,
                             count);
        if (count == 1) {
            *out = s->index.sorted.items[first];
            return 0;
        }
    }
    s->ref_missed = true;
    return error_set(&s->err, IMAGE_STORE_ENOTFOUND, "image not found: \"%s\"", ref);
}

static int check_name(store_state *s, const char *name)
{
    if (name == NULL || name[0] == '\0')
        return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid name \"\": empty");
    if (!text_is_utf8(name, strlen(name)))
        return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid name \"%s\": not valid UTF-8", name);
    if (text_has_control(name))
        return error_set(&s->err, IMAGE_STORE_EINVAL,
                         "invalid name \"%s\": holds a control character", name);
    return 0;
}

/* What a record keeps as JSON text must be UTF-8, or no open could read it. */
int store_check_text(store_state *s, const char *what, const char *value)
{
    if (value == NULL || text_is_utf8(value, strlen(value)))
        return 0;
    return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid %s: not valid UTF-8", what);
}

int store_check_time(store_state *s, timestamp t)
{
    /* 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z: what RFC 3339 can write. */
    if (t.seconds < -62167219200LL || t.seconds > 253402300799LL || t.nanos < 0 ||
        t.nanos > 999999999)
        return error_set(&s->err, IMAGE_STORE_EINVAL,
                         "invalid time %" PRId64 ".%09d: outside the years 0000 to 9999",
                         t.seconds, (int)t.nanos);
    return 0;
}

char *store_format_time(timestamp t)
{
    char buf[40];
    timestamp_format(t, buf);
    return strdup(buf);
}

/* name as the name hook would have it stored, checked; *out is name or a
 * string owned by holder. */
int store_given_name(store_state *s, const char *name, const char **out, str_list *holder)
{
    int rc = check_name(s, name);
    if (rc == 0)
        rc = hooks_store_name(&s->hooks, &s->err, name, out, holder);
    return rc != 0 ? rc : check_name(s, *out);
}

/* Names deduplicated in order, each checked (after the name hook). */
int store_collect_names(store_state *s, const char **names, size_t len, str_list *out)
{
    str_list holder = {NULL, 0, 0};
    strmap seen;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    strmap_init(&seen);
    if (len > 0 && names == NULL)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid names: NULL list");
    for (size_t i = 0; i < len && rc == 0; i++) {
        const char *name;
        if ((rc = store_given_name(s, names[i], &name, &holder)) != 0 || strmap_get(&seen, name))
            continue;
        if (str_list_append(out, name) != 0 ||
            strmap_put(&seen, out->items[out->len - 1], out) != 0)
            rc = oom(s);
    }
    strmap_free(&seen);
    str_list_free(&holder);
    if (rc != 0)
        str_list_free(out);
    return rc;
}

/* A set of the strings of l (borrowed); 0 or -1. */
int store_set_of(strmap *set, const str_list *l)
{
    strmap_init(set);
    if (strmap_reserve(set, l->len) != 0)
        return -1;
    for (size_t i = 0; i < l->len; i++)
        strmap_put(set, l->items[i], set); /* room was made */
    return 0;
}

/* The file name of a big-data key, into file; EINVAL for an unsafe key. */
int store_check_key(store_state *s, const char *key, char file[static 256])
{
    const char *why = NULL;
    if (key == NULL)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid big-data key: NULL");
    if (!text_is_utf8(key, strlen(key)))
        return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid big-data key \"%s\": not valid UTF-8",
                         key);
    if (big_data_file_name_into(file, key, &why) == 0)
        return 0;
    return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid big-data key \"%s\": %s", key, why);
}
