/*
 * template_push.c: a push's templated texts, parsed once per task and rendered per device
 * (doc/templates.md).
 *
 * Templates are read in the texts a user reads: every title, alert, subtitle, body, big_text
 * and msg_content, and every string inside extras and inbox, of notification, message and
 * options.multi_language. "{{" in any other string of those blocks (a URL, a sound) is refused
 * (92837) rather than sent as it is.
 *
 * The push is kept as an in-memory jsonb tree whose templated strings are slots: rendering for
 * a device writes each slot's text into one buffer, points the slot at it and serializes the
 * tree (JsonbValueToJsonb), so a device costs its renders and one serialization, never a parse.
 * The vendors then build from that push as from any other (src/vendor_util.c); the engine
 * groups devices whose rendered payloads are the same and fails one over its vendor's limit
 * (92510), unsent.
 */
#include "pushplan.h"

#include "json.h"
#include "template.h"
#include "template_push.h"

/* Where a string is in the push, for the walk. */
typedef enum Scope
{
	SC_ROOT,					/* the push, which may wrap the body in "body" */
	SC_BODY,
	SC_OPTIONS,
	SC_TEXTS,					/* notification, message, multi_language: templates allowed */
	SC_OTHER
} Scope;

static const char *const text_keys[] = {
	"alert", "title", "subtitle", "body", "big_text", "msg_content", NULL
};

static bool
key_is(const JsonbValue *k, const char *name)
{
	return k->val.string.len == (int) strlen(name) &&
		memcmp(k->val.string.val, name, k->val.string.len) == 0;
}

static bool
is_text_key(const JsonbValue *k)
{
	for (int i = 0; text_keys[i]; i++)
		if (key_is(k, text_keys[i]))
			return true;
	return false;
}

typedef struct Walk
{
	PPPushTemplate *pt;
	int			flags;			/* pp_template_parse's */
	int			cap;
	int			expressions;
	char	   *language;		/* the multi_language entry being walked, or NULL */
} Walk;

static void
add_slot(Walk *w, JsonbValue *v, const char *path)
{
	PPPushTemplate *pt = w->pt;
	PPTemplate *t = pp_template_parse(v->val.string.val, v->val.string.len, path, w->flags);

	w->expressions += t->nexpressions;
	if (w->expressions > PP_TEMPLATE_MAX_EXPRESSIONS)
		pp_error(PPE_TEMPLATE_TOO_MANY, "a push has at most %d template expressions",
				 PP_TEMPLATE_MAX_EXPRESSIONS);
	if (pt->nslots == w->cap)
	{
		w->cap = w->cap ? w->cap * 2 : 8;
		pt->slots = pt->slots ? repalloc(pt->slots, sizeof(JsonbValue *) * w->cap) :
			palloc(sizeof(JsonbValue *) * w->cap);
		pt->templates = pt->templates ? repalloc(pt->templates, sizeof(PPTemplate *) * w->cap) :
			palloc(sizeof(PPTemplate *) * w->cap);
		pt->languages = pt->languages ? repalloc(pt->languages, sizeof(char *) * w->cap) :
			palloc(sizeof(char *) * w->cap);
	}
	pt->slots[pt->nslots] = v;
	pt->templates[pt->nslots] = t;
	pt->languages[pt->nslots] = w->language;
	pt->nslots++;
	pt->reads |= t->reads;
}

static void walk(Walk *w, JsonbValue *v, Scope scope, bool templated, const char *path);

/* options.multi_language: each language's texts, remembering the language */
static void
walk_languages(Walk *w, JsonbValue *v, const char *path)
{
	if (v->type != jbvObject)
	{
		walk(w, v, SC_TEXTS, false, path);
		return;
	}
	for (int i = 0; i < v->val.object.nPairs; i++)
	{
		JsonbPair  *p = &v->val.object.pairs[i];
		char	   *key = pnstrdup(p->key.val.string.val, p->key.val.string.len);

		w->language = key;
		walk(w, &p->value, SC_TEXTS, false, psprintf("%s.%s", path, key));
		w->language = NULL;
	}
}

