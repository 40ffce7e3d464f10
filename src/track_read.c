/*
 * track_read.c: push_track_batch's events read in one pass, the fast path of its checks
 * (sql/api/89_flows_track.sql; doc/flows.md, "push_track").
 *
 *   _track_read(events jsonb, earliest timestamptz, latest timestamptz) returns the batch's
 *   events as arrays, in the order they are taken (by time, then place): registration_ids
 *   (NULL for an account's event), accounts, account_types, names, props, ats. It returns
 *   NULL as soon as an event breaks one of push_track_batch's rules; the caller then runs its
 *   checks in SQL, which find the first problem and raise it with its message. So this file
 *   only has to be as strict as those checks, never to word an error: every batch accepted
 *   here is one the SQL checks accept with the same values (test/sql/flows_track_read.sql
 *   holds the two against each other over a corpus of bad events). The device lookup stays
 *   with the caller. test/fuzz/fuzz_track.c runs pp_track_read over arbitrary input.
 *
 * Why: as one SQL statement the checks cost about 60 ms of a 10,000-event batch's 200
 * (doc/benchmarks.md, "Flows at scale, round 4"), mostly in jsonb operators and regular
 * expressions evaluated per event; here it is one walk over the batch.
 */
#include "pushplan.h"
#include "flow.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pushplan_track_read);

/* The keys an event may have. */
static const char *const event_keys[] = {"registration_id", "account", "account_type", "event", "props", "at"};

/* The member key of object c, or false. */
static bool
member(JsonbContainer *c, const char *key, JsonbValue *out)
{
	return getKeyJsonValueFromContainer(c, key, strlen(key), out) != NULL;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* n ASCII digits at s[*i], moving *i past them. */
static bool
digits(const char *s, int len, int *i, int n)
{
	for (int k = 0; k < n; k++, (*i)++)
		if (*i >= len || !is_digit(s[*i]))
			return false;
	return true;
}

/*
 * Whether s is an ISO 8601 time with an offset as push_track_batch takes it (its regular
 * expression ^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,6})?)?(Z|[+-]\d\d(:?\d\d)?)$, with
 * ASCII digits only: a stricter reading sends a batch to the SQL checks, never past them).
 */
static bool
iso_time(const char *s, int len)
{
	int			i = 0;

	if (!digits(s, len, &i, 4) || i >= len || s[i++] != '-' || !digits(s, len, &i, 2) ||
		i >= len || s[i++] != '-' || !digits(s, len, &i, 2) ||
		i >= len || (s[i] != 'T' && s[i] != ' ') || !(++i, digits(s, len, &i, 2)) ||
		i >= len || s[i++] != ':' || !digits(s, len, &i, 2))
		return false;
	if (i < len && s[i] == ':')
	{
		i++;
		if (!digits(s, len, &i, 2))
			return false;
		if (i < len && s[i] == '.')
		{
			int			from = ++i;

			while (i < len && is_digit(s[i]) && i - from < 6)
				i++;
			if (i == from)
				return false;
		}
	}
	if (i < len && s[i] == 'Z')
		return i + 1 == len;
	if (i >= len || (s[i] != '+' && s[i] != '-'))
		return false;
	i++;
	if (!digits(s, len, &i, 2))
		return false;
	if (i == len)
		return true;
	if (s[i] == ':')
		i++;
	return digits(s, len, &i, 2) && i == len;
}

/* Whether an event name is 1 to 64 of A-Z a-z 0-9 _ . : - */
static bool
event_name_ok(const char *s, int len)
{
	if (len < 1 || len > 64)
		return false;
	for (int i = 0; i < len; i++)
	{
		char		c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) ||
			  c == '_' || c == '.' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

static text *
string_text(const JsonbValue *v)
{
	return cstring_to_text_with_len(v->val.string.val, v->val.string.len);
}

/*
 * One event of the batch read into *e, or false when it breaks a rule. An "at" that passes
 * the expression but names no time (month 13) raises the cast's error, as the SQL checks do.
 */
static bool
read_event(JsonbValue *elem, TimestampTz earliest, TimestampTz latest, Jsonb *no_props, PPTrackEvent *e)
{
	JsonbContainer *c;
	JsonbValue	v;
	int			known = 0;

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		return false;
	c = elem->val.binary.data;
	for (int k = 0; k < lengthof(event_keys); k++)
		if (member(c, event_keys[k], &v))
			known++;
	if (known != JsonContainerSize(c))
		return false;			/* a key of another name */

	e->registration_id = NULL;
	e->account = NULL;
	e->account_type = 0;
	if (member(c, "registration_id", &v))
	{
		if (v.type != jbvString || member(c, "account", &v) || member(c, "account_type", &v))
			return false;
		member(c, "registration_id", &v);
		e->registration_id = string_text(&v);
	}
	else
	{
		const char *s;
		int			len;

		if (!member(c, "account", &v) || v.type != jbvString)
			return false;
		s = v.val.string.val;
		len = v.val.string.len;
		if (pg_mbstrlen_with_len(s, len) < 2 || pg_mbstrlen_with_len(s, len) > 100 ||
			pp_name_problem("account", s, len) != NULL)
			return false;
		e->account = string_text(&v);
		if (member(c, "account_type", &v))
		{
			char	   *n;
			int			i = 0;

			if (v.type != jbvNumeric)
				return false;
			n = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
			while (is_digit(n[i]))
				i++;
			if (i < 1 || i > 9 || n[i] != '\0')
				return false;
			e->account_type = atoi(n);
		}
	}

	if (!member(c, "event", &v) || v.type != jbvString ||
		!event_name_ok(v.val.string.val, v.val.string.len))
		return false;
	e->name = string_text(&v);

	if (member(c, "props", &v))
	{
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			return false;
		e->props = JsonbValueToJsonb(&v);
		if (pp_track_props_problem(e->props) != NULL)
			return false;
	}
	else
		e->props = no_props;

	if (member(c, "at", &v))
	{
		char	   *s;

		if (v.type != jbvString || !iso_time(v.val.string.val, v.val.string.len))
			return false;
		s = pnstrdup(v.val.string.val, v.val.string.len);
		e->at = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(s),
														ObjectIdGetDatum(InvalidOid),
														Int32GetDatum(-1)));
	}
	else
		e->at = GetCurrentTransactionStartTimestamp();
	return e->at >= earliest && e->at <= latest;
}

