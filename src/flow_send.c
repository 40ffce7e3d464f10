/*
 * flow_send.c: a flow's send step, through push_send's own steps (doc/flows.md, "send").
 *
 * A send step holds a push without an audience: its audience is the instance's user. When a
 * flow is created or updated, _flow_push_check runs push_send's checks on the push with that
 * audience (so a push push_send would refuse is refused with push_send's own code, and nothing
 * is stored); when the step fires, _flow_send runs them again and stores the task, as a
 * schedule's firing does (src/schedule_fire.c): a push that became impossible since (its plan
 * deleted) fails the step with push_send's error instead of sending something else.
 */
#include "pushplan.h"
#include "push_send.h"
#include "template.h"
#include "template_push.h"
#include "tenancy.h"
#include "workers.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(pushplan_flow_push_check);
PG_FUNCTION_INFO_V1(pushplan_flow_send);
PG_FUNCTION_INFO_V1(pushplan_flow_bind_event);

/* push_send's checks, with the event variables a send step may read (doc/templates.md) */
static void
check_step_push(int32 app_id, PPPush *p)
{
	int			saved = pp_push_template_check_flags;

	pp_push_template_check_flags = PP_TEMPLATE_EVENT_VARS;
	PG_TRY();
	{
		pp_push_check(app_id, PP_RIGHTS_ALL, p);
	}
	PG_FINALLY();
	{
		pp_push_template_check_flags = saved;
	}
	PG_END_TRY();
}

/*
 * _flow_push_check(app_id int, push jsonb) RETURNS jsonb: the normalized push, or push_send's
 * error. The caller (push_flow_create) has checked the caller's operator rights on the app.
 */
Datum
pushplan_flow_push_check(PG_FUNCTION_ARGS)
{
	int32		app_id = PG_GETARG_INT32(0);
	PPPush		p;
	Jsonb	   *normalized;

	pp_push_read(PG_GETARG_JSONB_P(1), &p);
	SPI_connect();
	check_step_push(app_id, &p);
	SPI_finish();
	normalized = p.push;
	PG_RETURN_JSONB_P(normalized);
}

/*
 * _flow_send(app_id int, push jsonb) RETURNS text: stores the task of a send step (its push
 * addressed to the instance's user) and returns its id. The task is due now; the scheduler
 * that calls this expands it in its next round, as it does any due task.
 */
Datum
pushplan_flow_send(PG_FUNCTION_ARGS)
{
	int32		app_id = PG_GETARG_INT32(0);
	PPPush		p;
	PPTaskTiming timing;
	bool		inserted;
	char	   *task_id;

	pp_push_read(PG_GETARG_JSONB_P(1), &p);
	SPI_connect();
	check_step_push(app_id, &p);
	memset(&timing, 0, sizeof(timing));
	/* no idempotency keys of the caller's: the step's own row makes it once */
	timing.scheduled = true;
	/* now on pushplan's clock, which the task's expiry is measured against */
	timing.send_at = pp_clock_now();
	timing.created_by = InvalidOid;
	task_id = pp_push_store(app_id, &p, &timing, &inserted);
	task_id = MemoryContextStrdup(CurTransactionContext, task_id);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(task_id));
}

/*
 * _flow_bind_event(push jsonb, props jsonb) RETURNS jsonb: a send step's push with the
 * instance's trigger props in place of its {{event.props...}} variables, before it is sent
 * (pp_push_template_bind_event); instances whose pushes bind alike may share a task.
 */
Datum
pushplan_flow_bind_event(PG_FUNCTION_ARGS)
{
	PG_RETURN_JSONB_P(pp_push_template_bind_event(PG_GETARG_JSONB_P(0), PG_GETARG_JSONB_P(1)));
}
