/*
 * schedule_trigger.c: a schedule's trigger (EngageLab /v4/schedules), checked and normalized.
 *
 *   {"single": {"time": "YYYY-MM-DD HH:MM:SS", "zone_type": 1|2}}
 *   {"periodical": {"start", "end", "time": "HH:MM:SS", "time_unit": "day|week|month",
 *                   "point": ["MON", ...] | ["01", ...], "frequency": 1..100, "zone_type": 1|2}}
 *     ("time" may also be an array of up to 24 times of day: pushplan's own, for Tencent Push's
 *     loops, whose dayTimes are several times a day)
 *   {"intelligent": {"backup_time": "YYYY-MM-DD HH:MM:SS" | "now", "start": "..."}}
 *
 * Checked here: the shape, every member's syntax and the calendar (2025-02-30 is refused). What
 * depends on the clock and the app's time zone (a time already passed, more than a year ahead,
 * no occurrence left) is checked by push_schedule_create with the occurrences _schedule_next
 * computes (sql/api/80_schedules.sql). The normalized form is what _schedule_next reads: every
 * member present, time_unit lowercase, points sorted without duplicates, zone_type filled in,
 * several times of day sorted without duplicates (one is a string, as EngageLab writes it).
 */
#include "pushplan.h"
#include "json.h"
#include "schedule.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

static const char *const weekdays[] = {"MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"};

/* A JSON value as messages quote it: JSON text ("abc" with its quotes, 7, [1]), shortened. */
static char *
shown_value(JsonbValue *v)
{
	Jsonb	   *j = JsonbValueToJsonb(v);

	return pp_shown(JsonbToCString(NULL, &j->root, VARSIZE(j)));
}

/* Raises 92708 for the first member of obj not in `allowed`. */
static void
check_keys(JsonbContainer *obj, const char *where, const char *const *allowed)
{
	char	   *unknown = pp_jkey_not_in(obj, allowed);

	if (unknown)
		pp_error(PPE_SCHEDULE_TRIGGER_KEY, "unknown key \"%s\" in trigger \"%s\"",
				 pp_shown(unknown), where);
}

/* A required string member that is a valid datetime (or time of day), copied to the output. */
static char *
time_member(JsonbContainer *obj, const char *kind, const char *key, bool required,
			bool time_of_day, const char *also)
{
	JsonbValue *v = pp_jmember(obj, key);
	bool		ok;

	if (v == NULL)
	{
		if (required)
			pp_error(PPE_SCHEDULE_TRIGGER_MISSING, "trigger \"%s\" needs \"%s\"", kind, key);
		return NULL;
	}
	if (v->type == jbvString && also &&
		v->val.string.len == strlen(also) && memcmp(v->val.string.val, also, strlen(also)) == 0)
		return pstrdup(also);
	ok = v->type == jbvString &&
		(time_of_day ? pp_valid_time_of_day(v->val.string.val, v->val.string.len)
		 : pp_valid_local_datetime(v->val.string.val, v->val.string.len));
	if (!ok && also)
		pp_error(PPE_SCHEDULE_BACKUP_TIME,
				 "%s.%s must be \"%s\" or a valid time YYYY-MM-DD HH:MM:SS, got %s",
				 kind, key, also, shown_value(v));
	if (!ok)
		pp_error(PPE_SCHEDULE_TIME_INVALID, "%s.%s must be a valid %s, got %s",
				 kind, key, time_of_day ? "time of day HH:MM:SS" : "time YYYY-MM-DD HH:MM:SS",
				 shown_value(v));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static int
zone_type(JsonbContainer *obj, const char *kind)
{
	JsonbValue *v = pp_jmember(obj, "zone_type");
	int64		z;

	if (v == NULL)
		return 1;
	if (!pp_jv_int64(v, &z, NULL) || (z != 1 && z != 2))
		pp_error(PPE_SCHEDULE_ZONE_TYPE,
				 "%s.zone_type must be 1 (the app's time zone) or 2 (each device's own), got %s",
				 kind, shown_value(v));
	return (int) z;
}

/* The points of a periodical trigger, as a sorted JSON array of distinct strings. */
static char *
points(JsonbContainer *obj, const char *unit)
{
	JsonbValue *v = pp_jmember(obj, "point");
	bool		seen[31];
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	StringInfoData out;
	bool		week = strcmp(unit, "week") == 0;
	int			n = 0;

	if (strcmp(unit, "day") == 0)
	{
		if (v != NULL)
			pp_error(PPE_SCHEDULE_POINT, "periodical.point is not used with time_unit day");
		return "[]";
	}
	if (v == NULL)
		pp_error(PPE_SCHEDULE_TRIGGER_MISSING,
				 "trigger \"periodical\" needs \"point\" with time_unit %s", unit);
	if (!pp_jv_is_array(v))
		pp_error(PPE_SCHEDULE_POINT, "periodical.point must be an array of %s",
				 week ? "days MON to SUN" : "days of the month \"01\" to \"31\"");
	memset(seen, 0, sizeof(seen));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		int			idx = -1;

		if (tok != WJB_ELEM)
			continue;
		if (e.type == jbvString && week)
		{
			for (int i = 0; i < 7; i++)
				if (e.val.string.len == 3 && pg_strncasecmp(e.val.string.val, weekdays[i], 3) == 0)
					idx = i;
		}
		else if (e.type == jbvString && e.val.string.len == 2 &&
				 pp_fixed_digits(e.val.string.val, 2, &idx) && idx >= 1 && idx <= 31)
			idx--;
		else
			idx = -1;
		if (idx < 0)
			pp_error(PPE_SCHEDULE_POINT, "periodical.point must hold %s, got %s",
					 week ? "days MON to SUN" : "days of the month \"01\" to \"31\"",
					 shown_value(&e));
		seen[idx] = true;
		n++;
	}
	if (n == 0)
		pp_error(PPE_SCHEDULE_POINT, "periodical.point is empty");
	initStringInfo(&out);
	appendStringInfoChar(&out, '[');
	for (int i = 0, first = 1; i < (week ? 7 : 31); i++)
		if (seen[i])
		{
			if (week)
				appendStringInfo(&out, "%s\"%s\"", first ? "" : ", ", weekdays[i]);
			else
				appendStringInfo(&out, "%s\"%02d\"", first ? "" : ", ", i + 1);
			first = 0;
		}
	appendStringInfoChar(&out, ']');
	return out.data;
}

