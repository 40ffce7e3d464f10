/*
 * smart_send.c: intelligent (smart) send times, the part of an intelligent schedule's expansion
 * that says when each device is sent (doc/smart_send.md).
 *
 * A device's history is a histogram over the 288 five-minute slots of its local day: each visit
 * (device_activity) adds 2^(-age / 14 days) to the slot of its local time in the device's zone,
 * its age counted back from the device's latest visit; each reaction to a push (its first open
 * or click: device_reactions) adds three times as much. Weights relative to the latest visit do
 * not change as time passes, only when a visit is recorded: the histogram is kept per device
 * (device_send_profiles) and recomputed only for devices marked by a new visit
 * (smart_profile_pending). Sums are fixed-point integers, so a histogram does not depend on the
 * order its visits are read in: computed here on the fly for a marked device, or kept by the
 * refresh, it is the same to the last bit, and so is every send time taken from it.
 *
 * A send time is the start of a slot: the slot's smoothed weight (a triangle over +-15 minutes,
 * wrapping at midnight) is largest among the slot starts of the window at or after not_before.
 * The window's slot starts are enumerated per zone once per call from the zone's transitions, so
 * a device's slot keeps its local time across a change of offset; each device then costs a pass
 * over the few slots its smoothing touched, each looked up in its zone's table of first slot
 * starts. A batch reads devices, profiles and marks as three sorted lists merged here, each as
 * one primary-key range when the batch's ids are dense.
 */
#include "pushplan.h"
#include "shard_local.h"
#include "workers.h"
#include "layout.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include <math.h>

PG_FUNCTION_INFO_V1(pushplan_smart_histograms);
PG_FUNCTION_INFO_V1(pushplan_smart_send_times);

#define SLOTS			288			/* five-minute slots of a local day */
#define SLOT_USECS		(INT64CONST(300) * USECS_PER_SEC)
#define HALF_LIFE_USECS	(INT64CONST(14) * USECS_PER_DAY)
#define KERNEL_RADIUS	3			/* slots each side: +-15 minutes */
/* an open or a click of a push weighs this many visits: a reaction is the surer sign */
#define REACTION_WEIGHT	3
/* a visit's weight as a fixed-point integer: 1.0 (the latest visit) is 2^40 */
#define FIXED_ONE		((double) (INT64CONST(1) << 40))
/* seconds from the Unix epoch to PostgreSQL's (2000-01-01) */
#define UNIX_TO_PG_SECS	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

/* the triangle: a visit counts fully in its slot, 3/4 one slot away, ... 1/4 three away */
static const double kernel[KERNEL_RADIUS + 1] = {1.0, 0.75, 0.5, 0.25};

/* ---- time ---------------------------------------------------------------------------------- */

