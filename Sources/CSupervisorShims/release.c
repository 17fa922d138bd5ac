#include "CSupervisorShims.h"

// `used` keeps the array although only the function refers to it, and `section` names it for objcopy. It reads as
// the empty string; the bytes after the first NUL are not all zero so that its bytes are in the file (an all-zero
// array could be left out of it, as .bss is).
__attribute__((used, section(".supervisor_release"))) static const char release_stamp[SUPERVISOR_RELEASE_STAMP_SIZE] =
    "\0unstamped";

const char *supervisor_release_stamp(void) { return release_stamp; }
