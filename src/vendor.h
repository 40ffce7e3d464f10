/*
 * vendor.h: the engine's internal interface to one vendor (src/vendor_<name>.c), the registry
 * that lists them (vendor_registry.c), and the types vendor_util.c, auth.c and engine.c share
 * (the curl side's are in http.h).  A new vendor is one file with one PPVendor and one line in
 * the registry.
 */
#ifndef PUSHPLAN_VENDOR_H
#define PUSHPLAN_VENDOR_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "engine.h"
#include "http.h"
#include "json.h"

/*
 * One app's vendor config as the vendor's config function reads it: what the engine itself
 * uses, and the vendor's own (a struct of its file's, which only its functions read).
 */
typedef struct PPVendorConfig
{
	const char *endpoint;		/* base URL, defaulted; NULL when the vendor has none (webhook) */
	const void *own;			/* the vendor's own config, made by its config function */
	const void *creds;			/* what its auth scheme reads (vendor_oauth.c), or NULL */
	/*
	 * What the request's auth token is for beyond the credential, set by the engine from
	 * PPRequest.auth_audience (Web Push: the VAPID token's aud, the endpoint's origin); NULL
	 * for the vendors whose token serves every request.
	 */
	const char *audience;
} PPVendorConfig;

/* The request for a token, as an auth scheme makes it (auth.c POSTs it, blocking). */
typedef struct PPTokenRequest
{
	char	   *url;
	char	   *body;
	const char *content_type;
} PPTokenRequest;

/*
 * How a vendor authorises its requests: what a token is made from and how.  auth.c runs it
 * and caches the tokens in shared memory (one per credential, every sender shares it).  A
 * token is either signed here (sign, and no request: APNs) or fetched from a token endpoint
 * (request and answer; sign, when set, makes the assertion the request carries: Google).
 * vendor_oauth.c has the schemes vendors share.
 */
typedef struct PPAuth
{
	/* The credential's identifying parts, secrets included: the cache key is their hash. */
	void		(*key) (const PPVendorConfig *cfg, StringInfo out);
	/*
	 * A JWT signed at now.  May raise: auth.c reports "cannot sign the <signs> token: ...".
	 * A token signed here is made under the cache's lock (one signer per credential).
	 */
	char	   *(*sign) (const PPVendorConfig *cfg, int64 now);
	const char *signs;
	int			lifetime_s;		/* a token signed here is replaced when this old */
	/* The token endpoint's request (assertion: sign's JWT, or NULL without sign) ... */
	void		(*request) (const PPVendorConfig *cfg, const char *assertion, PPTokenRequest *r);
	/* ... and its answer: the token and its lifetime, or NULL with *why and *transient. */
	char	   *(*answer) (int status, const char *body, size_t len, int64 *expires_in,
						   char **why, bool *transient);
	int			margin_s;		/* a fetched token is renewed this long before it expires */
	const char *header;			/* the request header up to the token ("authorization: Bearer ") */
	/* ... or the form field that carries it instead (OPPO: auth_token), appended to the body */
	const char *form_field;
} PPAuth;

/* What a vendor payload is built from: one device's view of a push. */
typedef struct PPMsgInput
{
	Jsonb	   *push;
	const char *platform;
	const char *language;
	const char *token;
	const char *task_id;
	int64		device_id;
	const char *registration_id;
	TimestampTz expires_at;		/* <= 0: none */
	const char *fallback;		/* a fallback's message (webhook only): JSON, or NULL */
} PPMsgInput;

/* A request as built: URL, headers ("name: value", without auth), body. */
typedef struct PPRequest
{
	char	   *url;
	List	   *headers;		/* of char * */
	StringInfoData body;
	int			limited_len;	/* bytes the vendor's size limit applies to */
	const char *auth_audience;	/* PPVendorConfig.audience for its token, or NULL */
	const void *own;			/* the vendor's own config, when its assemble needs it (Meizu) */
	/* What the first step's answer gave the second (PPVendor.prepare; vivo: the taskId) */
	const char *prepared;
	const char *batch_url;		/* the URL of a request of several tokens, if not url (OPPO) */
	const char *refused;		/* why the vendor cannot take this push: fails unsent (OPPO) */
} PPRequest;

/* An HTTP answer, or the transport failure instead of one. */
typedef struct PPResponse
{
	int			status;			/* 0: no answer (see error) */
	const char *error;			/* transport error, when status is 0 */
	int			retry_after_ms;
	const char *apns_id;		/* apns-id response header, or NULL */
	const char *body;			/* NUL-terminated */
	size_t		body_len;
} PPResponse;

