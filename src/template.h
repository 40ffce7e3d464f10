/*
 * template.h: personalised texts, "Hello {{attrs.first_name | default: \"there\"}}"
 * (doc/templates.md).
 *
 * template.c parses one text into parts (literal text and expressions with their filters) and
 * renders it for one device's values; template_push.c finds the templated texts of a push,
 * keeps them parsed for a task and renders the whole push per device. The syntax is small on
 * purpose: variables, string literals and four filters, nothing that runs code or loops.
 */
#ifndef PUSHPLAN_TEMPLATE_H
#define PUSHPLAN_TEMPLATE_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#define PP_TEMPLATE_TRUNCATE_MAX	1000	/* truncate: N takes 1 .. this many characters */
#define PP_TEMPLATE_MAX_EXPRESSIONS 200 /* in one push, over all its texts */

/* What a push's templates read from the device (tasks.template_reads) */
#define PP_TEMPLATE_READS_ATTRS		0x01
#define PP_TEMPLATE_READS_ACCOUNT	0x02
#define PP_TEMPLATE_READS_EVENT		0x04	/* event.props of a flow's trigger, not bound */
#define PP_TEMPLATE_READS_TEXTS		0x08	/* any template: the senders render the push */

/* pp_template_parse flags */
#define PP_TEMPLATE_EVENT_VARS		0x01	/* event.props.NAME may be read (a flow's send step) */
#define PP_TEMPLATE_EVENT_DEPTH		5	/* event.props.a.b.c.d.e at most */

/* options.missing_attribute */
typedef enum PPMissingPolicy
{
	PP_MISSING_DEFAULT,			/* the expression's default, else the empty string */
	PP_MISSING_SKIP,			/* the delivery is suppressed ("missing attribute ...") */
	PP_MISSING_FAIL				/* the delivery fails, its error naming the attribute */
} PPMissingPolicy;

typedef enum PPTemplateFilterKind
{
	PP_TF_DEFAULT,				/* default: "text": when the value is missing or empty */
	PP_TF_UPCASE,
	PP_TF_DOWNCASE,
	PP_TF_TRUNCATE				/* truncate: N: at most N characters, the last one "…" when cut */
} PPTemplateFilterKind;

typedef struct PPTemplateFilter
{
	PPTemplateFilterKind kind;
	char	   *arg;			/* default's text */
	int			arg_len;
	int			n;				/* truncate's characters */
} PPTemplateFilter;

typedef enum PPTemplateSource
{
	PP_TS_LITERAL,				/* text outside {{ }} */
	PP_TS_STRING,				/* {{ "text" }}: a string literal (how "{{" itself is written) */
	PP_TS_ATTR,					/* {{ attrs.name }} or {{ attrs["any name"] }} */
	PP_TS_ACCOUNT,				/* {{ account }}: the account most recently bound to the device */
	PP_TS_EVENT					/* {{ event.props.item }}: a prop of the event that started a
								 * flow's instance, bound when its send step fires; one left
								 * unbound had no value */
} PPTemplateSource;

typedef struct PPTemplatePart
{
	PPTemplateSource source;
	char	   *text;			/* literal and string: the text; attr: the attribute's name;
								 * event: the variable as written ("event.props.item") */
	int			len;
	int			var_start;		/* event: where the variable is in the text (bytes) */
	int			var_end;
	int			nkeys;			/* event: the props' keys to follow, outermost first */
	char	  **keys;
	int		   *key_lens;
	int			nfilters;
	PPTemplateFilter *filters;
	bool		has_default;	/* a default filter: never missing */
} PPTemplatePart;

typedef struct PPTemplate
{
	int			nparts;
	PPTemplatePart *parts;
	int			nexpressions;
	int			reads;			/* PP_TEMPLATE_READS_* */
} PPTemplate;

/* One device's values. */
typedef struct PPTemplateValues
{
	JsonbContainer *attrs;		/* devices.attrs, or NULL */
	const char *account;		/* NULL: none bound */
	bool		literal_only;	/* every expression renders nothing (push_send's size check) */
} PPTemplateValues;

/* Whether a text holds a template ("{{"). */
extern bool pp_template_marked(const char *text, int len);

/*
 * Parses a text (len bytes, not necessarily NUL-terminated); path names it in errors, which
 * give the character position. Raises 92830-92835; event variables raise 92832 unless flags
 * has PP_TEMPLATE_EVENT_VARS.
 */
extern PPTemplate *pp_template_parse(const char *text, int len, const char *path, int flags);

/*
 * An event variable's value in props (a flow instance's trigger props), appended to out as
 * text: strings as they are, numbers and booleans as JSON writes them, objects and arrays as
 * their JSON. False (nothing appended) when props has no such value or it is null.
 */
extern bool pp_template_event_value(const PPTemplatePart *part, JsonbContainer *props,
									StringInfo out);

/*
 * Appends the text rendered for one device's values. Returns false, with *missing the name of
 * the first attribute (or "account") that had no value and no default, when policy is skip or
 * fail; under default a missing value renders as the empty string.
 */
extern bool pp_template_render(const PPTemplate *t, const PPTemplateValues *values,
							   PPMissingPolicy policy, StringInfo out, const char **missing);

/* options.missing_attribute as a policy (NULL: default); raises 92836, naming path, for another value. */
extern PPMissingPolicy pp_missing_policy(const char *given, int len, const char *path);

#endif							/* PUSHPLAN_TEMPLATE_H */
