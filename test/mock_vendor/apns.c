/*
 * apns.c: Apple Push Notification service, token-based (JWT) provider authentication.
 *
 * Checks what "Sending notification requests to APNs" requires and answers as "Handling
 * notification responses from APNs" describes: 200 with apns-id, or a status with
 * {"reason": "..."} (410 adds "timestamp").
 *
 * A connection belongs to the team and key of the first valid provider token it carries, as on
 * APNs (doc/vendors.md, "Connections"): a token of another team on it is refused with 403
 * InvalidProviderToken, one of another key of the same team with 429
 * TooManyProviderTokenUpdates (APNs counts it as a token update, which it allows every 20
 * minutes; the mock allows none).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mock.h"
#include "conn.h"

#define JWT_CACHE 16
#define JWT_MAX_AGE 3600		/* APNs refuses provider tokens older than an hour */
#define JWT_FUTURE_SKEW 300

long		conn_stats_apns_two_teams,
			conn_stats_apns_two_keys;

/* Verified provider tokens, so ECDSA runs once per token and not once per push. */
static struct
{
	char	   *jwt;
	long		iat;
	const apns_key *key;		/* its kid's, in cfg */
}			jwt_cache[JWT_CACHE];
static int	jwt_cache_next;

static void
reason(request *r, int status, const char *why)
{
	char		body[160];

	if (status == 410)
		snprintf(body, sizeof(body), "{\"reason\":\"%s\",\"timestamp\":%lld}", why,
				 (long long) time(NULL) * 1000);
	else
		snprintf(body, sizeof(body), "{\"reason\":\"%s\"}", why);
	resp_json(r, status, body);
}

/* Returns NULL if the provider token is good (*signer: its key), else the reason (status 403). */
static const char *
check_provider_token(const request *r, const apns_key **signer)
{
	const char *tok = bearer_token(r);
	jwt			j;
	json	   *alg,
			   *kid,
			   *iss,
			   *iat;
	const apns_key *key = NULL;
	long		iat_v = 0;
	bool		cached = false;
	long		now = (long) time(NULL);

	if (req_header(r, "authorization") == NULL)
		return "MissingProviderToken";
	if (tok == NULL || *tok == '\0')
		return "InvalidProviderToken";
	for (int i = 0; i < JWT_CACHE; i++)
		if (jwt_cache[i].jwt && strcmp(jwt_cache[i].jwt, tok) == 0)
		{
			iat_v = jwt_cache[i].iat;
			key = jwt_cache[i].key;
			cached = true;
			break;
		}
	if (!cached)
	{
		if (jwt_parse(tok, strlen(tok), &j) != 0)
			return "InvalidProviderToken";
		alg = json_get(j.header, "alg");
		kid = json_get(j.header, "kid");
		iss = json_get(j.claims, "iss");
		iat = json_get(j.claims, "iat");
		if (alg && alg->type == JSON_STR && strcmp(alg->str, "ES256") == 0 &&
			kid && kid->type == JSON_STR)
			for (int i = 0; i < cfg.n_apns_keys; i++)
				if (strcmp(cfg.apns_keys[i].kid, kid->str) == 0)
					key = &cfg.apns_keys[i];
		/* the key's own team, as Apple's keys belong to one team */
		if (key == NULL || iss == NULL || iss->type != JSON_STR ||
			strcmp(iss->str, key->team) != 0 || iat == NULL || iat->type != JSON_NUM ||
			!jwt_verify_es256(&j, key->key))
		{
			jwt_free(&j);
			return "InvalidProviderToken";
		}
		iat_v = (long) iat->num;
		jwt_free(&j);
		free(jwt_cache[jwt_cache_next].jwt);
		jwt_cache[jwt_cache_next].jwt = strdup(tok);
		jwt_cache[jwt_cache_next].iat = iat_v;
		jwt_cache[jwt_cache_next].key = key;
		jwt_cache_next = (jwt_cache_next + 1) % JWT_CACHE;
	}
	if (iat_v > now + JWT_FUTURE_SKEW)
		return "InvalidProviderToken";
	if (iat_v < now - JWT_MAX_AGE || iat_v < jwt_not_before)
		return "ExpiredProviderToken";
	*signer = key;
	return NULL;
}

/*
 * A valid token on r's connection: NULL if the connection is its team's and key's (or new: it
 * becomes theirs), else the answer's reason, *status set.
 */
