/*
 * shard_local.c: the shards of the distributed layout placed on this node (doc/scale-out.md,
 * "Senders on every node").
 *
 * On a distributed install every node's senders send the deliveries of the shards placed on
 * their own node, and nothing else: no claim or outcome crosses nodes. Citus takes FOR UPDATE
 * SKIP LOCKED only in a query of one shard, and a query of the distributed tables from a worker
 * node would go through Citus' executor (connections, two-phase commits). So a sender runs its
 * statements against the shard tables themselves (pushplan.delivery_queue_102040 and the
 * colocated deliveries_, devices_ ... of the same hash range), as plain PostgreSQL: this file
 * finds them in Citus' metadata (pg_dist_shard, pg_dist_placement of the local group), keeps
 * them, and rewrites a statement's table names for one shard group. A reference table's name
 * becomes its local placement (every node has one).
 *
 * The map is read again every SHARD_MAP_SECONDS: a shard moved to another node (by
 * citus_rebalance_start) stops being claimed here within that time.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "layout.h"
#include "shard_local.h"

#define SHARD_MAP_SECONDS	10

/* One table's local shard: "devices" -> "pushplan.devices_102008" */
typedef struct ShardName
{
	char	   *table;
	char	   *shard;
} ShardName;

/* The colocated shards of one hash range, all placed on this node. */
typedef struct ShardGroup
{
	int32		min_hash;
	int32		max_hash;
	int			ntables;
	ShardName  *tables;
} ShardGroup;

static MemoryContext map_cxt = NULL;
static TimestampTz map_born = 0;
static bool distributed = false;
static bool coordinator = true;
static int	ngroups = 0;
static ShardGroup *groups = NULL;
static int	nrefs = 0;
static ShardName *refs = NULL;

/*
 * Reads the layout and, on a distributed install, the shards of this node. The caller is
 * connected to SPI, in a transaction.
 */
static void
load_map(void)
{
	uint64		n;

	if (map_cxt == NULL)
		map_cxt = AllocSetContextCreate(TopMemoryContext, "pushplan shard map",
										ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(map_cxt);
	ngroups = 0;
	groups = NULL;
	nrefs = 0;
	refs = NULL;
	coordinator = true;
	distributed = pp_registry_distributed();
	map_born = GetCurrentTimestamp();
	if (!distributed)
		return;

	if (SPI_execute("SELECT groupid = 0 FROM pg_dist_local_group", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read pg_dist_local_group");
	{
		bool		isnull;

		coordinator = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
												 1, &isnull));
	}

	/*
	 * The extension's Citus tables with a placement here: hash-distributed ones ordered by
	 * their hash range (colocated tables have the same ranges), reference tables without one.
	 * Partitions are left out: a statement names the partitioned table's shard.
	 */
	if (SPI_execute("SELECT c.relname::text, shard_name(s.logicalrelid, s.shardid), "
					"  s.shardminvalue::int, s.shardmaxvalue::int "
					"FROM pg_dist_shard s JOIN pg_class c ON c.oid = s.logicalrelid "
					"WHERE c.relnamespace = 'pushplan'::regnamespace AND NOT c.relispartition "
					"  AND EXISTS (SELECT 1 FROM pg_dist_placement p WHERE p.shardid = s.shardid "
					"    AND p.groupid = (SELECT groupid FROM pg_dist_local_group)) "
					"ORDER BY s.shardminvalue::int NULLS FIRST, c.relname",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the local shards");
	n = SPI_processed;
	{
		MemoryContext old = MemoryContextSwitchTo(map_cxt);
		TupleDesc	desc = SPI_tuptable->tupdesc;

		groups = palloc0(sizeof(ShardGroup) * Max(n, 1));
		refs = palloc0(sizeof(ShardName) * Max(n, 1));
		for (uint64 i = 0; i < n; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		isnull;
			Datum		min = SPI_getbinval(tup, desc, 3, &isnull);
			ShardName  *name;

			if (isnull)
				name = &refs[nrefs++];
			else
			{
				ShardGroup *g = ngroups > 0 ? &groups[ngroups - 1] : NULL;

				if (g == NULL || g->min_hash != DatumGetInt32(min))
				{
					g = &groups[ngroups++];
					g->min_hash = DatumGetInt32(min);
					g->max_hash = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
					g->tables = palloc0(sizeof(ShardName) * n);
				}
				name = &g->tables[g->ntables++];
			}
			name->table = SPI_getvalue(tup, desc, 1);
			name->shard = SPI_getvalue(tup, desc, 2);
		}
		MemoryContextSwitchTo(old);
	}
}

void
pp_shards_refresh(bool force)
{
	if (force || map_cxt == NULL ||
		TimestampDifferenceExceeds(map_born, GetCurrentTimestamp(), SHARD_MAP_SECONDS * 1000))
		load_map();
}

bool
pp_shards_distributed(void)
{
	return distributed;
}

bool
pp_shards_serve_cluster(void)
{
	return !distributed || coordinator;
}

int
pp_shards_local_count(void)
{
	return ngroups;
}

int
pp_shard_of_device(int64 device_id)
{
	/* Citus hashes a bigint distribution column with the type's hash function */
	int32		h = DatumGetInt32(DirectFunctionCall1(hashint8, Int64GetDatum(device_id)));

	for (int i = 0; i < ngroups; i++)
		if (h >= groups[i].min_hash && h <= groups[i].max_hash)
			return i;
	return -1;
}

/* the shard of table in the list, or NULL */
static const char *
find_shard(const ShardName *names, int n, const char *table, int len)
{
	for (int i = 0; i < n; i++)
		if ((int) strlen(names[i].table) == len && strncmp(names[i].table, table, len) == 0)
			return names[i].shard;
	return NULL;
}

char *
pp_shard_sql(const char *sql, int group)
{
	StringInfoData out;
	const char *p = sql;
	const char *prefix = "pushplan.";
	size_t		plen = strlen(prefix);

	if (!distributed)
		return pstrdup(sql);
	Assert(group >= -1 && group < ngroups);
	initStringInfo(&out);
	while (*p)
	{
		const char *hit = strstr(p, prefix);
		const char *name;
		const char *end;
		const char *shard = NULL;

		if (hit == NULL)
		{
			appendStringInfoString(&out, p);
			break;
		}
		appendBinaryStringInfo(&out, p, hit - p);
		name = hit + plen;
		end = name;
		while ((*end >= 'a' && *end <= 'z') || (*end >= '0' && *end <= '9') || *end == '_')
			end++;
		/* a table, not a function: pushplan.clock_now( stays */
		if (*end != '(')
		{
			if (group >= 0)
				shard = find_shard(groups[group].tables, groups[group].ntables, name,
								   (int) (end - name));
			if (shard == NULL)
				shard = find_shard(refs, nrefs, name, (int) (end - name));
		}
		if (shard)
			appendStringInfoString(&out, shard);
		else
			appendBinaryStringInfo(&out, hit, end - hit);
		p = end;
	}
	return out.data;
}
