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

bool is_lower_hex(const char *s, size_t len)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return len == 0 ? n > 0 : n == len;
}

bool digest_is_valid(const char *digest)
{
    static const struct {
        const char *prefix;
        size_t hex_len;
    } algorithms[] = {{"sha256:", 64}, {"sha384:", 96}, {"sha512:", 128}};
    for (size_t i = 0; i < sizeof(algorithms) / sizeof(algorithms[0]); i++) {
        size_t plen = strlen(algorithms[i].prefix);
        if (strncmp(digest, algorithms[i].prefix, plen) == 0)
            return is_lower_hex(digest + plen, algorithms[i].hex_len);
    }
    return false;
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
