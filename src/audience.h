/*
 * audience.h: audience JSON -> one parameterised SQL query over device ids.
 *
 * An audience (EngageLab "to", Tencent Push audience_type, Tencent IM Condition; doc/audiences.md)
 * is validated and compiled into the text of a query
 *
 *		SELECT device_id FROM ...
 *
 * that yields every reachable device of the app in the audience exactly once (distinct ids, no
 * particular order). Every user value is an SPI parameter ($first_param, $first_param + 1, ...);
 * nothing is spliced into the text. Tags and account packages are resolved while compiling, so
 * the query is meant to run in the same transaction (snapshot) as the compile.
 *
 * Use, inside SPI_connect() / SPI_finish() (compiling runs look-ups through SPI, and the result
 * is allocated in the current memory context):
 *
 *		PPAudience	aud;
 *
 *		pp_audience_compile(app_id, audience, 2, &aud);		-- $1 is the caller's own
 *		appendStringInfo(&q, "INSERT INTO deliveries (task_id, device_id) "
 *						 "SELECT $1, a.device_id FROM (%s) a", aud.sql.data);
 *		types[0] = TEXTOID; values[0] = task_id;				-- then aud.argtypes/values
 *		memcpy(types + 1, aud.argtypes, aud.nargs * sizeof(Oid)); ... SPI_execute_with_args(...)
 *
 * Errors (invalid audience, unknown upload_id) are raised with ereport(ERROR) and the codes of
 * doc/errors.md, section Audiences.
 */
#ifndef PUSHPLAN_AUDIENCE_H
#define PUSHPLAN_AUDIENCE_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/jsonb.h"

typedef struct PPAudience
{
	StringInfoData sql;			/* SELECT device_id FROM ... */
	int			first_param;	/* number of the query's first parameter */
	int			nargs;			/* parameters $first_param .. $first_param + nargs - 1 */
	Oid		   *argtypes;		/* nargs entries */
	Datum	   *values;			/* nargs entries, none NULL */
	int			maxargs;		/* allocated entries (internal) */
	bool		coordinator_only;	/* names tables other than the devices' and reference
									 * ones (an account package, an app's view): on the
									 * distributed layout only the coordinator runs it */
	bool		whole_app;		/* every reachable device of the app ("all"): sql is
								 * SELECT device_id FROM pushplan.devices WHERE app_id = $first_param
								 * AND reachable, which a caller may read as devices itself */
} PPAudience;

/*
 * Compile an audience of app app_id (an apps.app_id the caller has resolved) into out.
 * first_param >= 1. Requires an SPI connection.
 */
extern void pp_audience_compile(int32 app_id, Jsonb *audience, int first_param,
								PPAudience *out);

/*
 * The number of registration ids, tokens or accounts when the audience is one such list, -1 for
 * any other audience (all, tags, attributes, conditions, packages). Checks the audience as
 * pp_audience_compile does, and looks nothing up.
 */
extern int	pp_audience_list_size(Jsonb *audience);

/*
 * Runs sql, a statement with one %s where the audience's query goes, whose $1 is arg1 (of type
 * type1) and which returns one bigint[] (device ids), in its own SPI connection: the array (an
 * empty one for NULL), in the caller's memory context. what names it in the error.
 */
extern ArrayType *pp_audience_ids_statement(int32 app_id, Jsonb *audience, const char *sql,
											Oid type1, Datum arg1, bool read_only,
											const char *what);

#endif							/* PUSHPLAN_AUDIENCE_H */
