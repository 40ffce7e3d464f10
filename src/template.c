/*
 * template.c: one templated text, parsed once and rendered per device (doc/templates.md).
 *
 *   text       := (literal | "{{" expression ("|" filter)* "}}")*
 *   expression := attrs.NAME | attrs["NAME"] | account | event.props.NAME(.NAME)* |
 *                 event.props["NAME"] | "string"
 *   filter     := default: "text" | upcase | downcase | truncate: N
 *
 * Parsing raises every problem with the text's path and the character where it is (push_send
 * refuses the push, nothing is stored); rendering never raises for a device's values: a missing
 * value is the caller's policy (options.missing_attribute). Rendering reads the device's
 * attributes with one binary search of the jsonb object per expression and writes into the
 * caller's buffer: no parse, no catalog access, no allocation but the buffer's and case
 * mapping of non-ASCII text.
 */
#include "pushplan.h"

#include "catalog/pg_collation.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "template.h"

typedef struct Parser
{
	const char *text;
	int			len;
	int			pos;			/* byte offset */
	const char *path;
	PPTemplate *t;
	int			cap;
	int			flags;			/* PP_TEMPLATE_EVENT_VARS */
} Parser;

bool
pp_template_marked(const char *text, int len)
{
	for (int i = 0; i + 1 < len; i++)
		if (text[i] == '{' && text[i + 1] == '{')
			return true;
	return false;
}

/* The 1-based character position of a byte offset, as errors show it. */
static int
char_position(Parser *p, int at)
{
	return pg_mbstrlen_with_len(p->text, Min(at, p->len)) + 1;
}

static void
syntax_error(Parser *p, int at, const char *what)
{
	ereport(ERROR,
			(pp_errmsg(PPE_TEMPLATE_SYNTAX, "template in \"%s\", character %d: %s",
					   p->path, char_position(p, at), what),
			 errhint("An expression is {{attrs.NAME}}, {{account}} or {{\"text\"}}, with filters after \"|\"; see doc/templates.md.")));
}

static void
skip_space(Parser *p)
{
	while (p->pos < p->len && (p->text[p->pos] == ' ' || p->text[p->pos] == '\t' ||
							   p->text[p->pos] == '\n' || p->text[p->pos] == '\r'))
		p->pos++;
}

static bool
ident_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		(!first && ((c >= '0' && c <= '9') || c == '-'));
}

/* An identifier at the position (letters, digits, _ and -), or NULL. */
static char *
read_ident(Parser *p, int *len)
{
	int			start = p->pos;

	if (p->pos >= p->len || !ident_char(p->text[p->pos], true))
		return NULL;
	while (p->pos < p->len && ident_char(p->text[p->pos], false))
		p->pos++;
	*len = p->pos - start;
	return pnstrdup(p->text + start, *len);
}

/* A string literal in double or single quotes, with \" \' and \\ escapes. */
static char *
read_string(Parser *p, int *len)
{
	char		quote = p->text[p->pos];
	int			start = p->pos;
	StringInfoData s;

	initStringInfo(&s);
	p->pos++;
	while (p->pos < p->len && p->text[p->pos] != quote)
	{
		if (p->text[p->pos] == '\\' && p->pos + 1 < p->len)
			p->pos++;
		appendStringInfoChar(&s, p->text[p->pos]);
		p->pos++;
	}
	if (p->pos >= p->len)
		syntax_error(p, start, "a string is not closed");
	p->pos++;
	*len = s.len;
	return s.data;
}

static PPTemplatePart *
add_part(Parser *p, PPTemplateSource source)
{
	PPTemplatePart *part;

	if (p->t->nparts == p->cap)
	{
		p->cap *= 2;
		p->t->parts = repalloc(p->t->parts, sizeof(PPTemplatePart) * p->cap);
	}
	part = &p->t->parts[p->t->nparts++];
	memset(part, 0, sizeof(*part));
	part->source = source;
	return part;
}

