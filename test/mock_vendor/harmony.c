/*
 * harmony.c: HarmonyOS NEXT Push Kit, scenario-based API v3
 * (POST /v3/<projectId>/messages:send).
 *
 * Auth: `Authorization: Bearer <JWT>`, the service account's own token: header {"kid", "typ":
 * "JWT", "alg": "PS256"}, claims {"aud": Huawei's token URI, "iss": the sub_account, "iat",
 * "exp"}, signed RSASSA-PSS SHA-256 (salt 32) by the key whose public half the mock has.
 * Answers {"code", "msg", "requestId"} with code a string: 80000000 sent; 80100000 some tokens
 * refused, msg a JSON string {"illegalTokens": {"<reason>": [...]}, "success", "failure"};
 * 80300007 every token refused; 80300010 token count not 1..1000; 80300008 message over 4096
 * bytes without its token list; 80100001 / 80100003 bad parameters or structure; 80200001
 * (401) a JWT refused, 80200005 (401) an expired one; 503 flow control.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "mock.h"

#define HARMONY_MAX_TOKENS	1000
#define HARMONY_MAX_MESSAGE 4096
#define HARMONY_MAX_TTL		1296000
#define HARMONY_JWT_AUD		"https://oauth-login.cloud.huawei.com/oauth2/v3/token"

/* notification categories of push-type 0 (PLAY_VOICE is push-type 2's) */
static const char *const categories[] = {
	"IM", "VOIP", "MISS_CALL", "SUBSCRIPTION", "TRAVEL", "HEALTH", "WORK", "ACCOUNT",
	"EXPRESS", "FINANCE", "DEVICE_REMINDER", "MAIL", "MARKETING", NULL
};

static bool
str_is(const json *j, const char *s)
{
	return j && j->type == JSON_STR && strcmp(j->str, s) == 0;
}

static bool
is_int(const json *j, double lo, double hi)
{
	return j && j->type == JSON_NUM && j->num == (double) (long) j->num && j->num >= lo &&
		j->num <= hi;
}

