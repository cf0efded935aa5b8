/* Files, digests and temp directories for the import scripts
 * (lua/imagestore_files.c), part of imagestore.core. */
#ifndef IMAGESTORE_FILES_H
#define IMAGESTORE_FILES_H

#include <lua.h>

/* Adds file_stat, file_read, file_open, sha256_new, temp_dir and
 * host_machine to the table on top of the stack. */
void imagestore_files_register(lua_State *L);

#endif
