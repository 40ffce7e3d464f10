/*
 * auth.c: the vendors' auth tokens, cached in shared memory so that every sender uses the same
 * one (Apple refuses a provider token that changes more often than every 20 minutes, so one JWT
 * per team + key must serve every worker).
 *
 * What a token is made from and how is the vendor's: PPVendor.auth (vendor.h), usually one of
 * the shared schemes of vendor_oauth.c, says which parts of its config key the cache and whether
 * a token is signed here (APNs: an ES256 JWT per team + key, replaced after 40 minutes) or
 * fetched from a token endpoint (FCM, HMS: OAuth 2.0 access tokens, renewed a margin before
 * their expires_in).  This file is the mechanism they share.  A token signed here is made under
 * the cache's exclusive lock, so concurrent senders cannot sign two tokens for one team.
 *
 * A fetch is a blocking curl call bounded by pushplan.http_timeout: it happens once an hour
 * per credential, and the engine starts no other request of that vendor config until it
 * has the token anyway.  It runs without the lock, and one at a time per credential across
 * every worker (single flight): the first sender that needs a new token marks the slot
 * (fetching_until) and fetches; the others go on with the old token while it is still valid,
 * or wait for the fetch (at most its timeout) when there is none.
 *
 * A fetch that fails for a reason that may pass (the endpoint unreachable, silent, or answering
 * 429/5xx) is not tried again for PP_AUTH_FAILED_HOLD_S: until then every transfer that needs
 * the token ends at once with that fetch's reason (a retry), or uses the old token while it is
 * still valid.  Without it, each transfer tried its own blocking fetch: a token endpoint that
 * never answers froze a sender for http_timeout per transfer, and the sender's requests to every
 * other vendor waited with it.
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
#define PP_AUTH_WHY_LEN		256
/* after a transient fetch failure, the next fetch of that credential waits this long */
#define PP_AUTH_FAILED_HOLD_S	10
/* a token taken from another node is renewed this much after that node renews it */
#define PP_AUTH_ADOPT_LAG_S		60