/* One item's result, filled by classify. */
typedef struct PPItemResult
{
	PPOutcomeKind kind;
	char	   *error;
	char	   *vendor_message_id;
	int			retry_after_ms; /* a retry's own delay (a daily quota); 0: the answer's */
	bool		collateral;		/* a retry with no answer of its own (PPSendOutcome) */
} PPItemResult;

/* What classify says about the request as a whole. */
typedef enum PPClassify
{
	PP_CLS_DONE,				/* every result is set */
	PP_CLS_AUTH_STALE,			/* the auth token was refused as stale: renew it, retry once */
	/*
	 * Every result is set, and the credential's daily quota is spent: the engine holds its other
	 * requests (across senders) until the shortest retry_after_ms of the results (OPPO).
	 */
	PP_CLS_QUOTA_SPENT
} PPClassify;

/* A configuration key a vendor takes (push_vendor_set checks them). */
typedef struct PPVendorKey
{
	const char *key;			/* NULL ends a list */
	bool		required;
} PPVendorKey;

/*
 * A vendor.  One that is declared but not sent to yet (no build) has only its name, platforms
 * and keys: devices register for it and its credentials are checked, but the engine does not
 * send to it.
 */
typedef struct PPVendor
{
	const char *name;
	const char *const *platforms;	/* platforms it serves (NULL-terminated) */
	const PPVendorKey *keys;	/* configuration keys, ended by {NULL} */
	const char *default_endpoint;	/* base URL when the config names none */
	int			max_tokens;		/* tokens one request may carry (HMS: 1000) */
	/*
	 * Bytes of built body and token per item one request may carry, 0: no bound (OPPO, whose
	 * batch repeats the message for every device): a group closes before it would pass them.
	 */
	int			batch_bytes;
	int			payload_limit;	/* bytes, of PPRequest.limited_len */
	const char *limit_what;		/* what the limit counts, for the error message */
	/*
	 * The longest title and alert (body) it takes, in characters (0: no limit), checked by
	 * push_send for every language; text_what says whose rule it is, for the error message.
	 */
	int			title_max;
	int			alert_max;
	const char *text_what;
	const PPAuth *auth;			/* NULL: none (the webhook signs its body instead) */
	const char *default_platform;
	/*
	 * Reads the app's config into cfg (its own struct palloc'd in CurrentMemoryContext); false
	 * and *why when something it needs is missing.
	 */
	bool		(*config) (Jsonb *config, PPVendorConfig *cfg, char **why);
	/* The own config previews and the size check build with: placeholder credentials. */
	const void *placeholder;
	/* Builds the request for one device (HMS: the message without its token list). */
	void		(*build) (const PPVendorConfig *cfg, const PPMsgInput *in, PPRequest *req);
	/*
	 * The final body from the built one and its tokens (HMS: the group's token list; Web Push:
	 * the payload encrypted to the subscription, which previews do not show); NULL when the
	 * built body goes as it is.
	 */
	void		(*assemble) (const PPRequest *req, const char *const *tokens, int ntokens,
							 StringInfo body);
	/* Sets results[0..ntokens-1] from the answer. */
	PPClassify	(*classify) (const PPResponse *resp, const char *const *tokens, int ntokens,
							 PPItemResult *results);
	/*
	 * The connection group of an app's requests (http.h): requests of different groups never
	 * share a connection.  NULL: any request to the vendor's host may go on any of the sender's
	 * connections to it.  APNs: its team and key, as APNs ties a connection to them.
	 */
	void		(*conn_group) (const PPVendorConfig *cfg, StringInfo out);
	/*
	 * Optional checks of the vendor's own, each NULL when it has none:
	 * - token_problem: what is wrong with a device token ("code: message"), or NULL, with the
	 *   token's canonical form in *canonical when canonical is not NULL (registration stores
	 *   it; Web Push: the subscription JSON).  The engine fails a delivery to a token it
	 *   refuses as invalid_token.
	 * - config_problem: what push_vendor_set refuses in a config beyond its keys ("code:
	 *   message"), or NULL (Web Push: the VAPID keys and subject).
	 */
	char	   *(*token_problem) (const char *token, char **canonical);
	char	   *(*config_problem) (Jsonb *config);
	/*
	 * Two-step sends (vivo: saveListPayload, whose taskId pushToList needs), each NULL when the
	 * vendor sends in one request.  prepare: the first request of a transfer of ntokens into
	 * *first (first->url NULL: none, the transfer goes as one request); it may point req->url
	 * at the second step's endpoint.  prepared: the first answer read, what the second needs
	 * (the engine sets req->prepared and then assembles and sends req), or NULL with *fail, the
	 * result of every item.  The engine runs both on its multi handle; an auth token refused as
	 * stale in either step is renewed once, a second step sent again keeps the first's answer.
	 */
	void		(*prepare) (const PPVendorConfig *cfg, PPRequest *req, const char *const *tokens,
							int ntokens, PPRequest *first);
	PPClassify	(*prepared) (const PPResponse *resp, char **handle, PPItemResult *fail);
	/* Titles and alerts counted as the vendor does: a non-ASCII character as two (vivo). */
	bool		text_wide;
} PPVendor;