static inline int64
floor_div(int64 a, int64 b)
{
	int64		q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static inline pg_time_t
to_unix(TimestampTz t)
{
	return (pg_time_t) floor_div(t, USECS_PER_SEC) + UNIX_TO_PG_SECS;
}

static inline TimestampTz
from_unix(pg_time_t s)
{
	return ((int64) s - UNIX_TO_PG_SECS) * USECS_PER_SEC;
}

/* the slot of a local time (microseconds since the local epoch) */
static inline int
slot_of_local(int64 local)
{
	return (int) ((local - floor_div(local, USECS_PER_DAY) * USECS_PER_DAY) / SLOT_USECS);
}

/* A zone, and the stretch [lo, hi) around the last instant asked where its offset is off. */
typedef struct ZoneCursor
{
	pg_tz	   *tz;
	TimestampTz lo;
	TimestampTz hi;
	int64		off;			/* microseconds east of UTC */
} ZoneCursor;

/* The offset at t, and the stretch until the next transition (after which it may differ). */
static void
zone_offset_at(pg_tz *tz, TimestampTz t, int64 *off, TimestampTz *until)
{
	pg_time_t	s = to_unix(t);
	struct pg_tm *tm = pg_localtime(&s, tz);
	long int	before_off,
				after_off;
	int			before_dst,
				after_dst;
	pg_time_t	boundary;

	/* out of the zone library's range: read as UTC (no visit or window is that far out) */
	*off = tm ? (int64) tm->tm_gmtoff * USECS_PER_SEC : 0;
	*until = DT_NOEND;
	if (pg_next_dst_boundary(&s, &before_off, &before_dst, &boundary, &after_off, &after_dst,
							 tz) == 1 && boundary > s)
		*until = from_unix(boundary);
}

/* The local slot of instant t; visits come in time order, so the cursor mostly hits. */
static int
zone_slot(ZoneCursor *c, TimestampTz t)
{
	if (t < c->lo || t >= c->hi)
	{
		zone_offset_at(c->tz, t, &c->off, &c->hi);
		c->lo = t;
	}
	return slot_of_local(t + c->off);
}

/* A device's zone; a name the zone library no longer knows is read as UTC. */
static pg_tz *
zone_named(const char *name)
{
	pg_tz	   *tz = pg_tzset(name);

	return tz ? tz : pg_tzset("UTC");
}

/* ---- histograms ---------------------------------------------------------------------------- */

/* One device of a histogram computation: its visits, then its histogram. */
typedef struct DeviceVisits
{
	int64		device_id;		/* hash key */
	ZoneCursor	zone;
	char	   *zone_name;
	int			n;
	int			cap;
	TimestampTz *at;
	int16	   *slot;
	int8	   *weight;			/* 1 a visit, REACTION_WEIGHT a reaction */
	TimestampTz latest;
	/* the histogram: slots with a weight, ascending */
	int			nslots;
	int16	   *slots;
	float4	   *weights;
} DeviceVisits;

static void
visits_add(DeviceVisits *d, TimestampTz at, int weight)
{
	if (TIMESTAMP_NOT_FINITE(at))
		return;					/* push_device_activity refuses them; a hand-written row */
	if (d->n == d->cap)
	{
		d->cap = d->cap ? d->cap * 2 : 16;
		d->at = d->at ? repalloc(d->at, sizeof(TimestampTz) * d->cap)
			: palloc(sizeof(TimestampTz) * d->cap);
		d->slot = d->slot ? repalloc(d->slot, sizeof(int16) * d->cap)
			: palloc(sizeof(int16) * d->cap);
		d->weight = d->weight ? repalloc(d->weight, sizeof(int8) * d->cap)
			: palloc(sizeof(int8) * d->cap);
	}
	d->at[d->n] = at;
	d->weight[d->n] = (int8) weight;
	d->slot[d->n] = (int16) zone_slot(&d->zone, at);
	if (d->n == 0 || at > d->latest)
		d->latest = at;
	d->n++;
}

/*
 * Each visit weighs 2^(-age / half-life), its age counted from the device's latest visit or
 * reaction, and a reaction REACTION_WEIGHT times that, summed per slot in fixed point (exact, so
 * in any order); a visit some 41 half-lives older than the latest rounds to nothing.
 */
static void
visits_finish(DeviceVisits *d)
{
	int64		sums[SLOTS];
	int			k = 0;

	memset(sums, 0, sizeof(sums));
	for (int i = 0; i < d->n; i++)
	{
		double		age = (double) (d->latest - d->at[i]);

		sums[d->slot[i]] += d->weight[i] *
			(int64) llround(exp2(-age / (double) HALF_LIFE_USECS) * FIXED_ONE);
	}
	d->nslots = 0;
	for (int s = 0; s < SLOTS; s++)
		if (sums[s] > 0)
			d->nslots++;
	d->slots = palloc(sizeof(int16) * Max(d->nslots, 1));
	d->weights = palloc(sizeof(float4) * Max(d->nslots, 1));
	for (int s = 0; s < SLOTS; s++)
		if (sums[s] > 0)
		{
			d->slots[k] = (int16) s;
			d->weights[k] = (float4) ((double) sums[s] / FIXED_ONE);
			k++;
		}
}

/* whether the install is on the distributed layout: read by each call, once SPI is connected */
static bool layout_distributed = false;

/*
 * The statements here are kept with one generic plan (pp_spi_keep): planned with a batch's ids as
 * constants, each of 50,000 ids would be estimated in turn, which cost more than the run. On
 * the distributed layout Citus makes no generic plan of them ("could not create distributed
 * plan"): there each call plans its statements with their values, and does not keep them.
 */
static SPIPlanPtr
kept_plan(SPIPlanPtr *plan, const char *what, const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	p;

	if (!layout_distributed)
		return pp_spi_keep(plan, what, sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);
	/* a node's expansion of one shard group: plain statements on its shards, not kept */
	if (pp_shard_statement_group >= 0)
		p = SPI_prepare_cursor(pp_shard_sql(sql, pp_shard_statement_group), nargs, types,
							   CURSOR_OPT_GENERIC_PLAN);
	else
		p = SPI_prepare_cursor(sql, nargs, types, 0);
	if (p == NULL)
		elog(ERROR, "pushplan: preparing %s failed: %s", what, SPI_result_code_string(SPI_result));
	return p;
}

/*
 * The histograms of the given devices, from device_activity and device_reactions as this
 * snapshot sees them: a hash of
 * DeviceVisits (device ids without a device are absent; devices without a visit have nslots 0),
 * allocated in cxt. The caller is connected to SPI.
 */
static HTAB *
histograms_compute(Datum device_ids, MemoryContext cxt)
{
	static SPIPlanPtr zones_range = NULL;
	static SPIPlanPtr zones_list = NULL;
	static SPIPlanPtr visits_range = NULL;
	static SPIPlanPtr visits_list = NULL;
	Oid			list_types[1] = {INT8ARRAYOID};
	Oid			range_types[2] = {INT8OID, INT8OID};
	Datum		args[2];
	HASHCTL		hctl;
	HTAB	   *devices;
	Portal		portal;
	HASH_SEQ_STATUS seq;
	DeviceVisits *d;
	MemoryContext old;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int64		lo = PG_INT64_MAX,
				hi = PG_INT64_MIN;
	int			wanted = 0;
	bool		dense;

	hctl.keysize = sizeof(int64);
	hctl.entrysize = sizeof(DeviceVisits);
	hctl.hcxt = cxt;
	devices = hash_create("pushplan smart histograms", 1024, &hctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/* the devices asked for (a device is in the hash without a zone until it is read) */
	old = MemoryContextSwitchTo(cxt);
	deconstruct_array(DatumGetArrayTypeP(device_ids), INT8OID, sizeof(int64), true,
					  TYPALIGN_DOUBLE, &elems, &nulls, &n);
	MemoryContextSwitchTo(old);
	for (int i = 0; i < n; i++)
	{
		int64		id;
		bool		found;

		if (nulls[i])
			continue;
		id = DatumGetInt64(elems[i]);
		d = hash_search(devices, &id, HASH_ENTER, &found);
		if (!found)
		{
			memset(((char *) d) + sizeof(int64), 0, sizeof(DeviceVisits) - sizeof(int64));
			wanted++;
			lo = Min(lo, id);
			hi = Max(hi, id);
		}
	}
	/* a dense set is read as one range of each index, the rows of other devices skipped */
	dense = wanted > 0 && ((uint64) hi - (uint64) lo) < (uint64) wanted * 4;
	args[0] = dense ? Int64GetDatum(lo) : device_ids;
	args[1] = Int64GetDatum(hi);

	pp_spi_checked(SPI_execute_plan(dense ?
									kept_plan(&zones_range, "reading device zones",
											  "SELECT device_id, timezone FROM pushplan.devices "
											  "WHERE device_id BETWEEN $1 AND $2", 2, range_types) :
									kept_plan(&zones_list, "reading device zones",
											  "SELECT device_id, timezone FROM pushplan.devices "
											  "WHERE device_id = ANY ($1)", 1, list_types),
									args, NULL, true, 0), "reading device zones", SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		char	   *zone;

		d = hash_search(devices, &id, HASH_FIND, NULL);
		if (d == NULL)
			continue;
		zone = TextDatumGetCString(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
		d->zone.tz = zone_named(zone);
		d->zone_name = MemoryContextStrdup(cxt, zone);
		d->zone.hi = DT_NOBEGIN;	/* empty: the first visit looks the offset up */
		d->zone.lo = DT_NOEND;
	}
	SPI_freetuptable(SPI_tuptable);

	portal = SPI_cursor_open(NULL, dense ?
							 kept_plan(&visits_range, "reading visits",
									   "SELECT device_id, at, 1 FROM pushplan.device_activity "
									   "WHERE device_id BETWEEN $1 AND $2 "
									   "UNION ALL SELECT device_id, at, " CppAsString2(REACTION_WEIGHT)
									   " FROM pushplan.device_reactions "
									   "WHERE device_id BETWEEN $1 AND $2", 2, range_types) :
							 kept_plan(&visits_list, "reading visits",
									   "SELECT device_id, at, 1 FROM pushplan.device_activity "
									   "WHERE device_id = ANY ($1) "
									   "UNION ALL SELECT device_id, at, " CppAsString2(REACTION_WEIGHT)
									   " FROM pushplan.device_reactions "
									   "WHERE device_id = ANY ($1)", 1, list_types),
							 args, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		old = MemoryContextSwitchTo(cxt);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));

			d = hash_search(devices, &id, HASH_FIND, NULL);
			/* not asked for, or a device created after the zones were read */
			if (d != NULL && d->zone.tz != NULL)
				visits_add(d, DatumGetTimestampTz(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2,
																&isnull)),
						   DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull)));
		}
		MemoryContextSwitchTo(old);
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);

	/* ids of no device leave; the others get their histograms */
	hash_seq_init(&seq, devices);
	while ((d = hash_seq_search(&seq)) != NULL)
		if (d->zone.tz == NULL)
			hash_search(devices, &d->device_id, HASH_REMOVE, NULL);
	old = MemoryContextSwitchTo(cxt);
	hash_seq_init(&seq, devices);
	while ((d = hash_seq_search(&seq)) != NULL)
	{
		visits_finish(d);
		if (d->at)
		{
			pfree(d->at);
			pfree(d->slot);
			pfree(d->weight);
			d->at = NULL;
			d->slot = NULL;
			d->weight = NULL;
		}
	}
	MemoryContextSwitchTo(old);
	return devices;
}

