/*
 * The record codec (core/record.h), the text helpers (core/text.h) and the
 * error slot's escaping (core/error.h), against hostile records: deep
 * nesting, \u0000 escapes, invalid UTF-8, huge name lists, raw control bytes
 * in messages. Prints TAP ("ok N - ...", then "1..N"); exits 1 when any test
 * failed. Frees everything, so it runs clean under ASan/LSan.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest.h"
#include "error.h"
#include "image_store.h"
#include "test_support.h"
#include "record.h"
#include "text.h"

/* ---- assertions --------------------------------------------------------- */

static bool check_str(const char *got, const char *want, const char *what)
{
    bool ok = check(got != NULL && strcmp(got, want) == 0, "%s", what);

    if (!ok) {
        diag("     got: \"%s\"", got ? got : "NULL");
        diag("expected: \"%s\"", want);
    }
    return ok;
}

/* ---- a growing text buffer ------------------------------------------------ */

typedef struct buf {
    char *data;
    size_t len, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->data = realloc(b->data, cap);
        if (b->data == NULL) {
            perror("realloc");
            exit(2);
        }
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void repeat(buf *b, const char *s, size_t times)
{
    for (size_t i = 0; i < times; i++)
        puts_(b, s);
}

static void putf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    put(b, tmp, (size_t)n);
}

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define RECORD_START "{\"id\":\"" ID "\""

/* ---- helpers ---------------------------------------------------------------- */

static int parse(const char *json, image_record **out, char *why, size_t why_len)
{
    return record_parse(out, json, strlen(json), why, why_len);
}

/* Parses, serializes, parses again and serializes again: the two texts must
 * be equal. Returns the first text (malloc'd) or NULL. */
