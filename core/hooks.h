/* Calling the user's hooks (image_store_set_hooks) and turning what they
 * answer into the store's error codes. */
#ifndef IMAGE_HOOKS_H
#define IMAGE_HOOKS_H

#include "error.h"
#include "image_store.h"
#include "record.h"

struct image_hook_result {
    str_list names;
    char message[1024];
    bool out_of_memory;
};

typedef struct hook_slot {
    image_store_hooks hooks;
    bool installed;
    int running; /* > 0 while a hook runs: the store refuses calls then */
} hook_slot;

/* The name to store for `name`: *out is `name` itself when no hook changes
 * it, else a string owned by *holder (free with str_list_free). EINVAL when
 * the hook refuses, EHOOK when it fails. */
int hooks_store_name(hook_slot *slot, image_error *err, const char *name, const char **out,
                     str_list *holder);
/* The candidates for a reference (none: look it up as given). */
int hooks_lookup_candidates(hook_slot *slot, image_error *err, const char *ref,
                            str_list *candidates);
/* Runs the event hook; EHOOK when it fails. */
int hooks_event(hook_slot *slot, image_error *err, const image_event *event);

#endif
