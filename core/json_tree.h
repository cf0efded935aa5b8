/*
 * JSON text -> a yajl tree (yajl_val, released with yajl_tree_free()),
 * through yajl's own parser, for text that may be hostile: nesting is
 * limited (yajl_tree_free() and any walk of the tree recurse), a \u0000
 * escape is refused rather than cut short into a C string, arrays and
 * objects grow by doubling (yajl_tree_parse() reallocs per element, which
 * is quadratic wherever realloc copies), and running out of memory is told
 * apart from bad text. Comments are allowed, as yajl_tree_parse() allows
 * them.
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

#endif