static ArrayType *
int16_array(const int16 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int16GetDatum(v[i]);
	return construct_array(d, n, INT2OID, sizeof(int16), true, TYPALIGN_SHORT);
}

static ArrayType *
float4_array(const float4 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Float4GetDatum(v[i]);
	return construct_array(d, n, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT);
}

static int
visits_cmp(const void *a, const void *b)
{
	int64		x = (*(DeviceVisits *const *) a)->device_id;
	int64		y = (*(DeviceVisits *const *) b)->device_id;

	return x < y ? -1 : x > y;
}

/*
 * pushplan._smart_histograms(device_ids bigint[]) RETURNS TABLE (device_id bigint,
 *     timezone text, slots smallint[], weights real[], visits int, last_visit_at timestamptz)
 * The devices with history, one row each (the refresh writes them to device_send_profiles).
 */
Datum
pushplan_smart_histograms(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "pushplan smart histograms",
											  ALLOCSET_DEFAULT_SIZES);
	HTAB	   *devices;
	HASH_SEQ_STATUS seq;
	DeviceVisits *d;
	DeviceVisits **sorted;
	int			nsorted = 0;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pushplan: SPI_connect failed");
	layout_distributed = pp_registry_distributed();
	devices = histograms_compute(PG_GETARG_DATUM(0), cxt);
	SPI_finish();

	/* in id order: the refresh writes them so, and a range of ids then reads few pages */
	sorted = palloc(sizeof(DeviceVisits *) * Max(hash_get_num_entries(devices), 1));
	hash_seq_init(&seq, devices);
	while ((d = hash_seq_search(&seq)) != NULL)
		if (d->nslots > 0)
			sorted[nsorted++] = d;
	qsort(sorted, nsorted, sizeof(DeviceVisits *), visits_cmp);
	for (int i = 0; i < nsorted; i++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		d = sorted[i];
		values[0] = Int64GetDatum(d->device_id);
		values[1] = CStringGetTextDatum(d->zone_name);
		values[2] = PointerGetDatum(int16_array(d->slots, d->nslots));
		values[3] = PointerGetDatum(float4_array(d->weights, d->nslots));
		values[4] = Int32GetDatum(d->n);
		values[5] = TimestampTzGetDatum(d->latest);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	MemoryContextDelete(cxt);
	return (Datum) 0;
}

