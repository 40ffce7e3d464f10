/*
 * push_variants.c: a push's A/B variants (doc/variants.md): the "variants" array checked, and
 * one variant's push made from the push and the variant's overrides.
 *
 * A variant names what it changes of the content a marketer tests: body.notification,
 * body.message and body.options.multi_language. Its notification, message and options are
 * merged one level deep into the push's: a key the variant gives replaces the push's key whole
 * (its "android" block replaces the push's "android" block), the other keys stay. Everything
 * else (audience, platforms, plan, time to live, category) is the push's, the same for every
 * variant, so that the variants differ only in what is tested. The variant's push is then
 * normalized as a whole push is (push_engagelab.c), so that every check of a push applies to
 * every variant.
 *
 * A control group ("control": true) is sent nothing: it takes no content.
 */
#include "pushplan.h"

#include "utils/jsonb.h"

#include "json.h"
#include "push_check.h"

#define MAX_VARIANTS		10
#define MAX_VARIANT_NAME	32

static const char *const variant_keys[] = {
	"name", "weight", "control", "notification", "message", "options", NULL
};
static const char *const variant_option_keys[] = {"multi_language", NULL};

#define VARIANT_KEYS_HINT \
	"A variant takes name, weight, control, notification, message and options.multi_language; " \
	"everything else is the push's, the same for every variant."

