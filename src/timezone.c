/*
 * timezone.c: validation of device time zones against the IANA database.
 *
 * pg_tzset() accepts both IANA zone names (loaded from the tz database) and POSIX TZ specs
 * such as "UTC+3" or "EST5". Devices must name a real zone, so POSIX specs are refused: they
 * always carry a numeric offset, while zone names carry digits only in a few legacy names.
 *
 * Also the wall times users give without a zone (schedules, Tencent Push's send_time):
 * "YYYY-MM-DD HH:MM:SS" and "HH:MM:SS", checked against the calendar (2025-02-30 is refused).
 */
#include "pushplan.h"

#include "fmgr.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"

PG_FUNCTION_INFO_V1(pushplan_canonical_timezone);

static bool
looks_like_posix_spec(const char *name)
{
	static const char *const legacy[] = {
		"EST5EDT", "CST6CDT", "MST7MDT", "PST8PDT", "GMT0", "GMT+0", "GMT-0", NULL
	};
	const char *p;

	if (strchr(name, '/') != NULL)
		return false;			/* Area/Location, and Etc/GMT+3 style names */
	for (int i = 0; legacy[i]; i++)
		if (pg_strcasecmp(name, legacy[i]) == 0)
			return false;
	for (p = name; *p; p++)
		if (isdigit((unsigned char) *p) || *p == '<' || *p == ',' || *p == ':')
			return true;
	return false;
}

/*
 * Returns the canonical spelling of an IANA zone name ("asia/shanghai" -> "Asia/Shanghai"),
 * or NULL when the name is not a zone.
 */
const char *
pp_canonical_timezone(const char *name)
{
	pg_tz	   *tz;

	if (name == NULL || name[0] == '\0' || strlen(name) > TZ_STRLEN_MAX ||
		looks_like_posix_spec(name))
		return NULL;
	tz = pg_tzset(name);
	if (tz == NULL)
		return NULL;
	return pg_get_timezone_name(tz);
}

/* pushplan.canonical_timezone(text) RETURNS text: NULL for anything that is not an IANA zone */
Datum
pushplan_canonical_timezone(PG_FUNCTION_ARGS)
{
	const char *canon = pp_canonical_timezone(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	if (canon == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(canon));
}

/* Exactly n ASCII digits at s, as an integer in *out. */
bool
pp_fixed_digits(const char *s, int n, int *out)
{
	*out = 0;
	for (int i = 0; i < n; i++)
	{
		if (!isdigit((unsigned char) s[i]))
			return false;
		*out = *out * 10 + (s[i] - '0');
	}
	return true;
}

/* "HH:MM:SS", a real time of day. */
bool
pp_valid_time_of_day(const char *s, int len)
{
	int			h,
				m,
				sec;

	return len == 8 && s[2] == ':' && s[5] == ':' &&
		pp_fixed_digits(s, 2, &h) && pp_fixed_digits(s + 3, 2, &m) &&
		pp_fixed_digits(s + 6, 2, &sec) && h <= 23 && m <= 59 && sec <= 59;
}

/* "YYYY-MM-DD HH:MM:SS" (year 2000 on), a real day of the calendar and a real time of day. */
bool
pp_valid_local_datetime(const char *s, int len)
{
	int			y,
				mo,
				d;

	if (len != 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' ||
		!pp_fixed_digits(s, 4, &y) || !pp_fixed_digits(s + 5, 2, &mo) ||
		!pp_fixed_digits(s + 8, 2, &d) || y < 2000 || mo < 1 || mo > 12 || d < 1)
		return false;
	if (d > day_tab[isleap(y)][mo - 1])
		return false;
	return pp_valid_time_of_day(s + 11, 8);
}
