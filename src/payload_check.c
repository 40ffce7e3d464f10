/*
 * payload_check.c: the size check push_send runs before a push is accepted.
 *
 * The push is built, with a placeholder configuration and token, for every vendor of every
 * platform it targets and every language it has: a payload over a vendor's limit is refused
 * now (92510), not at each device's delivery; so is a title or alert longer than a vendor
 * takes (92511), for the vendors the app has configured (push_send) or all (_message_check).
 */
#include "pushplan.h"

#include "mb/pg_wchar.h"
#include "utils/memutils.h"

#include "vendor.h"

/* Placeholder device token for the size check: FCM registration tokens are about 163 bytes. */
#define PP_CHECK_TOKEN_LEN 200

static const char *const pp_all_platforms[] = {"android", "ios", "web", "harmony", NULL};

void
pp_placeholder_config(const PPVendor *v, PPVendorConfig *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->endpoint = v->default_endpoint;
	cfg->own = v->placeholder;
}

/* A title or alert over the vendor's limit, in characters: refused as the vendor would. */
static void
pp_check_text_one(const PPVendor *v, const char *what, const char *text, int max,
				  const char *platform, const char *language)
{
	int			n;

	if (text == NULL || max <= 0)
		return;
	n = pg_mbstrlen(text);
	/* vivo counts a Chinese character as two Latin ones: every non-ASCII one counts two */
	if (v->text_wide)
		for (const unsigned char *p = (const unsigned char *) text; *p; p++)
			n += (*p & 0xc0) == 0xc0;
	if (n <= max)
		return;
	if (language)
		ereport(ERROR,
				(pp_errmsg(PPE_PAYLOAD_TEXT_TOO_LONG,
						   "%s %s for platform \"%s\" and language \"%s\" is %d characters, more than the %d allowed",
						   v->name, what, platform, language, n, max),
				 errdetail("%s", v->text_what)));
	ereport(ERROR,
			(pp_errmsg(PPE_PAYLOAD_TEXT_TOO_LONG,
					   "%s %s for platform \"%s\" is %d characters, more than the %d allowed",
					   v->name, what, platform, n, max),
			 errdetail("%s", v->text_what)));
}

static void
pp_check_text(const PPVendor *v, Jsonb *push, const char *platform, const char *language)
{
	JsonbContainer *body = pp_push_body(push);
	PPText		t;

	if ((v->title_max <= 0 && v->alert_max <= 0) || pp_jobj(body, "notification") == NULL)
		return;
	pp_resolve_text(body, platform, language, &t);
	pp_check_text_one(v, "title", t.title, v->title_max, platform, language);
	pp_check_text_one(v, "alert", t.alert, v->alert_max, platform, language);
}

/* Checks one vendor x platform x language payload. */
static void
pp_check_one(const PPVendor *v, Jsonb *push, const char *platform, const char *language,
			 const char *token, bool texts)
{
	PPVendorConfig cfg;
	PPMsgInput	in = {0};
	PPRequest	req = {0};

	pp_placeholder_config(v, &cfg);
	in.push = push;
	in.platform = platform;
	in.language = language;
	in.token = token;
	in.task_id = "size-check";
	v->build(&cfg, &in, &req);
	if (texts)
		pp_check_text(v, push, platform, language);
	if (req.limited_len > v->payload_limit)
	{
		if (language)
			ereport(ERROR,
					(pp_errmsg(PPE_PAYLOAD_TOO_LARGE,
							   "%s payload for platform \"%s\" and language \"%s\" is %d bytes, more than the %d allowed",
							   v->name, platform, language, req.limited_len, v->payload_limit),
					 errdetail("%s", v->limit_what)));
		else
			ereport(ERROR,
					(pp_errmsg(PPE_PAYLOAD_TOO_LARGE,
							   "%s payload for platform \"%s\" is %d bytes, more than the %d allowed",
							   v->name, platform, req.limited_len, v->payload_limit),
					 errdetail("%s", v->limit_what)));
	}
}

/* Whether the vendor is one of the names (a List of char *). */
static bool
pp_vendor_named(const PPVendor *v, List *names)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp(lfirst(lc), v->name) == 0)
			return true;
	return false;
}

/*
 * text_vendors: the vendors whose title and alert limits apply (push_send: the app's configured
 * ones, as those limits are far tighter than sizes and bind only the vendors it sends to); every
 * vendor when all_texts.
 */
static void
pp_message_check_(Jsonb *push, List *text_vendors, bool all_texts)
{
	JsonbContainer *body = pp_push_body(push);
	JsonbValue	pv;
	bool		has_platform;
	List	   *platforms = NIL;
	List	   *languages = list_make1(NULL);
	JsonbContainer *ml;
	MemoryContext cxt,
				old;
	char	   *token;
	ListCell   *pc;

	if (body == NULL)
		pp_error(PPE_ENGINE_PUSH_NOT_OBJECT, "push must be a JSON object");

	cxt = AllocSetContextCreate(CurrentMemoryContext, "pushplan message check",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);

	/* platforms: an array, a name, or "all" (absent: all) */
	has_platform = pp_jget(body, "platform", &pv);
	if (has_platform && pv.type == jbvBinary && JsonContainerIsArray(pv.val.binary.data))
	{
		JsonbIterator *it = JsonbIteratorInit(pv.val.binary.data);
		JsonbValue	v;
		JsonbIteratorToken r;

		while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (r == WJB_ELEM && v.type == jbvString)
				platforms = lappend(platforms, pnstrdup(v.val.string.val, v.val.string.len));
	}
	else if (has_platform && pv.type == jbvString &&
			 !(pv.val.string.len == 3 && strncmp(pv.val.string.val, "all", 3) == 0))
		platforms = list_make1(pnstrdup(pv.val.string.val, pv.val.string.len));
	if (platforms == NIL)
		for (const char *const *p = pp_all_platforms; *p; p++)
			platforms = lappend(platforms, (char *) *p);

	ml = pp_jobj(pp_jobj(body, "options"), "multi_language");
	if (ml)
	{
		JsonbIterator *it = JsonbIteratorInit(ml);
		JsonbValue	v;
		JsonbIteratorToken r;

		while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (r == WJB_KEY)
				languages = lappend(languages, pnstrdup(v.val.string.val, v.val.string.len));
	}

	token = palloc(PP_CHECK_TOKEN_LEN + 1);
	memset(token, 'x', PP_CHECK_TOKEN_LEN);
	token[PP_CHECK_TOKEN_LEN] = '\0';

	foreach(pc, platforms)
	{
		const char *platform = lfirst(pc);

		/* the app's own vendors first, so that a refusal names one of them (hms and harmony
		 * both serve harmony devices) */
		for (int pass = 0; pass < 2; pass++)
			for (int i = 0; pp_vendors[i]; i++)
			{
				ListCell   *lc;
				bool		named = pp_vendor_named(pp_vendors[i], text_vendors);

				/* declared vendors are not sent to: nothing to check */
				if (pp_vendors[i]->build == NULL || !pp_vendor_serves(pp_vendors[i], platform) ||
					named != (pass == 0))
					continue;
				foreach(lc, languages)
					pp_check_one(pp_vendors[i], push, platform, lfirst(lc), token,
								 all_texts || named);
			}
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

void
pp_message_check(Jsonb *push)
{
	pp_message_check_(push, NIL, true);
}

void
pp_message_check_for(Jsonb *push, List *vendors)
{
	pp_message_check_(push, vendors, false);
}
