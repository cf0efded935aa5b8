/* UTF-8 checks and display escaping for text that came from outside. */
#ifndef IMAGE_TEXT_H
#define IMAGE_TEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Whether s[0..len) is strict UTF-8: shortest forms only, no surrogates,
 * nothing above U+10FFFF. */
bool text_is_utf8(const char *s, size_t len);
/* Length (1-4) of the valid UTF-8 character s starts with, or 0 when the
 * bytes there are not one (len: bytes available, at least 1). */
size_t text_utf8_char_len(const char *s, size_t len);
/* Whether s holds a control byte: below 0x20, or 0x7f. */
bool text_has_control(const char *s);
/* Copies s into out (size bytes, size >= 1, always NUL-terminated) for
 * display: a control character (C0, DEL and the C1 range) becomes \n, \t,
 * \r or \xNN per byte, and a byte that is not part of valid UTF-8 becomes
 * \xNN. Truncates between characters, never inside one or an escape.
 * Returns the length written. */
size_t text_escape_into(char *out, size_t size, const char *s);
/* vsnprintf into out (size bytes, at most 1024 used), then escaped as
 * text_escape_into() does: every message that quotes outside text. */
void text_vformat_escaped(char *out, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
