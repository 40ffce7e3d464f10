/*
 * fuzz_template: one template text (template.c): parsed, then rendered under each missing
 * policy. Input: the template; optionally "\n---\n" and the device's attributes (a JSON object).
 */
#include "postgres.h"

#include "template.h"

#include "fuzz_common.h"

static void
body(const uint8_t *data, size_t size)
{
	char	   *text = fuzz_text(data, size);
	char	   *tmpl;
	char	   *attrs_text = NULL;
	Jsonb	   *attrs = NULL;
	PPTemplate *t;

	if (text == NULL)
		return;
	if (!fuzz_split(text, &tmpl, &attrs_text))
		tmpl = text;
	if (attrs_text)
		attrs = fuzz_jsonb(attrs_text, strlen(attrs_text));
	(void) pp_template_marked(tmpl, strlen(tmpl));
	/* a push's text, or a flow send step's (event variables allowed) */
	t = pp_template_parse(tmpl, strlen(tmpl), "notification.android.alert",
						  (size & 2) ? PP_TEMPLATE_EVENT_VARS : 0);
	for (int policy = PP_MISSING_DEFAULT; policy <= PP_MISSING_FAIL; policy++)
	{
		PPTemplateValues values = {0};
		StringInfoData out;
		const char *missing = NULL;

		values.attrs = (attrs && JB_ROOT_IS_OBJECT(attrs)) ? &attrs->root : NULL;
		values.account = policy == PP_MISSING_SKIP ? NULL : "acct-1";
		values.literal_only = policy == PP_MISSING_FAIL && (size & 1);
		initStringInfo(&out);
		(void) pp_template_render(t, &values, (PPMissingPolicy) policy, &out, &missing);
	}
	(void) pp_missing_policy(tmpl, strlen(tmpl), "options.missing_attribute");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_run(body, data, size);
}