/* The variable at `at` is none we know: raises 92831 with its whole dotted name, as written. */
static void pg_attribute_noreturn()
unknown_variable(Parser *p, int at, const char *hint);

static void
unknown_variable(Parser *p, int at, const char *hint)
{
	while (p->pos < p->len && (p->text[p->pos] == '.' || ident_char(p->text[p->pos], false)))
		p->pos++;
	ereport(ERROR,
			(pp_errmsg(PPE_TEMPLATE_VARIABLE_UNKNOWN,
					   "template in \"%s\", character %d: unknown variable \"%s\"",
					   p->path, char_position(p, at), pp_shown_n(p->text + at, p->pos - at)),
			 errhint("%s", hint)));
}

/*
 * event.props.NAME(.NAME)* or event.props["NAME"], after "event": the keys to follow in the
 * trigger's props, and where the variable is, for binding (template_push.c).
 */
static void
parse_event(Parser *p, PPTemplatePart *part, int at)
{
	int			len;
	char	   *word;

	part->source = PP_TS_EVENT;
	p->t->reads |= PP_TEMPLATE_READS_EVENT;
	part->var_start = at;
	part->keys = palloc(sizeof(char *) * PP_TEMPLATE_EVENT_DEPTH);
	part->key_lens = palloc(sizeof(int) * PP_TEMPLATE_EVENT_DEPTH);
	if (p->pos < p->len && p->text[p->pos] == '.')
	{
		p->pos++;
		word = read_ident(p, &len);
	}
	else
		word = NULL;
	if (word == NULL || strcmp(word, "props") != 0)
	{
		unknown_variable(p, at, "An event's variables are event.props.NAME and event.props[\"NAME\"].");
	}
	if (p->pos < p->len && p->text[p->pos] == '[')
	{
		int			key_at;

		p->pos++;
		skip_space(p);
		key_at = p->pos;
		if (p->pos >= p->len || (p->text[p->pos] != '"' && p->text[p->pos] != '\''))
			syntax_error(p, key_at, "expected a quoted prop name after \"event.props[\"");
		part->keys[0] = read_string(p, &part->key_lens[0]);
		part->nkeys = 1;
		skip_space(p);
		if (p->pos >= p->len || p->text[p->pos] != ']')
			syntax_error(p, p->pos, "expected \"]\"");
		p->pos++;
		if (part->key_lens[0] == 0 || part->key_lens[0] > PP_MAX_ATTR_NAME_BYTES)
			pp_error(PPE_TEMPLATE_ATTR_NAME,
					 "template in \"%s\", character %d: a prop name is 1 to %d bytes",
					 p->path, char_position(p, key_at), PP_MAX_ATTR_NAME_BYTES);
	}
	else
	{
		while (p->pos < p->len && p->text[p->pos] == '.')
		{
			int			key_at = ++p->pos;

			if (part->nkeys == PP_TEMPLATE_EVENT_DEPTH)
				pp_error(PPE_TEMPLATE_ATTR_NAME,
						 "template in \"%s\", character %d: event.props reads at most %d levels",
						 p->path, char_position(p, at), PP_TEMPLATE_EVENT_DEPTH);
			part->keys[part->nkeys] = read_ident(p, &part->key_lens[part->nkeys]);
			if (part->keys[part->nkeys] == NULL)
				syntax_error(p, key_at, "expected a prop name after \".\"");
			if (part->key_lens[part->nkeys] > PP_MAX_ATTR_NAME_BYTES)
				pp_error(PPE_TEMPLATE_ATTR_NAME,
						 "template in \"%s\", character %d: a prop name is 1 to %d bytes",
						 p->path, char_position(p, key_at), PP_MAX_ATTR_NAME_BYTES);
			part->nkeys++;
		}
		if (part->nkeys == 0)
			syntax_error(p, p->pos, "expected \".NAME\" or [\"NAME\"] after \"event.props\"");
	}
	part->var_end = p->pos;
	part->text = pnstrdup(p->text + at, p->pos - at);
	part->len = p->pos - at;
}

