/* Lowercase hex: ids, request ids, hashes as the database and the logs see them. */
#ifndef CLAWMESH_HEX_H
#define CLAWMESH_HEX_H
#include <stddef.h>

/* n bytes -> 2n lowercase hex characters and a NUL into out. */
void cm_hex_encode(const unsigned char *in, size_t n, char *out);
/* nbytes from OpenSSL's RNG as 2*nbytes hex characters and a NUL; 0 or -CM_EINTERNAL. */
int cm_random_hex(char *out, size_t nbytes);

#endif
