/*
 * curl_ceiling.c: the ceiling for pushplan's senders: a bare libcurl multi client doing what a
 * sender's delivery engine does on the wire and nothing else (no database, no payload building,
 * no JWT signing): N APNs-shaped POSTs, M in flight, HTTP/2 multiplexed over TLS on at most C
 * connections, easy handles reused, every answer's status checked.
 *
 *   curl_ceiling URL_PREFIX CA_FILE N M C BODY_FILE [HEADER...]
 *
 * URL_PREFIX gets a 64-hex-digit device token appended per request (…/3/device/<token>). Prints
 * one line: "requests N ok K failed F seconds S rate R/s connections X cpu_us U" (U: the client's
 * own CPU time, user + system, per request).
 * Built by test/bench/bench_sending.sh: gcc -O2 curl_ceiling.c -lcurl.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <curl/curl.h>

typedef struct req
{
	CURL	   *easy;
	char		url[512];
	char		apns_id[80];
	char		err[CURL_ERROR_SIZE];
	struct curl_slist *headers;
} req;

static const char *prefix;
static const char *ca_file;
static char *body;
static long body_len;
static struct curl_slist *common;

static size_t
discard(char *p, size_t s, size_t n, void *u)
{
	(void) p;
	(void) u;
	return s * n;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* (Re)arms r for request number i: a distinct device token and apns-id, like a broadcast. */
static void
arm(req *r, long i)
{
	struct curl_slist *h;

	snprintf(r->url, sizeof(r->url), "%s%064lx", prefix, i);
	snprintf(r->apns_id, sizeof(r->apns_id), "apns-id: %08lx-0000-4000-8000-%012lx", i, i);
	curl_slist_free_all(r->headers);
	r->headers = NULL;
	for (h = common; h; h = h->next)
		r->headers = curl_slist_append(r->headers, h->data);
	r->headers = curl_slist_append(r->headers, r->apns_id);
	curl_easy_reset(r->easy);
	curl_easy_setopt(r->easy, CURLOPT_URL, r->url);
	curl_easy_setopt(r->easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_len);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->easy, CURLOPT_CAINFO, ca_file);
	curl_easy_setopt(r->easy, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "pushplan/0.1");
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->err);
	r->err[0] = '\0';
}

int
main(int argc, char **argv)
{
	long		n,
				m,
				c,
				started = 0,
				done = 0,
				ok = 0,
				conns = 0;
	CURLM	   *multi;
	req		   *reqs;
	FILE	   *f;
	double		t0,
				t1;
	struct rusage ru;

	if (argc < 7)
	{
		fprintf(stderr, "usage: curl_ceiling URL_PREFIX CA_FILE N M C BODY_FILE [HEADER...]\n");
		return 2;
	}
	prefix = argv[1];
	ca_file = argv[2];
	n = atol(argv[3]);
	m = atol(argv[4]);
	c = atol(argv[5]);
	if ((f = fopen(argv[6], "rb")) == NULL)
	{
		perror(argv[6]);
		return 2;
	}
	body = malloc(65536);
	body_len = (long) fread(body, 1, 65536, f);
	fclose(f);
	for (int i = 7; i < argc; i++)
		common = curl_slist_append(common, argv[i]);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, c);
	/* spread the streams over the c connections (libcurl fills one connection first) */
	curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, (m + c - 1) / c);
	reqs = calloc(m, sizeof(req));

	t0 = now_s();
	for (long i = 0; i < m && started < n; i++)
	{
		reqs[i].easy = curl_easy_init();
		arm(&reqs[i], started++);
		curl_multi_add_handle(multi, reqs[i].easy);
	}
	while (done < n)
	{
		int			running,
					left;
		CURLMsg    *msg;

		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &left)) != NULL)
		{
			req		   *r;
			long		status = 0,
						nc = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &r);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_NUM_CONNECTS, &nc);
			conns += nc;
			if (msg->data.result == CURLE_OK && status == 200)
				ok++;
			else if (done - ok < 5)
				fprintf(stderr, "request failed: %s, HTTP %ld\n",
						r->err[0] ? r->err : curl_easy_strerror(msg->data.result), status);
			done++;
			curl_multi_remove_handle(multi, r->easy);
			if (started < n)
			{
				arm(r, started++);
				curl_multi_add_handle(multi, r->easy);
			}
		}
		if (done < n)
			curl_multi_poll(multi, NULL, 0, 1000, NULL);
	}
	t1 = now_s();
	getrusage(RUSAGE_SELF, &ru);
	printf("requests %ld ok %ld failed %ld seconds %.3f rate %.0f/s connections %ld cpu_us %.1f\n",
		   n, ok, n - ok, t1 - t0, n / (t1 - t0), conns,
		   (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 / n +
		   (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / (double) n);
	for (long i = 0; i < m; i++)
		if (reqs[i].easy)
		{
			curl_easy_cleanup(reqs[i].easy);
			curl_slist_free_all(reqs[i].headers);
		}
	curl_multi_cleanup(multi);
	curl_slist_free_all(common);
	free(reqs);
	free(body);
	curl_global_cleanup();
	return ok == n ? 0 : 1;
}
