/* Lookup over the files tools/embed.c compiled into the binary. */
#include "clawmesh/embedded.h"

#include <string.h>

const struct cm_embedded *cm_embedded_find(const char *name)
{
	for (size_t i = 0; i < cm_embedded_count; i++)
		if (!strcmp(cm_embedded_files[i].name, name))
			return &cm_embedded_files[i];
	return NULL;
}
