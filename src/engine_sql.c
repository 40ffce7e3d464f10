/*
 * engine_sql.c: SQL faces of the delivery engine, for operators and tests.
 *
 * push_vendor_test(app, vendor, token, push, platform, language): one real send through a
 * backend-local engine with the app's stored vendor config, the outcome as JSON.
 * _engine_send_many(app, vendor, tokens, push, platform, language): many items through one
 * engine (HTTP/2 multiplexing, HMS grouping), one JSON outcome per token.
 * _vendor_payload(vendor, push, platform, language, config): what would be sent, without
 * sending (the auth header is never shown; a form body is shown as an object of its fields).
 * _message_check(push): pp_message_check.
 */
#include "pushplan.h"
#include "tenancy.h"

#include <openssl/rand.h>

#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "push_parse.h"
#include "template_push.h"
#include "vendor.h"

PG_FUNCTION_INFO_V1(pushplan_vendor_test);
PG_FUNCTION_INFO_V1(pushplan_engine_send_many);
PG_FUNCTION_INFO_V1(pushplan_vendor_payload);
PG_FUNCTION_INFO_V1(pushplan_message_check);

static const PPVendor *
pp_sql_vendor(text *t)
{
	char	   *name = text_to_cstring(t);
	const PPVendor *v = pp_vendor_find(name);

	if (v == NULL)
		pp_error(PPE_ENGINE_VENDOR,
				 "vendor \"%s\" is not one the delivery engine sends to", pp_shown(name));
	return v;
}

static Jsonb *
pp_sql_push(Jsonb *push)
{
	if (!JsonContainerIsObject(&push->root))
		pp_error(PPE_ENGINE_PUSH_NOT_OBJECT, "push must be a JSON object");
	return push;
}

static const char *
pp_sql_platform(FunctionCallInfo fcinfo, int argno)
{
	char	   *p;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	p = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (strcmp(p, "android") != 0 && strcmp(p, "ios") != 0 && strcmp(p, "web") != 0 &&
		strcmp(p, "harmony") != 0)
		pp_error(PPE_ENGINE_PLATFORM,
				 "platform must be android, ios, web or harmony, not \"%s\"", pp_shown(p));
	return p;
}