typedef struct PPAuthSlot
{
	char		key[PP_AUTH_KEY_LEN];	/* "" = free */
	char		token[PP_AUTH_TOKEN_LEN];
	int64		created;		/* Unix seconds */
	int64		renew_at;		/* Unix seconds: replaced from then on */
	int64		expires_at;		/* Unix seconds: not used from then on */
	int64		fetching_until; /* a worker fetches the next token until then (0: none) */
	int64		used;			/* Unix seconds, for eviction */
	int64		held_until;		/* Unix seconds: a daily quota is spent until then (0: none) */
	int64		failed_until;	/* Unix seconds: a fetch failed, the next waits until then */
	char		failed_why[PP_AUTH_WHY_LEN];	/* that fetch's reason */
	bool		publish;		/* made on this node, not shared with the cluster yet */
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
static const PPVendor *last_vendor = NULL;
static char last_key[PP_AUTH_KEY_LEN];

/* "<vendor>:" + hex SHA-256 of the credential's identifying parts (v->auth->key) */
static void
pp_auth_key(const PPVendor *v, const PPVendorConfig *cfg, char *key)
{
	StringInfoData s;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	initStringInfo(&s);
	v->auth->key(cfg, &s);
	/* every request of a broadcast asks with the same credentials: remember the last answer */
	if (last_vendor == v && last_input && last_len == s.len && memcmp(last_input, s.data, s.len) == 0)
	{
		strlcpy(key, last_key, PP_AUTH_KEY_LEN);
		pfree(s.data);
		return;
	}
	if (pp_sha256(s.data, s.len, md))
		mdlen = 32;
	snprintf(key, PP_AUTH_KEY_LEN, "%s:", v->name);
	if (strlen(key) + 2 * mdlen < PP_AUTH_KEY_LEN)
		key[strlen(key) + hex_encode((const char *) md, mdlen, key + strlen(key))] = '\0';
	if (last_input)
		pfree(last_input);
	last_input = MemoryContextAlloc(TopMemoryContext, s.len + 1);
	memcpy(last_input, s.data, s.len + 1);
	last_len = s.len;
	last_vendor = v;
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

/*
 * The cached token when still good, palloc'd; caller holds no lock.  NULL with *held set when
 * the credential is held (pp_auth_hold) until then.
 */
static char *
pp_auth_lookup(PPAuthCache *c, const char *key, int64 now, int64 *held)
{
	PPAuthSlot *s;
	char	   *tok = NULL;

	pp_auth_lock(c, LW_SHARED);
	s = pp_auth_find(c, key);
	if (s && s->held_until > now)
		*held = s->held_until;
	else if (s && now < s->renew_at)
	{
		tok = pstrdup(s->token);
		s->used = now;			/* a racy store of a hint is fine */
	}
	pp_auth_unlock(c);
	return tok;
}

/* The slot of key, taken (the least recently used one evicted) if absent; exclusive lock held. */
static PPAuthSlot *
pp_auth_slot_locked(PPAuthCache *c, const char *key, int64 now)
{
	PPAuthSlot *s = pp_auth_find(c, key);

	if (s)
		return s;
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
	strlcpy(s->key, key, PP_AUTH_KEY_LEN);
	s->token[0] = '\0';
	s->created = s->renew_at = s->expires_at = s->fetching_until = s->held_until = 0;
	s->failed_until = 0;
	s->failed_why[0] = '\0';
	s->publish = false;
	s->used = now;
	return s;
}

/* Stores a token, which ends a fetch under way; the caller holds the exclusive lock. */
static void
pp_auth_store_locked(PPAuthCache *c, const char *key, const char *token, int64 now,
					 int64 renew_at, int64 expires_at)
{
	PPAuthSlot *s;

	if (strlen(token) >= PP_AUTH_TOKEN_LEN)
	{
		/* too long to share: used once, fetched again */
		if ((s = pp_auth_find(c, key)) != NULL)
			s->fetching_until = 0;
		return;
	}
	s = pp_auth_slot_locked(c, key, now);
	strlcpy(s->token, token, PP_AUTH_TOKEN_LEN);
	s->created = now;
	s->renew_at = renew_at;
	s->expires_at = expires_at;
	s->fetching_until = 0;
	s->failed_until = 0;
	s->used = now;
}

static void
pp_auth_store(PPAuthCache *c, const char *key, const char *token, int64 now, int64 renew_at,
			  int64 expires_at)
{
	PPAuthSlot *s;

	pp_auth_lock(c, LW_EXCLUSIVE);
	pp_auth_store_locked(c, key, token, now, renew_at, expires_at);
	/* a fetched token is shared with the other nodes (signed ones cost nothing to make) */
	if ((s = pp_auth_find(c, key)) != NULL && strcmp(s->token, token) == 0)
		s->publish = true;
	pp_auth_unlock(c);
}

/*
 * Single flight: whether this worker fetches the next token for key (the slot is marked until
 * the fetch's timeout).  If another worker fetches it, *tok gets the old token while it is
 * still valid, or the new one once it is stored, waiting for it at most that worker's timeout;
 * NULL when none came.  While a failed fetch holds the credential (PP_AUTH_FAILED_HOLD_S), no
 * worker fetches: *tok is the old token while still valid, else NULL with *failed_why set.
 */
static bool
pp_auth_fetch_turn(PPAuthCache *c, const char *key, int timeout_ms, char **tok,
				   char **failed_why)
{
	int64		bound_s = timeout_ms / 1000 + 2;

	*tok = NULL;
	for (int waited_ms = 0;; waited_ms += 10)
	{
		int64		now = (int64) time(NULL);
		PPAuthSlot *s;

		pp_auth_lock(c, LW_EXCLUSIVE);
		s = pp_auth_find(c, key);
		if (s && s->token[0] && now < s->renew_at)
		{
			*tok = pstrdup(s->token);	/* stored meanwhile */
			pp_auth_unlock(c);
			return false;
		}
		if (s && s->failed_until > now && s->fetching_until <= now)
		{
			if (s->token[0] && now < s->expires_at)
				*tok = pstrdup(s->token);
			else
				*failed_why = pstrdup(s->failed_why);
			pp_auth_unlock(c);
			return false;
		}
		if (s == NULL || s->fetching_until <= now)
		{
			s = pp_auth_slot_locked(c, key, now);
			s->fetching_until = now + bound_s;
			pp_auth_unlock(c);
			return true;
		}
		if (s->token[0] && now < s->expires_at)
		{
			*tok = pstrdup(s->token);	/* the old one serves until the new one is in */
			pp_auth_unlock(c);
			return false;
		}
		pp_auth_unlock(c);
		if (waited_ms >= bound_s * 1000)
			return false;
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10000L);
	}
}

/*
 * A fetch that failed.  Transient (why may pass): the credential is held for
 * PP_AUTH_FAILED_HOLD_S with why, and the old token, if still valid, goes on serving (returned
 * palloc'd, else NULL).  Otherwise the next worker that needs the token tries at once.
 */
static char *
pp_auth_fetch_failed(PPAuthCache *c, const char *key, const char *why, bool transient)
{
	PPAuthSlot *s;
	char	   *old = NULL;
	int64		now = (int64) time(NULL);

	pp_auth_lock(c, LW_EXCLUSIVE);
	if ((s = pp_auth_find(c, key)) != NULL)
	{
		s->fetching_until = 0;
		if (transient)
		{
			s->failed_until = now + PP_AUTH_FAILED_HOLD_S;
			strlcpy(s->failed_why, why ? why : "the token fetch failed", PP_AUTH_WHY_LEN);
			if (s->token[0] && now < s->expires_at)
				old = pstrdup(s->token);
		}
	}
	pp_auth_unlock(c);
	return old;
}

/* Runs the scheme's signing; on error returns NULL and the message in *why (lock released). */
static char *
pp_auth_sign(const PPAuth *a, const PPVendorConfig *cfg, int64 now, PPAuthCache *c,
			 bool locked, char **why)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *volatile jwt = NULL;

	PG_TRY();
	{
		jwt = a->sign(cfg, now);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		if (locked)
			pp_auth_unlock(c);
		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		*why = psprintf("cannot sign the %s token: %s", a->signs, ed->message);
		FreeErrorData(ed);
		jwt = NULL;
	}
	PG_END_TRY();
	return jwt;
}