/* PS256: RSASSA-PSS, MGF1 SHA-256, salt as long as the hash (RFC 7518 3.5). */
static bool
verify_ps256(const jwt *j, EVP_PKEY *key)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	bool		ok;

	ok = ctx != NULL && EVP_PKEY_base_id(key) == EVP_PKEY_RSA &&
		EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, key) == 1 &&
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
		EVP_DigestVerify(ctx, j->sig, j->siglen, (const unsigned char *) j->signing_input,
						 j->signing_len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* 1 valid, 0 refused, -1 expired. */
static int
check_jwt(request *r)
{
	const char *tok = bearer_token(r);
	jwt			j;
	json	   *iat,
			   *exp;
	long		now = (long) time(NULL);
	int			res = 0;

	if (tok == NULL || cfg.harmony_key == NULL || jwt_parse(tok, strlen(tok), &j) != 0)
		return 0;
	iat = json_get(j.claims, "iat");
	exp = json_get(j.claims, "exp");
	if (str_is(json_get(j.header, "alg"), "PS256") &&
		str_is(json_get(j.header, "typ"), "JWT") &&
		str_is(json_get(j.header, "kid"), cfg.harmony_key_id) &&
		str_is(json_get(j.claims, "iss"), cfg.harmony_sub_account) &&
		str_is(json_get(j.claims, "aud"), HARMONY_JWT_AUD) &&
		is_int(iat, 0, 1e12) && is_int(exp, 0, 1e12) && exp->num > iat->num &&
		exp->num - iat->num <= 3600 && iat->num <= now + 300 && iat->num >= jwt_not_before &&
		verify_ps256(&j, cfg.harmony_key))
		res = exp->num > now ? 1 : -1;
	jwt_free(&j);
	return res;
}

/* What is wrong with the payload of the push-type, or NULL. */
static const char *
payload_problem(const json *payload, const char *push_type)
{
	if (payload == NULL || payload->type != JSON_OBJ)
		return "payload must be an object";
	if (strcmp(push_type, "0") == 0)
	{
		json	   *n = json_get(payload, "notification");
		json	   *ca = n ? json_get(n, "clickAction") : NULL;
		json	   *cat = n ? json_get(n, "category") : NULL;
		json	   *notify = n ? json_get(n, "notifyId") : NULL;
		json	   *title = n ? json_get(n, "title") : NULL;
		json	   *text = n ? json_get(n, "body") : NULL;
		bool		known = false;

		if (n == NULL || n->type != JSON_OBJ)
			return "Illegal payload, notification is required";
		for (int i = 0; cat && cat->type == JSON_STR && categories[i]; i++)
			known = known || strcmp(cat->str, categories[i]) == 0;
		if (!known)
			return "Illegal payload, category is invalid";
		if (title == NULL || title->type != JSON_STR || title->strlen == 0 ||
			text == NULL || text->type != JSON_STR || text->strlen == 0)
			return "Illegal payload, title and body are required";
		if (ca == NULL || ca->type != JSON_OBJ || !is_int(json_get(ca, "actionType"), 0, 1))
			return "Illegal payload, clickAction.actionType is required";
		if (json_get(ca, "data") && json_get(ca, "data")->type != JSON_OBJ)
			return "Illegal payload, clickAction.data must be an object";
		if (notify && !is_int(notify, -1, 2147483647))
			return "Illegal payload, notifyId is invalid";
		return NULL;
	}
	if (strcmp(push_type, "6") == 0)
	{
		json	   *d = json_get(payload, "extraData");

		if (json_get(payload, "notification"))
			return "Illegal payload, a background message has no notification";
		if (d == NULL || d->type != JSON_STR || d->strlen == 0)
			return "Illegal payload, extraData is required";
		return NULL;
	}
	/* 1, 2, 7, 10 are real push-types the mock does not model */
	return "Illegal payload, the mock models push-type 0 and 6 only";
}

/* Validates the request; returns the token array, or NULL with the answer set. */
static json *
check_send(request *r, const char *project, json **doc)
{
	const char *ct = req_header(r, "content-type");
	const char *pt = req_header(r, "push-type");
	const char *problem;
	json	   *target,
			   *tokens,
			   *opts;
	int			auth,
				n;

	*doc = NULL;
	if (cfg.harmony_project_id == NULL || strcmp(project, cfg.harmony_project_id) != 0)
	{
		/* a JWT of another project's service account */
		hms_result(r, 401, "80200001", "Jwt authentication error");
		return NULL;
	}
	auth = check_jwt(r);
	if (auth == -1)
	{
		hms_result(r, 401, "80200005", "Jwt token expired");
		return NULL;
	}
	if (auth != 1)
	{
		hms_result(r, 401, "80200001", "Jwt authentication error");
		return NULL;
	}
	if (strcmp(r->method, "POST") != 0 || ct == NULL || strncmp(ct, "application/json", 16) != 0)
	{
		hms_result(r, 400, "80100001", "Check Parameter Error, a JSON POST is expected");
		return NULL;
	}
	if (pt == NULL || (strcmp(pt, "0") != 0 && strcmp(pt, "1") != 0 && strcmp(pt, "2") != 0 &&
					   strcmp(pt, "6") != 0 && strcmp(pt, "7") != 0 && strcmp(pt, "10") != 0))
	{
		hms_result(r, 400, "80100001", "Check Parameter Error, push-type is invalid");
		return NULL;
	}
	if (r->body_too_large)
	{
		hms_result(r, 400, "80300008", "The message body size exceeds the default value");
		return NULL;
	}
	*doc = json_parse(r->body.data ? r->body.data : "", r->body.len);
	if (*doc == NULL || (*doc)->type != JSON_OBJ)
	{
		hms_result(r, 400, "80100003", "Illegal payload, the body is not a JSON object");
		return NULL;
	}
	target = json_get(*doc, "target");
	tokens = target && target->type == JSON_OBJ ? json_get(target, "token") : NULL;
	n = tokens && tokens->type == JSON_ARR ? json_count(tokens) : 0;
	if (n < 1 || n > HARMONY_MAX_TOKENS)
	{
		hms_result(r, 400, "80300010",
					   "The number of tokens in the message body exceeds the default value");
		return NULL;
	}
	for (json *t = tokens->child; t; t = t->next)
		if (t->type != JSON_STR || t->strlen == 0)
		{
			hms_result(r, 400, "80100001", "Check Parameter Error, a token is not a string");
			return NULL;
		}
	if ((problem = payload_problem(json_get(*doc, "payload"), pt)) != NULL)
	{
		hms_result(r, 400, "80100003", problem);
		return NULL;
	}
	opts = json_get(*doc, "pushOptions");
	if (opts && (opts->type != JSON_OBJ ||
				 (json_get(opts, "ttl") && !is_int(json_get(opts, "ttl"), 0, HARMONY_MAX_TTL)) ||
				 (json_get(opts, "biTag") && (json_get(opts, "biTag")->type != JSON_STR ||
											  json_get(opts, "biTag")->strlen > 64))))
	{
		hms_result(r, 400, "80100001", "Check Parameter Error, pushOptions is invalid");
		return NULL;
	}
	/* the limit counts the body without its token list */
	if (r->body.len - tokens->rawlen > HARMONY_MAX_MESSAGE)
	{
		hms_result(r, 400, "80300008", "The message body size exceeds the default value");
		return NULL;
	}
	return tokens;
}

/* The reason the mock gives a token: unregistered, baddevice, nopushtyperight; NULL: none. */
static const char *
token_reason(const char *token)
{
	faults		f;

	faults_parse(token, &f);
	if (f.baddevice)
		return "tokenFormatError";
	if (f.unregistered)
		return "noRight";
	if (strstr(token, "nopushtyperight"))
		return "noPushTypeRight";
	return NULL;
}

/* 200 80000000, 200 80100000 with the refused tokens by reason, or 400 80300007. */
static void
answer_tokens(request *r, json *tokens)
{
	static const char *const reasons[] = {"tokenFormatError", "noRight", "noPushTypeRight"};
	buf			m = {0};
	int			ok = 0,
				bad = 0;

	buf_puts(&m, "{\"illegalTokens\":{");
	for (int k = 0; k < 3; k++)
	{
		bool		any = false;

		for (json *t = tokens->child; t; t = t->next)
		{
			const char *why = token_reason(t->str);

			if (why == NULL || strcmp(why, reasons[k]) != 0)
				continue;
			if (!any)
				buf_printf(&m, "%s\"%s\":[", m.data[m.len - 1] == '{' ? "" : ",", reasons[k]);
			else
				buf_puts(&m, ",");
			buf_json_str(&m, t->str, t->strlen);
			any = true;
			bad++;
		}
		if (any)
			buf_puts(&m, "]");
	}
	for (json *t = tokens->child; t; t = t->next)
		ok += token_reason(t->str) == NULL;
	buf_printf(&m, "},\"success\":%d,\"failure\":%d}", ok, bad);
	if (bad == 0)
		hms_result(r, 200, "80000000", "Success");
	else if (ok == 0)
		hms_result(r, 400, "80300007", "All the tokens are invalid");
	else
		hms_result(r, 200, "80100000", m.data);
	buf_free(&m);
}

void
handle_harmony_send(request *r, const char *project)
{
	json	   *doc;
	json	   *tokens = check_send(r, project, &doc);
	fault_kind	fk = F_NONE;
	bool		quota = false;
	char	  **names = NULL;
	int			n = 0;

	if (tokens)
	{
		for (json *t = tokens->child; t && fk == F_NONE && !quota && r->act == ACT_NONE &&
			 r->delay_ms == 0; t = t->next)
		{
			faults		f;

			fk = fault_pick(r, t->str, false);
			faults_parse(t->str, &f);
			quota = f.quota;
		}
		switch (fk)
		{
			case F_DROP:
			case F_STALL:
				break;
			case F_500:
				hms_result(r, 500, "81000001", "Internal service error");
				break;
			case F_5XX:
				/* the connection request is abnormal: retry later */
				hms_result(r, 502, "81000001", "Internal service error");
				break;
			case F_THROTTLE:
				/* traffic control: 503, and no Retry-After */
				hms_result(r, 503, "81000001", "Traffic control");
				break;
			default:
				if (quota)
					/* the app's QPS threshold (AppGallery Connect): the send API's only quota */
					hms_result(r, 503, "81000001",
								   "Traffic control, the QPS threshold of the app is exceeded");
				else
					answer_tokens(r, tokens);
				break;
		}
	}
	names = malloc(sizeof(char *) * (tokens ? json_count(tokens) + 1 : 1));
	for (json *t = tokens ? tokens->child : NULL; t; t = t->next)
		names[n++] = t->str;
	record_many(r, EP_HARMONY, names, n);
	free(names);
	json_free(doc);
}