static void
parse_expression(Parser *p, PPTemplatePart *part)
{
	int			at = p->pos;
	int			len;
	char	   *name;
	char		c = p->pos < p->len ? p->text[p->pos] : '\0';

	if (c == '"' || c == '\'')
	{
		part->source = PP_TS_STRING;
		part->text = read_string(p, &part->len);
		return;
	}
	name = read_ident(p, &len);
	if (name == NULL)
		syntax_error(p, at, c == '}' ? "an expression is empty" : "expected a variable or a string");
	if (strcmp(name, "account") == 0)
	{
		part->source = PP_TS_ACCOUNT;
		p->t->reads |= PP_TEMPLATE_READS_ACCOUNT;
		return;
	}
	if (strcmp(name, "event") == 0)
	{
		if ((p->flags & PP_TEMPLATE_EVENT_VARS) == 0)
			ereport(ERROR,
					(pp_errmsg(PPE_TEMPLATE_EVENT,
							   "template in \"%s\", character %d: event variables are read only in a flow's send steps",
							   p->path, char_position(p, at)),
					 errhint("A push's templates read attrs.NAME and account; a flow's send steps also read event.props.NAME (doc/flows.md).")));
		parse_event(p, part, at);
		return;
	}
	if (strcmp(name, "attrs") != 0)
	{
		unknown_variable(p, at, "Variables are attrs.NAME, attrs[\"NAME\"] and account.");
	}
	part->source = PP_TS_ATTR;
	p->t->reads |= PP_TEMPLATE_READS_ATTRS;
	if (p->pos < p->len && p->text[p->pos] == '.')
	{
		p->pos++;
		at = p->pos;
		part->text = read_ident(p, &part->len);
		if (part->text == NULL)
			syntax_error(p, at, "expected an attribute name after \"attrs.\"");
	}
	else if (p->pos < p->len && p->text[p->pos] == '[')
	{
		p->pos++;
		skip_space(p);
		at = p->pos;
		if (p->pos >= p->len || (p->text[p->pos] != '"' && p->text[p->pos] != '\''))
			syntax_error(p, at, "expected a quoted attribute name after \"attrs[\"");
		part->text = read_string(p, &part->len);
		skip_space(p);
		if (p->pos >= p->len || p->text[p->pos] != ']')
			syntax_error(p, p->pos, "expected \"]\"");
		p->pos++;
	}
	else
		syntax_error(p, p->pos, "expected \".NAME\" or [\"NAME\"] after \"attrs\"");
	if (part->len == 0 || part->len > PP_MAX_ATTR_NAME_BYTES)
		pp_error(PPE_TEMPLATE_ATTR_NAME,
				 "template in \"%s\", character %d: an attribute name is 1 to %d bytes",
				 p->path, char_position(p, at), PP_MAX_ATTR_NAME_BYTES);
}

