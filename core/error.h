/* The error slot every fallible core function fills: a code, the errno of a
 * failed system call, and a message naming the problem. Owned by its store. */
#ifndef IMAGE_ERROR_H
#define IMAGE_ERROR_H

#include <stdarg.h>

typedef struct image_error {
    int code;           /* enum image_store_error */
    int sys_errno;      /* set with IMAGE_STORE_ESYS */
    char message[1024];
} image_error;

/* All return `code` (a negative IMAGE_STORE_* value), so `return error_set(...)`.
 * The message is always printable UTF-8: control characters become \n, \t,
 * \r or \xNN, and bytes that are not valid UTF-8 become \xNN (text.h). */
int error_set(image_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "<syscall> <path>: <strerror(errnum)>" with IMAGE_STORE_ESYS. */
int error_sys(image_error *err, int errnum, const char *syscall, const char *path);
void error_clear(image_error *err);
/* Stable name: "ENOTFOUND", ..., or the errno name for IMAGE_STORE_ESYS. */
const char *error_name(const image_error *err);

#endif