static const char *
pp_sql_opt_text(FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* The app's id and its config for the vendor (copied out of SPI), or an error. */
static Jsonb *
pp_sql_load_config(const char *app, const char *vendor, int32 *app_id)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		vals[2];
	Jsonb	   *config = NULL;
	bool		isnull;
	MemoryContext cxt = CurrentMemoryContext;

	/* raises 92001 when the app does not exist or is not the caller's to administer */
	*app_id = pp_app_id(app, PP_RIGHT_ADMIN, NULL);
	vals[0] = Int32GetDatum(*app_id);
	vals[1] = CStringGetTextDatum(vendor);
	SPI_connect();
	if (SPI_execute_with_args("SELECT config FROM pushplan.vendor_configs "
							  "WHERE app_id = $1 AND vendor = $2",
							  2, types, vals, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "pushplan: reading vendor_configs failed");
	if (SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		MemoryContext old = MemoryContextSwitchTo(cxt);

		config = DatumGetJsonbPCopy(d);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	if (config == NULL)
		pp_error(PPE_ENGINE_NO_CONFIG, "app \"%s\" has no %s vendor config",
				 app, vendor);
	return config;
}

static Jsonb *
pp_outcome_json(const PPSendOutcome *o, int index, const char *token)
{
	PPJsonb		b;

	pp_jb_begin(&b);
	if (index > 0)
		pp_jb_int(&b, "i", index);
	pp_jb_str(&b, "token", token);
	pp_jb_str(&b, "outcome", pp_outcome_name(o->kind));
	pp_jb_int(&b, "http_status", o->http_status);
	pp_jb_int(&b, "retry_after_ms", o->retry_after_ms);
	pp_jb_str(&b, "error", o->error);
	pp_jb_str(&b, "vendor_message_id", o->vendor_message_id);
	return pp_jb_end(&b);
}

static char *
pp_random_task_id(void)
{
	unsigned char r[8];
	char		hex[2 * sizeof(r) + 1];

	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0, sizeof(r));
	hex[hex_encode((const char *) r, sizeof(r), hex)] = '\0';
	return psprintf("test-%s", hex);
}

/*
 * Submits one item per token and polls until every outcome is in (bounded: three request
 * timeouts plus token fetches).  outs[i] is token i's outcome.
 */
static void
pp_sql_send(const char *vendor, int32 app_id, Jsonb *config, Jsonb *push, const char *platform,
			const char *language, char **tokens, int ntokens, PPSendOutcome *outs,
			bool *have)
{
	PPEngineSettings s;
	PPEngine   *e;
	PPSendOutcome batch[256];
	char	   *task_id = pp_random_task_id();
	TimestampTz deadline;
	int			got = 0;

	pp_engine_settings_from_gucs(&s, 1000);
	e = pp_engine_create(&s);
	for (int i = 0; i < ntokens; i++)
	{
		PPSendItem	it = {0};

		it.delivery_id = i;
		it.app_id = app_id;
		it.vendor = vendor;
		it.token = tokens[i];
		it.platform = platform;
		it.language = language;
		it.task_id = task_id;
		it.device_id = i + 1;
		it.push = push;
		it.vendor_config = config;
		pp_engine_submit(e, &it);
	}
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 4 * s.http_timeout_ms + 1000);
	while (got < ntokens && GetCurrentTimestamp() < deadline)
	{
		int			n = pp_engine_poll(e, 100, batch, lengthof(batch));

		for (int i = 0; i < n; i++)
		{
			int64		id = batch[i].delivery_id;

			if (id >= 0 && id < ntokens && !have[id])
			{
				outs[id] = batch[i];
				have[id] = true;
				got++;
			}
		}
		CHECK_FOR_INTERRUPTS();
	}
	pp_engine_destroy(e);
	for (int i = 0; i < ntokens; i++)
		if (!have[i])
		{
			outs[i].delivery_id = i;
			outs[i].kind = PP_OUT_RETRY;
			outs[i].error = "no outcome in time";
			have[i] = true;
		}
}

/*
 * push_vendor_test's push, as push_send would send it: push_send's EngageLab form, its "to"
 * replaced (the token is the audience; body.platform, when not given, the call's platform, else the
 * vendor's: ios for APNs, web for Web Push, harmony for HarmonyOS NEXT, android for the others), normalized, and checked
 * against the vendor's limits, so that a push push_send would refuse is refused here with
 * push_send's error instead of being sent as given.
 */
static Jsonb *
vendor_test_push(Jsonb *given, const char *vendor, const char *platform)
{
	const char *tencent = pp_push_tencent_mark(given);
	JsonbValue *body = pp_jmember(&given->root, "body");
	Datum		path[2];
	Jsonb	   *push;

	if (tencent)
		pp_error(PPE_VENDOR_TEST_FORM,
				 "push_vendor_test takes a push in push_send's EngageLab form; \"%s\" belongs to a Tencent form",
				 tencent);
	if (body == NULL)
		pp_error(PPE_VENDOR_TEST_FORM,
				 "push_vendor_test takes a push as push_send does, with a \"body\"");
	push = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(given),
											  DirectFunctionCall1(jsonb_in, CStringGetDatum("{\"to\": \"all\"}"))));
	if (body->type == jbvBinary && JsonContainerIsObject(body->val.binary.data) &&
		pp_jmember(body->val.binary.data, "platform") == NULL)
	{
		path[0] = CStringGetTextDatum("body");
		path[1] = CStringGetTextDatum("platform");
		if (platform == NULL)
			platform = strcmp(vendor, "apns") == 0 ? "ios" : strcmp(vendor, "webpush") == 0 ? "web" :
				strcmp(vendor, "harmony") == 0 ? "harmony" : "android";
		push = DatumGetJsonbP(DirectFunctionCall4(jsonb_set, JsonbPGetDatum(push),
												  PointerGetDatum(construct_array(path, 2, TEXTOID, -1, false, TYPALIGN_INT)),
												  DirectFunctionCall1(jsonb_in, CStringGetDatum(psprintf("\"%s\"", platform))),
												  BoolGetDatum(true)));
	}
	push = pp_push_normalize(push, NULL);
	pp_message_check_for(push, list_make1(pstrdup(vendor)));
	return push;
}

