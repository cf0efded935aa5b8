#include "json_tree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "text.h"

typedef struct parse_ctx {
    char *why;
    size_t why_len;
    size_t max_depth;
    bool cut_at_nul; /* a \u0000 ends its string (json_tree_parse_c_strings) */
} parse_ctx;

#define DEPTH_REASON "nested deeper than %zu levels"
#define NUL_ESCAPE_REASON "a string holds \\u0000, which this library cannot keep"

/* Writes the reason to why (text in it escaped for display); returns code. */
static int fail_as(parse_ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_as(parse_ctx *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    text_vformat_escaped(c->why, c->why_len, fmt, ap);
    va_end(ap);
    return code;
}

static int nomem(parse_ctx *c)
{
    return fail_as(c, JSON_TREE_NOMEM, "%s", "out of memory");
}

/* One linear pass before yajl sees the text, skipping strings and comments
 * (tree_parse() allows comments) the way yajl's lexer does. Refuses
 * nesting deeper than RECORD_MAX_DEPTH (yajl_tree_free() and gen_value()
 * recurse), and a \u0000 escape, which yajl decodes into a NUL that would
 * silently cut the string short. */
static int prescan(parse_ctx *c, const char *s, size_t len)
{
    size_t depth = 0;
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case '"':
            for (i++; i < len && s[i] != '"'; i++) {
                if (s[i] != '\\')
                    continue;
                if (!c->cut_at_nul && len - i > 5 && memcmp(s + i + 1, "u0000", 5) == 0)
                    return fail_as(c, JSON_TREE_UNSUPPORTED, "%s", NUL_ESCAPE_REASON);
                i++; /* the escaped character: \" and \\ end nothing */
            }
            break;
        case '/':
            if (i + 1 < len && s[i + 1] == '*') {
                const char *end = memmem(s + i + 2, len - i - 2, "*/", 2);
                i = end != NULL ? (size_t)(end - s) + 1 : len;
            } else if (i + 1 < len && s[i + 1] == '/') {
                const char *end = memchr(s + i + 2, '\n', len - i - 2);
                i = end != NULL ? (size_t)(end - s) : len;
            }
            break;
        case '[':
        case '{':
            if (++depth > c->max_depth)
                return fail_as(c, JSON_TREE_UNSUPPORTED, DEPTH_REASON, c->max_depth);
            break;
        case ']':
        case '}':
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
    }
    return 0;
}

/* ---- JSON text -> yajl tree ----
 * The tree yajl_tree_parse() builds, built through yajl_parse() callbacks:
 * yajl_tree grows each array and object one element per realloc, quadratic
 * wherever realloc copies (ASan, other allocators); here they double. Comments
 * are allowed, as yajl_tree_parse() allows them. Freed with yajl_tree_free(). */

typedef struct tree_frame {
    yajl_val v; /* the open array or object, attached when it closes */
    size_t cap; /* room in its values (and keys) */
    char *key;  /* object: the key waiting for its value */
} tree_frame;

typedef struct tree_builder {
    tree_frame *stack;
    size_t depth, cap;
    yajl_val root;
    size_t max_depth;
    bool cut_at_nul;
    int failure;        /* why a callback stopped the parse: a JSON_TREE_* code */
    const char *reason; /* with JSON_TREE_UNSUPPORTED, or JSON_TREE_INVALID (streaming) */
    /* json_tree_each_element(): the root array's elements go to each */
    json_element_fn each;
    void *each_ctx;
    size_t index;           /* of the element being read */
    size_t skipping;        /* containers still open in a bad element being skipped */
    int bad_code;           /* why the element being read cannot be kept (0: it can) */
    const char *bad_reason;
    char too_deep[64];      /* DEPTH_REASON as an element counts its depth */
} tree_builder;

#define NOT_ARRAY_REASON "not a JSON array"
#define NOT_UTF8_REASON "a string is not valid UTF-8"

/* Streaming: hands the finished element (v, or NULL for a bad one) to each,
 * then frees it; 1, or 0 to stop the parse. */
static int element_done(tree_builder *tb, yajl_val v)
{
    int rc = tb->each(tb->each_ctx, tb->index++, v, v ? 0 : tb->bad_code,
                      v ? NULL : tb->bad_reason);
    yajl_tree_free(v);
    tb->bad_code = 0;
    tb->bad_reason = NULL;
    if (rc == 0)
        return 1;
    tb->failure = rc;
    return 0;
}

