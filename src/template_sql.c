/*
 * template_sql.c: the SQL faces of templates for the tests and the benchmark (the test module
 * test/modules/pushplan_test declares them; doc/templates.md).
 *
 *   _template_render(template, attrs, account, missing_attribute) -> (rendered, missing)
 *   _push_render(push, attrs, account, language): a push (any dialect) rendered as a sender would for a
 *       device with those values; {"missing": NAME, "policy": ...} when it would not be sent
 *   _template_bench(push, devices): renders of the push per second, for devices made up front
 */
#include "pushplan.h"

#include <time.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "json.h"
#include "push_parse.h"
#include "template.h"
#include "template_push.h"

PG_FUNCTION_INFO_V1(pushplan_template_render);
PG_FUNCTION_INFO_V1(pushplan_push_render);
PG_FUNCTION_INFO_V1(pushplan_template_bench);

Datum
pushplan_template_render(PG_FUNCTION_ARGS)
{
	text	   *given = PG_GETARG_TEXT_PP(0);
	Jsonb	   *attrs = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	PPTemplateValues values = {0};
	PPMissingPolicy policy = PP_MISSING_DEFAULT;
	PPTemplate *t;
	StringInfoData out;
	const char *missing = NULL;
	TupleDesc	desc;
	Datum		result[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "pushplan: _template_render must return a record");
	if (!PG_ARGISNULL(3))
	{
		text	   *p = PG_GETARG_TEXT_PP(3);

		policy = pp_missing_policy(VARDATA_ANY(p), VARSIZE_ANY_EXHDR(p), "missing_attribute");
	}
	t = pp_template_parse(VARDATA_ANY(given), VARSIZE_ANY_EXHDR(given), "template", 0);
	values.attrs = attrs && !JB_ROOT_IS_SCALAR(attrs) ? &attrs->root : NULL;
	values.account = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	initStringInfo(&out);
	if (pp_template_render(t, &values, policy, &out, &missing))
	{
		result[0] = CStringGetTextDatum(out.data);
		nulls[1] = true;
	}
	else
	{
		nulls[0] = true;
		result[1] = CStringGetTextDatum(missing);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), result, nulls)));
}

Datum
pushplan_push_render(PG_FUNCTION_ARGS)
{
	Jsonb	   *push = pp_push_normalize(PG_GETARG_JSONB_P(0), NULL);
	Jsonb	   *attrs = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	PPPushTemplate *pt = pp_push_template_compile(push, PP_TEMPLATE_EVENT_VARS);
	PPTemplateValues values = {0};
	const char *missing = NULL;
	Jsonb	   *rendered;
	PPJsonb		b;

	if (pt == NULL)
		PG_RETURN_JSONB_P(push);
	values.attrs = attrs && !JB_ROOT_IS_SCALAR(attrs) ? &attrs->root : NULL;
	values.account = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	rendered = pp_push_template_render(pt, &values,
									   PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3)),
									   &missing);
	if (rendered)
		PG_RETURN_JSONB_P(rendered);
	pp_jb_begin(&b);
	pp_jb_str(&b, "missing", missing);
	pp_jb_str(&b, "policy", pt->policy == PP_MISSING_SKIP ? "skip" : "fail");
	PG_RETURN_JSONB_P(pp_jb_end(&b));
}

static double
seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Renders the push for `devices` devices whose values are made before the clock starts
 * (attrs {"first_name": "user<i>", "city": ..., "level": i, "points": i * 7}, account
 * "acct-<i>"), each render what a sender does for a device: every templated text and the
 * push's serialization.
 */
Datum
pushplan_template_bench(PG_FUNCTION_ARGS)
{
	Jsonb	   *push = pp_push_normalize(PG_GETARG_JSONB_P(0), NULL);
	int32		n = PG_GETARG_INT32(1);
	PPPushTemplate *pt = pp_push_template_compile(push, PP_TEMPLATE_EVENT_VARS);
	Jsonb	  **attrs;
	char	  **accounts;
	double		cpu0,
				wall0,
				cpu,
				wall;
	int64		bytes = 0;
	int			skipped = 0;
	PPJsonb		b;
	static const char *const cities[] = {"Shenzhen", "New York", "Zürich", "東京"};

	if (pt == NULL)
		pp_error(PPE_TEMPLATE_SYNTAX, "the push has no template to render");
	if (n < 1 || n > 10000000)
		pp_error(PPE_TEMPLATE_TOO_MANY, "devices must be 1 to 10000000");
	attrs = palloc(sizeof(Jsonb *) * n);
	accounts = palloc(sizeof(char *) * n);
	for (int i = 0; i < n; i++)
	{
		char	   *json = psprintf("{\"first_name\": \"user%d\", \"city\": \"%s\", \"level\": %d, \"points\": %d}",
									i, cities[i % 4], i % 5, i * 7);

		attrs[i] = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
		accounts[i] = psprintf("acct-%d", i);
	}
	cpu0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
	wall0 = seconds(CLOCK_MONOTONIC);
	for (int i = 0; i < n; i++)
	{
		PPTemplateValues values = {.attrs = &attrs[i]->root, .account = accounts[i]};
		const char *missing;
		Jsonb	   *r = pp_push_template_render(pt, &values, "en", &missing);

		if (r == NULL)
			skipped++;
		else
		{
			bytes += VARSIZE(r);
			pfree(r);
		}
		CHECK_FOR_INTERRUPTS();
	}
	cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	wall = seconds(CLOCK_MONOTONIC) - wall0;
	pp_jb_begin(&b);
	pp_jb_int(&b, "renders", n);
	pp_jb_int(&b, "texts", (int64) n * pt->nslots);
	pp_jb_int(&b, "not_rendered", skipped);
	pp_jb_int(&b, "average_bytes", bytes / Max(n - skipped, 1));
	pp_jb_str(&b, "cpu_s", psprintf("%.3f", cpu));
	pp_jb_str(&b, "wall_s", psprintf("%.3f", wall));
	pp_jb_int(&b, "per_cpu_second", (int64) (n / Max(cpu, 1e-9)));
	pp_jb_int(&b, "per_second", (int64) (n / Max(wall, 1e-9)));
	PG_RETURN_JSONB_P(pp_jb_end(&b));
}