static const char *
check_connection(request *r, const apns_key *signer, int *status)
{
	conn	   *c = r->conn;

	if (c->apns_bound == NULL || c->apns_bound == signer)
	{
		c->apns_bound = signer;
		return NULL;
	}
	if (strcmp(c->apns_bound->team, signer->team) != 0)
	{
		if (!c->apns_two_teams)
			conn_stats_apns_two_teams++;
		c->apns_two_teams = true;
		*status = 403;
		return "InvalidProviderToken";
	}
	if (!c->apns_two_keys)
		conn_stats_apns_two_keys++;
	c->apns_two_keys = true;
	*status = 429;
	return "TooManyProviderTokenUpdates";
}

static bool
is_uuid(const char *s)
{
	static const int groups[] = {8, 4, 4, 4, 12};

	for (int g = 0; g < 5; g++)
	{
		for (int i = 0; i < groups[g]; i++, s++)
			if (!isxdigit((unsigned char) *s))
				return false;
		if (g < 4 && *s++ != '-')
			return false;
	}
	return *s == '\0';
}

static bool
all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char) *s))
			return false;
	return true;
}

/* Real tokens are 64+ hex digits; "test..." tokens stand for devices in tests. */
static bool
token_ok(const char *t)
{
	size_t		n = strlen(t);
	bool		hex = n >= 64 && n <= 200 && n % 2 == 0;

	for (size_t i = 0; hex && i < n; i++)
		hex = isxdigit((unsigned char) t[i]);
	if (hex)
		return true;
	if (strncmp(t, "test", 4) != 0 || n > 200)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char) t[i]) && t[i] != '-' && t[i] != '_' && t[i] != '.')
			return false;
	return true;
}

/* The topic a push type requires: bundle id plus this suffix. */
static const char *
topic_suffix(const char *push_type)
{
	static const struct
	{
		const char *type;
		const char *suffix;
	}			types[] = {
		{"alert", ""}, {"background", ""}, {"location", ".location-query"},
		{"voip", ".voip"}, {"complication", ".complication"},
		{"fileprovider", ".pushkit.fileprovider"}, {"mdm", ""},
		{"liveactivity", ".push-type.liveactivity"}, {"pushtotalk", ".voip-ptt"},
		{"widgets", ".push-type.widgets"}, {"controls", ".push-type.controls"},
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(types[i].type, push_type) == 0)
			return types[i].suffix;
	return NULL;
}

static const char *
check_topic(const char *topic, const char *suffix)
{
	size_t		sl = strlen(suffix);
	size_t		tl = strlen(topic);

	for (int i = 0; i < cfg.n_apns_bundles; i++)
	{
		size_t		bl = strlen(cfg.apns_bundles[i]);

		if (strncmp(topic, cfg.apns_bundles[i], bl) != 0)
			continue;
		if (tl == bl + sl && strcmp(topic + bl, suffix) == 0)
			return NULL;
		return "BadTopic";		/* our app, wrong suffix for this push type */
	}
	return "TopicDisallowed";
}

static bool
duplicate_headers(const request *r)
{
	static const char *const once[] = {
		"authorization", "apns-topic", "apns-push-type", "apns-id", "apns-expiration",
		"apns-priority", "apns-collapse-id"
	};

	for (size_t k = 0; k < sizeof(once) / sizeof(once[0]); k++)
	{
		size_t		pos = 0;
		const char *n,
				   *v;
		int			seen = 0;

		while (req_header_next(r, &pos, &n, &v))
			if (strcmp(n, once[k]) == 0 && ++seen > 1)
				return true;
	}
	return false;
}