static void
walk(Walk *w, JsonbValue *v, Scope scope, bool templated, const char *path)
{
	if (v->type == jbvString)
	{
		if (scope != SC_TEXTS || !pp_template_marked(v->val.string.val, v->val.string.len))
			return;
		if (!templated)
			ereport(ERROR,
					(pp_errmsg(PPE_TEMPLATE_OUTSIDE, "\"%s\" holds \"{{\", but only texts are templates", path),
					 errdetail("Templates are rendered in titles, alerts, subtitles, bodies, big_text, msg_content, extras and inbox."),
					 errhint("Write a literal \"{{\" in a text as {{ \"{{\" }}.")));
		add_slot(w, v, path);
		return;
	}
	if (v->type == jbvArray)
	{
		for (int i = 0; i < v->val.array.nElems; i++)
			walk(w, &v->val.array.elems[i], scope, templated,
				 psprintf("%s[%d]", path, i));
		return;
	}
	if (v->type != jbvObject)
		return;
	for (int i = 0; i < v->val.object.nPairs; i++)
	{
		JsonbPair  *p = &v->val.object.pairs[i];
		char	   *key = pnstrdup(p->key.val.string.val, p->key.val.string.len);
		char	   *sub = path[0] ? psprintf("%s.%s", path, key) : key;
		Scope		s = SC_OTHER;
		bool		t = templated;

		switch (scope)
		{
			case SC_ROOT:
				s = key_is(&p->key, "body") ? SC_BODY : SC_OTHER;
				/* a bare body (no "body" wrapper) is read as the body itself */
				if (s == SC_OTHER && (key_is(&p->key, "notification") || key_is(&p->key, "message")))
					s = SC_TEXTS;
				else if (s == SC_OTHER && key_is(&p->key, "options"))
					s = SC_OPTIONS;
				break;
			case SC_BODY:
				s = key_is(&p->key, "notification") || key_is(&p->key, "message") ? SC_TEXTS :
					key_is(&p->key, "options") ? SC_OPTIONS : SC_OTHER;
				break;
			case SC_OPTIONS:
				if (key_is(&p->key, "multi_language"))
					walk_languages(w, &p->value, sub);
				if (key_is(&p->key, "missing_attribute") && p->value.type == jbvString)
					w->pt->policy = pp_missing_policy(p->value.val.string.val,
													  p->value.val.string.len, sub);
				break;
			case SC_TEXTS:
				s = SC_TEXTS;
				t = templated || is_text_key(&p->key) || key_is(&p->key, "extras") ||
					key_is(&p->key, "inbox");
				break;
			case SC_OTHER:
				return;
		}
		if (s != SC_OTHER)
			walk(w, &p->value, s, t, sub);
	}
}