static bool
name_ok(JsonbValue *v)
{
	if (v == NULL || v->type != jbvString || v->val.string.len < 1 ||
		v->val.string.len > MAX_VARIANT_NAME)
		return false;
	for (int i = 0; i < v->val.string.len; i++)
	{
		char		c = v->val.string.val[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* One variant's shape; returns whether it is the control group. */
static bool
check_variant(JsonbValue *v, const char *path)
{
	JsonbContainer *c;
	JsonbValue *name;
	JsonbValue *weight;
	JsonbValue *control;
	JsonbValue *options;
	char	   *key;
	int64		w;
	bool		is_control = false;

	if (!pp_jv_is_object(v))
		pp_error(PPE_VARIANT_NOT_OBJECT, "\"%s\" must be an object", path);
	c = v->val.binary.data;
	if ((key = pp_jkey_not_in(c, variant_keys)) != NULL)
		ereport(ERROR,
				(pp_errmsg(PPE_VARIANT_KEY, "\"%s\" cannot be set in a variant",
						   ppj_child_path(path, key)),
				 errhint(VARIANT_KEYS_HINT)));
	name = pp_jmember(c, "name");
	if (!name_ok(name))
		pp_error(PPE_VARIANT_NAME,
				 "\"%s.name\" must be 1 to %d letters, digits, \"_\" or \"-\"", path,
				 MAX_VARIANT_NAME);
	weight = pp_jmember(c, "weight");
	if (weight == NULL || !ppj_jbv_int64(weight, &w) || w < 1 || w > 100)
		pp_error(PPE_VARIANT_WEIGHT, "\"%s.weight\" must be an integer from 1 to 100", path);
	control = pp_jmember(c, "control");
	if (control)
	{
		if (control->type != jbvBool)
			pp_error(PPE_PUSH_TYPE, "\"%s.control\" must be a boolean", path);
		is_control = control->val.boolean;
	}
	if (is_control && (pp_jmember(c, "notification") || pp_jmember(c, "message") ||
					   pp_jmember(c, "options")))
		pp_error(PPE_VARIANT_CONTROL_CONTENT,
				 "\"%s\" is a control group: it is sent nothing and takes no notification, message or options",
				 path);
	if (pp_jmember(c, "notification") && !pp_jv_is_object(pp_jmember(c, "notification")))
		pp_error(PPE_PUSH_TYPE, "\"%s.notification\" must be an object", path);
	if (pp_jmember(c, "message") && !pp_jv_is_object(pp_jmember(c, "message")))
		pp_error(PPE_PUSH_TYPE, "\"%s.message\" must be an object", path);
	options = pp_jmember(c, "options");
	if (options)
	{
		if (!pp_jv_is_object(options))
			pp_error(PPE_PUSH_TYPE, "\"%s.options\" must be an object", path);
		if ((key = pp_jkey_not_in(options->val.binary.data, variant_option_keys)) != NULL)
			ereport(ERROR,
					(pp_errmsg(PPE_VARIANT_OPTION, "\"%s.options.%s\" cannot be set in a variant",
							   path, key),
					 errhint("A variant's options take only multi_language.")));
	}
	return is_control;
}

/*
 * "variants": 2 to 10 variants, names unique, weights (integers) summing to 100, at most one
 * control group. Their content is checked later, as whole pushes (ppj_variant_push).
 */
void
ppj_check_variants(JsonbValue *v, const char *path)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	char	   *names[MAX_VARIANTS];
	int			n = 0;
	int			control = -1;
	int64		sum = 0;

	if (!pp_jv_is_array(v) || JsonContainerSize(v->val.binary.data) < 2 ||
		JsonContainerSize(v->val.binary.data) > MAX_VARIANTS)
		pp_error(PPE_VARIANTS_SHAPE, "\"%s\" must be an array of 2 to %d variants", path,
				 MAX_VARIANTS);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		char	   *epath;
		int64		w;

		if (tok != WJB_ELEM)
			continue;
		epath = psprintf("%s[%d]", path, n);
		if (check_variant(&e, epath))
		{
			if (control >= 0)
				pp_error(PPE_VARIANT_CONTROL_TWICE,
						 "only one variant may be the control group: \"%s[%d]\" and \"%s\" are",
						 path, control, epath);
			control = n;
		}
		names[n] = pp_jstr(e.val.binary.data, "name");
		for (int i = 0; i < n; i++)
			if (strcmp(names[i], names[n]) == 0)
				pp_error(PPE_VARIANT_NAME_TWICE, "variant name \"%s\" appears twice in \"%s\"",
						 names[n], path);
		(void) ppj_jbv_int64(pp_jmember(e.val.binary.data, "weight"), &w);
		sum += w;
		n++;
	}
	if (sum != 100)
		ereport(ERROR,
				(pp_errmsg(PPE_VARIANT_WEIGHTS_SUM, "the weights of \"%s\" sum to %lld, not 100",
						   path, (long long) sum),
				 errhint("Each weight is the percentage of the audience that gets the variant.")));
}

/* "after": a whole number of minutes, hours or days, from 1 minute to 30 days */
static bool
after_ok(JsonbValue *v)
{
	char	   *s;
	char	   *end;
	long		n;
	long		minutes;

	if (v == NULL || v->type != jbvString)
		return false;
	s = ppj_string_of(v);
	if (*s < '0' || *s > '9')
		return false;
	n = strtol(s, &end, 10);
	if (n < 1 || n > 43200 || *end != ' ')
		return false;
	end++;
	if (strcmp(end, "minute") == 0 || strcmp(end, "minutes") == 0)
		minutes = n;
	else if (strcmp(end, "hour") == 0 || strcmp(end, "hours") == 0)
		minutes = n * 60;
	else if (strcmp(end, "day") == 0 || strcmp(end, "days") == 0)
		minutes = n * 1440;
	else
		return false;
	return minutes <= 43200;
}

/*
 * "variants_test": {"percent": N, "metric": "ctr" | "conversions", "after": "2 hours"}: the
 * variants go to N % of the audience; the scheduler picks the winner after that time and sends
 * it to the rest (sql/api/89_variants.sql).
 */
void
ppj_check_variants_test(JsonbValue *v, const char *path)
{
	static const char *const keys[] = {"percent", "metric", "after", NULL};
	JsonbValue *percent;
	JsonbValue *metric;
	char	   *key;
	int64		n;

	if (!pp_jv_is_object(v))
		pp_error(PPE_PUSH_TYPE, "\"%s\" must be an object", path);
	if ((key = pp_jkey_not_in(v->val.binary.data, keys)) != NULL)
		ereport(ERROR,
				(pp_errmsg(PPE_VARIANTS_TEST_KEY, "unknown key \"%s\"", ppj_child_path(path, key)),
				 errhint("A variants test takes percent, metric and after.")));
	percent = pp_jmember(v->val.binary.data, "percent");
	if (percent == NULL || !ppj_jbv_int64(percent, &n) || n < 1 || n > 99)
		pp_error(PPE_VARIANTS_TEST_PERCENT, "\"%s.percent\" must be an integer from 1 to 99", path);
	metric = pp_jmember(v->val.binary.data, "metric");
	if (metric == NULL || (!ppj_string_is(metric, "ctr") && !ppj_string_is(metric, "conversions")))
		pp_error(PPE_VARIANTS_TEST_METRIC, "\"%s.metric\" must be \"ctr\" or \"conversions\"", path);
	if (!after_ok(pp_jmember(v->val.binary.data, "after")))
		ereport(ERROR,
				(pp_errmsg(PPE_VARIANTS_TEST_AFTER,
						   "\"%s.after\" must be a time from 1 minute to 30 days such as \"30 minutes\", \"2 hours\" or \"1 day\"",
						   path)));
}

/* obj[key] with over[key]'s members put over it, one level deep; nothing when neither has it. */
static void
put_merged(JsonbParseState **st, const char *key, JsonbContainer *base, JsonbContainer *over)
{
	JsonbValue *b = base ? pp_jmember(base, key) : NULL;
	JsonbValue *o = over ? pp_jmember(over, key) : NULL;

	if (o == NULL)
	{
		if (b)
			ppj_put_value(st, key, b);
		return;
	}
	ppj_begin_object(st, key);
	if (b && pp_jv_is_object(b))
		ppj_push_pairs(st, b->val.binary.data);
	ppj_push_pairs(st, o->val.binary.data);	/* a later duplicate key wins */
	(void) ppj_end_object(st);
}

/*
 * The push a variant sends: `root` (a push object, checked) without "variants", its body's
 * notification, message and options merged with the variant's. Not normalized yet.
 */
Jsonb *
ppj_variant_push(JsonbContainer *root, JsonbContainer *variant)
{
	JsonbParseState *st = NULL;
	JsonbIterator *it = JsonbIteratorInit(root);
	JsonbValue	v;
	JsonbIteratorToken tok;

	ppj_begin_object(&st, NULL);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		JsonbContainer *body;
		JsonbIterator *bit;
		JsonbValue	bv;
		JsonbIteratorToken btok;

		if (tok != WJB_KEY)
			continue;
		key = ppj_string_of(&v);
		tok = JsonbIteratorNext(&it, &v, true);
		if (strcmp(key, "variants") == 0 || strcmp(key, "variants_test") == 0)
			continue;
		if (strcmp(key, "body") != 0 || !pp_jv_is_object(&v))
		{
			ppj_put_value(&st, key, &v);
			continue;
		}
		body = v.val.binary.data;
		ppj_begin_object(&st, "body");
		bit = JsonbIteratorInit(body);
		while ((btok = JsonbIteratorNext(&bit, &bv, true)) != WJB_DONE)
		{
			char	   *bkey;

			if (btok != WJB_KEY)
				continue;
			bkey = ppj_string_of(&bv);
			btok = JsonbIteratorNext(&bit, &bv, true);
			if (strcmp(bkey, "notification") != 0 && strcmp(bkey, "message") != 0 &&
				strcmp(bkey, "options") != 0)
				ppj_put_value(&st, bkey, &bv);
		}
		put_merged(&st, "notification", body, variant);
		put_merged(&st, "message", body, variant);
		put_merged(&st, "options", body, variant);
		(void) ppj_end_object(&st);
	}
	return JsonbValueToJsonb(ppj_end_object(&st));
}
