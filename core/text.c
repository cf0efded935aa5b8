#include "text.h"

#include <stdio.h>
#include <string.h>

size_t text_utf8_char_len(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0; /* continuation byte, overlong lead (c0, c1), or above U+10FFFF */
    if (c == 0xe0)
        lo = 0xa0; /* overlong */
    else if (c == 0xed)
        hi = 0x9f; /* surrogates */
    else if (c == 0xf0)
        lo = 0x90; /* overlong */
    else if (c == 0xf4)
        hi = 0x8f; /* above U+10FFFF */
    if (len < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

bool text_is_utf8(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if ((unsigned char)s[i] < 0x80) { /* fast path for ASCII */
            i++;
            continue;
        }
        size_t n = text_utf8_char_len(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

bool text_has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

size_t text_escape_into(char *out, size_t size, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t len = strlen(s), o = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = text_utf8_char_len(s + i, len - i);
        /* C1 controls (U+0080..U+009F) are c2 80..c2 9f */
        bool control = c < 0x20 || c == 0x7f || (n == 2 && c == 0xc2 && (unsigned char)s[i + 1] < 0xa0);
        char esc[8];
        size_t elen;
        if (n > 0 && !control) {
            if (o + n >= size)
                break;
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
            continue;
        }
        if (n == 0)
            n = 1; /* one stray byte */
        elen = 0;
        for (size_t k = 0; k < n; k++) {
            unsigned char b = (unsigned char)s[i + k];
            esc[elen++] = '\\';
            if (b == '\n' || b == '\t' || b == '\r') {
                esc[elen++] = b == '\n' ? 'n' : b == '\t' ? 't' : 'r';
            } else {
                esc[elen++] = 'x';
                esc[elen++] = hex[b >> 4];
                esc[elen++] = hex[b & 15];
            }
        }
        if (o + elen >= size)
            break;
        memcpy(out + o, esc, elen);
        o += elen;
        i += n;
    }
    out[o] = '\0';
    return o;
}

void text_vformat_escaped(char *out, size_t size, const char *fmt, va_list ap)
{
    char raw[1024];
    vsnprintf(raw, sizeof(raw), fmt, ap);
    /* Escaping never shrinks text, so a character cut by vsnprintf's
     * truncation falls past the end of out too. */
    if (size > 0)
        text_escape_into(out, size, raw);
}
