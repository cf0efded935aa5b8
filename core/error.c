#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "image_store.h"
#include "text.h"

int error_set(image_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    text_vformat_escaped(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    err->code = code;
    err->sys_errno = 0;
    return code;
}

int error_sys(image_error *err, int errnum, const char *syscall, const char *path)
{
    char raw[sizeof(err->message)];
    snprintf(raw, sizeof(raw), "%s %s: %s", syscall, path, strerror(errnum));
    text_escape_into(err->message, sizeof(err->message), raw);
    err->code = IMAGE_STORE_ESYS;
    err->sys_errno = errnum;
    return IMAGE_STORE_ESYS;
}

void error_clear(image_error *err)
{
    err->code = IMAGE_STORE_OK;
    err->sys_errno = 0;
    err->message[0] = '\0';
}

const char *error_name(const image_error *err)
{
    switch (err->code) {
    case IMAGE_STORE_OK: return "OK";
    case IMAGE_STORE_ENOTFOUND: return "ENOTFOUND";
    case IMAGE_STORE_EEXIST: return "EEXIST";
    case IMAGE_STORE_ENAMEINUSE: return "ENAMEINUSE";
    case IMAGE_STORE_EINVAL: return "EINVAL";
    case IMAGE_STORE_EAMBIGUOUS: return "EAMBIGUOUS";
    case IMAGE_STORE_EREADONLY: return "EREADONLY";
    case IMAGE_STORE_ECORRUPT: return "ECORRUPT";
    case IMAGE_STORE_EHOOK: return "EHOOK";
    case IMAGE_STORE_ELAYOUT: return "ELAYOUT";
    case IMAGE_STORE_ESYS: {
        const char *name = strerrorname_np(err->sys_errno);
        return name ? name : "ESYS";
    }
    default: return "EUNKNOWN";
    }
}