Datum
pushplan_vendor_test(PG_FUNCTION_ARGS)
{
	char	   *app;
	char	   *vendor;
	char	   *token;
	Jsonb	   *push;
	const char *platform;
	const char *language;
	Jsonb	   *config;
	int32		app_id;
	PPSendOutcome out = {0};
	bool		have = false;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		pp_error(PPE_ENGINE_ARGS_NULL,
				 "app, vendor, token and push must not be null");
	app = text_to_cstring(PG_GETARG_TEXT_PP(0));
	vendor = text_to_cstring(PG_GETARG_TEXT_PP(1));
	token = text_to_cstring(PG_GETARG_TEXT_PP(2));
	push = pp_sql_push(PG_GETARG_JSONB_P(3));
	/* a token has no attributes or account: a template would be sent as it is written */
	if (pp_push_template_compile(push, 0) != NULL)
		ereport(ERROR,
				(pp_errmsg(PPE_TEMPLATE_NO_DEVICE,
						   "push_vendor_test sends to a token, which has no attributes or account: its push cannot have templates"),
				 errhint("Send a push with templates to registration ids with push_send; see doc/templates.md.")));
	platform = pp_sql_platform(fcinfo, 4);
	language = pp_sql_opt_text(fcinfo, 5);
	pp_sql_vendor(PG_GETARG_TEXT_PP(1));
	config = pp_sql_load_config(app, vendor, &app_id);
	push = vendor_test_push(push, vendor, platform);
	pp_sql_send(vendor, app_id, config, push, platform, language, &token, 1, &out, &have);
	PG_RETURN_JSONB_P(pp_outcome_json(&out, 0, NULL));
}

Datum
pushplan_engine_send_many(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *app;
	char	   *vendor;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	char	  **tokens;
	PPSendOutcome *outs;
	bool	   *have;
	Jsonb	   *config;
	int32		app_id;
	Jsonb	   *push;
	const char *platform;
	const char *language;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		pp_error(PPE_ENGINE_ARGS_NULL,
				 "app, vendor, tokens and push must not be null");
	app = text_to_cstring(PG_GETARG_TEXT_PP(0));
	vendor = text_to_cstring(PG_GETARG_TEXT_PP(1));
	arr = PG_GETARG_ARRAYTYPE_P(2);
	push = pp_sql_push(PG_GETARG_JSONB_P(3));
	platform = pp_sql_platform(fcinfo, 4);
	language = pp_sql_opt_text(fcinfo, 5);
	pp_sql_vendor(PG_GETARG_TEXT_PP(1));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	config = pp_sql_load_config(app, vendor, &app_id);
	tokens = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		tokens[i] = nulls[i] ? "" : TextDatumGetCString(elems[i]);
	outs = palloc0(sizeof(PPSendOutcome) * Max(n, 1));
	have = palloc0(sizeof(bool) * Max(n, 1));
	pp_sql_send(vendor, app_id, config, push, platform, language, tokens, n, outs, have);
	for (int i = 0; i < n; i++)
	{
		Datum		d = JsonbPGetDatum(pp_outcome_json(&outs[i], i + 1, tokens[i]));
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &d, &isnull);
	}
	return (Datum) 0;
}

static bool
pp_sql_is_form(List *headers)
{
	ListCell   *lc;

	foreach(lc, headers)
		if (pg_strncasecmp(lfirst(lc), "content-type: application/x-www-form-urlencoded", 47) == 0)
			return true;
	return false;
}

/* One form-encoded name or value, decoded ('+' is a space). */
static char *
pp_sql_form_unescape(const char *s, size_t n)
{
	char	   *out = palloc(n + 1);
	size_t		o = 0;

	for (size_t i = 0; i < n; i++)
	{
		char		hex[3] = {0};

		if (s[i] == '+')
			out[o++] = ' ';
		else if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char) s[i + 1]) &&
				 isxdigit((unsigned char) s[i + 2]))
		{
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			out[o++] = (char) strtol(hex, NULL, 16);
			i += 2;
		}
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

