/*
 * auth_share.c: the vendors' access tokens shared across the nodes of a distributed cluster
 * (doc/scale-out.md, "Vendor tokens").
 *
 * Each node caches its tokens in shared memory (auth.c). On the distributed layout a sender
 * also writes the tokens its node fetched to pushplan.vendor_tokens, a reference table (every
 * node has a copy), and takes from it the tokens the other nodes fetched, at most every
 * SHARE_EVERY_MS and in a unit of work of its own before it claims. A node that finds another
 * node's token there does not fetch its own; it renews a little after the node that made it,
 * by which time that node's new one is usually in the table. Rows are keyed as the cache is (a
 * hash of the credential's identifying parts); the token is a secret like the credential, and
 * the table is read by the workers' role only.
 *
 * What is not shared: signed tokens (APNs: made here, no endpoint to spare), and the first
 * fetch of nodes that need a token at the same moment (each fetches one; the newest then
 * serves all).
 */
#include "pushplan.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "engine.h"
#include "vendor.h"
#include "workers.h"

#define SHARE_EVERY_MS	1000
#define SHARE_MAX		64

static int64
unix_of(TimestampTz t)
{
	return (int64) (timestamptz_to_time_t(t));
}

static TimestampTz last_share = 0;

/* Whether pp_auth_share has something to do: a token to share, or the others' to read again. */
bool
pp_auth_share_due(void)
{
	return pp_auth_publish_pending() ||
		TimestampDifferenceExceeds(last_share, GetCurrentTimestamp(), SHARE_EVERY_MS);
}

void
pp_auth_share(void)
{
	static SPIPlanPtr publish_plan = NULL;
	static SPIPlanPtr read_plan = NULL;
	PPAuthShared out[SHARE_MAX];
	int			n;
	Oid			types[4] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	uint64		rows;

	last_share = GetCurrentTimestamp();
	n = pp_auth_to_publish(out, SHARE_MAX);
	for (int i = 0; i < n; i++)
	{
		Datum		args[4];

		args[0] = CStringGetTextDatum(out[i].key);
		args[1] = CStringGetTextDatum(out[i].token);
		args[2] = TimestampTzGetDatum(time_t_to_timestamptz((pg_time_t) out[i].renew_at));
		args[3] = TimestampTzGetDatum(time_t_to_timestamptz((pg_time_t) out[i].expires_at));
		/* a newer one written meanwhile by another node stays */
		pp_spi_run_kept(&publish_plan, "sharing a vendor token", SPI_OK_INSERT,
						"INSERT INTO pushplan.vendor_tokens AS v (key, token, renew_at, expires_at) "
						"VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE "
						"SET token = excluded.token, renew_at = excluded.renew_at, "
						"expires_at = excluded.expires_at, shared_at = excluded.shared_at "
						"WHERE v.expires_at < excluded.expires_at",
						4, types, args, NULL, false, 0);
	}
	rows = pp_spi_run_kept(&read_plan, "reading the shared vendor tokens", SPI_OK_SELECT,
						   "SELECT key, token, renew_at, expires_at FROM pushplan.vendor_tokens "
						   "WHERE expires_at > now()",
						   0, NULL, NULL, NULL, true, 0);
	for (uint64 i = 0; i < rows; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *key = SPI_getvalue(tup, desc, 1);
		char	   *token = SPI_getvalue(tup, desc, 2);
		TimestampTz renew_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
		TimestampTz expires_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));

		if (key && token)
			pp_auth_adopt(key, token, unix_of(renew_at), unix_of(expires_at));
	}
}
