/*
 * Fuzz target: the record parser (what open does with every images.json).
 * Built with clang -fsanitize=fuzzer,address for `make fuzz`, or with
 * fuzz/replay.c as a plain program that `make check` runs over the corpus.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), why[512];
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    /* the display escaping makes anything printable UTF-8 */
    char shown[256];
    size_t n = text_escape_into(shown, sizeof(shown), text);
    if (!text_is_utf8(shown, n) || text_has_control(shown))
        abort();
    image_record *r = NULL;
    why[0] = '\0';
    int rc = record_parse(&r, text, size, why, sizeof(why));
    /* every failure is one of the three outcomes, with a printable reason */
    if (rc != 0 && ((rc != RECORD_INVALID && rc != RECORD_UNSUPPORTED && rc != RECORD_NOMEM) ||
                    r != NULL || why[0] == '\0' || !text_is_utf8(why, strlen(why)) ||
                    text_has_control(why)))
        abort();
    if (rc == 0) {
        /* what parses must write back and parse again to the same text */
        char *json = NULL, *again = NULL;
        size_t len = 0, len2 = 0;
        image_record *r2 = NULL;
        if (record_serialize(&json, &len, r) != 0 || record_parse(&r2, json, len, why, sizeof(why)) != 0 ||
            record_serialize(&again, &len2, r2) != 0 || len != len2 || memcmp(json, again, len) != 0)
            abort();
        image_record *packed = record_pack(r, NULL);
        if (packed == NULL || strcmp(packed->id, r->id) != 0)
            abort();
        record_free(packed);
        record_free(r2);
        free(json);
        free(again);
    }
    record_free(r);
    free(text);
    return 0;
}
