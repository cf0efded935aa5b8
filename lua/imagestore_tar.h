/* Reading tar archives for the import scripts (lua/imagestore_tar.c), part
 * of imagestore.core. */
#ifndef IMAGESTORE_TAR_H
#define IMAGESTORE_TAR_H

#include <lua.h>

/* Adds tar_open to the table on top of the stack. */
void imagestore_tar_register(lua_State *L);

#endif
