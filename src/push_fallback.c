/*
 * push_fallback.c: a push's "fallback" (doc/fallback.md), checked and normalized.
 *
 *   "fallback": {"after": "2 hours", "unless": "opened", "via": "webhook",
 *                "to": "account" | {"attr": "email"}, "title": "...", "alert": "..."}
 *
 * Devices whose delivery has not had the `unless` event `after` its send get one message through
 * the app's webhook channel, addressed to the device's account or one of its attributes; the
 * scheduler makes those messages (sql/api/74_fallback.sql). Here: the member's shape, written
 * back normalized (`after` in seconds, `unless` filled in), so that a stored push is read
 * without parsing an interval again.
 */
#include "pushplan.h"

#include "utils/jsonb.h"

#include "json.h"
#include "push_check.h"
#include "push_parse.h"

#define FALLBACK_AFTER_MIN	60			/* 1 minute */
#define FALLBACK_AFTER_MAX	(7 * 86400) /* 7 days */

#define AFTER_HINT	"Write a number of seconds or a text such as \"90 minutes\" or \"2 hours\" (units: seconds, minutes, hours, days)."

static const char *const fallback_keys[] = {"after", "unless", "via", "to", "title", "alert", NULL};

/* "N unit" (one or more spaces between, singular or plural units) -> seconds; -1 if not one. */
static int64
after_text_seconds(const char *s, int len)
{
	static const struct
	{
		const char *unit;
		int64		seconds;
	}			units[] = {
		{"second", 1}, {"minute", 60}, {"hour", 3600}, {"day", 86400}, {NULL, 0}
	};
	int			i = 0;
	int64		n = 0;
	int			ulen;

	if (len == 0 || s[0] < '0' || s[0] > '9')
		return -1;
	while (i < len && s[i] >= '0' && s[i] <= '9')
	{
		if (n > FALLBACK_AFTER_MAX)
			return FALLBACK_AFTER_MAX + 1;	/* out of range, whatever the unit */
		n = n * 10 + (s[i++] - '0');
	}
	while (i < len && s[i] == ' ')
		i++;
	ulen = len - i;
	if (ulen > 0 && s[len - 1] == 's')
		ulen--;
	for (int u = 0; units[u].unit; u++)
		if (ulen == (int) strlen(units[u].unit) && strncmp(s + i, units[u].unit, ulen) == 0)
			return n > FALLBACK_AFTER_MAX ? FALLBACK_AFTER_MAX + 1 : n * units[u].seconds;
	return -1;
}

static int64
check_after(JsonbValue *v)
{
	int64		seconds = -1;

	if (v->type == jbvString)
		seconds = after_text_seconds(v->val.string.val, v->val.string.len);
	else if (!ppj_jbv_int64(v, &seconds))
		seconds = -1;
	if (seconds < 0)
		ereport(ERROR,
				(pp_errmsg(PPE_FALLBACK_AFTER, "\"fallback.after\" must be an interval such as \"2 hours\""),
				 errhint(AFTER_HINT)));
	if (seconds < FALLBACK_AFTER_MIN || seconds > FALLBACK_AFTER_MAX)
		pp_error(PPE_FALLBACK_AFTER_RANGE, "\"fallback.after\" must be from 1 minute to 7 days");
	return seconds;
}

/* "account", or {"attr": "<attribute name>"} */
static void
check_to(JsonbValue *v)
{
	JsonbContainer *c;
	JsonbValue *attr;
	char	   *extra;
	char	   *why;
	static const char *const to_keys[] = {"attr", NULL};

	if (ppj_string_is(v, "account"))
		return;
	if (!pp_jv_is_object(v))
		pp_error(PPE_FALLBACK_TO,
				 "\"fallback.to\" must be \"account\" or {\"attr\": \"<attribute name>\"}");
	c = v->val.binary.data;
	if ((extra = pp_jkey_not_in(c, to_keys)) != NULL)
		pp_error(PPE_FALLBACK_KEY_UNKNOWN, "unknown key \"fallback.to.%s\"", pp_shown(extra));
	attr = pp_jmember(c, "attr");
	if (attr == NULL || attr->type != jbvString)
		pp_error(PPE_FALLBACK_TO,
				 "\"fallback.to\" must be \"account\" or {\"attr\": \"<attribute name>\"}");
	if ((why = pp_attr_name_problem(attr->val.string.val, attr->val.string.len, NULL)) != NULL)
		ereport(ERROR,
				(pp_errmsg(PPE_FALLBACK_ATTR_NAME, "\"fallback.to.attr\" is not a valid attribute name"),
		/* the attribute rule's own text, without its code */
				 errdetail("%s", strlen(why) > 7 && why[5] == ':' ? why + 7 : why)));
}

