/*
 * fuzz_payload: every vendor's payload builder (src/vendor_*.c) and the size check
 * (payload_check.c), over a push as push_send stores it, and the push's templates
 * (template_push.c) rendered for one device. Input: a push body; optionally "\n---\n" and the
 * device's attributes (a JSON object) for the templates.
 */
#include "postgres.h"

#include "engine.h"
#include "push_parse.h"
#include "template.h"
#include "template_push.h"
#include "vendor.h"

#include "fuzz_common.h"

/* A valid Web Push subscription (a P-256 point and a 16-byte secret), for its assemble. */
#define WEBPUSH_SUBSCRIPTION \
	"{\"endpoint\": \"https://push.example.com/send/abc\", \"keys\": {" \
	"\"p256dh\": \"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4\", " \
	"\"auth\": \"BTBZMqHH6r4Tts7J_aSIgg\"}}"

static void
build_all(Jsonb *push)
{
	const char *const tokens[2] = {"fuzz-token-1", "fuzz-token-2"};
	const char *const webpush_tokens[1] = {WEBPUSH_SUBSCRIPTION};

	for (int i = 0; pp_vendors[i]; i++)
	{
		const PPVendor *v = pp_vendors[i];

		if (v->build == NULL)
			continue;
		for (const char *const *p = v->platforms; *p; p++)
		{
			PPVendorConfig cfg;
			PPMsgInput	in = {0};
			PPRequest	req = {0};
			bool		webpush = strcmp(v->name, "webpush") == 0;

			pp_placeholder_config(v, &cfg);
			in.push = push;
			in.platform = *p;
			in.language = "zh";
			in.token = webpush ? WEBPUSH_SUBSCRIPTION : tokens[0];
			in.task_id = "fuzz-task";
			in.device_id = 42;
			in.registration_id = "fuzz-reg";
			v->build(&cfg, &in, &req);
			if (req.refused == NULL && v->assemble)
			{
				StringInfoData out;

				initStringInfo(&out);
				if (webpush)
					v->assemble(&req, webpush_tokens, 1, &out);
				else
					v->assemble(&req, tokens, Min(2, Max(1, v->max_tokens)), &out);
			}
		}
	}
}

static void
body(const uint8_t *data, size_t size)
{
	char	   *text = fuzz_text(data, size);
	char	   *push_text;
	char	   *attrs_text = NULL;
	Jsonb	   *jb;
	Jsonb	   *attrs = NULL;
	Jsonb	   *n;
	Jsonb	   *smallest;
	PPPushTemplate *pt;
	int			reads = 0;

	if (text == NULL)
		return;
	if (!fuzz_split(text, &push_text, &attrs_text))
		push_text = text;
	jb = fuzz_jsonb(push_text, strlen(push_text));
	if (jb == NULL)
		return;
	if (attrs_text)
		attrs = fuzz_jsonb(attrs_text, strlen(attrs_text));
	n = pp_push_normalize(jb, NULL);
	smallest = pp_push_template_check(n, &reads);
	pp_message_check(smallest);
	build_all(smallest);
	/* a flow send step's push bound to an event's props (the attributes serve as props) */
	if (attrs)
		(void) pp_push_template_bind_event(n, attrs);
	/* as a sender compiles a stored push */
	pt = pp_push_template_compile(n, PP_TEMPLATE_EVENT_VARS);
	if (pt)
	{
		PPTemplateValues values = {0};
		const char *missing = NULL;
		Jsonb	   *rendered;

		values.attrs = (attrs && JB_ROOT_IS_OBJECT(attrs)) ? &attrs->root : NULL;
		values.account = "fuzz-account";
		rendered = pp_push_template_render(pt, &values, "zh", &missing);
		if (rendered)
			build_all(rendered);
	}
	else
		build_all(n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_run(body, data, size);
}