/* POSTs the scheme's token request; the token, or NULL with *why and *transient. */
static char *
pp_auth_fetch(const PPAuth *a, const PPTokenRequest *tr, const PPHttpOptions *http,
			  int64 *expires_in, char **why, bool *transient)
{
	PPHttpReq	r;
	char	   *tok;

	memset(&r, 0, sizeof(r));
	r.url = tr->url;
	r.body = tr->body;
	r.body_len = strlen(tr->body);
	*transient = false;
	if (!pp_http_header(&r, psprintf("content-type: %s", tr->content_type)) ||
		!pp_http_header(&r, "accept: application/json"))
	{
		pp_http_release(NULL, &r);
		*why = "out of memory";
		*transient = true;
		return NULL;
	}
	pp_http_perform_blocking(http, &r);
	if (r.status == 0)
	{
		*why = psprintf("token endpoint %s: %s", tr->url, pp_http_error(&r));
		*transient = pp_http_error_transient(&r);
		pp_http_release(NULL, &r);
		return NULL;
	}
	tok = a->answer(r.status, r.resp, r.resp_len, expires_in, why, transient);
	pp_http_release(NULL, &r);
	return tok;
}

char *
pp_auth_token(const PPVendor *v, const PPVendorConfig *cfg, const PPHttpOptions *http,
			  char **why, bool *transient, int64 *held)
{
	const PPAuth *a = v->auth;
	PPAuthCache *c = pp_auth_cache();
	char		key[PP_AUTH_KEY_LEN];
	int64		now = (int64) time(NULL);
	char	   *tok;
	char	   *assertion = NULL;
	char	   *failed_why = NULL;
	PPTokenRequest tr = {0};
	int64		expires_in = 3600;

	*transient = false;
	*held = 0;
	if (a == NULL)
		return pstrdup("");
	pp_auth_key(v, cfg, key);
	if ((tok = pp_auth_lookup(c, key, now, held)) != NULL || *held > 0)
		return tok;

	if (a->request == NULL)
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
		tok = pp_auth_sign(a, cfg, now, c, true, why);
		if (tok == NULL)
			return NULL;		/* unlocked by pp_auth_sign */
		pp_auth_store_locked(c, key, tok, now, now + a->lifetime_s, now + a->lifetime_s);
		pp_auth_unlock(c);
		return tok;
	}

	if (!pp_auth_fetch_turn(c, key, http->timeout_ms, &tok, &failed_why))
	{
		if (tok == NULL)
		{
			*why = failed_why ? failed_why :
				"another worker's fetch of the access token did not finish in time";
			*transient = true;
		}
		return tok;
	}
	if (a->sign && (assertion = pp_auth_sign(a, cfg, now, c, false, why)) == NULL)
	{
		pp_auth_fetch_failed(c, key, *why, false);
		return NULL;
	}
	a->request(cfg, assertion, &tr);
	tok = pp_auth_fetch(a, &tr, http, &expires_in, why, transient);
	if (tok == NULL)
	{
		/* a renewal that failed: the old token serves while it is valid */
		if ((tok = pp_auth_fetch_failed(c, key, *why, *transient)) != NULL)
			*transient = false;
		return tok;
	}
	now = (int64) time(NULL);
	pp_auth_store(c, key, tok, now, now + expires_in - a->margin_s, now + expires_in);
	return tok;
}

void
pp_auth_invalidate(const PPVendor *v, const PPVendorConfig *cfg, const char *token)
{
	PPAuthCache *c = pp_auth_cache();
	char		key[PP_AUTH_KEY_LEN];
	PPAuthSlot *s;

	if (v->auth == NULL || token == NULL)
		return;
	pp_auth_key(v, cfg, key);
	pp_auth_lock(c, LW_EXCLUSIVE);
	s = pp_auth_find(c, key);
	/* another sender may already have replaced it: keep the new one (and a hold: the slot) */
	if (s && strcmp(s->token, token) == 0)
	{
		s->token[0] = '\0';
		s->created = s->renew_at = s->expires_at = 0;
	}
	pp_auth_unlock(c);
}