static void
check_text(JsonbValue *v, const char *key, int max)
{
	if (v->type != jbvString || v->val.string.len == 0 || v->val.string.len > max)
		pp_error(PPE_FALLBACK_TEXT, "\"fallback.%s\" must be a text of 1 to %d bytes", key, max);
}

/*
 * Checks the push's "fallback" member and writes it normalized as "fallback" into st:
 * {"after": seconds, "unless": ..., "via": "webhook", "to": ..., "title"?, "alert"?}.
 */
void
pp_fallback_put(JsonbParseState **st, JsonbValue *v)
{
	JsonbContainer *c;
	JsonbValue *m;
	char	   *extra;
	int64		after;
	const char *unless = "opened";

	if (!pp_jv_is_object(v))
		pp_error(PPE_FALLBACK_NOT_OBJECT, "\"fallback\" must be an object");
	c = v->val.binary.data;
	if ((extra = pp_jkey_not_in(c, fallback_keys)) != NULL)
		ereport(ERROR,
				(pp_errmsg(PPE_FALLBACK_KEY_UNKNOWN, "unknown key \"fallback.%s\"", pp_shown(extra)),
				 errhint("A fallback takes after, unless, via, to, title and alert.")));
	/* the channel first: a fallback without one is the mistake most worth naming */
	if ((m = pp_jmember(c, "via")) == NULL)
		ereport(ERROR,
				(pp_errmsg(PPE_FALLBACK_REQUIRED, "\"fallback.via\" is required: the channel the fallback goes through"),
				 errhint("The channel is \"webhook\" (the app's webhook: push_vendor_set(app, 'webhook', ...)).")));
	if (!ppj_string_is(m, "webhook"))
		pp_error(PPE_FALLBACK_VIA, "\"fallback.via\" must be \"webhook\"");
	if ((m = pp_jmember(c, "after")) == NULL)
		pp_error(PPE_FALLBACK_REQUIRED, "\"fallback.after\" is required");
	after = check_after(m);
	if ((m = pp_jmember(c, "unless")) != NULL)
	{
		if (ppj_string_is(m, "received"))
			unless = "received";
		else if (ppj_string_is(m, "opened"))
			unless = "opened";
		else if (ppj_string_is(m, "clicked"))
			unless = "clicked";
		else
			pp_error(PPE_FALLBACK_UNLESS,
					 "\"fallback.unless\" must be \"received\", \"opened\" or \"clicked\"");
	}
	if ((m = pp_jmember(c, "to")) == NULL)
		ereport(ERROR,
				(pp_errmsg(PPE_FALLBACK_REQUIRED, "\"fallback.to\" is required: the address the fallback goes to"),
				 errhint("\"account\" (the device's account) or {\"attr\": \"email\"} (one of its attributes).")));
	check_to(m);
	if ((m = pp_jmember(c, "title")) != NULL)
		check_text(m, "title", MAX_SHORT);
	if ((m = pp_jmember(c, "alert")) != NULL)
		check_text(m, "alert", MAX_TEXT);

	ppj_begin_object(st, "fallback");
	ppj_put_int(st, "after", after);
	ppj_put_string(st, "unless", unless);
	ppj_put_string(st, "via", "webhook");
	ppj_put_copy(st, c, "to");
	ppj_put_copy(st, c, "title");
	ppj_put_copy(st, c, "alert");
	(void) ppj_end_object(st);
}
