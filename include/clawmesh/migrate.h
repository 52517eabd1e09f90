/* Schema migrations: the ordered SQL files compiled into the binary, applied once each. */
#ifndef CLAWMESH_MIGRATE_H
#define CLAWMESH_MIGRATE_H

/* Applies every pending migration, each in its own transaction, under an advisory lock so
 * concurrent starters wait for each other. *applied counts the ones this call applied. */
int cm_migrate_run(int *applied);
/* The number of the newest migration this binary carries. */
int cm_migrate_latest(void);
/* The newest migration the database has (0 = none), through this thread's pooled connection. */
int cm_migrate_current(int *version);

#endif