void
pp_auth_hold(const PPVendor *v, const PPVendorConfig *cfg, int64 until)
{
	PPAuthCache *c = pp_auth_cache();
	char		key[PP_AUTH_KEY_LEN];
	PPAuthSlot *s;

	if (v->auth == NULL)
		return;
	pp_auth_key(v, cfg, key);
	pp_auth_lock(c, LW_EXCLUSIVE);
	s = pp_auth_slot_locked(c, key, (int64) time(NULL));
	s->held_until = Max(s->held_until, until);
	pp_auth_unlock(c);
}

/* ---- sharing with the other nodes of a cluster (auth_share.c) ------------------------------ */

/*
 * Copies out the tokens made on this node since the last call (at most max), and marks them
 * shared: the caller writes them to the cluster's table.
 */
int
pp_auth_to_publish(PPAuthShared *out, int max)
{
	PPAuthCache *c = pp_auth_cache();
	int			n = 0;

	pp_auth_lock(c, LW_EXCLUSIVE);
	for (int i = 0; i < PP_AUTH_SLOTS && n < max; i++)
	{
		PPAuthSlot *s = &c->slots[i];

		if (!s->key[0] || !s->publish || !s->token[0])
			continue;
		s->publish = false;
		out[n].key = pstrdup(s->key);
		out[n].token = pstrdup(s->token);
		out[n].renew_at = s->renew_at;
		out[n].expires_at = s->expires_at;
		n++;
	}
	pp_auth_unlock(c);
	return n;
}

/* Whether a token made on this node waits to be shared. */
bool
pp_auth_publish_pending(void)
{
	PPAuthCache *c = pp_auth_cache();
	bool		pending = false;

	pp_auth_lock(c, LW_SHARED);
	for (int i = 0; i < PP_AUTH_SLOTS && !pending; i++)
		pending = c->slots[i].key[0] && c->slots[i].publish;
	pp_auth_unlock(c);
	return pending;
}

/*
 * A token another node made (read from the cluster's table): taken when this node has none for
 * key, or an older one. Renewed a little after the node that made it renews it (lag seconds, at
 * most half the time between its renewal and its expiry), so that the maker renews first and
 * this node takes the new one instead of fetching its own.
 */
void
pp_auth_adopt(const char *key, const char *token, int64 renew_at, int64 expires_at)
{
	PPAuthCache *c = pp_auth_cache();
	int64		now = (int64) time(NULL);
	int64		lag = Min(PP_AUTH_ADOPT_LAG_S, (expires_at - renew_at) / 2);
	PPAuthSlot *s;

	if (expires_at <= now || strlen(token) >= PP_AUTH_TOKEN_LEN || strlen(key) >= PP_AUTH_KEY_LEN)
		return;
	pp_auth_lock(c, LW_EXCLUSIVE);
	s = pp_auth_find(c, key);
	if (s == NULL || !s->token[0] || s->expires_at < expires_at)
	{
		s = pp_auth_slot_locked(c, key, now);
		strlcpy(s->token, token, PP_AUTH_TOKEN_LEN);
		s->created = now;
		s->renew_at = renew_at + Max(lag, 0);
		s->expires_at = expires_at;
		s->fetching_until = 0;
		s->failed_until = 0;
		s->publish = false;
		s->used = now;
	}
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

	if (v->auth == NULL)
		PG_RETURN_VOID();
	pp_auth_key(v, &cfg, key);
	/* as a fetched token would be: it is renewed a margin before it expires */
	pp_auth_store(pp_auth_cache(), key, token, now,
				  now + PG_GETARG_INT32(3) - (v->auth->request ? v->auth->margin_s : 0),
				  now + PG_GETARG_INT32(3));
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
	PPJsonb		b;
	char	   *token = NULL;
	int64		created = 0,
				renew_at = 0,
				held_until = 0;
	int64		now = (int64) time(NULL);

	if (v->auth == NULL)
		PG_RETURN_NULL();
	pp_auth_key(v, &cfg, key);
	pp_auth_lock(c, LW_SHARED);
	s = pp_auth_find(c, key);
	if (s)
	{
		token = pstrdup(s->token);
		created = s->created;
		renew_at = s->renew_at;
		held_until = s->held_until;
	}
	pp_auth_unlock(c);
	pp_jb_begin(&b);
	if (token && token[0])
	{
		pp_jb_str(&b, "token", token);
		pp_jb_int(&b, "age_s", now - created);
		pp_jb_int(&b, "renew_in_s", renew_at - now);
	}
	if (held_until > now)
		pp_jb_int(&b, "held_for_s", held_until - now);
	pp_jb_bool(&b, "shared", c->lock != NULL);
	PG_RETURN_JSONB_P(pp_jb_end(&b));
}
