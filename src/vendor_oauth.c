/*
 * vendor_oauth.c: the auth schemes vendors share (PPAuth, vendor.h).  A vendor's config
 * function points cfg->creds at one of the credential structs below, inside its own config,
 * and its PPVendor at the scheme; auth.c runs the scheme and caches what it makes.
 *
 * - APNs provider token: an ES256 JWT per (team_id, key_id), signed locally and replaced after
 *   40 minutes (Apple: not more often than every 20, not less than every 60).
 * - Google service account: an RS256 assertion POSTed to token_uri (JWT bearer grant) for an
 *   OAuth 2.0 access token, renewed 60 s before its expires_in.
 * - OAuth 2.0 client credentials (HMS; Honor's flow is the same): client id and secret POSTed
 *   to the token endpoint, renewed the same way.
 * - Huawei service account (HarmonyOS Push Kit v3): a PS256 JWT signed locally, sent as the
 *   bearer token itself, replaced after 55 minutes.
 *
 * The cache key of each is a hash of the parts that identify the credential, the secret
 * included, so that a changed key gets a new token.
 */
#include "pushplan.h"

#include "jwt.h"
#include "vendor.h"

/* OAuth tokens are renewed this long before they expire. */
#define PP_OAUTH_MARGIN_S	60
#define PP_FORM_CONTENT_TYPE "application/x-www-form-urlencoded"

/* ---- APNs provider token ------------------------------------------------------------------ */

static void
provider_key(const PPVendorConfig *cfg, StringInfo out)
{
	const PPProviderKey *k = cfg->creds;

	appendStringInfo(out, "%s\n%s\n%s", k->iss, k->kid, k->private_key);
}

static char *
provider_sign(const PPVendorConfig *cfg, int64 now)
{
	const PPProviderKey *k = cfg->creds;

	return pp_jwt_es256(k->private_key, k->kid, k->iss, now);
}

const PPAuth pp_auth_apns_provider = {
	.key = provider_key,
	.sign = provider_sign,
	.signs = "APNs provider",
	.lifetime_s = 40 * 60,
	.header = "authorization: bearer ",
};

/*
 * Huawei service account (HarmonyOS NEXT Push Kit v3): the request's token is the account's own
 * PS256 JWT {kid: key_id}.{aud: Huawei's token URI, iss: sub_account, exp, iat}, no token
 * endpoint.  Huawei advises an hour's validity and reuse within it; it is replaced 5 minutes
 * before, so that none goes out expired.  The credential is a PPProviderKey (iss: sub_account,
 * kid: key_id, the RSA private key), keyed as APNs' is.
 */
#define PP_HUAWEI_JWT_AUD "https://oauth-login.cloud.huawei.com/oauth2/v3/token"
#define PP_HUAWEI_JWT_TTL_S 3600

static char *
huawei_service_account_sign(const PPVendorConfig *cfg, int64 now)
{
	const PPProviderKey *k = cfg->creds;

	return pp_jwt_ps256(k->private_key, k->kid, k->iss, PP_HUAWEI_JWT_AUD, now,
						now + PP_HUAWEI_JWT_TTL_S);
}

const PPAuth pp_auth_huawei_service_account = {
	.key = provider_key,
	.sign = huawei_service_account_sign,
	.signs = "HarmonyOS service account",
	.lifetime_s = PP_HUAWEI_JWT_TTL_S - 5 * 60,
	.header = "authorization: Bearer ",
};

/* ---- OAuth 2.0 ------------------------------------------------------------------------------ */

char *
pp_oauth_answer(int status, const char *body, size_t len, int64 *expires_in, char **why,
				bool *transient)
{
	Jsonb	   *j = pp_json_parse_safe(body, len);
	char	   *tok = NULL;
	char	   *err = NULL;

	if (j && JsonContainerIsObject(&j->root))
	{
		tok = pp_jstr(&j->root, "access_token");
		if (!pp_jnum(&j->root, "expires_in", expires_in))
			*expires_in = 3600;
		err = pp_jstr(&j->root, "error");
		if (err && pp_jstr(&j->root, "error_description"))
			err = psprintf("%s: %s", err, pp_jstr(&j->root, "error_description"));
	}
	if (status != 200 || tok == NULL || tok[0] == '\0')
	{
		*why = psprintf("token endpoint answered HTTP %d%s%s", status,
						err ? ": " : "", err ? err : "");
		*transient = status == 429 || status >= 500;
		return NULL;
	}
	return tok;
}

/* Google service account: the assertion is signed, then exchanged. */
static void
service_account_key(const PPVendorConfig *cfg, StringInfo out)
{
	const PPServiceAccount *sa = cfg->creds;

	appendStringInfo(out, "%s\n%s\n%s", sa->client_email, sa->token_uri, sa->private_key);
}

static char *
service_account_sign(const PPVendorConfig *cfg, int64 now)
{
	const PPServiceAccount *sa = cfg->creds;

	return pp_jwt_rs256(sa->private_key, sa->private_key_id, sa->client_email, sa->scope,
						sa->token_uri, now, now + 3600);
}

static void
service_account_request(const PPVendorConfig *cfg, const char *assertion, PPTokenRequest *r)
{
	const PPServiceAccount *sa = cfg->creds;

	r->url = pstrdup(sa->token_uri);
	r->body = psprintf("grant_type=%s&assertion=%s",
					   pp_url_escape("urn:ietf:params:oauth:grant-type:jwt-bearer"),
					   pp_url_escape(assertion));
	r->content_type = PP_FORM_CONTENT_TYPE;
}

const PPAuth pp_auth_google_service_account = {
	.key = service_account_key,
	.sign = service_account_sign,
	.signs = "Google OAuth assertion",
	.request = service_account_request,
	.answer = pp_oauth_answer,
	.margin_s = PP_OAUTH_MARGIN_S,
	.header = "authorization: Bearer ",
};

/* Client credentials: nothing signed, the secret goes to the token endpoint. */
static void
client_credentials_key(const PPVendorConfig *cfg, StringInfo out)
{
	const PPClientCredentials *cc = cfg->creds;

	appendStringInfo(out, "%s\n%s\n%s", cc->client_id, cc->token_url, cc->client_secret);
}

static void
client_credentials_request(const PPVendorConfig *cfg, const char *assertion, PPTokenRequest *r)
{
	const PPClientCredentials *cc = cfg->creds;

	r->url = pstrdup(cc->token_url);
	r->body = psprintf("grant_type=client_credentials&client_id=%s&client_secret=%s",
					   pp_url_escape(cc->client_id), pp_url_escape(cc->client_secret));
	r->content_type = PP_FORM_CONTENT_TYPE;
}

const PPAuth pp_auth_client_credentials = {
	.key = client_credentials_key,
	.request = client_credentials_request,
	.answer = pp_oauth_answer,
	.margin_s = PP_OAUTH_MARGIN_S,
	.header = "authorization: Bearer ",
};
