/* Digests and encodings through OpenSSL EVP. */
#ifndef IMAGE_DIGEST_H
#define IMAGE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#define DIGEST_SHA256_LEN 71 /* "sha256:" + 64 hex, without the NUL */

/* "sha256:<hex>" of data into out (72 bytes); 0, or -1 if OpenSSL fails. */
int digest_sha256(char out[static 72], const void *data, size_t len);
/* algorithm:hex with sha256/64, sha384/96 or sha512/128 lowercase hex. */
bool digest_is_valid(const char *digest);
/* Standard padded base64 of data into out (4 * ceil(len / 3) + 1 bytes). */
void base64_encode_into(char *out, const void *data, size_t len);
/* Decodes padded standard base64 into out (len / 4 * 3 + 1 bytes, NUL
 * added); the decoded length, or -1 when text is not base64. */
int base64_decode_into(char *out, const char *text, size_t len);
/* True when s is exactly len lowercase hex characters (len 0: any length > 0). */
bool is_lower_hex(const char *s, size_t len);

#endif
