/*
 * JSON text -> a yajl tree (yajl_val, released with yajl_tree_free()),
 * through yajl's own parser, for text that may be hostile: nesting is
 * limited (yajl_tree_free() and any walk of the tree recurse), a \u0000
 * escape is refused rather than cut short into a C string, arrays and
 * objects grow by doubling (yajl_tree_parse() reallocs per element, which
 * is quadratic wherever realloc copies), and running out of memory is told
 * apart from bad text. Comments are allowed, as yajl_tree_parse() allows
 * them.
 *
 * json_tree_each_element() reads a top-level array one element at a time
 * (containers/storage's images.json): each element is built as a tree,
 * handed over and freed, so memory holds one element's tree at a time; an
 * element beyond the limits or holding a string that is not UTF-8 costs
 * only itself. Linear in the text.
 */
#ifndef IMAGE_JSON_TREE_H
#define IMAGE_JSON_TREE_H

#include <stddef.h>
#include <yajl/yajl_tree.h>

enum {
    JSON_TREE_INVALID = -1,     /* not JSON */
    JSON_TREE_UNSUPPORTED = -2, /* nested deeper than max_depth, or a \u0000 in a string */
    JSON_TREE_NOMEM = -3
};

/* 0 with *out set, or a JSON_TREE_* code with a sentence in why (what it
 * quotes of the text escaped for display). */
int json_tree_parse(yajl_val *out, const char *json, size_t len, size_t max_depth, char *why,
                    size_t why_len);
/* As json_tree_parse(), but a \u0000 in a string or key ends it there, as
 * in a parser that keeps C strings (yajl_tree_parse() read with strcmp and
 * strdup, as iSulad does) instead of refusing the text. */
int json_tree_parse_c_strings(yajl_val *out, const char *json, size_t len, size_t max_depth,
                              char *why, size_t why_len);

/* Called for element index of the array: with its tree (code 0; borrowed,
 * freed after the call), or with NULL, a JSON_TREE_INVALID (a string not
 * UTF-8) or JSON_TREE_UNSUPPORTED code and a sentence. Returns 0 to go on,
 * or a JSON_TREE_* code that ends the parse with it. */
typedef int (*json_element_fn)(void *ctx, size_t index, yajl_val element, int code,
                               const char *why);

/* Calls fn for each element of the array json holds, in order; max_depth
 * counts an element's own nesting (the element itself is level 1). A
 * top-level null is an array without elements. 0, or a JSON_TREE_* code
 * with a sentence in why: JSON_TREE_INVALID for text that is not JSON or
 * not an array (the elements before the fault have been handed over),
 * JSON_TREE_NOMEM, or what fn returned. */
int json_tree_each_element(const char *json, size_t len, size_t max_depth, json_element_fn fn,
                           void *ctx, char *why, size_t why_len);

#endif
