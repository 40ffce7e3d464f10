/*
 * webhook.c: the generic webhook channel.  The body is signed with HMAC-SHA256 under the
 * shared secret, sent as X-Pushplan-Signature: sha256=<hex>.  A top-level "token" string in
 * a JSON body selects faults as device tokens do for the vendors.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mock.h"

static bool
signature_ok(const request *r)
{
	const char *sig = req_header(r, "x-pushplan-signature");
	char		want[65];
	unsigned char diff = 0;

	if (sig == NULL || cfg.webhook_secret == NULL || strncmp(sig, "sha256=", 7) != 0 ||
		strlen(sig + 7) != 64)
		return false;
	hmac_sha256_hex(cfg.webhook_secret, strlen(cfg.webhook_secret),
					r->body.data ? r->body.data : "", r->body.len, want);
	for (int i = 0; i < 64; i++)
		diff |= (unsigned char) (tolower((unsigned char) sig[7 + i]) ^ want[i]);
	return diff == 0;
}

void
handle_webhook(request *r)
{
	json	   *doc = NULL;
	json	   *tok = NULL;
	const char *token = NULL;

	if (strcmp(r->method, "POST") != 0)
		resp_json(r, 405, "{\"ok\":false,\"error\":\"method not allowed\"}");
	else if (r->body_too_large)
		resp_json(r, 413, "{\"ok\":false,\"error\":\"body too large\"}");
	else if (!signature_ok(r))
		resp_json(r, 401, "{\"ok\":false,\"error\":\"bad signature\"}");
	else
	{
		doc = json_parse(r->body.data ? r->body.data : "", r->body.len);
		tok = json_get(doc, "token");
		if (tok && tok->type == JSON_STR)
			token = tok->str;
		switch (fault_pick(r, token, true))
		{
			case F_DROP:
			case F_STALL:
				break;
			case F_500:
				resp_json(r, 500, "{\"ok\":false,\"error\":\"internal error\"}");
				break;
			case F_5XX:
				{
					/* as web servers often write it: an HTTP-date, two seconds ahead */
					char		date[64];
					time_t		when = time(NULL) + 2;
					struct tm	tm;

					strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&when, &tm));
					resp_json(r, 503, "{\"ok\":false,\"error\":\"unavailable\"}");
					resp_header(r, "retry-after", date);
				}
				break;
			case F_THROTTLE:
				resp_json(r, 429, "{\"ok\":false,\"error\":\"too many requests\"}");
				resp_header(r, "retry-after", "1");
				break;
			case F_UNREGISTERED:
				resp_json(r, 410, "{\"ok\":false,\"error\":\"unregistered\"}");
				break;
			case F_BADDEVICE:
				resp_json(r, 400, "{\"ok\":false,\"error\":\"bad device\"}");
				break;
			case F_NONE:
				resp_json(r, 200, "{\"ok\":true}");
				break;
		}
	}
	record(r, EP_WEBHOOK, token);
	json_free(doc);
}
