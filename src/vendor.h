/*
 * vendor.h: the engine's internal interface to one vendor (src/vendor_<name>.c), the registry
 * that lists them (vendor_registry.c), and the types vendor_util.c, auth.c and engine.c share
 * (the curl side's are in http.h).  A new vendor is one file with one PPVendor and one line in the registry.
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

/* How a vendor authorises requests (auth.c). */
typedef enum PPAuthKind
{
	PP_AUTH_NONE,				/* webhook: the body is signed instead */
	PP_AUTH_APNS_JWT,			/* ES256 provider token per team + key */
	PP_AUTH_GOOGLE_OAUTH,		/* service-account assertion -> access token */
	PP_AUTH_HMS_OAUTH			/* client credentials -> access token */
} PPAuthKind;

/* The credentials and endpoints of one app's vendor config, as strings (NULL: absent). */
typedef struct PPVendorConfig
{
	const char *endpoint;	/* base URL, defaulted */
	/* apns */
	char	   *team_id;
	char	   *key_id;
	char	   *private_key;	/* apns .p8, or the service account's RSA key */
	char	   *bundle_id;
	/* fcm (service_account) */
	char	   *project_id;
	char	   *client_email;
	char	   *private_key_id;
	char	   *token_uri;
	/* hms */
	char	   *app_id;
	char	   *client_secret;
	char	   *token_endpoint;
	/* webhook */
	char	   *url;
	char	   *secret;
} PPVendorConfig;

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
} PPMsgInput;

/* A request as built: URL, headers ("name: value", without auth), body. */
typedef struct PPRequest
{
	char	   *url;
	List	   *headers;		/* of char * */
	StringInfoData body;
	int			limited_len;	/* bytes the vendor's size limit applies to */
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
} PPItemResult;

/* What classify says about the request as a whole. */
typedef enum PPClassify
{
	PP_CLS_DONE,				/* every result is set */
	PP_CLS_AUTH_STALE			/* the auth token was refused as stale: renew it, retry once */
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
	int			payload_limit;	/* bytes, of PPRequest.limited_len */
	const char *limit_what;		/* what the limit counts, for the error message */
	PPAuthKind	auth;
	const char *default_platform;
	/* Reads the app's config; false and *why when something it needs is missing. */
	bool		(*config) (Jsonb *config, PPVendorConfig *cfg, char **why);
	/* Builds the request for one device (HMS: the message without its token list). */
	void		(*build) (const PPVendorConfig *cfg, const PPMsgInput *in, PPRequest *req);
	/* HMS: the final body for a group's tokens; NULL for one-token vendors. */
	void		(*assemble) (const PPRequest *req, const char *const *tokens, int ntokens,
							 StringInfo body);
	/* Sets results[0..ntokens-1] from the answer. */
	PPClassify	(*classify) (const PPResponse *resp, const char *const *tokens, int ntokens,
							 PPItemResult *results);
} PPVendor;

extern const PPVendor pp_vendor_apns;
extern const PPVendor pp_vendor_fcm;
extern const PPVendor pp_vendor_hms;
extern const PPVendor pp_vendor_honor;
extern const PPVendor pp_vendor_oppo;
extern const PPVendor pp_vendor_vivo;
extern const PPVendor pp_vendor_xiaomi;
extern const PPVendor pp_vendor_meizu;
extern const PPVendor pp_vendor_webpush;
extern const PPVendor pp_vendor_webhook;

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

/* JSON writing helpers: "key": value with commas managed by *first */
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

/* Common: the string config value, or NULL */
extern char *pp_config_str(Jsonb *config, const char *key);
/* Classifications shared by vendors: 429/5xx -> RETRY, else FAILED with reason */
extern void pp_result_set(PPItemResult *r, PPOutcomeKind kind, const char *error,
						  const char *msgid);
extern PPOutcomeKind pp_status_default_kind(int status);


/* ---- payload_check.c ------------------------------------------------------------------------ */

/* The placeholder configuration payload previews and the size check build with. */
extern void pp_placeholder_config(const PPVendor *v, PPVendorConfig *cfg);

/* ---- auth.c ------------------------------------------------------------------------------ */

/*
 * The token for a vendor config: from the cache, or made (APNs: signed; OAuth: fetched with a
 * blocking curl call with http's timeout and CA file).  NULL on failure, with *why and
 * *transient.  Never raises for bad credentials or a failing token endpoint.
 */
extern char *pp_auth_token(PPAuthKind kind, const PPVendorConfig *cfg,
						   const PPHttpOptions *http, char **why, bool *transient);
/* Drops the cached token if it is still `token`. */
extern void pp_auth_invalidate(PPAuthKind kind, const PPVendorConfig *cfg, const char *token);

#endif							/* PUSHPLAN_VENDOR_H */
