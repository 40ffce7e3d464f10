/*
 * mock.h: shared declarations of the mock vendor server (APNs, FCM, HMS, webhook, Web Push).
 *
 * One process, one thread, one epoll loop.  The transport layer (conn.c) turns bytes into
 * struct request and sends struct request's response; the vendor layer (vendors.c) fills
 * the response; faults.c decides the injected faults and keeps the statistics.
 */
#ifndef MOCK_H
#define MOCK_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <openssl/evp.h>

/* Limits that bound the memory of one connection. */
#define MAX_BODY			(512 * 1024)	/* request body kept; more gives 413 */
#define MAX_HEADER_BYTES	(16 * 1024)		/* request header block */
#define MAX_STREAMS			1000			/* SETTINGS_MAX_CONCURRENT_STREAMS */
#define OUTBUF_HIGH			(256 * 1024)	/* stop reading while this much is unsent */
#define MAX_CONN_BODY_BYTES	(8 * 1024 * 1024)	/* request bodies buffered per connection */

/* ---- growable byte buffer (buf.c) ---- */
typedef struct buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} buf;

void		buf_reserve(buf *b, size_t extra);
void		buf_append(buf *b, const void *p, size_t n);
void		buf_puts(buf *b, const char *s);
void		buf_printf(buf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));
void		buf_json_str(buf *b, const char *s, size_t n);	/* quoted, escaped */
void		buf_free(buf *b);
void		buf_reset(buf *b);
void		buf_consume(buf *b, size_t n);

/* ---- tiny JSON reader (json.c): DOM in one allocation list, freed together ---- */
typedef enum
{
	JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ
} json_type;

typedef struct json
{
	json_type	type;
	const char *raw;			/* the value's text in the source */
	size_t		rawlen;
	char	   *str;			/* decoded string (JSON_STR), NUL-terminated */
	size_t		strlen;
	double		num;
	bool		b;
	char	   *key;			/* member name when inside an object */
	struct json *child;			/* first element / member */
	struct json *next;			/* next sibling */
	struct json *alloc_next;	/* allocation list */
} json;

json	   *json_parse(const char *text, size_t len);	/* NULL on bad JSON */
void		json_free(json *j);
json	   *json_get(const json *obj, const char *key);
int			json_count(const json *arr);

/* ---- crypto helpers (auth.c) ---- */
int			b64url_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen);
void		b64url_encode(buf *b, const unsigned char *in, size_t n);
void		hex_encode(char *out, const unsigned char *in, size_t n);
EVP_PKEY   *load_public_key(const char *path);

typedef struct jwt
{
	json	   *header;
	json	   *claims;
	unsigned char *sig;
	size_t		siglen;
	const char *signing_input;	/* points into the token text */
	size_t		signing_len;
} jwt;

/* Splits and decodes a compact JWS; 0 on success. */
int			jwt_parse(const char *token, size_t len, jwt *out);
void		jwt_free(jwt *j);
bool		jwt_verify_es256(const jwt *j, EVP_PKEY *key);
bool		jwt_verify_rs256(const jwt *j, EVP_PKEY *key);

/* Access tokens the mock issues: self-verifying (HMAC of kind, subject, expiry). */
void		access_token_init(void);
void		access_token_issue(buf *out, const char *kind, const char *subject, long expires_at);
/* 1 valid, 0 unknown/forged, -1 expired */
int			access_token_check(const char *tok, size_t len, const char *kind, const char *subject);
/*
 * POST /_mock/revoke_tokens: every access token issued so far is refused from now on (a new
 * signing key), and so is every APNs or HarmonyOS JWT signed before this second, as when a
 * vendor revokes a credential's tokens mid-run.
 */
void		access_tokens_revoke(void);
extern long jwt_not_before;		/* JWTs with an older iat are refused (0: none) */
extern long revocations;
void		hmac_sha256_hex(const char *key, size_t keylen, const void *data, size_t n, char out[65]);

/* ---- configuration (config.c) ---- */
typedef struct apns_key
{
	char	   *kid;
	EVP_PKEY   *key;
	char	   *team;			/* the team it belongs to: the iss its tokens must carry */
} apns_key;

