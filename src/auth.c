/*
 * auth.c: the vendors' auth tokens, cached in shared memory so that every sender uses the same
 * one (Apple refuses a provider token that changes more often than every 20 minutes, so one JWT
 * per team + key must serve every worker).
 *
 * - APNs: an ES256 JWT per (team_id, key_id), signed locally and replaced after 40 minutes
 *   (Apple: not more often than every 20, not less than every 60).  Signing happens under the
 *   cache's exclusive lock, so concurrent senders cannot sign two tokens for one team.
 * - FCM: an OAuth 2.0 access token from the service-account flow (RS256 assertion POSTed to
 *   token_uri), cached until 60 s before its expires_in.
 * - HMS: an OAuth 2.0 client-credentials token, cached the same way.
 *
 * An OAuth fetch is a blocking curl call bounded by pushplan.http_timeout: it happens once an
 * hour per credential, and the engine starts no other request of that vendor config until it
 * has the token anyway.  It runs without the lock (two workers may both fetch a token when the
 * old one runs out; both tokens are valid, the later one stays cached).
 *
 * The cache is a fixed table (PP_AUTH_SLOTS entries, least recently used evicted) under one
 * LWLock, requested with shmem_request_hook / shmem_startup_hook when the library is preloaded;
 * otherwise each backend keeps its own table.  Keys are hashes of the credentials, never the
 * secrets.  No function here raises for bad credentials or an unreachable token endpoint: the
 * engine turns *why into outcomes.
 */
#include "pushplan.h"

#include <time.h>

#include <openssl/evp.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "jwt.h"
#include "vendor.h"

#define PP_AUTH_SLOTS		64
#define PP_AUTH_KEY_LEN		80
#define PP_AUTH_TOKEN_LEN	4096
/* APNs provider tokens are replaced when 40 minutes old. */
#define PP_APNS_JWT_LIFE_S	(40 * 60)
/* OAuth tokens are renewed this long before they expire. */
#define PP_OAUTH_MARGIN_S	60
#define PP_GOOGLE_SCOPE		"https://www.googleapis.com/auth/firebase.messaging"

typedef struct PPAuthSlot
{
	char		key[PP_AUTH_KEY_LEN];	/* "" = free */
	char		token[PP_AUTH_TOKEN_LEN];
	int64		created;		/* Unix seconds */
	int64		renew_at;		/* Unix seconds: replaced from then on */
	int64		used;			/* Unix seconds, for eviction */
} PPAuthSlot;

typedef struct PPAuthCache
{
	LWLock	   *lock;			/* NULL: backend-local */
	PPAuthSlot	slots[PP_AUTH_SLOTS];
} PPAuthCache;

static PPAuthCache *pp_auth_shared = NULL;
static PPAuthCache *pp_auth_local = NULL;

void
pp_auth_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(PPAuthCache)));
	RequestNamedLWLockTranche("pushplan_auth", 1);
}