/* A form body (Xiaomi, Meizu) shown as an object of its fields, each a string. */
static Jsonb *
pp_sql_form_json(const char *form)
{
	PPJsonb		b;
	const char *p = form;

	pp_jb_begin(&b);
	while (*p)
	{
		const char *amp = strchr(p, '&');
		size_t		n = amp ? (size_t) (amp - p) : strlen(p);
		const char *eq = memchr(p, '=', n);

		if (eq)
			pp_jb_str(&b, pp_sql_form_unescape(p, eq - p),
					  pp_sql_form_unescape(eq + 1, n - (eq - p) - 1));
		p += n + (amp ? 1 : 0);
	}
	return pp_jb_end(&b);
}

Datum
pushplan_vendor_payload(PG_FUNCTION_ARGS)
{
	const PPVendor *v;
	Jsonb	   *push;
	PPVendorConfig cfg;
	PPMsgInput	in = {0};
	PPRequest	req = {0};
	PPJsonb		b;
	StringInfoData body;
	ListCell   *lc;
	Jsonb	   *bodyj;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		pp_error(PPE_ENGINE_ARGS_NULL, "vendor and push must not be null");
	v = pp_sql_vendor(PG_GETARG_TEXT_PP(0));
	push = pp_sql_push(PG_GETARG_JSONB_P(1));
	pp_placeholder_config(v, &cfg);
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
	{
		char	   *why = NULL;

		memset(&cfg, 0, sizeof(cfg));
		if (!v->config(PG_GETARG_JSONB_P(4), &cfg, &why))
			pp_error(PPE_ENGINE_CONFIG_INCOMPLETE, "%s", why);
	}
	in.push = push;
	in.platform = pp_sql_platform(fcinfo, 2);
	if (in.platform == NULL)
		in.platform = v->default_platform;
	in.language = pp_sql_opt_text(fcinfo, 3);
	in.token = PG_NARGS() > 5 && !PG_ARGISNULL(5) ? text_to_cstring(PG_GETARG_TEXT_PP(5)) : "TOKEN";
	in.task_id = "preview";
	in.device_id = 1;
	v->build(&cfg, &in, &req);
	/* a one-token vendor's assemble encrypts (Web Push): the preview shows what the device reads */
	if (v->assemble && v->max_tokens > 1)
	{
		const char *tok = in.token;

		initStringInfo(&body);
		v->assemble(&req, &tok, 1, &body);
	}
	else
		body = req.body;
	bodyj = pp_json_parse_safe(body.data, body.len);
	if (bodyj == NULL && pp_sql_is_form(req.headers))
		bodyj = pp_sql_form_json(body.data);
	if (bodyj == NULL)
		elog(ERROR, "%s payload is not valid JSON: %s", v->name, body.data);

	pp_jb_begin(&b);
	pp_jb_str(&b, "url", req.url);
	pp_jb_object(&b, "headers");
	foreach(lc, req.headers)
	{
		char	   *h = pstrdup(lfirst(lc));
		char	   *colon = strchr(h, ':');

		*colon = '\0';
		/* a vendor whose credential is a static header (Xiaomi's key=) builds it itself */
		if (pg_strcasecmp(h, "authorization") != 0)
			pp_jb_str(&b, h, colon + 2);
	}
	pp_jb_close(&b);
	pp_jb_jsonb(&b, "body", bodyj);
	pp_jb_int(&b, "bytes", req.limited_len);
	pp_jb_int(&b, "limit", v->payload_limit);
	/* what the engine would fail unsent (OPPO: a data message) */
	if (req.refused)
		pp_jb_str(&b, "refused", req.refused);
	PG_RETURN_JSONB_P(pp_jb_end(&b));
}

Datum
pushplan_message_check(PG_FUNCTION_ARGS)
{
	pp_message_check(PG_GETARG_JSONB_P(0));
	PG_RETURN_VOID();
}