typedef struct config
{
	apns_key   *apns_keys;
	int			n_apns_keys;
	char	  **apns_bundles;
	int			n_apns_bundles;
	char	   *fcm_project_id;
	char	   *fcm_client_email;
	EVP_PKEY   *fcm_key;
	char	   *fcm_token_uri;	/* full URL: the expected JWT aud */
	char	   *fcm_token_path; /* its path: where the mock serves it */
	char	   *hms_app_id;
	char	   *hms_client_secret;
	char	   *webhook_secret;
	char	   *outcomes_secret;	/* the outcome webhook's receiver (outcomes.c) */
	char	   *honor_app_id;
	char	   *honor_client_id;
	char	   *honor_client_secret;
	char	   *xiaomi_app_secret;
	char	   *xiaomi_package_name;
	char	   *meizu_app_id;
	char	   *meizu_app_secret;
	char	   *vivo_app_id;
	char	   *vivo_app_key;
	char	   *vivo_app_secret;
	char	   *harmony_project_id;
	char	   *harmony_sub_account;	/* the JWT's iss */
	char	   *harmony_key_id;	/* the JWT's kid */
	EVP_PKEY   *harmony_key;	/* the service account's RSA public key */
	char	   *oppo_app_key;
	char	   *oppo_master_secret;
	int			max_tokens;		/* tracked device tokens (statistics) */
} config;

extern config cfg;
int			config_load(const char *path);
void		config_free(void);

/* ---- requests and responses ---- */
typedef enum
{
	ACT_NONE, ACT_DROP, ACT_GOAWAY, ACT_STALL
} action;

/*
 * A stalled connection (fault stall<N>) is closed by the mock after this long, if the client
 * has not closed it first: no test waits on it for ever.
 */
#define STALL_CLOSE_MS		30000

/* The status a request is counted under in the statistics: 0 "drop", 1 "stall", else r->status. */
#define STATUS_DROP			0
#define STATUS_STALL		1
struct request;
int			recorded_status(const struct request *r);

typedef struct hdr
{
	char	   *name;
	char	   *value;
} hdr;

struct conn;

typedef enum
{
	EP_APNS, EP_FCM, EP_FCM_TOKEN, EP_HMS, EP_HMS_TOKEN, EP_WEBHOOK, EP_WEBPUSH, EP_HONOR,
	EP_HONOR_TOKEN, EP_XIAOMI, EP_MEIZU,
	EP_VIVO, EP_VIVO_LIST, EP_VIVO_SAVE, EP_VIVO_TOKEN,
	EP_HARMONY, EP_OPPO, EP_OPPO_TOKEN, EP_OUTCOMES, EP_OTHER, EP__COUNT
} endpoint;


typedef struct request
{
	struct conn *conn;
	int32_t		stream_id;		/* HTTP/2 stream, 0 for HTTP/1.1 */
	struct request *cprev,
			   *cnext;			/* the connection's requests */
	struct request *tprev,
			   *tnext;			/* timer list */
	uint64_t	due_ms;			/* when a delayed answer is due */
	bool		timed;			/* in the timer list */
	bool		answered;		/* response submitted */

	/* request */
	buf			hbuf;			/* header names and values, NUL-separated */
	int			nhdr;
	char	   *method;
	char	   *path;
	buf			body;
	bool		body_too_large;
	bool		header_too_large;
	bool		http2;
	uint64_t	received_at_us;	/* first frame (h2 HEADERS) or full header block (HTTP/1.1),
								 * CLOCK_REALTIME microseconds: latency benchmarks */

	/* response */
	int			status;
	hdr			rh[8];
	int			nrh;
	buf			resp;
	size_t		resp_off;
	int			delay_ms;
	action		act;
	bool		no_retry_after; /* fault noretryafter: throttles and 5xx without Retry-After */
} request;

const char *req_header(const request *r, const char *name);	/* case-insensitive */
/* iterate headers: returns false when done */
bool		req_header_next(const request *r, size_t *pos, const char **name, const char **value);
void		resp_header(request *r, const char *name, const char *value);
void		resp_json(request *r, int status, const char *body);	/* body copied */
void		request_free(request *r);

/* route.c: fills r's response from r's request. */
void		handle_request(request *r);

/* route.c: helpers shared by the vendor handlers */
typedef enum
{
	F_NONE, F_DROP, F_STALL, F_500, F_5XX, F_THROTTLE, F_UNREGISTERED, F_BADDEVICE
} fault_kind;

/* Network faults (drop, stall, slow, goaway) go into r; returns the fault that decides the answer. */
fault_kind	fault_pick(request *r, const char *token, bool device_faults);
/* URL-decoded value of key in an application/x-www-form-urlencoded string; NULL if absent. */
char	   *form_get(const char *s, size_t n, const char *key);
/* The bearer token of the authorization header (scheme case-insensitive), or NULL. */
const char *bearer_token(const request *r);
long		next_id(void);
/* Counts the request and records its outcome for token (NULL: none) with its last request. */
void		record(request *r, endpoint ep, const char *token);