#define MAX_TIMES_A_DAY	24

static int
times_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * periodical.time: one time of day, or an array of 1 to MAX_TIMES_A_DAY of them. Returns it
 * as JSON: a string, or a sorted array of distinct strings (one left is a string).
 */
static char *
periodical_times(JsonbContainer *obj)
{
	JsonbValue *v = pp_jmember(obj, "time");
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	char	   *times[MAX_TIMES_A_DAY];
	int			n = 0,
				kept = 0;
	StringInfoData out;

	if (v == NULL || v->type == jbvString)
		return psprintf("\"%s\"", time_member(obj, "periodical", "time", true, true, NULL));
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		pp_error(PPE_SCHEDULE_TIME_INVALID,
				 "periodical.time must be a valid time of day HH:MM:SS or an array of 1 to %d of them, got %s",
				 MAX_TIMES_A_DAY, shown_value(v));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvString || !pp_valid_time_of_day(e.val.string.val, e.val.string.len))
			pp_error(PPE_SCHEDULE_TIME_INVALID,
					 "periodical.time must hold valid times of day HH:MM:SS, got %s", shown_value(&e));
		if (n == MAX_TIMES_A_DAY)
			pp_error(PPE_SCHEDULE_TIME_INVALID,
					 "periodical.time holds at most %d times of day", MAX_TIMES_A_DAY);
		times[n++] = pnstrdup(e.val.string.val, e.val.string.len);
	}
	if (n == 0)
		pp_error(PPE_SCHEDULE_TIME_INVALID, "periodical.time is empty");
	qsort(times, n, sizeof(char *), times_cmp);
	for (int i = 0; i < n; i++)
		if (i == 0 || strcmp(times[i], times[kept - 1]) != 0)
			times[kept++] = times[i];
	if (kept == 1)
		return psprintf("\"%s\"", times[0]);
	initStringInfo(&out);
	appendStringInfoChar(&out, '[');
	for (int i = 0; i < kept; i++)
		appendStringInfo(&out, "%s\"%s\"", i ? ", " : "", times[i]);
	appendStringInfoChar(&out, ']');
	return out.data;
}