void
pp_auth_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pp_auth_shared = ShmemInitStruct("pushplan auth cache", sizeof(PPAuthCache), &found);
	if (!found)
	{
		memset(pp_auth_shared, 0, sizeof(PPAuthCache));
		pp_auth_shared->lock = &(GetNamedLWLockTranche("pushplan_auth"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

static PPAuthCache *
pp_auth_cache(void)
{
	if (pp_auth_shared)
		return pp_auth_shared;
	if (pp_auth_local == NULL)
		pp_auth_local = MemoryContextAllocZero(TopMemoryContext, sizeof(PPAuthCache));
	return pp_auth_local;
}

static void
pp_auth_lock(PPAuthCache *c, LWLockMode mode)
{
	if (c->lock)
		LWLockAcquire(c->lock, mode);
}

static void
pp_auth_unlock(PPAuthCache *c)
{
	if (c->lock)
		LWLockRelease(c->lock);
}

/* the last pp_auth_key question and answer */
static char *last_input = NULL;
static int	last_len = 0;
static PPAuthKind last_kind;
static char last_key[PP_AUTH_KEY_LEN];

/* "<vendor>:" + hex SHA-256 of the credential's identifying parts */
static void
pp_auth_key(PPAuthKind kind, const PPVendorConfig *cfg, char *key)
{
	StringInfoData s;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const char *prefix;

	initStringInfo(&s);
	switch (kind)
	{
		case PP_AUTH_APNS_JWT:
			prefix = "apns";
			appendStringInfo(&s, "%s\n%s\n%s", cfg->team_id, cfg->key_id, cfg->private_key);
			break;
		case PP_AUTH_GOOGLE_OAUTH:
			prefix = "fcm";
			appendStringInfo(&s, "%s\n%s\n%s", cfg->client_email, cfg->token_uri,
							 cfg->private_key);
			break;
		default:
			prefix = "hms";
			appendStringInfo(&s, "%s\n%s\n%s", cfg->app_id, cfg->token_endpoint,
							 cfg->client_secret);
			break;
	}
	/* every request of a broadcast asks with the same credentials: remember the last answer */
	if (last_kind == kind && last_input && last_len == s.len && memcmp(last_input, s.data, s.len) == 0)
	{
		strlcpy(key, last_key, PP_AUTH_KEY_LEN);
		pfree(s.data);
		return;
	}
	if (pp_sha256(s.data, s.len, md))
		mdlen = 32;
	snprintf(key, PP_AUTH_KEY_LEN, "%s:", prefix);
	if (strlen(key) + 2 * mdlen < PP_AUTH_KEY_LEN)
		key[strlen(key) + hex_encode((const char *) md, mdlen, key + strlen(key))] = '\0';
	if (last_input)
		pfree(last_input);
	last_input = MemoryContextAlloc(TopMemoryContext, s.len + 1);
	memcpy(last_input, s.data, s.len + 1);
	last_len = s.len;
	last_kind = kind;
	strlcpy(last_key, key, PP_AUTH_KEY_LEN);
	pfree(s.data);
}

static PPAuthSlot *
pp_auth_find(PPAuthCache *c, const char *key)
{
	for (int i = 0; i < PP_AUTH_SLOTS; i++)
		if (c->slots[i].key[0] && strcmp(c->slots[i].key, key) == 0)
			return &c->slots[i];
	return NULL;
}

/* The cached token when still good, palloc'd; caller holds no lock. */
static char *
pp_auth_lookup(PPAuthCache *c, const char *key, int64 now)
{
	PPAuthSlot *s;
	char	   *tok = NULL;

	pp_auth_lock(c, LW_SHARED);
	s = pp_auth_find(c, key);
	if (s && now < s->renew_at)
	{
		tok = pstrdup(s->token);
		s->used = now;			/* a racy store of a hint is fine */
	}
	pp_auth_unlock(c);
	return tok;
}

/* Stores a token; the caller holds the exclusive lock. */
static void
pp_auth_store_locked(PPAuthCache *c, const char *key, const char *token, int64 now,
					 int64 renew_at)
{
	PPAuthSlot *s = pp_auth_find(c, key);

	if (strlen(token) >= PP_AUTH_TOKEN_LEN)
		return;					/* too long to share: used once, fetched again */
	if (s == NULL)
	{
		s = &c->slots[0];
		for (int i = 0; i < PP_AUTH_SLOTS; i++)
		{
			if (c->slots[i].key[0] == '\0')
			{
				s = &c->slots[i];
				break;
			}
			if (c->slots[i].used < s->used)
				s = &c->slots[i];
		}
	}
	strlcpy(s->key, key, PP_AUTH_KEY_LEN);
	strlcpy(s->token, token, PP_AUTH_TOKEN_LEN);
	s->created = now;
	s->renew_at = renew_at;
	s->used = now;
}

static void
pp_auth_store(PPAuthCache *c, const char *key, const char *token, int64 now, int64 renew_at)
{
	pp_auth_lock(c, LW_EXCLUSIVE);
	pp_auth_store_locked(c, key, token, now, renew_at);
	pp_auth_unlock(c);
}

/* Runs a signing function; on error returns NULL and the message in *why (lock released). */
static char *
pp_auth_sign(PPAuthKind kind, const PPVendorConfig *cfg, int64 now, PPAuthCache *c,
			 bool locked, char **why)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *volatile jwt = NULL;

	PG_TRY();
	{
		if (kind == PP_AUTH_APNS_JWT)
			jwt = pp_jwt_es256(cfg->private_key, cfg->key_id, cfg->team_id, now);
		else
			jwt = pp_jwt_rs256(cfg->private_key, cfg->private_key_id, cfg->client_email,
							   PP_GOOGLE_SCOPE, cfg->token_uri, now, now + 3600);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		if (locked)
			pp_auth_unlock(c);
		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		*why = psprintf("cannot sign the %s token: %s",
						kind == PP_AUTH_APNS_JWT ? "APNs provider" : "Google OAuth assertion",
						ed->message);
		FreeErrorData(ed);
		jwt = NULL;
	}
	PG_END_TRY();
	return jwt;
}

static char *
pp_form_escape(const char *s)
{
	return pp_url_escape(s);
}

/* POSTs a form to a token endpoint; the access token, or NULL with *why and *transient. */
static char *
pp_oauth_fetch(const char *url, const char *form, const PPEngineSettings *s, int64 *expires_in,
			   char **why, bool *transient)
{
	PPHttpReq	r;
	Jsonb	   *j;
	char	   *tok = NULL;
	char	   *err = NULL;

	memset(&r, 0, sizeof(r));
	r.url = url;
	r.body = form;
	r.body_len = strlen(form);
	*transient = false;
	if (!pp_http_header(&r, "content-type: application/x-www-form-urlencoded") ||
		!pp_http_header(&r, "accept: application/json"))
	{
		pp_http_release(NULL, &r);
		*why = "out of memory";
		*transient = true;
		return NULL;
	}
	pp_http_perform_blocking(s, &r);
	if (r.status == 0)
	{
		*why = psprintf("token endpoint %s: %s", url, pp_http_error(&r));
		*transient = pp_http_error_transient(&r);
		pp_http_release(NULL, &r);
		return NULL;
	}
	j = pp_json_parse_safe(r.resp, r.resp_len);
	if (j && JsonContainerIsObject(&j->root))
	{
		tok = pp_jstr(&j->root, "access_token");
		if (!pp_jnum(&j->root, "expires_in", expires_in))
			*expires_in = 3600;
		err = pp_jstr(&j->root, "error");
		if (err && pp_jstr(&j->root, "error_description"))
			err = psprintf("%s: %s", err, pp_jstr(&j->root, "error_description"));
	}
	if (r.status != 200 || tok == NULL || tok[0] == '\0')
	{
		*why = psprintf("token endpoint answered HTTP %d%s%s", r.status,
						err ? ": " : "", err ? err : "");
		*transient = r.status == 429 || r.status >= 500;
		tok = NULL;
	}
	pp_http_release(NULL, &r);
	return tok;
}

char *
pp_auth_token(PPAuthKind kind, const PPVendorConfig *cfg, const PPEngineSettings *s,
			  char **why, bool *transient)
{
	PPAuthCache *c = pp_auth_cache();
	char		key[PP_AUTH_KEY_LEN];
	int64		now = (int64) time(NULL);
	char	   *tok;
	int64		expires_in = 3600;

	*transient = false;
	if (kind == PP_AUTH_NONE)
		return pstrdup("");
	pp_auth_key(kind, cfg, key);
	if ((tok = pp_auth_lookup(c, key, now)) != NULL)
		return tok;

	if (kind == PP_AUTH_APNS_JWT)
	{
		PPAuthSlot *slot;

		/* one signer at a time: a second one finds the first one's token */
		pp_auth_lock(c, LW_EXCLUSIVE);
		slot = pp_auth_find(c, key);
		if (slot && now < slot->renew_at)
		{
			tok = pstrdup(slot->token);
			pp_auth_unlock(c);
			return tok;
		}
		tok = pp_auth_sign(kind, cfg, now, c, true, why);
		if (tok == NULL)
			return NULL;		/* unlocked by pp_auth_sign */
		pp_auth_store_locked(c, key, tok, now, now + PP_APNS_JWT_LIFE_S);
		pp_auth_unlock(c);
		return tok;
	}

	if (kind == PP_AUTH_GOOGLE_OAUTH)
	{
		char	   *assertion = pp_auth_sign(kind, cfg, now, c, false, why);

		if (assertion == NULL)
			return NULL;
		tok = pp_oauth_fetch(cfg->token_uri,
							 psprintf("grant_type=%s&assertion=%s",
									  pp_form_escape("urn:ietf:params:oauth:grant-type:jwt-bearer"),
									  pp_form_escape(assertion)),
							 s, &expires_in, why, transient);
	}
	else
		tok = pp_oauth_fetch(cfg->token_endpoint,
							 psprintf("grant_type=client_credentials&client_id=%s&client_secret=%s",
									  pp_form_escape(cfg->app_id),
									  pp_form_escape(cfg->client_secret)),
							 s, &expires_in, why, transient);
	if (tok == NULL)
		return NULL;
	pp_auth_store(c, key, tok, now, now + expires_in - PP_OAUTH_MARGIN_S);
	return tok;
}

void
pp_auth_invalidate(PPAuthKind kind, const PPVendorConfig *cfg, const char *token)
{
	PPAuthCache *c = pp_auth_cache();
	char		key[PP_AUTH_KEY_LEN];
	PPAuthSlot *s;

	if (kind == PP_AUTH_NONE || token == NULL)
		return;
	pp_auth_key(kind, cfg, key);
	pp_auth_lock(c, LW_EXCLUSIVE);
	s = pp_auth_find(c, key);
	/* another sender may already have replaced it: keep the new one */
	if (s && strcmp(s->token, token) == 0)
		s->key[0] = '\0';
	pp_auth_unlock(c);
}

/* ---- SQL faces for tests: plant a token, look at the cache --------------------------------- */

static const PPVendor *
pp_auth_vendor_config(text *vendor, Jsonb *config, PPVendorConfig *cfg)
{
	char	   *name = text_to_cstring(vendor);
	const PPVendor *v = pp_vendor_find(name);
	char	   *why = NULL;

	if (v == NULL)
		pp_error(PPE_ENGINE_VENDOR,
				 "vendor \"%s\" is not one the delivery engine sends to", pp_shown(name));
	memset(cfg, 0, sizeof(*cfg));
	if (!v->config(config, cfg, &why))
		pp_error(PPE_ENGINE_CONFIG_INCOMPLETE, "%s", why);
	return v;
}

PG_FUNCTION_INFO_V1(pushplan_auth_token_put);
Datum
pushplan_auth_token_put(PG_FUNCTION_ARGS)
{
	PPVendorConfig cfg;
	const PPVendor *v = pp_auth_vendor_config(PG_GETARG_TEXT_PP(0), PG_GETARG_JSONB_P(1), &cfg);
	char	   *token = text_to_cstring(PG_GETARG_TEXT_PP(2));
	int64		now = (int64) time(NULL);
	char		key[PP_AUTH_KEY_LEN];

	if (v->auth == PP_AUTH_NONE)
		PG_RETURN_VOID();
	pp_auth_key(v->auth, &cfg, key);
	/* as a fetched token would be: an OAuth token is renewed a margin before it expires */
	pp_auth_store(pp_auth_cache(), key, token, now,
				  now + PG_GETARG_INT32(3) - (v->auth == PP_AUTH_APNS_JWT ? 0 : PP_OAUTH_MARGIN_S));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pushplan_auth_token_peek);
Datum
pushplan_auth_token_peek(PG_FUNCTION_ARGS)
{
	PPVendorConfig cfg;
	const PPVendor *v = pp_auth_vendor_config(PG_GETARG_TEXT_PP(0), PG_GETARG_JSONB_P(1), &cfg);
	PPAuthCache *c = pp_auth_cache();
	char		key[PP_AUTH_KEY_LEN];
	PPAuthSlot *s;
	StringInfoData b;
	bool		first = true;
	int64		now = (int64) time(NULL);

	if (v->auth == PP_AUTH_NONE)
		PG_RETURN_NULL();
	pp_auth_key(v->auth, &cfg, key);
	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	pp_auth_lock(c, LW_SHARED);
	s = pp_auth_find(c, key);
	if (s)
	{
		pp_jw_str(&b, &first, "token", s->token);
		pp_jw_int(&b, &first, "age_s", now - s->created);
		pp_jw_int(&b, &first, "renew_in_s", s->renew_at - now);
	}
	pp_auth_unlock(c);
	pp_jw_raw(&b, &first, "shared", c->lock ? "true" : "false");
	appendStringInfoChar(&b, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(b.data)));
}