/* Streaming: the element being read cannot be kept (tb->bad_code): what is
 * built of it is dropped and the rest skipped up to its end (opening: one
 * container was about to open), where each hears of it; 1, or 0 to stop. */
static int element_fails(tree_builder *tb, bool opening)
{
    if (tb->depth == 0) { /* not inside the root array at all */
        tb->failure = JSON_TREE_INVALID;
        tb->reason = NOT_ARRAY_REASON;
        return 0;
    }
    for (; tb->depth > 1; tb->skipping++) {
        tree_frame *f = &tb->stack[--tb->depth];
        free(f->key);
        yajl_tree_free(f->v);
    }
    tb->skipping += opening;
    return tb->skipping > 0 ? 1 : element_done(tb, NULL);
}

/* After a callback's allocation came back NULL: a streamed element that
 * cannot be kept goes on (element_fails()), anything else stops. */
static int text_failed(tree_builder *tb)
{
    return tb->failure == 0 && tb->bad_code != 0 ? element_fails(tb, false) : 0;
}

static yajl_val tree_node(tree_builder *tb, yajl_type type)
{
    yajl_val v = calloc(1, sizeof(*v));
    if (v == NULL)
        tb->failure = JSON_TREE_NOMEM;
    else
        v->type = type;
    return v;
}

/* Attaches v (NULL: allocation failed) to the open container, or makes it
 * the root; 1, or 0 to stop the parse. */
static int tree_add(tree_builder *tb, yajl_val v)
{
    if (v == NULL)
        return 0;
    if (tb->depth == 0) {
        if (tb->each != NULL && !YAJL_IS_ARRAY(v) && !YAJL_IS_NULL(v)) {
            yajl_tree_free(v);
            tb->failure = JSON_TREE_INVALID;
            tb->reason = NOT_ARRAY_REASON;
            return 0;
        }
        tb->root = v;
        return 1;
    }
    if (tb->each != NULL && tb->depth == 1)
        return element_done(tb, v);
    tree_frame *f = &tb->stack[tb->depth - 1];
    yajl_val c = f->v;
    bool array = YAJL_IS_ARRAY(c);
    size_t len = array ? c->u.array.len : c->u.object.len;
    if (len == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 4;
        yajl_val *values = realloc(array ? c->u.array.values : c->u.object.values,
                                   cap * sizeof(yajl_val));
        if (values != NULL && array)
            c->u.array.values = values;
        else if (values != NULL)
            c->u.object.values = values;
        const char **keys = values == NULL || array
                                ? NULL
                                : realloc((void *)c->u.object.keys, cap * sizeof(char *));
        if (values == NULL || (!array && keys == NULL)) {
            yajl_tree_free(v);
            tb->failure = JSON_TREE_NOMEM;
            return 0;
        }
        if (!array)
            c->u.object.keys = keys;
        f->cap = cap;
    }
    if (array) {
        c->u.array.values[c->u.array.len++] = v;
    } else {
        c->u.object.keys[c->u.object.len] = f->key;
        c->u.object.values[c->u.object.len++] = v;
        f->key = NULL;
    }
    return 1;
}

/* A malloc'd copy of a decoded string; NULL with tb->failure set, or,
 * streaming, with tb->bad_code for text the element cannot keep (yajl does
 * not check UTF-8 then: a bad string costs only its element). */