void		handle_apns(request *r, const char *token);
void		handle_fcm_token(request *r);
void		handle_fcm_send(request *r, const char *project);
void		handle_hms_token(request *r);
void		handle_hms_send(request *r, const char *app_id);
/* Huawei's answer {"code", "msg", "requestId"} (HMS, HarmonyOS); the code is a string */
void		hms_result(request *r, int status, const char *code, const char *msg);
void		handle_webhook(request *r);
/* outcomes.c: pushplan's outcome webhook, received: POST /outcomes/<name>[?fail500=N&slow=MS] */
void		handle_outcomes(request *r, const char *name, const char *query);
/* GET /_mock/outcomes[?name=X]: every batch received, in order; forgotten by stats_reset */
void		outcomes_json(buf *out, const char *name);
void		outcomes_reset(void);
void		handle_webpush(request *r, const char *seed);
void		webpush_subscription(request *r, const char *seed);
void		handle_honor_token(request *r);
void		handle_honor_send(request *r, const char *app_id);
void		handle_xiaomi_send(request *r, const char *path);
void		handle_meizu_send(request *r, const char *path);
void		handle_vivo(request *r, const char *path);
/* vivo.c: forgets the requestIds seen (stats_reset); requests answered as a repeated requestId */
void		vivo_reset(void);
extern long vivo_stats_duplicates;
void		handle_harmony_send(request *r, const char *project);
void		handle_oppo_auth(request *r);
void		handle_oppo_send(request *r, const char *what);
/* Records one request for each of its devices (HMS, Honor, Xiaomi, Meizu: many a request). */
void		record_many(request *r, endpoint ep, char *const *tokens, int ntokens);
/* A token endpoint's success: an access token of kind for subject, valid an hour. */
void		token_granted(request *r, const char *kind, const char *subject);
/* Splits s at sep into *out (strdup'd, the caller frees each and the array); returns the count. */
int			split_list(const char *s, char sep, char ***out);
/* MD5 of data as 32 lowercase hex digits (Meizu's signature) */
void		md5_hex(const void *data, size_t n, char out[33]);
/* SHA-256 of data as 64 lowercase hex digits (OPPO's signature) */
void		sha256_hex(const void *data, size_t n, char out[65]);
/* Characters of UTF-8 text (the Chinese vendors count a Chinese or Latin character as one) */
long		utf8_chars(const char *s);
/* {"code": code, "message": message[, "data": data]} (Honor, OPPO) */
void		resp_code(request *r, int status, long code, const char *message, const char *data);

/* ---- faults and statistics (faults.c) ---- */
typedef struct faults
{
	bool		unregistered;
	bool		baddevice;
	int			throttle;		/* -1 absent */
	int			fail5xx;
	bool		error500;
	int			slow_ms;		/* 0 absent */
	int			drop;
	int			stall;			/* 0 absent */
	bool		goaway;
	bool		quota;			/* a daily quota spent (Xiaomi, Meizu) */
	bool		noretryafter;	/* throttle / fail5xx answers carry no Retry-After */
} faults;

extern const char *const endpoint_names[EP__COUNT];

typedef struct lastreq lastreq;

void		faults_parse(const char *token, faults *f);
bool		faults_any(const faults *f);
/* requests already seen for this token (before the current one) */
long		stats_seen(const char *token);
lastreq    *lastreq_make(const request *r);
void		lastreq_unref(lastreq *l);
/* Records one token's outcome (recorded_status) and, if l, its last request. */
void		stats_record(const char *token, int status, lastreq *l);
/* Counts one request in the totals. */
void		stats_count_request(endpoint ep, int status);
void		stats_endpoint_last(endpoint ep, lastreq *l);
void		stats_json(buf *out, const char *only_token);
bool		stats_last_json(buf *out, const char *token, const char *endpoint_name);
void		stats_reset(void);
void		stats_free(void);

/* ---- transport (conn.c / main.c) ---- */
uint64_t	now_ms(void);
void		timer_add(request *r, int delay_ms);
void		timer_remove(request *r);
extern long conn_stats_accepted, conn_stats_open, conn_stats_h2, conn_stats_http1;
/* main.c: connections of the fault listeners (--listen-untrusted, --listen-silent) */
extern long listen_untrusted_accepted, listen_silent_accepted;
/* connections refused a provider token of a second APNs team, of a second key (apns.c) */
extern long conn_stats_apns_two_teams, conn_stats_apns_two_keys;

#endif