/* ---- send times ---------------------------------------------------------------------------- */

/* why a device is sent when it is (the basis column; doc/smart_send.md) */
typedef enum Basis
{
	BASIS_BEST,
	BASIS_NEXT_BEST,
	BASIS_LATE,
	BASIS_BACKUP,
	BASIS_BACKUP_LATE,
	BASIS_NOW,
	BASIS_UNKNOWN,
	BASIS_COUNT
} Basis;

static const char *const basis_names[BASIS_COUNT] = {
	"best", "next_best", "late", "backup", "backup_late", "now", "unknown"
};

/* A slot start in the window: an instant and the local slot it starts. */
typedef struct Moment
{
	TimestampTz at;
	int16		slot;
	bool		gap;			/* a local time that does not exist, read as PostgreSQL does */
} Moment;

/* A zone's part of a call: the window's slot starts in time order, and the backup instant. */
typedef struct ZoneWindow
{
	char		name[TZ_STRLEN_MAX + 1];	/* hash key */
	int			n;
	int			cap;
	Moment	   *m;
	int			first;			/* the first moment at or after not_before */
	int			slot_first[SLOTS];	/* each slot's first moment from there, or -1 */
	TimestampTz backup_at;
} ZoneWindow;

static void
moment_add(ZoneWindow *z, TimestampTz at, int64 local, bool gap)
{
	if (z->n == z->cap)
	{
		z->cap = z->cap ? z->cap * 2 : SLOTS + 16;
		z->m = z->m ? repalloc(z->m, sizeof(Moment) * z->cap) : palloc(sizeof(Moment) * z->cap);
	}
	z->m[z->n].at = at;
	z->m[z->n].slot = (int16) slot_of_local(local);
	z->m[z->n].gap = gap;
	z->n++;
}

static int
moment_cmp(const void *a, const void *b)
{
	const Moment *x = a;
	const Moment *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return (int) x->gap - (int) y->gap;	/* a real local time before a gap's */
}

/*
 * Adds the slot starts of [from, to) in zone tz: for each stretch of constant offset, every local
 * time on a five-minute boundary in it (a local time that comes twice, when clocks go back, gives
 * two moments); for each forward jump, the local times it skips, read with the offset before the
 * jump as PostgreSQL reads them (02:30 in a 02:00 -> 03:00 jump is 03:30 after it).
 */
