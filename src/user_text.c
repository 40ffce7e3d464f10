/*
 * user_text.c: text that users give, as it is checked and as messages show it.
 *
 * A message never echoes unbounded input: a 10 MB tag would otherwise become a 10 MB error,
 * written to the server log twice.  pp_shown() is the one form of a user's value in a message:
 * at most PP_SHOWN_CHARS characters and "..." when cut, control characters written as \xNN or
 * \u00NN so that a terminal escape in a tag cannot reach an operator's terminal.
 *
 * pp_name_problem() is the rule for the names pushplan keeps and matches (tags, attribute
 * names, accounts): no control character (C0, DEL, C1) and not only white space.
 */
#include "pushplan.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(pushplan_shown);
PG_FUNCTION_INFO_V1(pushplan_name_problem);

/* Bytes of the control character at s (1 for C0 and DEL, 2 for UTF-8 C1), or 0. */
static int
control_at(const unsigned char *s, int left)
{
	if (*s < 0x20 || *s == 0x7f)
		return 1;
	if (left >= 2 && s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f &&
		GetDatabaseEncoding() == PG_UTF8)
		return 2;
	return 0;
}

char *
pp_shown_n(const char *s, int len)
{
	StringInfoData out;
	int			chars = 0;
	int			i = 0;

	if (s == NULL)
		return pstrdup("<NULL>");
	initStringInfo(&out);
	while (i < len && chars < PP_SHOWN_CHARS)
	{
		const unsigned char *p = (const unsigned char *) s + i;
		int			c = control_at(p, len - i);
		int			n;

		if (c == 1)
			appendStringInfo(&out, "\\x%02X", *p);
		else if (c == 2)
			appendStringInfo(&out, "\\u00%02X", p[1]);
		else
		{
			n = Min(pg_mblen((const char *) p), len - i);
			appendBinaryStringInfo(&out, (const char *) p, n);
			c = n;
		}
		i += c;
		chars++;
	}
	if (i < len)
		appendStringInfoString(&out, "...");
	return out.data;
}

char *
pp_shown(const char *s)
{
	return pp_shown_n(s, s ? strlen(s) : 0);
}

/* Unicode white space (and the invisible U+200B, U+FEFF) other than ASCII, as UTF-8. */
static int
unicode_space_at(const unsigned char *s, int left)
{
	pg_wchar	c;
	int			n;

	if (GetDatabaseEncoding() != PG_UTF8 || *s < 0x80)
		return 0;
	n = pg_utf_mblen(s);
	if (n > left)
		return 0;
	c = utf8_to_unicode(s);
	if (c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200b) || c == 0x2028 ||
		c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000 || c == 0xfeff)
		return n;
	return 0;
}

/*
 * What is wrong with a name of the given kind ("tag", "attribute name", "account"), as
 * "code: message", or NULL.  An empty name is left to the caller's own length rule.
 */
/* Whether s holds a control character (C0, DEL, UTF-8 C1): values that go on the wire refuse them. */
bool
pp_has_control(const char *s, int len)
{
	for (int i = 0; i < len; i += Max(pg_mblen(s + i), 1))
		if (control_at((const unsigned char *) s + i, len - i))
			return true;
	return false;
}

char *
pp_name_problem(const char *what, const char *s, int len)
{
	bool		blank = true;
	int			i = 0;

	while (i < len)
	{
		const unsigned char *p = (const unsigned char *) s + i;
		int			n;

		if (control_at(p, len - i))
			return psprintf(PP_CODE(PPE_NAME_CONTROL_CHAR)
							": %s \"%s\" holds a control character", what, pp_shown_n(s, len));
		if (*p == ' ')
			n = 1;
		else if ((n = unicode_space_at(p, len - i)) == 0)
		{
			blank = false;
			n = Min(pg_mblen((const char *) p), len - i);
		}
		i += n;
	}
	if (len > 0 && blank)
		return psprintf(PP_CODE(PPE_NAME_WHITE_SPACE)
						": %s \"%s\" is only white space", what, pp_shown_n(s, len));
	return NULL;
}

/*
 * The rules of a tag and of an attribute name, one for wherever it is given: registered on a
 * device (where NULL) or named in an audience condition (where: the condition's key, which the
 * message names).  "code: message", or NULL.
 */
char *
pp_tag_problem(const char *tag, int len, const char *where)
{
	if (len == 0)
		return where ? psprintf(PP_CODE(PPE_TAG_EMPTY) ": empty tag in \"%s\"", where)
			: psprintf(PP_CODE(PPE_TAG_EMPTY) ": a tag is empty");
	if (len > PP_MAX_TAG_BYTES)
		return psprintf(PP_CODE(PPE_TAG_TOO_LONG) ": tag \"%s\" is longer than %d bytes",
						pp_shown_n(tag, len),
						PP_MAX_TAG_BYTES);
	return pp_name_problem("tag", tag, len);
}

char *
pp_attr_name_problem(const char *name, int len, const char *where)
{
	if (len == 0 && where)
		return psprintf(PP_CODE(PPE_ATTR_INVALID) ": empty attribute name in \"%s\"", where);
	if (len == 0 || len > PP_MAX_ATTR_NAME_BYTES)
		return psprintf(PP_CODE(PPE_ATTR_INVALID) ": attribute name \"%s\" must be 1 to %d bytes",
						pp_shown_n(name, len), PP_MAX_ATTR_NAME_BYTES);
	return pp_name_problem("attribute name", name, len);
}

/* _shown(text) RETURNS text: pp_shown for the SQL functions' messages. */
Datum
pushplan_shown(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text(pp_shown_n(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t))));
}

/* _name_problem(what text, name text) RETURNS text: pp_name_problem for SQL. */
Datum
pushplan_name_problem(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(1);
	char	   *why = pp_name_problem(text_to_cstring(PG_GETARG_TEXT_PP(0)), VARDATA_ANY(t),
									  VARSIZE_ANY_EXHDR(t));

	if (why == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(why));
}