static char *tree_text(tree_builder *tb, const unsigned char *s, size_t len)
{
    if (tb->cut_at_nul)
        len = strnlen((const char *)s, len);
    bool nul = memchr(s, '\0', len) != NULL; /* unless streaming, prescan() refuses these first */
    if (tb->each != NULL && (nul || !text_is_utf8((const char *)s, len))) {
        tb->bad_code = nul ? JSON_TREE_UNSUPPORTED : JSON_TREE_INVALID;
        tb->bad_reason = nul ? NUL_ESCAPE_REASON : NOT_UTF8_REASON;
        return NULL;
    }
    if (nul) {
        tb->failure = JSON_TREE_UNSUPPORTED;
        tb->reason = NUL_ESCAPE_REASON;
        return NULL;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        tb->failure = JSON_TREE_NOMEM;
        return NULL;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

static int tree_null(void *ctx)
{
    tree_builder *tb = ctx;
    return tb->skipping > 0 || tree_add(tb, tree_node(tb, yajl_t_null));
}

static int tree_boolean(void *ctx, int value)
{
    tree_builder *tb = ctx;
    return tb->skipping > 0 || tree_add(tb, tree_node(tb, value ? yajl_t_true : yajl_t_false));
}

/* Keeps the text, with the integer and double readings yajl_tree gives. */
static int tree_number(void *ctx, const char *s, size_t len)
{
    tree_builder *tb = ctx;
    if (tb->skipping > 0)
        return 1;
    yajl_val v = tree_node(ctx, yajl_t_number);
    if (v == NULL)
        return 0;
    if ((v->u.number.r = tree_text(ctx, (const unsigned char *)s, len)) == NULL) {
        free(v);
        return text_failed(tb);
    }
    char *end;
    errno = 0;
    long long i = strtoll(v->u.number.r, &end, 10);
    if (errno == 0 && *end == '\0') {
        v->u.number.i = i;
        v->u.number.flags |= YAJL_NUMBER_INT_VALID;
    }
    errno = 0;
    double d = strtod(v->u.number.r, &end);
    if (errno == 0 && *end == '\0') {
        v->u.number.d = d;
        v->u.number.flags |= YAJL_NUMBER_DOUBLE_VALID;
    }
    return tree_add(ctx, v);
}

static int tree_string(void *ctx, const unsigned char *s, size_t len)
{
    tree_builder *tb = ctx;
    if (tb->skipping > 0)
        return 1;
    yajl_val v = tree_node(ctx, yajl_t_string);
    if (v == NULL)
        return 0;
    if ((v->u.string = tree_text(ctx, s, len)) == NULL) {
        free(v);
        return text_failed(tb);
    }
    return tree_add(ctx, v);
}

static int tree_key(void *ctx, const unsigned char *s, size_t len)
{
    tree_builder *tb = ctx;
    if (tb->skipping > 0)
        return 1;
    tree_frame *f = &tb->stack[tb->depth - 1];
    free(f->key); /* only set twice in a row after a failure */
    f->key = tree_text(tb, s, len);
    return f->key != NULL || text_failed(tb);
}

static int tree_open(tree_builder *tb, yajl_type type)
{
    if (tb->skipping > 0) {
        tb->skipping++;
        return 1;
    }
    if (tb->each != NULL && tb->depth == 0 && type != yajl_t_array) {
        tb->failure = JSON_TREE_INVALID;
        tb->reason = NOT_ARRAY_REASON;
        return 0;
    }
    if (tb->depth == tb->max_depth && tb->each != NULL) {
        tb->bad_code = JSON_TREE_UNSUPPORTED;
        tb->bad_reason = tb->too_deep;
        return element_fails(tb, true);
    }
    if (tb->depth == tb->max_depth) { /* prescan() refuses these first */
        tb->failure = JSON_TREE_UNSUPPORTED;
        tb->reason = "depth";
        return 0;
    }
    if (tb->depth == tb->cap) {
        size_t cap = tb->cap ? 2 * tb->cap : 16;
        tree_frame *stack = realloc(tb->stack, cap * sizeof(*stack));
        if (stack == NULL) {
            tb->failure = JSON_TREE_NOMEM;
            return 0;
        }
        tb->stack = stack;
        tb->cap = cap;
    }
    yajl_val v = tree_node(tb, type);
    if (v == NULL)
        return 0;
    tb->stack[tb->depth++] = (tree_frame){v, 0, NULL};
    return 1;
}

static int tree_start_map(void *ctx)
{
    return tree_open(ctx, yajl_t_object);
}

static int tree_start_array(void *ctx)
{
    return tree_open(ctx, yajl_t_array);
}

static int tree_close(void *ctx)
{
    tree_builder *tb = ctx;
    if (tb->skipping > 0)
        return --tb->skipping > 0 || element_done(tb, NULL);
    tree_frame f = tb->stack[--tb->depth];
    free(f.key); /* NULL in valid JSON */
    return tree_add(tb, f.v);
}

/* Parses json (len bytes) with the builder tb into *out; 0, or a
 * JSON_TREE_* code with why. */
static int tree_parse(parse_ctx *c, tree_builder *tb, const char *json, size_t len,
                      yajl_val *out)
{
    static const yajl_callbacks callbacks = {
        tree_null, tree_boolean, NULL, NULL, tree_number, tree_string, tree_start_map,
        tree_key, tree_close, tree_start_array, tree_close};
    *out = NULL;
    yajl_handle h = yajl_alloc(&callbacks, NULL, tb);
    if (h == NULL)
        return nomem(c);
    yajl_config(h, yajl_allow_comments, 1);
    if (tb->each != NULL) /* tree_text() checks each string, for its element alone */
        yajl_config(h, yajl_dont_validate_strings, 1);
    yajl_status st = yajl_parse(h, (const unsigned char *)json, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    int rc = 0;
    if (st == yajl_status_ok) {
        *out = tb->root;
    } else {
        if (tb->failure == JSON_TREE_NOMEM) {
            rc = nomem(c);
        } else if (tb->failure == JSON_TREE_UNSUPPORTED && strcmp(tb->reason, "depth") == 0) {
            rc = fail_as(c, JSON_TREE_UNSUPPORTED, DEPTH_REASON, c->max_depth);
        } else if (tb->failure == JSON_TREE_UNSUPPORTED || tb->failure == JSON_TREE_INVALID) {
            rc = fail_as(c, tb->failure, "%s", tb->reason);
        } else if (tb->failure != 0) { /* each's own code */
            rc = fail_as(c, tb->failure, "%s", "stopped");
        } else {
            unsigned char *msg = yajl_get_error(h, 0, NULL, 0);
            if (msg == NULL) {
                rc = nomem(c);
            } else {
                msg[strcspn((char *)msg, "\n")] = '\0';
                rc = fail_as(c, JSON_TREE_INVALID, "not JSON: %s", msg[0] ? (char *)msg : "parse error");
                yajl_free_error(h, msg);
            }
        }
        while (tb->depth > 0) {
            tree_frame *f = &tb->stack[--tb->depth];
            free(f->key);
            yajl_tree_free(f->v);
        }
        yajl_tree_free(tb->root);
    }
    free(tb->stack);
    yajl_free(h);
    return rc;
}

/* The checks before yajl, then the parse. */
static int parse_with(parse_ctx *c, yajl_val *out, const char *json, size_t len)
{
    int rc;
    *out = NULL;
    if (memchr(json, '\0', len) != NULL)
        return fail_as(c, JSON_TREE_INVALID, "%s", "not JSON: contains a NUL byte");
    if ((rc = prescan(c, json, len)) != 0)
        return rc;
    tree_builder tb = {.max_depth = c->max_depth, .cut_at_nul = c->cut_at_nul};
    return tree_parse(c, &tb, json, len, out);
}

int json_tree_parse(yajl_val *out, const char *json, size_t len, size_t max_depth, char *why,
                    size_t why_len)
{
    parse_ctx c = {why, why_len, max_depth, false};
    return parse_with(&c, out, json, len);
}

int json_tree_parse_c_strings(yajl_val *out, const char *json, size_t len, size_t max_depth,
                              char *why, size_t why_len)
{
    parse_ctx c = {why, why_len, max_depth, true};
    return parse_with(&c, out, json, len);
}

int json_tree_each_element(const char *json, size_t len, size_t max_depth, json_element_fn fn,
                           void *ctx, char *why, size_t why_len)
{
    parse_ctx c = {why, why_len, max_depth, false};
    if (memchr(json, '\0', len) != NULL)
        return fail_as(&c, JSON_TREE_INVALID, "%s", "not JSON: contains a NUL byte");
    /* no prescan(): the builder refuses depth and \u0000 per element */
    tree_builder tb = {.max_depth = max_depth + 1, .each = fn, .each_ctx = ctx};
    snprintf(tb.too_deep, sizeof(tb.too_deep), DEPTH_REASON, max_depth);
    yajl_val root;
    int rc = tree_parse(&c, &tb, json, len, &root);
    yajl_tree_free(root);
    return rc;
}