static void
moments_between(ZoneWindow *z, pg_tz *tz, TimestampTz from, TimestampTz to)
{
	TimestampTz t = from;

	while (t < to)
	{
		int64		off,
					after;
		TimestampTz until,
					ignored;
		int64		local;

		zone_offset_at(tz, t, &off, &until);
		if (until > to)
			until = to;
		local = floor_div(t + off + SLOT_USECS - 1, SLOT_USECS) * SLOT_USECS;
		for (; local < until + off; local += SLOT_USECS)
			moment_add(z, local - off, local, false);
		if (until >= to)
			break;
		zone_offset_at(tz, until, &after, &ignored);
		if (after > off)
		{
			local = floor_div(until + off + SLOT_USECS - 1, SLOT_USECS) * SLOT_USECS;
			for (; local < until + after && local - off < to; local += SLOT_USECS)
				moment_add(z, local - off, local, true);
		}
		t = until;
	}
}

/*
 * The window's moments in time order. Where the clocks go back in it, 24 hours show only 23 of
 * the wall clock: the local times they miss are taken at their first instant after the window
 * (at most the hour set back past it), so that every local time of day has a moment.
 */
static void
window_build(ZoneWindow *z, pg_tz *tz, TimestampTz ws, TimestampTz not_before)
{
	TimestampTz end = ws + USECS_PER_DAY;
	bool		present[SLOTS];
	int			missing = 0;

	moments_between(z, tz, ws, end);
	memset(present, 0, sizeof(present));
	for (int k = 0; k < z->n; k++)
		present[z->m[k].slot] = true;
	for (int s = 0; s < SLOTS; s++)
		if (!present[s])
			missing++;
	if (missing > 0)
	{
		ZoneWindow	after;

		memset(&after, 0, sizeof(after));
		moments_between(&after, tz, end, end + USECS_PER_DAY);
		qsort(after.m, after.n, sizeof(Moment), moment_cmp);
		for (int k = 0; k < after.n && missing > 0; k++)
			if (!present[after.m[k].slot])
			{
				present[after.m[k].slot] = true;
				missing--;
				if (z->n == z->cap)
				{
					z->cap *= 2;
					z->m = repalloc(z->m, sizeof(Moment) * z->cap);
				}
				z->m[z->n++] = after.m[k];
			}
		if (after.m)
			pfree(after.m);
	}
	qsort(z->m, z->n, sizeof(Moment), moment_cmp);
	z->first = 0;
	while (z->first < z->n && z->m[z->first].at < not_before)
		z->first++;
	/* not_before past the window: nothing is left (late), whatever follows it */
	if (not_before >= end)
		z->first = z->n;
	for (int k = 0; k < SLOTS; k++)
		z->slot_first[k] = -1;
	for (int k = z->n - 1; k >= z->first; k--)
		z->slot_first[z->m[k].slot] = k;
}

/* backup_local read in zone tz as PostgreSQL reads timestamp AT TIME ZONE */
static TimestampTz
backup_in_zone(Timestamp backup, pg_tz *tz)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	TimestampTz result;

	if (TIMESTAMP_NOT_FINITE(backup))
		return backup;
	if (timestamp2tm(backup, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						errmsg("timestamp out of range")));
	tzoff = DetermineTimeZoneOffset(&tm, tz);
	if (tm2timestamp(&tm, fsec, &tzoff, &result) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						errmsg("timestamp out of range")));
	return result;
}

/*
 * The send time of a device with history: the first moment at or after not_before whose slot's
 * smoothed weight is largest among those moments ('best' when that weight is the largest of the
 * whole day, else 'next_best'), or not_before when the window has no moment left ('late').
 * Only the slots the smoothing touched can weigh anything: each is looked at through its first
 * moment left (ties: the earlier moment), and when none has one, the first moment left goes.
 */
static Basis
choose(const ZoneWindow *z, const int16 *slots, const float4 *weights, int n,
	   TimestampTz not_before, double *smooth, TimestampTz *send_at)
{
	int16		touched[SLOTS];
	int			ntouched = 0;
	double		day_max = 0;
	double		best = 0;
	int			chosen = -1;

	if (z->first >= z->n)
	{
		*send_at = not_before;
		return BASIS_LATE;
	}
	/* smooth is all zero on entry, and left so: only the touched slots are cleared */
	for (int i = 0; i < n; i++)
	{
		int			s = slots[i];

		if (s < 0 || s >= SLOTS)
			elog(ERROR, "pushplan: a send profile holds slot %d", s);
		for (int k = -KERNEL_RADIUS; k <= KERNEL_RADIUS; k++)
		{
			int			t = (s + k + SLOTS) % SLOTS;

			if (smooth[t] == 0)
				touched[ntouched++] = (int16) t;
			smooth[t] += kernel[Abs(k)] * (double) weights[i];
		}
	}
	for (int i = 0; i < ntouched; i++)
	{
		double		v = smooth[touched[i]];
		int			k = z->slot_first[touched[i]];

		if (v > day_max)
			day_max = v;
		if (k >= 0 && (chosen < 0 || v > best || (v == best && k < chosen)))
		{
			best = v;
			chosen = k;
		}
	}
	for (int i = 0; i < ntouched; i++)
		smooth[touched[i]] = 0;
	if (chosen < 0)
		chosen = z->first;		/* nothing weighed is left: the first slot start left */
	*send_at = z->m[chosen].at;
	return best == day_max ? BASIS_BEST : BASIS_NEXT_BEST;
}