/* By time, then place: the order push_track_batch takes the events in. */
static int
event_order(const void *a, const void *b)
{
	const PPTrackEvent *x = a;
	const PPTrackEvent *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* A one-dimensional array of n values of type, NULL where isnull. */
static Datum
array_of(Datum *values, bool *isnull, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	if (n == 0)
		return PointerGetDatum(construct_empty_array(type));
	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, isnull, 1, dims, lbs, type, typlen, typbyval, typalign));
}

/*
 * The events of a batch (a JSON array) read into *out, sorted by time then place: how many,
 * or -1 as soon as one breaks a rule. Events without "at" are at the transaction's start.
 */
int
pp_track_read(Jsonb *events, TimestampTz earliest, TimestampTz latest, PPTrackEvent **out)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	PPTrackEvent *ev;
	int			n = 0;
	Jsonb	   *no_props;

	if (!JB_ROOT_IS_ARRAY(events) || JB_ROOT_IS_SCALAR(events))
		return -1;
	no_props = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	ev = palloc(sizeof(PPTrackEvent) * Max(JB_ROOT_COUNT(events), 1));
	it = JsonbIteratorInit(&events->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		ev[n].pos = n;
		if (!read_event(&v, earliest, latest, no_props, &ev[n]))
			return -1;
		n++;
	}
	qsort(ev, n, sizeof(PPTrackEvent), event_order);
	*out = ev;
	return n;
}

/* _track_read(events, earliest, latest): pp_track_read's events as the record of arrays. */
Datum
pushplan_track_read(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	PPTrackEvent *ev;
	int			n;
	Datum	   *vals;
	bool	   *nulls;
	Datum		out[6];
	bool		outnull[6] = {false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_track_read must return a record");
	n = pp_track_read(PG_GETARG_JSONB_P(0), PG_GETARG_TIMESTAMPTZ(1), PG_GETARG_TIMESTAMPTZ(2), &ev);
	if (n < 0)
		PG_RETURN_NULL();

	vals = palloc(sizeof(Datum) * Max(n, 1));
	nulls = palloc(sizeof(bool) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		vals[i] = PointerGetDatum(ev[i].registration_id);
		nulls[i] = ev[i].registration_id == NULL;
	}
	out[0] = array_of(vals, nulls, n, TEXTOID);
	for (int i = 0; i < n; i++)
	{
		vals[i] = PointerGetDatum(ev[i].account);
		nulls[i] = ev[i].account == NULL;
	}
	out[1] = array_of(vals, nulls, n, TEXTOID);
	for (int i = 0; i < n; i++)
	{
		vals[i] = Int32GetDatum(ev[i].account_type);
		nulls[i] = ev[i].account == NULL;
	}
	out[2] = array_of(vals, nulls, n, INT4OID);
	memset(nulls, 0, sizeof(bool) * Max(n, 1));
	for (int i = 0; i < n; i++)
		vals[i] = PointerGetDatum(ev[i].name);
	out[3] = array_of(vals, nulls, n, TEXTOID);
	for (int i = 0; i < n; i++)
		vals[i] = JsonbPGetDatum(ev[i].props);
	out[4] = array_of(vals, nulls, n, JSONBOID);
	for (int i = 0; i < n; i++)
		vals[i] = TimestampTzGetDatum(ev[i].at);
	out[5] = array_of(vals, nulls, n, TIMESTAMPTZOID);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), out, outnull)));
}
