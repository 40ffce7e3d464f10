/*
 * device_probe.c: which devices of a registration batch exist already, and which tokens moved.
 *
 * Registration needs, for each device of a batch, the id of the registration it updates (if
 * any), and the other registrations of the app holding the same token (an app reinstalled: they
 * lose the token). Asked in SQL, the planner chose per batch between an index probe per device
 * and a scan of every device of the app, and for an app its statistics did not know yet (a new
 * app importing its devices) it chose a probe of the token index per device that read all of
 * the app's devices each time: seconds a batch. Here each device is one descent of the index
 * that answers it, whatever the statistics say. Used on one node only: on the distributed
 * layout the devices are on the worker nodes (sql/api/20_devices.sql keeps its SQL there).
 */
#include "pushplan.h"

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(pushplan_devices_probe);
PG_FUNCTION_INFO_V1(pushplan_device_lookup);

static Oid
pushplan_relid(const char *name)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid("pushplan", false));

	if (!OidIsValid(relid))
		elog(ERROR, "relation pushplan.%s does not exist", name);
	return relid;
}

static AttrNumber
column(Oid relid, const char *name)
{
	AttrNumber	att = get_attnum(relid, name);

	if (att == InvalidAttrNumber)
		elog(ERROR, "pushplan.devices has no column %s", name);
	return att;
}

/* The elements of a one-dimensional text array; NULL elements stay NULL pointers. */
static int
text_elems(ArrayType *a, Datum **elems, bool **nulls)
{
	int			n;

	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, elems, nulls, &n);
	return n;
}