/* a histogram kept as two arrays of a profile row: smallint[] slots, real[] weights */
static int
profile_arrays(Datum slots_d, Datum weights_d, int16 **slots, float4 **weights)
{
	ArrayType  *sa = DatumGetArrayTypeP(slots_d);
	ArrayType  *wa = DatumGetArrayTypeP(weights_d);
	int			n = ArrayGetNItems(ARR_NDIM(sa), ARR_DIMS(sa));

	if (ARR_ELEMTYPE(sa) != INT2OID || ARR_ELEMTYPE(wa) != FLOAT4OID || ARR_HASNULL(sa) ||
		ARR_HASNULL(wa) || ArrayGetNItems(ARR_NDIM(wa), ARR_DIMS(wa)) != n)
		elog(ERROR, "pushplan: a send profile's slots and weights do not match");
	*slots = (int16 *) ARR_DATA_PTR(sa);
	*weights = (float4 *) ARR_DATA_PTR(wa);
	return n;
}

/* Rows of one table read by device id, and their order by id. */
typedef struct RowsById
{
	SPITupleTable *t;
	uint64		n;
	int64	   *id;				/* the k-th smallest id ... */
	uint32	   *row;			/* ... is in row t->vals[row[k]] */
} RowsById;

typedef struct IdRow
{
	int64		id;
	uint32		row;
} IdRow;

static int
id_row_cmp(const void *a, const void *b)
{
	int64		x = ((const IdRow *) a)->id;
	int64		y = ((const IdRow *) b)->id;

	return x < y ? -1 : x > y;
}

/*
 * Reads the rows of `table` for a batch's sorted ids: a batch whose ids are dense (an
 * expansion's usually are) as one range of the primary key, the rows between that are not in
 * the batch skipped by the caller; a sparse one with one index descent per id. In whatever
 * order the plan gives (a bitmap scan's, usually), sorted here: cheaper than a sort node.
 */
static void
rows_by_id(RowsById *out, SPIPlanPtr *range_plan, SPIPlanPtr *list_plan, const char *columns,
		   const char *table, Datum ids_array, const int64 *ids, int n)
{
	bool		dense = n > 0 && ((uint64) ids[n - 1] - (uint64) ids[0]) < (uint64) n * 4;
	Oid			range_types[2] = {INT8OID, INT8OID};
	Oid			list_types[1] = {INT8ARRAYOID};
	Datum		args[2];
	SPIPlanPtr	plan;
	IdRow	   *pairs;
	bool		in_order = true;

	if (dense)
	{
		plan = kept_plan(range_plan, table,
						 psprintf("SELECT %s FROM %s WHERE device_id BETWEEN $1 AND $2",
								  columns, table), 2, range_types);
		args[0] = Int64GetDatum(ids[0]);
		args[1] = Int64GetDatum(ids[n - 1]);
	}
	else
	{
		plan = kept_plan(list_plan, table,
						 psprintf("SELECT %s FROM %s WHERE device_id = ANY ($1)",
								  columns, table), 1, list_types);
		args[0] = ids_array;
	}
	pp_spi_checked(SPI_execute_plan(plan, args, NULL, true, 0), table, SPI_OK_SELECT);
	out->t = SPI_tuptable;
	out->n = SPI_processed;
	pairs = palloc(sizeof(IdRow) * Max(out->n, 1));
	for (uint64 r = 0; r < out->n; r++)
	{
		bool		isnull;

		pairs[r].id = DatumGetInt64(SPI_getbinval(out->t->vals[r], out->t->tupdesc, 1, &isnull));
		pairs[r].row = (uint32) r;
		if (r > 0 && pairs[r].id < pairs[r - 1].id)
			in_order = false;
	}
	if (!in_order)
		qsort(pairs, out->n, sizeof(IdRow), id_row_cmp);
	out->id = palloc(sizeof(int64) * Max(out->n, 1));
	out->row = palloc(sizeof(uint32) * Max(out->n, 1));
	for (uint64 k = 0; k < out->n; k++)
	{
		out->id[k] = pairs[k].id;
		out->row[k] = pairs[k].row;
	}
	pfree(pairs);
}

