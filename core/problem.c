/*
 * Problem kinds and lists (problem.h), and the public problem array's free.
 */
#include "problem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *problem_kind_name(problem_kind kind)
{
    static const char *const names[] = {
        [PROBLEM_NONE] = "none",
        [PROBLEM_UNPARSEABLE] = "unparseable",
        [PROBLEM_ID_MISMATCH] = "id-mismatch",
        [PROBLEM_NO_RECORD] = "no-record",
        [PROBLEM_NOT_IMAGE] = "not-an-image",
        [PROBLEM_BIG_DATA_MISSING] = "big-data-missing",
        [PROBLEM_BIG_DATA_SIZE] = "big-data-size",
        [PROBLEM_BIG_DATA_DIGEST] = "big-data-digest",
        [PROBLEM_ORPHAN_FILE] = "orphan-file",
        [PROBLEM_DUPLICATE_NAME] = "duplicate-name",
        [PROBLEM_TEMP_FILE] = "temp-file",
        [PROBLEM_NOT_DIRECTORY] = "not-a-directory",
        [PROBLEM_NOT_FILE] = "not-a-file",
        [PROBLEM_UNREADABLE] = "unreadable",
        [PROBLEM_UNSUPPORTED] = "unsupported",
        [PROBLEM_LOCK_FILE] = "lock-file",
        [PROBLEM_DUPLICATE_ID] = "duplicate-id",
        [PROBLEM_ADDITIONAL_STORE] = "additional-store",
        [PROBLEM_QUARANTINED] = "quarantined",
        [PROBLEM_REMOVED] = "removed",
        [PROBLEM_RE_RECORDED] = "re-recorded",
        [PROBLEM_DROPPED_BIG_DATA] = "dropped-big-data",
        [PROBLEM_RECORDED_FILE] = "recorded-file",
        [PROBLEM_DROPPED_NAME] = "dropped-name",
        [PROBLEM_ISULAD_DELETE] = "isulad-delete",
        [PROBLEM_ISULAD_SKIP] = "isulad-skip",
        [PROBLEM_ISULAD_CONVERT] = "isulad-convert",
        [PROBLEM_ISULAD_MISFILED] = "isulad-misfiled",
        [PROBLEM_ISULAD_RENAME] = "isulad-rename",
        [PROBLEM_ISULAD_DROPS_FIELD] = "isulad-drops-field",
    };
    return (size_t)kind < sizeof(names) / sizeof(names[0]) && names[kind] ? names[kind] : "unknown";
}

bool problem_kind_is_unusable_dir(problem_kind kind)
{
    return kind == PROBLEM_UNPARSEABLE || kind == PROBLEM_ID_MISMATCH ||
           kind == PROBLEM_NO_RECORD || kind == PROBLEM_NOT_IMAGE || kind == PROBLEM_NOT_DIRECTORY;
}

int problem_list_add(problem_list *l, problem_kind kind, const char *path, const char *text)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        problem *grown = realloc(l->items, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        l->items = grown;
        l->cap = cap;
    }
    problem *p = &l->items[l->len];
    p->kind = kind;
    p->path = strdup(path);
    p->text = strdup(text);
    if (p->path == NULL || p->text == NULL) {
        free(p->path);
        free(p->text);
        return -1;
    }
    l->len++;
    return 0;
}

void problem_list_append_text(problem_list *l, size_t i, const char *more)
{
    char *text = NULL;
    if (asprintf(&text, "%s; %s", l->items[i].text, more) >= 0) {
        free(l->items[i].text);
        l->items[i].text = text;
    }
}

void problem_list_free(problem_list *l)
{
    for (size_t i = 0; i < l->len; i++) {
        free(l->items[i].path);
        free(l->items[i].text);
    }
    free(l->items);
    memset(l, 0, sizeof(*l));
}

int problem_list_to_public(const problem_list *l, image_store_problem **out, size_t *len)
{
    image_store_problem *copy = calloc(l->len + 1, sizeof(*copy));
    if (copy == NULL)
        return -1;
    for (size_t i = 0; i < l->len; i++) {
        copy[i].path = strdup(l->items[i].path);
        copy[i].kind = strdup(problem_kind_name(l->items[i].kind));
        copy[i].problem = strdup(l->items[i].text);
        if (copy[i].path == NULL || copy[i].kind == NULL || copy[i].problem == NULL) {
            image_store_problems_free(copy, i + 1);
            return -1;
        }
    }
    *out = copy;
    *len = l->len;
    return 0;
}

void image_store_problems_free(image_store_problem *problems, size_t len)
{
    if (problems == NULL)
        return;
    for (size_t i = 0; i < len; i++) {
        free(problems[i].path);
        free(problems[i].kind);
        free(problems[i].problem);
    }
    free(problems);
}
