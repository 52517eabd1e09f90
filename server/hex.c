/* Lowercase hex encoding, and random hex strings for ids. */
#include "clawmesh/hex.h"
#include "clawmesh/err.h"

#include <openssl/rand.h>

void cm_hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int cm_random_hex(char *out, size_t nbytes)
{
	unsigned char raw[64];
	if (nbytes > sizeof raw || RAND_bytes(raw, (int)nbytes) != 1)
		return -CM_EINTERNAL;
	cm_hex_encode(raw, nbytes, out);
	return 0;
}