/* ---- vendor_registry.c ------------------------------------------------------------------- */

/* Every vendor pushplan knows, NULL-terminated. */
extern const PPVendor *const pp_vendors[];
/* A vendor the engine sends to, by name, or NULL */
extern const PPVendor *pp_vendor_find(const char *name);
/* Any vendor pushplan knows (sent to or only declared), by name, or NULL */
extern const PPVendor *pp_vendor_declared(const char *name);
extern bool pp_vendor_serves(const PPVendor *v, const char *platform);

/* ---- vendor_util.c: reading the push, writing data, outcomes ------------------------------ */

/* The text a device gets: multi_language, then the platform block, then the top level. */
typedef struct PPText
{
	char	   *title;			/* may be NULL */
	char	   *alert;			/* may be NULL */
	char	   *subtitle;		/* iOS alert object's subtitle */
} PPText;

extern JsonbContainer *pp_push_body(Jsonb *push);
/* notification.<block> for a platform (android, ios, web, harmony) */
extern JsonbContainer *pp_platform_block(JsonbContainer *body, const char *platform);
extern void pp_resolve_text(JsonbContainer *body, const char *platform, const char *language,
							PPText *t);
/* seconds to live: expires_at if set, else options.time_to_live (default 86400) */
extern int64 pp_ttl_seconds(JsonbContainer *body, TimestampTz expires_at);
/* The block's intent URL (NULL: none) and whether it is http(s) (*web) */
extern char *pp_click_url(JsonbContainer *block, bool *web);
/* options.apns_collapse_id, the push's collapse id, or NULL; as a stable positive number */
extern char *pp_collapse_id(JsonbContainer *body);
extern int32 pp_collapse_number(const char *id);
/* the push's collapse id, else one derived from task_id (NULL: neither) */
extern char *pp_resend_collapse_id(JsonbContainer *body, const char *task_id);
/* a collapse id as a Web Push Topic: itself if it can be one, else 32 characters of its digest */
extern char *pp_webpush_topic(const char *collapse);

/* JSON writing helpers: "key": value with commas managed by *first */
/* A group's tokens as a JSON array of strings; joined by sep (forms: Xiaomi, Meizu) */
extern void pp_jw_tokens(StringInfo b, const char *const *tokens, int ntokens);
extern char *pp_join_tokens(const char *const *tokens, int ntokens, char sep);
/* A form field key=value (both escaped), '&' first unless the form is empty */
extern void pp_form_add(StringInfo b, const char *key, const char *value);

/* Each member of an object as key: raw JSON (APNs custom keys, HMS data) */
extern void pp_jw_members(StringInfo b, bool *first, JsonbContainer *obj);
/* Each member of an object as key: string (FCM data: non-strings as their JSON text) */
extern void pp_jw_members_as_strings(StringInfo b, bool *first, JsonbContainer *obj);


/*
 * vendor_apns.c: the APNs JSON payload ({"aps": {...}, custom keys}) for a device; FCM reuses it for
 * iOS devices.  *background: a data message (content-available, no alert).
 */
extern void pp_apns_payload(JsonbContainer *body, const char *language, StringInfo out,
							bool *background);
/* Data of a message: msg_content, title, content_type and extras (written as members). */
extern void pp_jw_message_data(StringInfo b, bool *first, JsonbContainer *body, bool as_strings);
/* Extras and message fields as one JSON object's text (data carried as a string), or NULL */
extern char *pp_data_json(JsonbContainer *body, JsonbContainer *block);
/* ... written as the string member key (HMS, Honor "data"), when there is any */
extern void pp_jw_data_string(StringInfo b, bool *first, const char *key, JsonbContainer *body,
							  JsonbContainer *block);

/* options.priority as the vendors' urgency: "high", "normal" (also for "low") or NULL */
extern const char *pp_vendor_priority(JsonbContainer *options);
/* Common: the string config value, or NULL */
extern char *pp_config_str(Jsonb *config, const char *key);
/* Classifications shared by vendors: 429/5xx -> RETRY, else FAILED with reason */
extern void pp_result_set(PPItemResult *r, PPOutcomeKind kind, const char *error,
						  const char *msgid);