static char *round_trip(const char *json, const char *what)
{
    image_record *r = NULL, *r2 = NULL;
    char why[512] = "", *text = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    int rc = parse(json, &r, why, sizeof(why));
    bool ok = check(rc == 0, "%s: parses", what);
    if (!ok)
        diag("rc %d: %s", rc, why);
    if (ok) {
        rc = record_serialize(&text, &len, r);
        ok = check(rc == 0, "%s: serializes", what);
        if (!ok)
            diag("rc %d", rc);
    }
    if (ok) {
        ok = record_parse(&r2, text, len, why, sizeof(why)) == 0 &&
             record_serialize(&again, &len2, r2) == 0 && len == len2 &&
             memcmp(text, again, len) == 0;
        check(ok, "%s: parses back to the same record", what);
        if (!ok)
            diag("%s", why);
    }
    record_free(r);
    record_free(r2);
    free(again);
    if (!ok) {
        free(text);
        return NULL;
    }
    return text;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- 1: deep nesting ------------------------------------------------------ */

/* RECORD_START ",\"x\":" + levels of open + levels of close + "}" */
static void nested_arrays_record(buf *b, size_t levels)
{
    b->len = 0;
    puts_(b, RECORD_START ",\"x\":");
    repeat(b, "[", levels);
    repeat(b, "]", levels);
    puts_(b, "}");
}

static void test_deep_nested_arrays_refused(void)
{
    image_record *r = NULL;
    char why[512];
    buf b = {0};

    /* 0.8 MB of nested arrays in an unknown key: once a stack overflow */
    nested_arrays_record(&b, 400000);
    int rc = parse(b.data, &r, why, sizeof(why));
    check(rc == RECORD_UNSUPPORTED && r == NULL, "0.8 MB of nested arrays: RECORD_UNSUPPORTED");
    check_str(why, "nested deeper than 1000 levels", "  with the depth in the message");
    free(b.data);
}

static void test_unterminated_nesting_refused(void)
{
    image_record *r = NULL;
    char why[512];
    buf b = {0};

    /* the same, unterminated, and as a bare top-level value */
    repeat(&b, "{\"a\":", 300000);
    int rc = parse(b.data, &r, why, sizeof(why));
    check(rc == RECORD_UNSUPPORTED, "300000 unterminated nested objects: RECORD_UNSUPPORTED");
    free(b.data);
}

static void test_nesting_limit(void)
{
    image_record *r = NULL;
    char why[512];
    buf b = {0};

    /* the limit: the record's own object is level 1 */
    for (int extra = 0; extra < 2; extra++) {
        size_t levels = RECORD_MAX_DEPTH - 1 + (size_t)extra;
        nested_arrays_record(&b, levels);
        int rc = parse(b.data, &r, why, sizeof(why));
        if (extra == 0) {
            check(rc == 0, "exactly RECORD_MAX_DEPTH levels parse");
            record_free(r);
        } else {
            check(rc == RECORD_UNSUPPORTED, "RECORD_MAX_DEPTH + 1 levels: RECORD_UNSUPPORTED");
        }
    }
    free(b.data);
}

static void test_brackets_in_strings_and_comments_are_no_nesting(void)
{
    image_record *r = NULL;
    char why[512];
    buf b = {0};

    puts_(&b, RECORD_START ",\"x\":\"");
    repeat(&b, "[{", 2000);
    puts_(&b, "\\\"\",/* ");
    repeat(&b, "[\"", 2000);
    puts_(&b, " */\"y\":1 // [[[[[[\"\n}");
    int rc = parse(b.data, &r, why, sizeof(why));
    check(rc == 0, "brackets and quotes in strings and comments do not count");
    if (rc != 0)
        diag("rc %d: %s", rc, why);
    record_free(r);
    free(b.data);
}

static void test_quote_in_comment_does_not_hide_nesting(void)
{
    image_record *r = NULL;
    char why[512];
    buf b = {0};

    puts_(&b, RECORD_START ",/* \" */\"x\":");
    repeat(&b, "[", 1500);
    repeat(&b, "]", 1500);
    puts_(&b, "}");
    int rc = parse(b.data, &r, why, sizeof(why));
    check(rc == RECORD_UNSUPPORTED, "a quote inside a comment does not hide deep nesting");
    free(b.data);
}

/* ---- 2: valid records nested deeper than yajl_gen's 128 ------------------- */

static void test_unknown_key_200_levels_deep_round_trips(void)
{
    buf b = {0}, value = {0};
    image_record *r = NULL;
    char why[512];

    repeat(&value, "[", 200);
    puts_(&value, "1.50e3");
    repeat(&value, "]", 200);
    puts_(&b, RECORD_START ",\"names\":[\"a:1\"],\"x\":");
    puts_(&b, value.data);
    puts_(&b, "}");
    int rc = parse(b.data, &r, why, sizeof(why));
    check(rc == 0, "an unknown key holding 200 levels of arrays parses");
    if (rc != 0)
        diag("rc %d: %s", rc, why);
    if (rc == 0) {
        check(r->extra_len == 1 && strcmp(r->extra_keys[0], "x") == 0 &&
                  strcmp(r->extra_values[0], value.data) == 0,
              "  and is kept as its JSON text, unchanged");
        record_free(r);
    }
    free(round_trip(b.data, "200 levels of arrays"));
    free(value.data);
    free(b.data);
}

static void test_deepest_record_round_trips(void)
{
    buf b = {0}, value = {0};
    image_record *r = NULL;
    char why[512];

    /* the deepest record allowed, objects and arrays mixed, in flags too */
    for (int i = 0; i < (RECORD_MAX_DEPTH - 2) / 2; i++)
        puts_(&value, "{\"k\":[");
    puts_(&value, "\"deep\"");
    for (int i = 0; i < (RECORD_MAX_DEPTH - 2) / 2; i++)
        puts_(&value, "]}");
    puts_(&b, RECORD_START ",\"flags\":{\"f\":");
    puts_(&b, value.data);
    puts_(&b, "},\"y\":");
    puts_(&b, value.data);
    puts_(&b, "}");
    char *text = round_trip(b.data, "RECORD_MAX_DEPTH levels of objects and arrays");
    if (text != NULL) {
        check(strstr(text, value.data) != NULL, "  with the deep value written back unchanged");
        int rc = parse(text, &r, why, sizeof(why));
        image_storage_images pub;
        check(rc == 0 && record_to_public(&pub, r, false) == 0 && pub.flags_len == 1 &&
                  pub.flags[0].kind == IMAGE_FLAG_JSON && strcmp(pub.flags[0].text, value.data) == 0,
              "  and the deep flag's public copy is its JSON text");
        if (rc == 0)
            image_storage_images_clear(&pub);
        record_free(r);
    }
    free(text);
    free(value.data);
    free(b.data);
}

/* ---- 3 and 5: outcomes, \u0000 -------------------------------------------- */

static void test_invalid_records_and_codes(void)
{
    image_record *r = NULL;
    char why[512];

    int rc = parse("{\"id\":", &r, why, sizeof(why));
    check(rc == RECORD_INVALID && strncmp(why, "not JSON: ", 10) == 0,
          "truncated JSON: RECORD_INVALID, \"not JSON: ...\"");
    rc = parse("[1]", &r, why, sizeof(why));
    check(rc == RECORD_INVALID, "an array: RECORD_INVALID");
    rc = parse(RECORD_START ",\"names\":[1]}", &r, why, sizeof(why));
    check(rc == RECORD_INVALID, "a name that is not a string: RECORD_INVALID");
    rc = record_parse(&r, RECORD_START "}\0", sizeof(RECORD_START "}"), why, sizeof(why));
    check(rc == RECORD_INVALID, "a NUL byte: RECORD_INVALID");
    check(RECORD_INVALID == -1 && RECORD_UNSUPPORTED == -2 && RECORD_NOMEM == -3,
          "the codes are -1, -2 and -3");
}

static void test_u0000_in_a_string_refused(void)
{
    image_record *r = NULL;
    char why[512];

    static const char *const holders[] = {
        RECORD_START ",\"names\":[\"a\\u0000b:1\"]}",
        RECORD_START ",\"metadata\":\"\\u0000\"}",
        RECORD_START ",\"x\":{\"k\\u0000\":1}}",
        RECORD_START ",\"x\":[\"\\\\\\u0000\"]}", /* \\ then \u0000 */
        RECORD_START ",\"flags\":{\"a\":\"x\\u0000\"}}",
    };
    for (size_t i = 0; i < sizeof(holders) / sizeof(holders[0]); i++) {
        int rc = parse(holders[i], &r, why, sizeof(why));
        check(rc == RECORD_UNSUPPORTED, "a string with \\u0000 (%zu): RECORD_UNSUPPORTED", i + 1);
        check_str(why, "a string holds \\u0000, which this library cannot keep", "  with why");
    }
}

static void test_escaped_backslash_before_u0000_parses(void)
{
    image_record *r = NULL;
    char why[512];

    /* an escaped backslash followed by the text u0000 is no \u0000 */
    int rc = parse(RECORD_START ",\"metadata\":\"\\\\u0000\",\"names\":[\"\\\\\\\\u0000x\"]}", &r,
                   why, sizeof(why));
    check(rc == 0 && r != NULL && strcmp(r->metadata, "\\u0000") == 0 &&
              strcmp(r->names.items[0], "\\\\u0000x") == 0,
          "\\\\u0000 (an escaped backslash) parses, kept whole");
    record_free(r);
}

static void test_other_u_escapes_parse(void)
{
    image_record *r = NULL;
    char why[512];

    int rc = parse(RECORD_START ",\"metadata\":\"\\u0001\\u00e9\"}", &r, why, sizeof(why));
    check(rc == 0 && strcmp(r->metadata, "\001\xc3\xa9") == 0, "other \\u escapes still parse");
    record_free(r);
}

static void test_u0000_in_a_comment_parses(void)
{
    image_record *r = NULL;
    char why[512];

    int rc = parse(RECORD_START " /* \\u0000 \"[ */}", &r, why, sizeof(why));
    check(rc == 0, "\\u0000 in a comment is no string");
    record_free(r);
}

static void test_control_characters_escaped_in_why(void)
{
    image_record *r = NULL;
    char why[512];

    /* foreign text in why is escaped */
    int rc = parse(RECORD_START ",\"digest\":\"sha256:\\u001b[31m\\n\"}", &r, why, sizeof(why));
    check(rc == RECORD_INVALID && strchr(why, '\x1b') == NULL && strchr(why, '\n') == NULL &&
              strstr(why, "\\x1b[31m\\n") != NULL,
          "control characters from the record are escaped in why");
}

/* ---- 4: UTF-8 ------------------------------------------------------------- */

static void test_text_is_utf8(void)
{
    static const struct {
        const char *s;
        bool utf8;
    } cases[] = {
        {"", true},
        {"plain ascii", true},
        {"caf\xc3\xa9", true},
        {"\xe2\x82\xac \xf0\x9f\x90\xb3 \xf4\x8f\xbf\xbf", true}, /* U+20AC, U+1F433, U+10FFFF */
        {"\xed\x9f\xbf \xee\x80\x80", true},                    /* U+D7FF, U+E000 */
        {"caf\xe9:latest", false},                               /* Latin-1 */
        {"\xc0\xaf", false},                                     /* overlong '/' */
        {"\xc1\xbf", false},                                     /* overlong */
        {"\xe0\x80\xaf", false},                                 /* overlong */
        {"\xf0\x80\x80\xaf", false},                             /* overlong */
        {"\xed\xa0\x80", false},                                 /* U+D800 */
        {"\xed\xbf\xbf", false},                                 /* U+DFFF */
        {"\xf4\x90\x80\x80", false},                             /* U+110000 */
        {"\xf5\x80\x80\x80", false},
        {"\xff", false},
        {"\x80", false},
        {"\xc3", false},         /* cut short */
        {"\xe2\x82", false},     /* cut short */
        {"\xe2\x28\xa1", false}, /* bad continuation */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check(text_is_utf8(cases[i].s, strlen(cases[i].s)) == cases[i].utf8,
              "text_is_utf8 case %zu is %s", i + 1, cases[i].utf8 ? "true" : "false");
    check(text_is_utf8("a\0b", 3), "text_is_utf8 takes a length, NUL included");
    check(!text_is_utf8("\xc3\xa9", 1), "text_is_utf8 stops at len");
}

/* Digests: each algorithm's exact hex length, lowercase only, nothing after. */
static void test_digest_is_valid(void)
{
    char hex[130], d[160];
    memset(hex, 'a', sizeof(hex) - 1);
    hex[sizeof(hex) - 1] = '\0';
    static const struct {
        const char *algorithm;
        int hex_len;
    } sizes[] = {{"sha256", 64}, {"sha384", 96}, {"sha512", 128}};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        for (int delta = -1; delta <= 1; delta++) {
            snprintf(d, sizeof(d), "%s:%.*s", sizes[i].algorithm, sizes[i].hex_len + delta, hex);
            check(digest_is_valid(d) == (delta == 0), "%s with %d hex is %s", sizes[i].algorithm,
                  sizes[i].hex_len + delta, delta == 0 ? "valid" : "invalid");
        }
    static const char *const invalid[] = {
        "", "s", "sh", "sha", "sha2", "sha256", "sha256:", "sha25:", "sha1:da39a3ee",
        "SHA256:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha256:" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha256:" "0123456789abcdeg0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha256:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde ",
        "sha256 " "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "md5:0123456789abcdef0123456789abcdef",
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        check(!digest_is_valid(invalid[i]), "digest \"%s\" is invalid", invalid[i]);
    check(digest_is_valid("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
          "every hex digit is accepted");
    check(is_lower_hex("0af9", 0) && !is_lower_hex("", 0) && !is_lower_hex("0aF9", 0),
          "is_lower_hex with len 0: any length above 0, lowercase");
    check(is_lower_hex("0af9", 4) && !is_lower_hex("0af9", 3) && !is_lower_hex("0af", 4),
          "is_lower_hex with a length: exactly that many");
}

static void test_text_has_control(void)
{
    check(!text_has_control("caf\xc3\xa9 ok"), "text_has_control: none");
    check(text_has_control("a\nb") && text_has_control("\x1b[31m") && text_has_control("\x7f") &&
              text_has_control("\t"),
          "text_has_control: newline, escape, DEL, tab");
}

static void test_serializer_refuses_what_is_not_utf8(void)
{
    /* the generator refuses what no parser would read back */
    image_record *r = NULL;
    char why[512], *json = NULL;
    size_t len = 0;
    int rc = parse(RECORD_START ",\"names\":[\"ok:1\"]}", &r, why, sizeof(why));
    if (rc == 0) {
        char bad[] = "caf\xe9:latest";
        str_list_append(&r->names, bad);
        rc = record_serialize(&json, &len, r);
        check(rc == RECORD_INVALID && json == NULL,
              "serializing a name that is not UTF-8 fails with RECORD_INVALID");
        free(json);
        json = NULL;
        str_list_remove_at(&r->names, 1);
        free(r->metadata);
        r->metadata = strdup("\xed\xa0\x80 \xff");
        rc = record_serialize(&json, &len, r);
        check(rc == RECORD_INVALID, "  and metadata that is not UTF-8 too");
        free(json);
        json = NULL;
        free(r->metadata);
        r->metadata = strdup("caf\xc3\xa9");
        rc = record_serialize(&json, &len, r);
        check(rc == 0 && strstr(json, "caf\xc3\xa9") != NULL, "  while UTF-8 is written");
        free(json);
    }
    record_free(r);
}

/* ---- 5b: what containers/storage derives (issue 16) ----------------------- */

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static void test_manifest_keys(void)
{
    check(record_is_manifest_key("manifest") && record_is_manifest_key("manifest-sha256:x") &&
              record_is_manifest_key("manifests") && record_is_manifest_key("manifestx"),
          "every key starting with \"manifest\" is a manifest");
    check(!record_is_manifest_key("Manifest") && !record_is_manifest_key("a-manifest") &&
              !record_is_manifest_key("manifes") && !record_is_manifest_key(""),
          "no other key is");
}

static void test_digest_kept_once_derived(void)
{
    image_record *r = NULL;
    char why[128];
    const char *json = "{\"id\":\"" "abababababababababababababababababababababababababababababababab"
                       "\",\"big-data-names\":[\"config\",\"manifests\",\"manifest\"],"
                       "\"big-data-digests\":{\"config\":\"" D3 "\",\"manifests\":\"" D1
                       "\",\"manifest\":\"" D2 "\"}}";
    if (!check(record_parse(&r, json, strlen(json), why, sizeof(why)) == 0, "a record without a digest parses"))
        return;
    check_str(r->digest, D1, "its digest is the first manifest's, in big-data order");
    check(r->digests.len == 2 && strcmp(r->digests.items[1], D2) == 0, "digests: both manifests, not the config");
    big_data_item *m = record_find_big_data(r, "manifests");
    free(m->digest);
    m->digest = strdup(D3);
    check(record_recompute_digests(r) == 0, "recomputed");
    check_str(r->digest, D1, "the digest stays when its manifest changes");
    check(r->digests.len == 3 && strcmp(r->digests.items[0], D1) == 0 &&
              strcmp(r->digests.items[1], D3) == 0 && strcmp(r->digests.items[2], D2) == 0,
          "digests: the kept digest, then every manifest's");
    record_free(r);
}

static void test_note_names(void)
{
    image_record *r = record_new();
    str_list names = {NULL, 0, 0};
    static const char *const first[] = {"1", "2"}, *const again[] = {"1", "2", "3", "4"};
    for (size_t i = 0; i < 2; i++)
        str_list_append(&names, first[i]);
    bool ok = r != NULL && record_note_names(r, &names) == 0 && r->names_history.len == 2 &&
              strcmp(r->names_history.items[0], "2") == 0 && strcmp(r->names_history.items[1], "1") == 0;
    check(ok, "record_note_names: each to the front in turn, the last first");
    str_list_free(&names);
    for (size_t i = 0; i < 4; i++)
        str_list_append(&names, again[i]);
    ok = ok && record_note_names(r, &names) == 0 && r->names_history.len == 4 &&
         strcmp(r->names_history.items[0], "4") == 0 && strcmp(r->names_history.items[3], "1") == 0;
    check(ok, "record_note_names: names already there move, none twice");
    str_list_free(&names);
    ok = ok && record_note_names(r, &names) == 0 && r->names_history.len == 4;
    check(ok, "record_note_names: no names, no change");
    record_free(r);
}

/* ---- 6: linear deduplication ---------------------------------------------- */

static void test_merge_unique_short_lists(void)
{
    static const char *const a_items[] = {"a", "b", "a", "c"}, *const b_items[] = {"c", "d", "b", "e"};
    str_list a = {NULL, 0, 0}, b = {NULL, 0, 0}, out = {NULL, 0, 0};
    for (size_t i = 0; i < 4; i++) {
        str_list_append(&a, a_items[i]);
        str_list_append(&b, b_items[i]);
    }
    bool ok = str_list_merge_unique(&out, &a, &b) == 0 && out.len == 5;
    static const char *const want[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; ok && i < 5; i++)
        ok = strcmp(out.items[i], want[i]) == 0;
    check(ok, "str_list_merge_unique: first then second, each once, in order");

    str_list again;
    ok = str_list_merge_unique(&again, NULL, &out) == 0 && again.len == 5 &&
         strcmp(again.items[4], "e") == 0 && again.items[4] != out.items[4];
    check(ok, "str_list_merge_unique: NULL is empty, out gets copies");
    str_list_free(&again);
    str_list_free(&out);
    str_list_free(&a);
    str_list_free(&b);
}

static void test_merge_unique_long_lists(void)
{
    /* long lists: the map path, against a quadratic reference */
    str_list big = {NULL, 0, 0}, big2 = {NULL, 0, 0}, out = {NULL, 0, 0};
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "n%d", (i * 7919) % 3001);
        str_list_append(&big, name);
        snprintf(name, sizeof(name), "n%d", (i * 104729) % 4003);
        str_list_append(&big2, name);
    }
    str_list ref = {NULL, 0, 0};
    for (size_t k = 0; k < 2; k++) {
        const str_list *src = k == 0 ? &big : &big2;
        for (size_t i = 0; i < src->len; i++)
            if (!str_list_contains(&ref, src->items[i]))
                str_list_append(&ref, src->items[i]);
    }
    bool ok = str_list_merge_unique(&out, &big, &big2) == 0 && out.len == ref.len;
    for (size_t i = 0; ok && i < ref.len; i++)
        ok = strcmp(out.items[i], ref.items[i]) == 0;
    check(ok, "str_list_merge_unique on 10000 items matches the quadratic reference (%zu)", ref.len);
    str_list_free(&ref);
    str_list_free(&big);
    str_list_free(&big2);
    str_list_free(&out);
}

/* A record with n names, n names-history entries (each twice), n / 4
 * big-data names (each twice) with sizes and digests (100 distinct). */
static void many_names_record(buf *b, int n)
{
    b->len = 0;
    puts_(b, RECORD_START ",\"names\":[");
    for (int i = 0; i < n; i++)
        putf(b, "%s\"registry.example/app%d:v%d\"", i ? "," : "", i, i % 7);
    puts_(b, "],\"names-history\":[");
    for (int i = 0; i < n; i++)
        putf(b, "%s\"old%d\"", i ? "," : "", i / 2);
    puts_(b, "],\"big-data-names\":[");
    for (int i = 0; i < n / 4; i++)
        putf(b, "%s\"manifest-%d\"", i ? "," : "", i % (n / 8));
    puts_(b, "],\"big-data-sizes\":{");
    for (int i = 0; i < n / 8; i++)
        putf(b, "%s\"manifest-%d\":%d", i ? "," : "", i, i);
    puts_(b, "},\"big-data-digests\":{");
    for (int i = 0; i < n / 8; i++)
        putf(b, "%s\"manifest-%d\":\"sha256:%064x\"", i ? "," : "", i, i % 100);
    puts_(b, "}}");
}

static void test_many_names(void)
{
    enum { N = 200000 };
    buf b = {0};
    image_record *r = NULL;
    char why[512];
    struct timespec t0;

    many_names_record(&b, N / 10);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = parse(b.data, &r, why, sizeof(why));
    double t_small = seconds_since(&t0);
    record_free(r);
    r = NULL;

    many_names_record(&b, N);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = parse(b.data, &r, why, sizeof(why));
    double t = seconds_since(&t0);
    check(rc == 0, "a record with %d names (and %d big-data items) parses", N, N / 4);
    /* timing is not asserted: linear means 10x the names take about 10x */
    diag("%zu bytes in %.3f s; a tenth of it in %.4f s (ratio %.1f)", b.len, t, t_small,
         t_small > 0 ? t / t_small : 0.0);
    if (rc == 0) {
        char last[32];
        snprintf(last, sizeof(last), "old%d", N / 2 - 1);
        check(r->names.len == N && r->names_history.len == N / 2 &&
                  strcmp(r->names_history.items[N / 2 - 1], last) == 0,
              "  names kept, history deduplicated in order");
        check(r->big_data_len == N / 8 && r->big_data[N / 8 - 1].size == N / 8 - 1 &&
                  r->big_data[3].digest != NULL,
              "  big-data deduplicated, sizes and digests found");
        check(r->digests.len == 100, "  digests deduplicated (%zu)", r->digests.len);
        char *json = NULL;
        size_t len;
        rc = record_serialize(&json, &len, r);
        check(rc == 0, "  and serializes");
        free(json);
    }
    record_free(r);
    free(b.data);
}

/* ---- 7: messages ---------------------------------------------------------- */

static void test_error_messages_escaped(void)
{
    image_error err;

    error_set(&err, IMAGE_STORE_ENOTFOUND, "image not found: \"%s\"", "caf\xc3\xa9:latest");
    check_str(err.message, "image not found: \"caf\xc3\xa9:latest\"",
              "printable UTF-8 is left as it is");
    error_set(&err, IMAGE_STORE_ENOTFOUND, "image not found: \"%s\"", "a\nb\tc\rd\x1b[2J\x7f");
    check_str(err.message, "image not found: \"a\\nb\\tc\\rd\\x1b[2J\\x7f\"",
              "control bytes are escaped");
    error_set(&err, IMAGE_STORE_EINVAL, "bad \"%s\"", "caf\xe9 \xed\xa0\x80 \xc2\x9b");
    check_str(err.message, "bad \"caf\\xe9 \\xed\\xa0\\x80 \\xc2\\x9b\"",
              "bytes that are not UTF-8 (and C1 controls) are escaped");
    error_sys(&err, 2, "open", "/tmp/x\ny");
    check(strncmp(err.message, "open /tmp/x\\ny: ", 16) == 0 && err.code == IMAGE_STORE_ESYS,
          "error_sys escapes the path");
}

static void test_long_error_messages_truncated_whole(void)
{
    image_error err;

    char name[3000];
    for (size_t i = 0; i + 2 < sizeof(name); i += 2)
        memcpy(name + i, "\xc3\xa9", 2);
    name[sizeof(name) - 1 - (sizeof(name) - 1) % 2] = '\0';
    error_set(&err, IMAGE_STORE_EINVAL, "%s", name);
    size_t len = strlen(err.message);
    check(len < sizeof(err.message) && text_is_utf8(err.message, len),
          "a long message is truncated between characters");
    memset(name, '\n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    error_set(&err, IMAGE_STORE_EINVAL, "x%s", name);
    len = strlen(err.message);
    check(len < sizeof(err.message) && len % 2 == 1 && err.message[len - 1] == 'n' &&
              !text_has_control(err.message),
          "a long escaped message is truncated between escapes");
}

static void test_text_escape_into_truncates(void)
{
    char out[8];
    text_escape_into(out, sizeof(out), "ab\ncdef");
    check_str(out, "ab\\ncde", "text_escape_into truncates to its size");
    text_escape_into(out, sizeof(out), "abcdef\xc3\xa9");
    check_str(out, "abcdef", "  never inside a character");
}

static const test_case tests[] = {
    TEST_CASE(test_deep_nested_arrays_refused),
    TEST_CASE(test_unterminated_nesting_refused),
    TEST_CASE(test_nesting_limit),
    TEST_CASE(test_brackets_in_strings_and_comments_are_no_nesting),
    TEST_CASE(test_quote_in_comment_does_not_hide_nesting),
    TEST_CASE(test_unknown_key_200_levels_deep_round_trips),
    TEST_CASE(test_deepest_record_round_trips),
    TEST_CASE(test_invalid_records_and_codes),
    TEST_CASE(test_u0000_in_a_string_refused),
    TEST_CASE(test_escaped_backslash_before_u0000_parses),
    TEST_CASE(test_other_u_escapes_parse),
    TEST_CASE(test_u0000_in_a_comment_parses),
    TEST_CASE(test_control_characters_escaped_in_why),
    TEST_CASE(test_text_is_utf8),
    TEST_CASE(test_digest_is_valid),
    TEST_CASE(test_text_has_control),
    TEST_CASE(test_serializer_refuses_what_is_not_utf8),
    TEST_CASE(test_manifest_keys),
    TEST_CASE(test_digest_kept_once_derived),
    TEST_CASE(test_note_names),
    TEST_CASE(test_merge_unique_short_lists),
    TEST_CASE(test_merge_unique_long_lists),
    TEST_CASE(test_many_names),
    TEST_CASE(test_error_messages_escaped),
    TEST_CASE(test_long_error_messages_truncated_whole),
    TEST_CASE(test_text_escape_into_truncates),
};

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN_CASES(tests);
    return tap_done();
}
