/*
 * url_check.c: endpoint URLs as libcurl will read them.
 *
 * A vendor endpoint is stored once and used for every delivery, so it is parsed when it is set,
 * by the same parser that will send to it (curl_url), not by a pattern: a URL that libcurl
 * would refuse or read differently must fail at push_vendor_set, not at every send.  The same
 * parser gives a Web Push endpoint's origin (pp_url_origin).
 */
#include "pushplan.h"

#include <curl/curl.h>

#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(pushplan_url_problem);

/* Why url cannot be an endpoint (a sentence, for an errdetail), or NULL. */
static const char *
url_problem(const char *url, int len)
{
	CURLU	   *u;
	CURLUcode	rc;
	char	   *scheme = NULL;
	char	   *host = NULL;
	const char *why = NULL;

	/* libcurl would refuse control characters too; white space it might encode instead */
	for (int i = 0; i < len; i++)
		if ((unsigned char) url[i] <= 0x20 || url[i] == 0x7f)
			return "The URL holds white space or a control character.";
	if ((u = curl_url()) == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	/* without CURLU_GUESS_SCHEME or CURLU_DEFAULT_SCHEME: a URL must name its scheme */
	rc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (rc != CURLUE_OK)
		why = psprintf("%s.", curl_url_strerror(rc));
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
			 (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		why = "The scheme is not http or https.";
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0')
		why = "The URL names no host.";
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return why;
}

/*
 * The origin of an https URL (RFC 6454: scheme "://" host [":" port], the host lower-cased, the
 * port only when it is not 443), as libcurl reads the URL; NULL with *why when url is not an
 * https URL with a host.  Web Push: a VAPID token's audience.
 */
char *
pp_url_origin(const char *url, const char **why)
{
	CURLU	   *u;
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *port = NULL;
	char	   *origin = NULL;

	*why = url_problem(url, strlen(url));
	if (*why)
		return NULL;
	if ((u = curl_url()) == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		*why = "The URL cannot be read.";
	else if (strcmp(scheme, "https") != 0)
		*why = "The scheme is not https.";
	else
	{
		/* CURLUPART_PORT without CURLU_DEFAULT_PORT: only a port the URL names */
		if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK || strcmp(port, "443") == 0)
		{
			curl_free(port);
			port = NULL;
		}
		origin = psprintf("https://%s%s%s", host, port ? ":" : "", port ? port : "");
		for (char *c = origin; *c; c++)
			*c = pg_tolower((unsigned char) *c);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return origin;
}

/* _url_problem(url text) RETURNS text: NULL for a usable endpoint. */
Datum
pushplan_url_problem(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *why = url_problem(text_to_cstring(t), VARSIZE_ANY_EXHDR(t));

	if (why == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(why));
}
