/* Run-time version queries (compare with the compile-time TINV_VERSION_* macros). */
#include "tinv.h"

TINV_API unsigned tinv_version(void) { return TINV_VERSION_NUMBER; }

TINV_API const char *tinv_version_string(void) { return TINV_VERSION_STRING; }
