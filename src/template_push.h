/*
 * template_push.h: a push's templates, parsed once (per task in a sender) and rendered per
 * device (template_push.c; doc/templates.md).
 *
 *   pt = pp_push_template_compile(push);          NULL: the push has no template
 *   rendered = pp_push_template_render(pt, &values, &missing);
 *                                                 NULL: skip or fail, `missing` the attribute
 */
#ifndef PUSHPLAN_TEMPLATE_PUSH_H
#define PUSHPLAN_TEMPLATE_PUSH_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "template.h"

typedef struct PPPushTemplate
{
	Jsonb	   *push;			/* the tree's strings point into it: it must outlive this */
	JsonbValue *tree;			/* the push, every container expanded */
	int			nslots;
	JsonbValue **slots;			/* the templated strings of the tree */
	PPTemplate **templates;		/* each slot's, parsed */
	char	  **languages;		/* each slot's options.multi_language key, or NULL */
	PPMissingPolicy policy;		/* options.missing_attribute */
	int			reads;			/* PP_TEMPLATE_READS_* */
	StringInfoData buf;			/* the rendered texts of the last device */
} PPPushTemplate;

/*
 * Parses every templated text of a normalized push (raises 92830-92838), or NULL: none.
 * flags: pp_template_parse's (the senders take event variables: a stored push has them only
 * from a flow's send step).
 */
extern PPPushTemplate *pp_push_template_compile(Jsonb *push, int flags);

/*
 * The push for one device's values, palloc'd in the current context; NULL when a value is
 * missing under options.missing_attribute skip or fail (*missing: the attribute, or "account").
 * language: the device's; a multi_language text of another language renders as under the
 * default policy, as the device never gets it.
 */
extern Jsonb *pp_push_template_render(PPPushTemplate *pt, const PPTemplateValues *values,
									  const char *language, const char **missing);

/*
 * push_send: parses the push's templates (raising what is wrong) and returns the push with
 * every expression rendered empty, the smallest it can be, for the vendors' size checks; the
 * push itself when it has no template. *reads: what the templates read (tasks.template_reads).
 */
extern Jsonb *pp_push_template_check(Jsonb *push, int *reads);

/* pp_push_template_check's parse flags: 0, but PP_TEMPLATE_EVENT_VARS while a flow's send step is checked */
extern int	pp_push_template_check_flags;

/*
 * A flow's send-step push with the props of the event that started the instance in place of
 * its event variables (those without a value stay: missing when rendered); the push itself
 * when it reads none.
 */
extern Jsonb *pp_push_template_bind_event(Jsonb *push, Jsonb *props);

#endif							/* PUSHPLAN_TEMPLATE_PUSH_H */
