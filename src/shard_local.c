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

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lock.h"
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
	int64		queue_shard;	/* the delivery_queue shard's id: the group's identity */
	int32		shard_index;	/* the hash range's index among the table's shards */
	int32		colocation_id;	/* of the distributed tables (one colocation group) */
	int			ntables;
	ShardName  *tables;
} ShardGroup;

int			pp_shard_statement_group = -1;

static MemoryContext map_cxt = NULL;
static TimestampTz map_born = 0;
static bool distributed = false;
static bool coordinator = true;
static int	ngroups = 0;
static ShardGroup *groups = NULL;
static int	nrefs = 0;
static ShardName *refs = NULL;

/*
 * The shard groups this sender holds against a move (pp_shard_group_hold): their
 * delivery_queue shard ids, kept across map refreshes (a held group cannot move away).
 */
#define MAX_HELD	256
static int64 held[MAX_HELD];
static LOCKTAG held_tags[MAX_HELD];
static int	nheld = 0;

/*
 * Citus' lock on the metadata of a hash-distributed shard, shared by its colocated shards
 * (resource_lock.c, SetLocktagForShardDistributionMetadata: SET_LOCKTAG_COLOCATED_SHARDS_
 * METADATA_RESOURCE, ADV_LOCKTAG_CLASS_CITUS_COLOCATED_SHARDS_METADATA = 8, keyed by the shard's
 * index and the colocation id). A shard move takes it in ExclusiveLock mode on every node
 * (BlockWritesToShardList): for the whole copy when it blocks writes, from its last catch-up to
 * its commit when it replicates logically.
 */
#define CITUS_COLOCATED_SHARDS_METADATA_LOCKTAG_CLASS 8

static void
shard_lock_tag(LOCKTAG *tag, const ShardGroup *g)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) g->shard_index, (uint32) g->colocation_id,
						 CITUS_COLOCATED_SHARDS_METADATA_LOCKTAG_CLASS);
}

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
					"  s.shardminvalue::int, s.shardmaxvalue::int, s.shardid, "
					"  (SELECT count(*) FROM pg_dist_shard o WHERE o.logicalrelid = s.logicalrelid "
					"    AND o.shardminvalue::int < s.shardminvalue::int)::int, "
					"  (SELECT colocationid FROM pg_dist_partition d WHERE d.logicalrelid = s.logicalrelid) "
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
			if (!isnull && strcmp(name->table, "delivery_queue") == 0)
			{
				ShardGroup *g = &groups[ngroups - 1];

				g->queue_shard = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
				g->shard_index = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
				g->colocation_id = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
			}
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

int64
pp_shard_group_id(int group)
{
	Assert(group >= 0 && group < ngroups);
	return groups[group].queue_shard;
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

/* the index of the local group whose delivery_queue shard is shardid, or -1 */
static int
group_of_queue_shard(int64 shardid)
{
	for (int i = 0; i < ngroups; i++)
		if (groups[i].queue_shard == shardid)
			return i;
	return -1;
}

static bool
is_held(int64 shardid)
{
	for (int i = 0; i < nheld; i++)
		if (held[i] == shardid)
			return true;
	return false;
}

/*
 * Whether this sender may claim from local shard group `group` now, holding it against a move
 * while its deliveries are in flight (doc/scale-out.md, "Adding a node, and rebalancing during
 * a broadcast").
 *
 * A sender writes the shard tables directly, which Citus' own write block during a move does
 * not see: a claim or an outcome written to the old placement after the move's last catch-up
 * would be lost on the new node (the delivery claimed by nobody there, or sent again there).
 * So a sender takes Citus' metadata lock of the group's shards in RowShareLock mode (which
 * conflicts with the move's ExclusiveLock, and not with the weaker modes Citus' writes and
 * reads take), as a session lock, from its first claim in the group until none of the group's
 * deliveries is in flight or unrecorded (pp_shard_holds_release). The move's cut-over waits for that: every
 * outcome of the old placement is written, and replicated, before the shard changes nodes.
 * While a move waits, no new claim is made in the group (a waiter is seen), so the wait is at
 * most the in-flight sends' time. Taking the lock, the group's placement is read again: a
 * group that moved since the map was read is not claimed, and the map is read again.
 * Called in a transaction, SPI connected.
 */
bool
pp_shard_group_hold(int group)
{
	LOCKTAG		tag;
	int64		shardid;
	Datum		arg[1];
	Oid			type[1] = {INT8OID};
	int			rc;

	if (!distributed)
		return true;
	Assert(group >= 0 && group < ngroups);
	shardid = groups[group].queue_shard;
	if (shardid == 0)
		return true;			/* no queue shard in the group: nothing to claim there */
	shard_lock_tag(&tag, &groups[group]);
	if (is_held(shardid))
		return !LockHasWaiters(&tag, RowShareLock, true);
	if (nheld >= MAX_HELD)
		return false;
	if (LockAcquire(&tag, RowShareLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		return false;			/* a move holds the group: not now */
	/* kept at once: if the look below fails, the next release lets it go */
	held_tags[nheld] = tag;
	held[nheld++] = shardid;
	arg[0] = Int64GetDatum(shardid);
	rc = SPI_execute_with_args("SELECT 1 FROM pg_dist_placement WHERE shardid = $1 "
							   "AND groupid = (SELECT groupid FROM pg_dist_local_group)",
							   1, type, arg, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the placement of shard " INT64_FORMAT, shardid);
	if (SPI_processed == 0)
	{
		/* moved away since the map was read */
		LockRelease(&tag, RowShareLock, true);
		nheld--;
		map_born = 0;
		return false;
	}
	return true;
}

void
pp_shard_holds_release(const bool *busy)
{
	int			kept = 0;

	for (int i = 0; i < nheld; i++)
	{
		int			g = group_of_queue_shard(held[i]);

		if (busy != NULL && g >= 0 && busy[g])
		{
			held_tags[kept] = held_tags[i];
			held[kept++] = held[i];
		}
		else
			LockRelease(&held_tags[i], RowShareLock, true);
	}
	nheld = kept;
}

int
pp_shard_holds_count(void)
{
	return nheld;
}