static void
parse_filter(Parser *p, PPTemplatePart *part)
{
	int			at = p->pos;
	int			len;
	char	   *name = read_ident(p, &len);
	PPTemplateFilter *f;
	bool		takes_arg;

	if (name == NULL)
		syntax_error(p, at, "expected a filter name after \"|\"");
	part->filters = part->nfilters == 0 ? palloc(sizeof(PPTemplateFilter)) :
		repalloc(part->filters, sizeof(PPTemplateFilter) * (part->nfilters + 1));
	f = &part->filters[part->nfilters++];
	memset(f, 0, sizeof(*f));
	if (strcmp(name, "default") == 0)
		f->kind = PP_TF_DEFAULT;
	else if (strcmp(name, "upcase") == 0)
		f->kind = PP_TF_UPCASE;
	else if (strcmp(name, "downcase") == 0)
		f->kind = PP_TF_DOWNCASE;
	else if (strcmp(name, "truncate") == 0)
		f->kind = PP_TF_TRUNCATE;
	else
		ereport(ERROR,
				(pp_errmsg(PPE_TEMPLATE_FILTER_UNKNOWN,
						   "template in \"%s\", character %d: unknown filter \"%s\"",
						   p->path, char_position(p, at), pp_shown(name)),
				 errhint("Filters are default: \"text\", upcase, downcase and truncate: N.")));
	takes_arg = f->kind == PP_TF_DEFAULT || f->kind == PP_TF_TRUNCATE;
	skip_space(p);
	if (!takes_arg)
	{
		if (p->pos < p->len && p->text[p->pos] == ':')
			pp_error(PPE_TEMPLATE_FILTER_ARGUMENT,
					 "template in \"%s\", character %d: filter \"%s\" takes no argument",
					 p->path, char_position(p, at), name);
		return;
	}
	if ((p->pos >= p->len || p->text[p->pos] != ':') && f->kind == PP_TF_DEFAULT)
		pp_error(PPE_TEMPLATE_FILTER_ARGUMENT,
				 "template in \"%s\", character %d: filter \"default\" needs a text: default: \"...\"",
				 p->path, char_position(p, at));
	if (p->pos >= p->len || p->text[p->pos] != ':')
		pp_error(PPE_TEMPLATE_FILTER_ARGUMENT,
				 "template in \"%s\", character %d: filter \"truncate\" needs a number of characters: truncate: N",
				 p->path, char_position(p, at));
	p->pos++;
	skip_space(p);
	if (f->kind == PP_TF_DEFAULT)
	{
		if (p->pos >= p->len || (p->text[p->pos] != '"' && p->text[p->pos] != '\''))
			pp_error(PPE_TEMPLATE_FILTER_ARGUMENT,
					 "template in \"%s\", character %d: filter \"default\" takes a quoted text",
					 p->path, char_position(p, p->pos));
		f->arg = read_string(p, &f->arg_len);
		part->has_default = true;
	}
	else
	{
		int			start = p->pos;
		int64		n = 0;

		while (p->pos < p->len && p->text[p->pos] >= '0' && p->text[p->pos] <= '9' && n <= PP_TEMPLATE_TRUNCATE_MAX)
			n = n * 10 + (p->text[p->pos++] - '0');
		if (p->pos == start || n < 1 || n > PP_TEMPLATE_TRUNCATE_MAX ||
			(p->pos < p->len && p->text[p->pos] >= '0' && p->text[p->pos] <= '9'))
			pp_error(PPE_TEMPLATE_FILTER_ARGUMENT,
					 "template in \"%s\", character %d: filter \"truncate\" takes a whole number of characters from 1 to %d",
					 p->path, char_position(p, start), PP_TEMPLATE_TRUNCATE_MAX);
		f->n = (int) n;
	}
}

PPTemplate *
pp_template_parse(const char *text, int len, const char *path, int flags)
{
	Parser		p = {.text = text, .len = len, .path = path, .cap = 4, .flags = flags};
	int			lit = 0;

	p.t = palloc0(sizeof(PPTemplate));
	p.t->parts = palloc(sizeof(PPTemplatePart) * p.cap);
	while (p.pos < len)
	{
		PPTemplatePart *part;
		int			open;

		if (!(text[p.pos] == '{' && p.pos + 1 < len && text[p.pos + 1] == '{'))
		{
			p.pos++;			/* literal text, "}}" included */
			continue;
		}
		if (p.pos > lit)
		{
			part = add_part(&p, PP_TS_LITERAL);
			part->text = pnstrdup(text + lit, p.pos - lit);
			part->len = p.pos - lit;
		}
		open = p.pos;
		p.pos += 2;
		skip_space(&p);
		part = add_part(&p, PP_TS_LITERAL);
		parse_expression(&p, part);
		p.t->nexpressions++;
		for (;;)
		{
			skip_space(&p);
			if (p.pos + 1 < len && text[p.pos] == '}' && text[p.pos + 1] == '}')
			{
				p.pos += 2;
				break;
			}
			if (p.pos >= len)
				syntax_error(&p, open, "\"{{\" is not closed by \"}}\"");
			if (text[p.pos] != '|')
				syntax_error(&p, p.pos, "expected \"|\" or \"}}\"");
			p.pos++;
			skip_space(&p);
			parse_filter(&p, part);
		}
		lit = p.pos;
	}
	if (len > lit)
	{
		PPTemplatePart *part = add_part(&p, PP_TS_LITERAL);

		part->text = pnstrdup(text + lit, len - lit);
		part->len = len - lit;
	}
	return p.t;
}