/* Points the scan at (app, registration id): at most one row, the unique index's. */
static void
rescan_registration(IndexScanDesc scan, ScanKey key, int32 app, Datum rid)
{
	ScanKeyEntryInitialize(&key[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   InvalidOid, F_INT4EQ, Int32GetDatum(app));
	ScanKeyEntryInitialize(&key[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
						   C_COLLATION_OID, F_TEXTEQ, rid);
	index_rescan(scan, key, 2, NULL, 0);
}

/*
 * _device_lookup(app int, registration_id text) RETURNS bigint: the device's id, or NULL (the
 * one-node path of _device_id, behind every one-device function).
 */
Datum
pushplan_device_lookup(PG_FUNCTION_ARGS)
{
	int32		app = PG_GETARG_INT32(0);
	Datum		rid = PG_GETARG_DATUM(1);
	Oid			relid = pushplan_relid("devices");
	AttrNumber	att_id = column(relid, "device_id");
	Relation	heap = table_open(relid, AccessShareLock);
	Relation	by_rid = index_open(pushplan_relid("devices_app_id_registration_id_key"),
									AccessShareLock);
	TupleTableSlot *slot = table_slot_create(heap, NULL);
	IndexScanDesc scan = index_beginscan(heap, by_rid, GetActiveSnapshot(), 2, 0);
	ScanKeyData key[2];
	bool		found;
	bool		isnull = true;
	Datum		id = (Datum) 0;

	rescan_registration(scan, key, app, rid);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
		id = slot_getattr(slot, att_id, &isnull);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(by_rid, AccessShareLock);
	table_close(heap, AccessShareLock);
	if (!found || isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(id);
}

/*
 * _devices_probe(app int, rids text[], vendors text[], tokens text[],
 *                OUT ids bigint[], OUT moved bigint[])
 * ids: for each registration id, its device's id, or NULL when the app has none. moved: the ids
 * of the app's other registrations holding one of the tokens with the same vendor.
 */
Datum
pushplan_devices_probe(PG_FUNCTION_ARGS)
{
	int32		app = PG_GETARG_INT32(0);
	Datum	   *rids,
			   *vendors,
			   *tokens;
	bool	   *rid_nulls,
			   *vendor_nulls,
			   *token_nulls;
	int			n = text_elems(PG_GETARG_ARRAYTYPE_P(1), &rids, &rid_nulls);
	Oid			relid = pushplan_relid("devices");
	AttrNumber	att_id = column(relid, "device_id");
	AttrNumber	att_rid = column(relid, "registration_id");
	AttrNumber	att_vendor = column(relid, "vendor");
	Relation	heap;
	Relation	by_rid;
	Relation	by_token;
	TupleTableSlot *slot;
	IndexScanDesc scan;
	ScanKeyData key[2];
	Datum	   *ids = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *id_nulls = palloc(sizeof(bool) * Max(n, 1));
	Datum	   *moved = palloc(sizeof(Datum) * Max(n, 1));
	int			n_moved = 0;
	int			moved_cap = Max(n, 1);
	int			dims[1];
	int			lbs[1] = {1};
	TupleDesc	tupdesc;
	Datum		result[2];
	bool		result_nulls[2] = {false, false};

	if (text_elems(PG_GETARG_ARRAYTYPE_P(2), &vendors, &vendor_nulls) != n ||
		text_elems(PG_GETARG_ARRAYTYPE_P(3), &tokens, &token_nulls) != n)
		elog(ERROR, "_devices_probe: the arrays differ in length");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_devices_probe must return a record");

	heap = table_open(relid, AccessShareLock);
	by_rid = index_open(pushplan_relid("devices_app_id_registration_id_key"), AccessShareLock);
	by_token = index_open(pushplan_relid("devices_token_idx"), AccessShareLock);
	slot = table_slot_create(heap, NULL);

	/* (app_id, registration_id): at most one row each; both indexes compare text bytewise */
	scan = index_beginscan(heap, by_rid, GetActiveSnapshot(), 2, 0);
	for (int i = 0; i < n; i++)
	{
		id_nulls[i] = true;
		ids[i] = (Datum) 0;
		if (rid_nulls[i])
			continue;
		rescan_registration(scan, key, app, rids[i]);
		if (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			bool		isnull;

			ids[i] = slot_getattr(slot, att_id, &isnull);
			id_nulls[i] = isnull;
		}
		CHECK_FOR_INTERRUPTS();
	}
	index_endscan(scan);

	/* (app_id, token): the registrations a token leaves, with the same vendor, not this one */
	scan = index_beginscan(heap, by_token, GetActiveSnapshot(), 2, 0);
	for (int i = 0; i < n; i++)
	{
		if (token_nulls[i] || rid_nulls[i] || vendor_nulls[i])
			continue;
		ScanKeyEntryInitialize(&key[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
							   InvalidOid, F_INT4EQ, Int32GetDatum(app));
		ScanKeyEntryInitialize(&key[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
							   C_COLLATION_OID, F_TEXTEQ, tokens[i]);
		index_rescan(scan, key, 2, NULL, 0);
		while (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			bool		isnull;
			Datum		rid = slot_getattr(slot, att_rid, &isnull);
			Datum		vendor;

			if (isnull || DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID,
															   rid, rids[i])))
				continue;
			vendor = slot_getattr(slot, att_vendor, &isnull);
			if (isnull || !DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID,
																vendor, vendors[i])))
				continue;
			if (n_moved == moved_cap)
			{
				moved_cap *= 2;
				moved = repalloc(moved, sizeof(Datum) * moved_cap);
			}
			moved[n_moved++] = slot_getattr(slot, att_id, &isnull);
		}
		CHECK_FOR_INTERRUPTS();
	}
	index_endscan(scan);

	ExecDropSingleTupleTableSlot(slot);
	index_close(by_token, AccessShareLock);
	index_close(by_rid, AccessShareLock);
	table_close(heap, AccessShareLock);

	dims[0] = n;
	/* (an empty array has no dimension: construct_md_array would make one of length 0) */
	result[0] = PointerGetDatum(n == 0 ? construct_empty_array(INT8OID) :
								construct_md_array(ids, id_nulls, 1, dims, lbs, INT8OID,
												   sizeof(int64), FLOAT8PASSBYVAL,
												   TYPALIGN_DOUBLE));
	result[1] = PointerGetDatum(construct_array(moved, n_moved, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), result,
													  result_nulls)));
}
