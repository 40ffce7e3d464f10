/*
 * layout.c: which layout this install has (doc/scale-out.md): a single node, or the
 * distributed registry that push_distribute() made on a Citus coordinator (a row in
 * pushplan.cluster_layout). Asked where a statement must be written differently for Citus.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "executor/spi.h"
#include "storage/proc.h"
#include "utils/lsyscache.h"

#include "layout.h"

bool
pp_registry_distributed(void)
{
	Oid			nsp = get_namespace_oid("pushplan", true);

	/* an install of 0.1 not updated yet runs this build too: it has no layout table */
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("cluster_layout", nsp)))
		return false;
	if (SPI_execute("SELECT 1 FROM pushplan.cluster_layout", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pushplan.cluster_layout");
	return SPI_processed > 0;
}

bool
pp_registry_distributed_xact(void)
{
	static LocalTransactionId asked_in = InvalidLocalTransactionId;
	static bool distributed = false;

	if (MyProc->lxid != asked_in)
	{
		distributed = pp_registry_distributed();
		asked_in = MyProc->lxid;
	}
	return distributed;
}