PPMissingPolicy
pp_missing_policy(const char *given, int len, const char *path)
{
	if (given == NULL)
		return PP_MISSING_DEFAULT;
	if (len == 7 && memcmp(given, "default", 7) == 0)
		return PP_MISSING_DEFAULT;
	if (len == 4 && memcmp(given, "skip", 4) == 0)
		return PP_MISSING_SKIP;
	if (len == 4 && memcmp(given, "fail", 4) == 0)
		return PP_MISSING_FAIL;
	pp_error(PPE_TEMPLATE_MISSING_POLICY,
			 "\"%s\" must be \"default\", \"skip\" or \"fail\", not \"%s\"",
			 path, pp_shown_n(given, len));
	return PP_MISSING_DEFAULT;	/* not reached */
}

/* ---- rendering ------------------------------------------------------------------------------ */

/* A value as an expression sees it: text in buf (from start), or missing. */
typedef struct Value
{
	bool		missing;
	const char *text;
	int			len;
} Value;

static bool
all_ascii(const char *s, int len)
{
	for (int i = 0; i < len; i++)
		if ((unsigned char) s[i] & 0x80)
			return false;
	return true;
}

static void
change_case(Value *v, bool upper, StringInfo scratch)
{
	resetStringInfo(scratch);
	if (all_ascii(v->text, v->len))
	{
		enlargeStringInfo(scratch, v->len);
		for (int i = 0; i < v->len; i++)
			scratch->data[i] = upper ? pg_ascii_toupper(v->text[i]) : pg_ascii_tolower(v->text[i]);
		scratch->len = v->len;
		scratch->data[v->len] = '\0';
	}
	else
	{
		/* the database's default collation says what a letter's other case is */
		char	   *s = upper ? str_toupper(v->text, v->len, DEFAULT_COLLATION_OID) :
			str_tolower(v->text, v->len, DEFAULT_COLLATION_OID);

		appendStringInfoString(scratch, s);
		pfree(s);
	}
}

/* Whether the value is over n characters: then n - 1 of them and an ellipsis, in scratch. */
static bool
truncate_value(Value *v, int n, StringInfo scratch)
{
	int			keep;

	if (pg_mbstrlen_with_len(v->text, v->len) <= n)
		return false;
	keep = pg_mbcharcliplen(v->text, v->len, n - 1);
	resetStringInfo(scratch);
	appendBinaryStringInfo(scratch, v->text, keep);
	appendStringInfoString(scratch, "\xE2\x80\xA6");
	return true;
}

/* An attribute's value as text: strings as they are, numbers and booleans as JSON writes them. */
static void
attr_value(JsonbContainer *attrs, const PPTemplatePart *part, Value *v, StringInfo scratch)
{
	JsonbValue	jv;

	v->missing = true;
	if (attrs == NULL || !JsonContainerIsObject(attrs) ||
		getKeyJsonValueFromContainer(attrs, part->text, part->len, &jv) == NULL)
		return;
	switch (jv.type)
	{
		case jbvString:
			v->text = jv.val.string.val;
			v->len = jv.val.string.len;
			break;
		case jbvNumeric:
			resetStringInfo(scratch);
			appendStringInfoString(scratch,
								   DatumGetCString(DirectFunctionCall1(numeric_out,
																	   NumericGetDatum(jv.val.numeric))));
			v->text = scratch->data;
			v->len = scratch->len;
			break;
		case jbvBool:
			v->text = jv.val.boolean ? "true" : "false";
			v->len = jv.val.boolean ? 4 : 5;
			break;
		default:
			return;				/* null: no value */
	}
	v->missing = false;
}