static void
periodical(JsonbContainer *obj, StringInfo out)
{
	static const char *const keys[] = {"start", "end", "time", "time_unit", "point", "frequency",
	"zone_type", NULL};
	char	   *start;
	char	   *end;
	char	   *time;
	JsonbValue *unit_v;
	char	   *unit = NULL;
	JsonbValue *freq_v;
	int64		freq = 1;
	int			sy,
				ey,
				smd,
				emd;

	check_keys(obj, "periodical", keys);
	start = time_member(obj, "periodical", "start", true, false, NULL);
	end = time_member(obj, "periodical", "end", true, false, NULL);
	time = periodical_times(obj);
	unit_v = pp_jmember(obj, "time_unit");
	if (unit_v == NULL)
		pp_error(PPE_SCHEDULE_TRIGGER_MISSING, "trigger \"periodical\" needs \"time_unit\"");
	if (unit_v->type == jbvString)
	{
		static const char *const units[] = {"day", "week", "month"};

		for (int i = 0; i < 3; i++)
			if (unit_v->val.string.len == strlen(units[i]) &&
				pg_strncasecmp(unit_v->val.string.val, units[i], strlen(units[i])) == 0)
				unit = (char *) units[i];
	}
	if (unit == NULL)
		pp_error(PPE_SCHEDULE_TIME_UNIT, "periodical.time_unit must be day, week or month, got %s",
				 shown_value(unit_v));
	freq_v = pp_jmember(obj, "frequency");
	if (freq_v != NULL && (!pp_jv_int64(freq_v, &freq, NULL) || freq < 1 || freq > 100))
		pp_error(PPE_SCHEDULE_FREQUENCY,
				 "periodical.frequency must be an integer from 1 to 100, got %s",
				 shown_value(freq_v));
	/* the strings compare as the times they are (fixed width) */
	if (strcmp(end, start) <= 0)
		pp_error(PPE_SCHEDULE_END_BEFORE_START, "periodical.end must be after periodical.start");
	/* at most one year: end no later than start's month and day, a year on */
	(void) pp_fixed_digits(start, 4, &sy);
	(void) pp_fixed_digits(end, 4, &ey);
	smd = atoi(start + 5) * 100 + atoi(start + 8);
	emd = atoi(end + 5) * 100 + atoi(end + 8);
	if (ey > sy + 1 || (ey == sy + 1 && (emd > smd || (emd == smd && strcmp(end + 11, start + 11) > 0))))
		pp_error(PPE_SCHEDULE_SPAN, "a periodical trigger spans at most one year from start to end");
	appendStringInfo(out, "{\"periodical\": {\"start\": \"%s\", \"end\": \"%s\", \"time\": %s, "
					 "\"time_unit\": \"%s\", \"point\": %s, \"frequency\": %d, \"zone_type\": %d}}",
					 start, end, time, unit, points(obj, unit), (int) freq,
					 zone_type(obj, "periodical"));
}

Jsonb *
pp_trigger_normalize(JsonbValue *trigger)
{
	static const char *const kinds[] = {"single", "periodical", "intelligent", NULL};
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	const char *kind = NULL;
	int			nkinds = 0;
	JsonbContainer *obj;
	StringInfoData out;

	if (trigger == NULL || !pp_jv_is_object(trigger))
		pp_error(PPE_SCHEDULE_TRIGGER_NOT_OBJECT,
				 "the schedule needs a trigger: an object with single, periodical or intelligent");
	it = JsonbIteratorInit(trigger->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		const char *known = NULL;

		if (tok != WJB_KEY)
			continue;
		for (int i = 0; kinds[i]; i++)
			if (v.val.string.len == strlen(kinds[i]) &&
				memcmp(v.val.string.val, kinds[i], v.val.string.len) == 0)
				known = kinds[i];
		if (known == NULL)
			ereport(ERROR,
					(pp_errmsg(PPE_SCHEDULE_TRIGGER_UNKNOWN, "unknown trigger kind \"%s\"",
							   pp_shown_n(v.val.string.val, v.val.string.len)),
					 errhint("The kinds are single, periodical and intelligent.")));
		kind = known;
		nkinds++;
	}
	if (nkinds != 1)
		pp_error(PPE_SCHEDULE_TRIGGER_KINDS,
				 "a trigger has exactly one kind (single, periodical or intelligent), got %d", nkinds);
	obj = pp_jobj(trigger->val.binary.data, kind);
	if (obj == NULL)
		pp_error(PPE_SCHEDULE_TRIGGER_KEY, "trigger \"%s\" must be an object", kind);

	initStringInfo(&out);
	if (strcmp(kind, "single") == 0)
	{
		static const char *const keys[] = {"time", "zone_type", NULL};

		check_keys(obj, kind, keys);
		appendStringInfo(&out, "{\"single\": {\"time\": \"%s\", \"zone_type\": %d}}",
						 time_member(obj, kind, "time", true, false, NULL),
						 zone_type(obj, kind));
	}
	else if (strcmp(kind, "periodical") == 0)
		periodical(obj, &out);
	else
	{
		static const char *const keys[] = {"backup_time", "start", NULL};
		char	   *start;
		char	   *backup;

		check_keys(obj, kind, keys);
		backup = time_member(obj, kind, "backup_time", true, false, "now");
		start = time_member(obj, kind, "start", false, false, NULL);
		appendStringInfo(&out, "{\"intelligent\": {\"backup_time\": \"%s\"", backup);
		if (start)
			appendStringInfo(&out, ", \"start\": \"%s\"", start);
		appendStringInfoString(&out, "}}");
	}
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}
