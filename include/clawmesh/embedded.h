/* Files compiled into the binary by tools/embed.c: migrations and the OpenAPI contract. */
#ifndef CLAWMESH_EMBEDDED_H
#define CLAWMESH_EMBEDDED_H
#include <stddef.h>

struct cm_embedded {
	const char *name;
	const char *data; /* NUL-terminated */
	size_t len;
};

extern const struct cm_embedded cm_embedded_files[];
extern const size_t cm_embedded_count;

/* The embedded file with this base name, or NULL. */
const struct cm_embedded *cm_embedded_find(const char *name);

#endif