/* Scratch buffers for filters, kept for the process: a filter reads one and writes the other. */
static StringInfoData scratch[2];
static bool scratch_ready = false;

bool
pp_template_render(const PPTemplate *t, const PPTemplateValues *values, PPMissingPolicy policy,
				   StringInfo out, const char **missing)
{
	if (!scratch_ready)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&scratch[0]);
		initStringInfo(&scratch[1]);
		MemoryContextSwitchTo(old);
		scratch_ready = true;
	}
	for (int i = 0; i < t->nparts; i++)
	{
		const PPTemplatePart *part = &t->parts[i];
		Value		v = {false, part->text, part->len};
		int			cur = 0;		/* the scratch buffer v may point into */

		if (part->source == PP_TS_LITERAL)
		{
			appendBinaryStringInfo(out, part->text, part->len);
			continue;
		}
		if (values->literal_only)
			continue;
		if (part->source == PP_TS_ATTR)
			attr_value(values->attrs, part, &v, &scratch[cur]);
		else if (part->source == PP_TS_ACCOUNT)
		{
			v.missing = values->account == NULL;
			v.text = values->account;
			v.len = v.missing ? 0 : strlen(values->account);
		}
		else if (part->source == PP_TS_EVENT)
			v.missing = true;	/* bound at the step when the event had it: it did not */
		for (int k = 0; k < part->nfilters; k++)
		{
			const PPTemplateFilter *f = &part->filters[k];
			int			next = 1 - cur;

			if (f->kind == PP_TF_DEFAULT)
			{
				if (v.missing || v.len == 0)
				{
					v.missing = false;
					v.text = f->arg;
					v.len = f->arg_len;
				}
				continue;
			}
			if (v.missing)
				continue;
			if (f->kind == PP_TF_TRUNCATE)
			{
				if (!truncate_value(&v, f->n, &scratch[next]))
					continue;	/* short enough: unchanged */
			}
			else
				change_case(&v, f->kind == PP_TF_UPCASE, &scratch[next]);
			v.text = scratch[next].data;
			v.len = scratch[next].len;
			cur = next;
		}
		if (v.missing)
		{
			if (policy != PP_MISSING_DEFAULT)
			{
				*missing = part->source == PP_TS_ACCOUNT ? "account" : part->text;
				/* (an event variable's text is the variable: "event.props.item") */
				return false;
			}
			continue;			/* the empty string */
		}
		appendBinaryStringInfo(out, v.text, v.len);
	}
	return true;
}

bool
pp_template_event_value(const PPTemplatePart *part, JsonbContainer *props, StringInfo out)
{
	JsonbValue	jv = {.type = jbvNull};
	JsonbContainer *at = props;

	Assert(part->source == PP_TS_EVENT);
	for (int k = 0; k < part->nkeys; k++)
	{
		if (at == NULL || !JsonContainerIsObject(at) ||
			getKeyJsonValueFromContainer(at, part->keys[k], part->key_lens[k], &jv) == NULL)
			return false;
		at = jv.type == jbvBinary ? jv.val.binary.data : NULL;
	}
	switch (jv.type)
	{
		case jbvString:
			appendBinaryStringInfo(out, jv.val.string.val, jv.val.string.len);
			return true;
		case jbvNumeric:
			appendStringInfoString(out, DatumGetCString(DirectFunctionCall1(numeric_out,
																			NumericGetDatum(jv.val.numeric))));
			return true;
		case jbvBool:
			appendStringInfoString(out, jv.val.boolean ? "true" : "false");
			return true;
		case jbvBinary:
			(void) JsonbToCString(out, jv.val.binary.data, jv.val.binary.len);
			return true;
		default:
			return false;		/* null: no value */
	}
}
