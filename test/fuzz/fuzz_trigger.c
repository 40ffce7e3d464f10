/*
 * fuzz_trigger: a schedule's trigger (schedule_trigger.c) and the time and zone checks it uses
 * (timezone.c). Input: the trigger's JSON value; the text itself also goes to the zone, time
 * of day and local date-time checks.
 */
#include "postgres.h"

#include "pushplan.h"
#include "schedule.h"

#include "fuzz_common.h"

static void
body(const uint8_t *data, size_t size)
{
	char	   *text = fuzz_text(data, size);
	Jsonb	   *jb;
	JsonbValue	v;

	if (text == NULL)
		return;
	(void) pp_canonical_timezone(text);
	(void) pp_valid_time_of_day(text, strlen(text));
	(void) pp_valid_local_datetime(text, strlen(text));
	jb = fuzz_jsonb(text, size);
	if (jb == NULL)
		return;
	if (JB_ROOT_IS_SCALAR(jb))
		JsonbExtractScalar(&jb->root, &v);
	else
	{
		v.type = jbvBinary;
		v.val.binary.data = &jb->root;
		v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
	(void) pp_trigger_normalize(&v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_run(body, data, size);
}