extern PPOutcomeKind pp_status_default_kind(int status);
/*
 * Huawei's answers {"code", "msg", "requestId"} (HMS, HarmonyOS): all sent, partly sent (partial
 * sets the tokens msg names; the others are sent), all invalid, or by status; auth codes renew.
 */
typedef void (*PPHuaweiPartial) (const char *msg, const char *const *tokens, int ntokens,
								 PPItemResult *results);
extern PPClassify pp_huawei_classify(const PPResponse *resp, const char *const *tokens,
									 int ntokens, PPItemResult *results, PPHuaweiPartial partial);
/* The results of the tokens named in a JSON array of strings, or in a sep-separated list */
extern void pp_result_set_named(JsonbContainer *names, const char *const *tokens, int ntokens,
								PPItemResult *results, PPOutcomeKind kind, const char *error);
extern void pp_result_set_listed(const char *names, char sep, const char *const *tokens,
								 int ntokens, PPItemResult *results, PPOutcomeKind kind,
								 const char *error);


/* ---- payload_check.c ------------------------------------------------------------------------ */

/* The placeholder configuration payload previews and the size check build with. */
extern void pp_placeholder_config(const PPVendor *v, PPVendorConfig *cfg);

/* ---- vendor_oauth.c: the auth schemes vendors share ---------------------------------------- */

/* APNs provider token: an ES256 JWT {kid}.{iss, iat}, replaced when 40 minutes old. */
typedef struct PPProviderKey
{
	const char *iss;			/* APNs: team_id */
	const char *kid;			/* APNs: key_id */
	const char *private_key;	/* PEM, EC P-256 */
} PPProviderKey;
extern const PPAuth pp_auth_apns_provider;

/*
 * Huawei service account (HarmonyOS Push Kit v3), a PPProviderKey: iss the sub_account, kid the
 * key_id, an RSA private key; a PS256 JWT sent as the bearer token, replaced after 55 minutes.
 */
extern const PPAuth pp_auth_huawei_service_account;

/* Google service account: an RS256 assertion for an access token (JWT bearer grant). */
typedef struct PPServiceAccount
{
	const char *client_email;
	const char *private_key;	/* PEM, RSA */
	const char *private_key_id; /* NULL: no kid */
	const char *token_uri;
	const char *scope;
} PPServiceAccount;
extern const PPAuth pp_auth_google_service_account;

/* OAuth 2.0 client credentials (RFC 6749 4.4): HMS, Honor. */
typedef struct PPClientCredentials
{
	const char *client_id;
	const char *client_secret;
	const char *token_url;
} PPClientCredentials;
extern const PPAuth pp_auth_client_credentials;

/* An OAuth 2.0 token endpoint's answer (access_token, expires_in; else error): PPAuth.answer */
extern char *pp_oauth_answer(int status, const char *body, size_t len, int64 *expires_in,
							 char **why, bool *transient);

/* ---- auth.c ------------------------------------------------------------------------------ */

/*
 * The token for a vendor config: from the cache, or made as v->auth says (signed, or fetched
 * with a blocking curl call with http's timeout and CA file).  "" when the vendor has no auth.
 * NULL on failure, with *why and *transient, or with *held (Unix seconds) when the credential
 * is held (pp_auth_hold).  Never raises for bad credentials or a failing token endpoint.
 */
extern char *pp_auth_token(const PPVendor *v, const PPVendorConfig *cfg,
						   const PPHttpOptions *http, char **why, bool *transient,
						   int64 *held);
/* Drops the cached token if it is still `token`. */
extern void pp_auth_invalidate(const PPVendor *v, const PPVendorConfig *cfg, const char *token);
/*
 * A credential whose daily quota is spent: held until `until` (Unix seconds), in shared memory,
 * so that no sender sends with it before (pp_auth_token answers *held instead of a token).
 */
extern void pp_auth_hold(const PPVendor *v, const PPVendorConfig *cfg, int64 until);

/*
 * Sharing tokens across the nodes of a cluster (auth_share.c, doc/scale-out.md): a token as
 * the cache keys it (a hash of the credential, never the secret), with its times (Unix seconds).
 */
typedef struct PPAuthShared
{
	char	   *key;
	char	   *token;
	int64		renew_at;
	int64		expires_at;
} PPAuthShared;
extern int	pp_auth_to_publish(PPAuthShared *out, int max);
extern bool pp_auth_publish_pending(void);
extern void pp_auth_adopt(const char *key, const char *token, int64 renew_at, int64 expires_at);

#endif							/* PUSHPLAN_VENDOR_H */
