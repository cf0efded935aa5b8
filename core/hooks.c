#include "hooks.h"

#include <stdio.h>
#include <string.h>

int image_hook_result_add_name(image_hook_result *result, const char *name)
{
    if (result == NULL || name == NULL)
        return -1;
    if (str_list_append(&result->names, name) != 0) {
        result->out_of_memory = true;
        return -1;
    }
    return 0;
}

void image_hook_result_set_message(image_hook_result *result, const char *message)
{
    if (result != NULL)
        snprintf(result->message, sizeof(result->message), "%s", message ? message : "");
}

static void result_init(image_hook_result *r)
{
    memset(&r->names, 0, sizeof(r->names));
    r->message[0] = '\0';
    r->out_of_memory = false;
}

static int call_name_hook(hook_slot *slot, image_error *err, image_name_use use,
                          const char *name, image_hook_result *result)
{
    result_init(result);
    slot->running++;
    int rc = slot->hooks.name(slot->hooks.data, use, name, result);
    slot->running--;
    if (rc == IMAGE_STORE_EINVAL && result->message[0] != '\0')
        rc = error_set(err, IMAGE_STORE_EINVAL, "%s", result->message); /* the hook's words */
    else if (rc == IMAGE_STORE_EINVAL)
        rc = error_set(err, IMAGE_STORE_EINVAL, "invalid %s \"%s\": refused by the name hook",
                       use == IMAGE_NAME_STORE ? "name" : "image reference", name);
    else if (rc != 0)
        rc = error_set(err, IMAGE_STORE_EHOOK, "name hook failed: %s",
                       result->message[0] ? result->message : "it returned an error");
    else if (result->out_of_memory)
        rc = error_set(err, IMAGE_STORE_EHOOK, "name hook failed: out of memory");
    if (rc != 0)
        str_list_free(&result->names);
    return rc;
}

int hooks_store_name(hook_slot *slot, image_error *err, const char *name, const char **out,
                     str_list *holder)
{
    *out = name;
    if (!slot->installed || slot->hooks.name == NULL || name == NULL)
        return 0;
    image_hook_result result;
    int rc = call_name_hook(slot, err, IMAGE_NAME_STORE, name, &result);
    if (rc != 0)
        return rc;
    if (result.names.len == 0)
        return 0;
    if (result.names.len > 1) {
        str_list_free(&result.names);
        return error_set(err, IMAGE_STORE_EHOOK,
                         "name hook failed: it gave %zu names for \"%s\"; a stored name is one",
                         result.names.len, name);
    }
    if (str_list_reserve(holder, 1) != 0) {
        str_list_free(&result.names);
        return error_set(err, IMAGE_STORE_EHOOK, "name hook failed: out of memory");
    }
    *out = holder->items[holder->len++] = result.names.items[0]; /* holder owns it now */
    result.names.len = 0;
    str_list_free(&result.names);
    return 0;
}

int hooks_lookup_candidates(hook_slot *slot, image_error *err, const char *ref,
                            str_list *candidates)
{
    memset(candidates, 0, sizeof(*candidates));
    if (!slot->installed || slot->hooks.name == NULL)
        return 0;
    image_hook_result result;
    int rc = call_name_hook(slot, err, IMAGE_NAME_LOOKUP, ref, &result);
    if (rc == 0)
        *candidates = result.names;
    return rc;
}

int hooks_event(hook_slot *slot, image_error *err, const image_event *event)
{
    if (!slot->installed || slot->hooks.event == NULL)
        return 0;
    image_hook_result result;
    result_init(&result);
    slot->running++;
    int rc = slot->hooks.event(slot->hooks.data, event, &result);
    slot->running--;
    str_list_free(&result.names);
    if (rc == 0)
        return 0;
    return error_set(err, IMAGE_STORE_EHOOK, "event hook failed: %s",
                     result.message[0] ? result.message : "it returned an error");
}