/* The push as a tree of JsonbValues, every container expanded (no jbvBinary). */
static JsonbValue *
push_tree(Jsonb *push)
{
	JsonbIterator *it = JsonbIteratorInit(&push->root);
	JsonbParseState *st = NULL;
	JsonbValue	v;
	JsonbValue *res = NULL;
	JsonbIteratorToken r;

	while ((r = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
		res = pushJsonbValue(&st, r, r == WJB_KEY || r == WJB_VALUE || r == WJB_ELEM ? &v : NULL);
	return res;
}

PPPushTemplate *
pp_push_template_compile(Jsonb *push, int flags)
{
	Walk		w = {.flags = flags};
	PPPushTemplate *pt;

	if (push == NULL || !JB_ROOT_IS_OBJECT(push) || JB_ROOT_IS_SCALAR(push))
		return NULL;
	pt = palloc0(sizeof(PPPushTemplate));
	pt->push = push;
	pt->tree = push_tree(push);
	w.pt = pt;
	walk(&w, pt->tree, SC_ROOT, false, "");
	if (pt->nslots == 0)
	{
		pfree(pt);
		return NULL;
	}
	initStringInfo(&pt->buf);
	return pt;
}

/*
 * The multi_language entry a device of this language gets (src/vendor_util.c: exact, then the
 * primary subtag), among the push's templated ones; NULL: none.
 */
static const char *
device_entry(PPPushTemplate *pt, const char *language)
{
	size_t		primary;

	if (language == NULL || language[0] == '\0')
		return NULL;
	for (int i = 0; i < pt->nslots; i++)
		if (pt->languages[i] && strcmp(pt->languages[i], language) == 0)
			return pt->languages[i];
	primary = strcspn(language, "-_");
	if (language[primary] == '\0')
		return NULL;
	for (int i = 0; i < pt->nslots; i++)
		if (pt->languages[i] && strlen(pt->languages[i]) == primary &&
			strncmp(pt->languages[i], language, primary) == 0)
			return pt->languages[i];
	return NULL;
}

Jsonb *
pp_push_template_render(PPPushTemplate *pt, const PPTemplateValues *values, const char *language,
						const char **missing)
{
	int		   *offsets = palloc(sizeof(int) * (pt->nslots + 1));
	const char *entry = device_entry(pt, language);
	Jsonb	   *result;

	resetStringInfo(&pt->buf);
	for (int i = 0; i < pt->nslots; i++)
	{
		/* another language's text: the device never gets it, so it cannot be missing */
		PPMissingPolicy policy = pt->languages[i] && pt->languages[i] != entry ?
			PP_MISSING_DEFAULT : pt->policy;

		offsets[i] = pt->buf.len;
		if (!pp_template_render(pt->templates[i], values, policy, &pt->buf, missing))
		{
			pfree(offsets);
			return NULL;
		}
	}
	offsets[pt->nslots] = pt->buf.len;
	/* the buffer is complete (it may have moved while it grew): point the slots into it */
	for (int i = 0; i < pt->nslots; i++)
	{
		pt->slots[i]->val.string.val = pt->buf.data + offsets[i];
		pt->slots[i]->val.string.len = offsets[i + 1] - offsets[i];
	}
	result = JsonbValueToJsonb(pt->tree);
	pfree(offsets);
	return result;
}

/* push_send's checks take event variables only for a flow's send step (src/flow_send.c) */
int			pp_push_template_check_flags = 0;

Jsonb *
pp_push_template_check(Jsonb *push, int *reads)
{
	PPPushTemplate *pt = pp_push_template_compile(push, pp_push_template_check_flags);
	PPTemplateValues none = {.literal_only = true};
	const char *missing = NULL;
	Jsonb	   *literal;

	*reads = 0;
	if (pt == NULL)
		return push;
	*reads = pt->reads | PP_TEMPLATE_READS_TEXTS;
	literal = pp_push_template_render(pt, &none, NULL, &missing);
	Assert(literal != NULL);
	return literal;
}

/*
 * A send step's push with the trigger's props in place of its event variables: each one whose
 * prop has a value becomes a string literal holding the value ({{event.props.item | upcase}}
 * -> {{"blue shoes" | upcase}}), so that its filters still apply and nothing in the value
 * (a "{{" or "}}" of its own) is read as a template; one whose prop has no value stays, and is
 * missing when the sender renders it (options.missing_attribute).
 */
Jsonb *
pp_push_template_bind_event(Jsonb *push, Jsonb *props)
{
	PPPushTemplate *pt = pp_push_template_compile(push, PP_TEMPLATE_EVENT_VARS);
	JsonbContainer *given = props && !JB_ROOT_IS_SCALAR(props) ? &props->root : NULL;
	StringInfoData text;
	StringInfoData value;

	if (pt == NULL || (pt->reads & PP_TEMPLATE_READS_EVENT) == 0)
		return push;
	initStringInfo(&text);
	initStringInfo(&value);
	for (int i = 0; i < pt->nslots; i++)
	{
		PPTemplate *t = pt->templates[i];
		JsonbValue *slot = pt->slots[i];
		const char *src = slot->val.string.val;
		int			copied = 0;

		resetStringInfo(&text);
		for (int k = 0; k < t->nparts; k++)
		{
			PPTemplatePart *part = &t->parts[k];

			resetStringInfo(&value);
			if (part->source != PP_TS_EVENT || !pp_template_event_value(part, given, &value))
				continue;
			appendBinaryStringInfo(&text, src + copied, part->var_start - copied);
			appendStringInfoChar(&text, '"');
			for (int c = 0; c < value.len; c++)
			{
				if (value.data[c] == '"' || value.data[c] == '\\')
					appendStringInfoChar(&text, '\\');
				appendStringInfoChar(&text, value.data[c]);
			}
			appendStringInfoChar(&text, '"');
			copied = part->var_end;
		}
		if (copied == 0)
			continue;
		appendBinaryStringInfo(&text, src + copied, slot->val.string.len - copied);
		slot->val.string.val = pnstrdup(text.data, text.len);
		slot->val.string.len = text.len;
	}
	return JsonbValueToJsonb(pt->tree);
}