static void
apns_answer(request *r, const char *token)
{
	const char *topic,
			   *push_type,
			   *id,
			   *exp,
			   *prio,
			   *collapse,
			   *why,
			   *suffix;
	json	   *payload,
			   *aps;
	size_t		limit;
	const apns_key *signer = NULL;
	int			status;

	if (!r->http2)
	{
		/* APNs speaks HTTP/2 only */
		reason(r, 505, "HTTP2Required");
		return;
	}
	if (strcmp(r->method, "POST") != 0)
	{
		reason(r, 405, "MethodNotAllowed");
		return;
	}
	if (duplicate_headers(r))
	{
		reason(r, 400, "DuplicateHeaders");
		return;
	}
	if ((why = check_provider_token(r, &signer)) != NULL)
	{
		reason(r, 403, why);
		return;
	}
	if ((why = check_connection(r, signer, &status)) != NULL)
	{
		reason(r, status, why);
		return;
	}
	if (*token == '\0')
	{
		reason(r, 400, "MissingDeviceToken");
		return;
	}
	id = req_header(r, "apns-id");
	if (id && !is_uuid(id))
	{
		reason(r, 400, "BadMessageId");
		return;
	}
	topic = req_header(r, "apns-topic");
	if (topic == NULL || *topic == '\0')
	{
		reason(r, 400, "MissingTopic");
		return;
	}
	push_type = req_header(r, "apns-push-type");
	if (push_type == NULL || (suffix = topic_suffix(push_type)) == NULL)
	{
		reason(r, 400, "InvalidPushType");
		return;
	}
	if ((why = check_topic(topic, suffix)) != NULL)
	{
		reason(r, 400, why);
		return;
	}
	exp = req_header(r, "apns-expiration");
	if (exp && !all_digits(exp))
	{
		reason(r, 400, "BadExpirationDate");
		return;
	}
	prio = req_header(r, "apns-priority");
	if (prio && strcmp(prio, "10") != 0 && strcmp(prio, "5") != 0 && strcmp(prio, "1") != 0)
	{
		reason(r, 400, "BadPriority");
		return;
	}
	collapse = req_header(r, "apns-collapse-id");
	if (collapse && strlen(collapse) > 64)
	{
		reason(r, 400, "BadCollapseId");
		return;
	}
	if (r->body.len == 0)
	{
		reason(r, 400, "PayloadEmpty");
		return;
	}
	limit = strcmp(push_type, "voip") == 0 ? 5120 : 4096;
	if (r->body_too_large || r->body.len > limit)
	{
		reason(r, 413, "PayloadTooLarge");
		return;
	}
	payload = json_parse(r->body.data, r->body.len);
	aps = json_get(payload, "aps");
	if (aps == NULL || aps->type != JSON_OBJ)
	{
		json_free(payload);
		reason(r, 400, "BadPayload");
		return;
	}
	if (strcmp(push_type, "background") == 0)
	{
		json	   *ca = json_get(aps, "content-available");

		/* background pushes must be low priority (the default, 10, is refused) */
		if (prio == NULL || strcmp(prio, "5") != 0)
		{
			json_free(payload);
			reason(r, 400, "BadPriority");
			return;
		}
		if (ca == NULL || ca->type != JSON_NUM || ca->num != 1)
		{
			json_free(payload);
			reason(r, 400, "BadPayload");
			return;
		}
	}
	json_free(payload);
	if (!token_ok(token))
	{
		reason(r, 400, "BadDeviceToken");
		return;
	}
	switch (fault_pick(r, token, true))
	{
		case F_DROP:
		case F_STALL:
			return;
		case F_500:
			reason(r, 500, "InternalServerError");
			return;
		case F_5XX:
			reason(r, 503, "ServiceUnavailable");
			resp_header(r, "retry-after", "1");
			return;
		case F_THROTTLE:
			reason(r, 429, "TooManyRequests");
			resp_header(r, "retry-after", "1");
			return;
		case F_UNREGISTERED:
			reason(r, 410, "Unregistered");
			return;
		case F_BADDEVICE:
			reason(r, 400, "BadDeviceToken");
			return;
		case F_NONE:
			break;
	}
	r->status = 200;
}

void
handle_apns(request *r, const char *token)
{
	const char *id = req_header(r, "apns-id");
	char		gen[40];

	apns_answer(r, token);

	if (id == NULL || !is_uuid(id))
	{
		long		n = next_id();

		snprintf(gen, sizeof(gen), "%08lX-%04X-4%03X-8%03X-%012lX",
				 (unsigned long) (time(NULL) & 0xFFFFFFFF), (unsigned) (n >> 32) & 0xFFFF,
				 (unsigned) (n >> 20) & 0xFFF, (unsigned) (n >> 8) & 0xFFF,
				 (unsigned long) n & 0xFFFFFFFFFFFFUL);
		id = gen;
	}
	resp_header(r, "apns-id", id);
	record(r, EP_APNS, *token ? token : NULL);
}

void
apns_cache_free(void)
{
	for (int i = 0; i < JWT_CACHE; i++)
	{
		free(jwt_cache[i].jwt);
		jwt_cache[i].jwt = NULL;
	}
}