static int
int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y;
}

/*
 * pushplan._smart_send_times(device_ids bigint[], window_start timestamptz,
 *     not_before timestamptz, backup_local timestamp) RETURNS TABLE (device_id bigint,
 *     send_at timestamptz, basis text)
 * One row per element of device_ids, in device id order (doc/smart_send.md). Devices marked as
 * having visits their profile does not hold yet, and devices whose zone changed since their
 * profile was computed, are computed from device_activity here: the answer never depends on the
 * refresh having run.
 */
Datum
pushplan_smart_send_times(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr devices_range = NULL;
	static SPIPlanPtr devices_list = NULL;
	static SPIPlanPtr profiles_range = NULL;
	static SPIPlanPtr profiles_list = NULL;
	static SPIPlanPtr marked_range = NULL;
	static SPIPlanPtr marked_list = NULL;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz ws,
				not_before;
	Timestamp	backup = 0;
	bool		has_backup = !PG_ARGISNULL(3);
	MemoryContext cxt;
	MemoryContext old;
	HTAB	   *fresh = NULL;
	HTAB	   *zones;
	HASHCTL		hctl;
	ZoneWindow *z = NULL;
	char		last_zone[TZ_STRLEN_MAX + 1] = "";
	int			last_len = -1;
	Datum		ids_datum;
	Datum	   *id_datums;
	bool	   *id_nulls;
	int			nids;
	int64	   *ids;
	int			nvalid = 0;
	RowsById	devs,
				profs,
				marks;
	int64	   *dev_of;			/* each id's row in devs.t, or -1 */
	int64	   *prof_of;		/* each id's row in profs.t, or -1 */
	Datum	   *recompute;
	int			nrecompute = 0;
	Datum		basis_text[BASIS_COUNT];
	double		smooth[SLOTS];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		elog(ERROR, "pushplan: _smart_send_times needs device_ids, window_start and not_before");
	ids_datum = PG_GETARG_DATUM(0);
	ws = PG_GETARG_TIMESTAMPTZ(1);
	not_before = PG_GETARG_TIMESTAMPTZ(2);
	if (has_backup)
		backup = PG_GETARG_TIMESTAMP(3);
	if (TIMESTAMP_NOT_FINITE(ws) || TIMESTAMP_NOT_FINITE(not_before))
		elog(ERROR, "pushplan: _smart_send_times needs a finite window_start and not_before");

	memset(smooth, 0, sizeof(smooth));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pushplan smart send times",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	hctl.keysize = TZ_STRLEN_MAX + 1;
	hctl.entrysize = sizeof(ZoneWindow);
	hctl.hcxt = cxt;
	zones = hash_create("pushplan smart zones", 64, &hctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (int b = 0; b < BASIS_COUNT; b++)
		basis_text[b] = CStringGetTextDatum(basis_names[b]);

	/* the ids in order; NULL elements are answered at once */
	deconstruct_array(DatumGetArrayTypeP(ids_datum), INT8OID, sizeof(int64), true,
					  TYPALIGN_DOUBLE, &id_datums, &id_nulls, &nids);
	ids = palloc(sizeof(int64) * Max(nids, 1));
	for (int i = 0; i < nids; i++)
	{
		if (id_nulls[i])
		{
			Datum		values[3] = {0, 0, basis_text[BASIS_UNKNOWN]};
			bool		nulls[3] = {true, true, false};

			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			continue;
		}
		ids[nvalid++] = DatumGetInt64(id_datums[i]);
	}
	for (int i = 1; i < nvalid; i++)
		if (ids[i] < ids[i - 1])
		{
			qsort(ids, nvalid, sizeof(int64), int64_cmp);
			break;
		}
	dev_of = palloc(sizeof(int64) * Max(nvalid, 1));
	prof_of = palloc(sizeof(int64) * Max(nvalid, 1));
	recompute = palloc(sizeof(Datum) * Max(nvalid, 1));
	MemoryContextSwitchTo(old);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pushplan: SPI_connect failed");
	layout_distributed = pp_registry_distributed();

	/* the devices' zones, their profiles and their marks, each in id order */
	rows_by_id(&devs, &devices_range, &devices_list, "device_id, timezone", "pushplan.devices",
			   ids_datum, ids, nvalid);
	rows_by_id(&profs, &profiles_range, &profiles_list, "device_id, timezone, slots, weights",
			   "pushplan.device_send_profiles", ids_datum, ids, nvalid);
	rows_by_id(&marks, &marked_range, &marked_list, "device_id", "pushplan.smart_profile_pending",
			   ids_datum, ids, nvalid);

	/*
	 * Each id against them. Computed now from its visits: a marked device (its profile lacks
	 * visits), and one whose profile is in another zone than the device's now.
	 */
	for (uint64 i = 0, d = 0, p = 0, m = 0; i < nvalid; i++)
	{
		int64		id = ids[i];
		bool		isnull;

		while (d < devs.n && devs.id[d] < id)
			d++;
		while (p < profs.n && profs.id[p] < id)
			p++;
		while (m < marks.n && marks.id[m] < id)
			m++;
		dev_of[i] = (d < devs.n && devs.id[d] == id) ? (int64) devs.row[d] : -1;
		prof_of[i] = (dev_of[i] >= 0 && p < profs.n && profs.id[p] == id) ? (int64) profs.row[p] : -1;
		if (dev_of[i] < 0 || (i > 0 && ids[i - 1] == id))
			continue;
		if (m < marks.n && marks.id[m] == id)
			recompute[nrecompute++] = Int64GetDatum(id);
		else if (prof_of[i] >= 0)
		{
			text	   *a = DatumGetTextPP(SPI_getbinval(devs.t->vals[dev_of[i]], devs.t->tupdesc, 2, &isnull));
			text	   *b = DatumGetTextPP(SPI_getbinval(profs.t->vals[prof_of[i]], profs.t->tupdesc, 2, &isnull));

			if (VARSIZE_ANY_EXHDR(a) != VARSIZE_ANY_EXHDR(b) ||
				memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) != 0)
				recompute[nrecompute++] = Int64GetDatum(id);
		}
	}
	if (nrecompute > 0)
	{
		Datum		computed;

		old = MemoryContextSwitchTo(cxt);
		computed = PointerGetDatum(construct_array(recompute, nrecompute, INT8OID, sizeof(int64),
												   true, TYPALIGN_DOUBLE));
		MemoryContextSwitchTo(old);
		fresh = histograms_compute(computed, cxt);
	}

	for (int i = 0; i < nvalid; i++)
	{
		int64		id = ids[i];
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		Basis		basis;
		TimestampTz send_at = 0;
		DeviceVisits *computed = NULL;
		int16	   *slots = NULL;
		float4	   *weights = NULL;
		int			n = 0;
		bool		isnull;
		text	   *zt;
		int			len;

		values[0] = Int64GetDatum(id);
		if (dev_of[i] < 0)
		{
			/* no such device: nothing to send, said so */
			nulls[1] = true;
			values[2] = basis_text[BASIS_UNKNOWN];
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			continue;
		}

		zt = DatumGetTextPP(SPI_getbinval(devs.t->vals[dev_of[i]], devs.t->tupdesc, 2, &isnull));
		len = Min(VARSIZE_ANY_EXHDR(zt), TZ_STRLEN_MAX);
		if (z == NULL || len != last_len || memcmp(last_zone, VARDATA_ANY(zt), len) != 0)
		{
			bool		found;

			memcpy(last_zone, VARDATA_ANY(zt), len);
			last_zone[len] = '\0';
			last_len = len;
			z = hash_search(zones, last_zone, HASH_ENTER, &found);
			if (!found)
			{
				pg_tz	   *tz = zone_named(last_zone);

				old = MemoryContextSwitchTo(cxt);
				z->n = 0;
				z->cap = 0;
				z->m = NULL;
				window_build(z, tz, ws, not_before);
				z->backup_at = has_backup ? backup_in_zone(backup, tz) : 0;
				MemoryContextSwitchTo(old);
			}
		}

		if (fresh != NULL)
			computed = hash_search(fresh, &id, HASH_FIND, NULL);
		if (computed != NULL)
		{
			slots = computed->slots;
			weights = computed->weights;
			n = computed->nslots;
		}
		else if (prof_of[i] >= 0)
		{
			HeapTuple	pt = profs.t->vals[prof_of[i]];
			bool		slots_null,
						weights_null;
			Datum		slots_d = SPI_getbinval(pt, profs.t->tupdesc, 3, &slots_null);
			Datum		weights_d = SPI_getbinval(pt, profs.t->tupdesc, 4, &weights_null);

			if (!slots_null && !weights_null)
				n = profile_arrays(slots_d, weights_d, &slots, &weights);
		}

		if (n > 0)
			basis = choose(z, slots, weights, n, not_before, smooth, &send_at);
		else if (!has_backup)
		{
			send_at = not_before;
			basis = BASIS_NOW;
		}
		else if (z->backup_at < not_before)
		{
			send_at = not_before;
			basis = BASIS_BACKUP_LATE;
		}
		else
		{
			send_at = z->backup_at;
			basis = BASIS_BACKUP;
		}
		values[1] = TimestampTzGetDatum(send_at);
		values[2] = basis_text[basis];
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
