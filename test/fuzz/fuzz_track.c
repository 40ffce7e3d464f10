/*
 * fuzz_track: a batch of events as push_track_batch reads it in one pass (track_read.c:
 * every rule of its checks but the device lookup). Input: the batch's JSON.
 */
#include "postgres.h"

#include "pushplan.h"
#include "flow.h"

#include "utils/builtins.h"

#include "fuzz_common.h"

static void
body(const uint8_t *data, size_t size)
{
	char	   *text = fuzz_text(data, size);
	Jsonb	   *jb;
	PPTrackEvent *ev;
	int			n;

	if (text == NULL)
		return;
	jb = fuzz_jsonb(text, size);
	if (jb == NULL)
		return;
	/* every time in range: the whole of each event is read */
	n = pp_track_read(jb, PG_INT64_MIN, PG_INT64_MAX, &ev);
	for (int i = 0; i < n; i++)
	{
		/* what was read is whole, and in order */
		if (i > 0 && (ev[i - 1].at > ev[i].at || (ev[i - 1].at == ev[i].at && ev[i - 1].pos >= ev[i].pos)))
			abort();
		if ((ev[i].registration_id == NULL) == (ev[i].account == NULL) || ev[i].name == NULL ||
			ev[i].props == NULL || !JB_ROOT_IS_OBJECT(ev[i].props))
			abort();
		(void) text_to_cstring(ev[i].name);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_run(body, data, size);
}
