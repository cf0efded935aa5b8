#include "digest.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int digest_sha256(char out[static 72], const void *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int rc = -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return -1;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(ctx, data, len) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != 32)
        goto out;
    memcpy(out, "sha256:", 7);
    for (unsigned int i = 0; i < md_len; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[DIGEST_SHA256_LEN] = '\0';
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* 1 for the characters of lowercase hex. */
static const unsigned char lower_hex[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
};

bool is_lower_hex(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    if (len > 0) { /* exactly len hex characters, then the end */
        while (n < len && lower_hex[p[n]])
            n++;
        return n == len && p[n] == '\0';
    }
    while (lower_hex[p[n]])
        n++;
    return n > 0 && p[n] == '\0';
}

bool digest_is_valid(const char *digest)
{
    /* "sha" and a known size, then ':' and its hex */
    if (digest[0] != 's' || digest[1] != 'h' || digest[2] != 'a')
        return false;
    const char *bits = digest + 3;
    size_t hex_len = strncmp(bits, "256:", 4) == 0   ? 64
                     : strncmp(bits, "384:", 4) == 0 ? 96
                     : strncmp(bits, "512:", 4) == 0 ? 128
                                                    : 0;
    return hex_len > 0 && is_lower_hex(bits + 4, hex_len);
}

void base64_encode_into(char *out, const void *data, size_t len)
{
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
}

int base64_decode_into(char *out, const char *text, size_t len)
{
    if (len % 4 != 0 || len > (size_t)INT32_MAX)
        return -1;
    int n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)text, (int)len);
    if (n < 0)
        return -1;
    for (size_t i = len; i > 0 && text[i - 1] == '='; i--)
        n--; /* EVP_DecodeBlock counts the padding as bytes */
    out[n] = '\0';
    return n;
}
