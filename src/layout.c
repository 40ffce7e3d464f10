/*
 * layout.c: which layout this install has (doc/scale-out.md): a single node, or the
 * distributed registry that push_distribute() made on a Citus coordinator (a row in
 * pushplan.cluster_layout). Asked where a statement must be written differently for Citus.
 */
#include "postgres.h"

#include "executor/spi.h"

#include "layout.h"

bool
pp_registry_distributed(void)
{
	if (SPI_execute("SELECT 1 FROM pushplan.cluster_layout", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pushplan.cluster_layout");
	return SPI_processed > 0;
}
