/*
 * commit_latency.c: COMMIT of a one-device push_send -> first byte of its request at the vendor.
 *
 *   commit_latency CONNINFO APP TOKEN MOCK_BASE CA_FILE N
 *
 * N times, one after the other: push_send(APP, a push to TOKEN's device with a unique alert) in
 * an autocommit statement; the wall clock (CLOCK_REALTIME) right after the statement returns is
 * the commit time. Then it waits (bounded) until the mock vendor's /_mock/last?token=TOKEN shows
 * that alert, takes the mock's received_at_us, and waits until the delivery is recorded before
 * the next send. Prints each latency in microseconds on stdout (one per line) and a summary on
 * stderr. Built by test/bench/bench_sending.sh with gcc -O2 ... -lpq -lcurl.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <libpq-fe.h>

typedef struct sink
{
	char	   *data;
	size_t		len;
} sink;

static size_t
collect(char *p, size_t s, size_t n, void *u)
{
	sink	   *b = u;
	size_t		add = s * n;

	b->data = realloc(b->data, b->len + add + 1);
	memcpy(b->data + b->len, p, add);
	b->len += add;
	b->data[b->len] = '\0';
	return add;
}

static long long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
cmp(const void *a, const void *b)
{
	long long	x = *(const long long *) a,
				y = *(const long long *) b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	PGconn	   *db;
	CURL	   *http;
	char		url[1024];
	int			n;
	long long  *lat;
	int			got = 0;

	if (argc != 7)
	{
		fprintf(stderr, "usage: commit_latency CONNINFO APP TOKEN MOCK_BASE CA_FILE N\n");
		return 2;
	}
	n = atoi(argv[6]);
	lat = calloc(n, sizeof(long long));
	db = PQconnectdb(argv[1]);
	if (PQstatus(db) != CONNECTION_OK)
	{
		fprintf(stderr, "%s", PQerrorMessage(db));
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	http = curl_easy_init();
	snprintf(url, sizeof(url), "%s/_mock/last?token=%s", argv[4], argv[3]);
	curl_easy_setopt(http, CURLOPT_URL, url);
	curl_easy_setopt(http, CURLOPT_CAINFO, argv[5]);
	curl_easy_setopt(http, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(http, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(http, CURLOPT_WRITEFUNCTION, collect);

	for (int i = 0; i < n; i++)
	{
		char		push[512];
		char		marker[64];
		const char *params[2] = {argv[2], push};
		PGresult   *res;
		long long	committed;
		long long	received = -1;
		char		task[128];

		snprintf(marker, sizeof(marker), "latency probe %d", i);
		snprintf(push, sizeof(push),
				 "{\"to\": {\"token\": [\"%s\"]}, \"body\": {\"platform\": \"ios\", "
				 "\"notification\": {\"alert\": \"%s\"}}}", argv[3], marker);
		res = PQexecParams(db, "SELECT pushplan.push_send($1, $2::jsonb)", 2, NULL, params,
						   NULL, NULL, 0);
		committed = now_us();
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "push_send: %s", PQerrorMessage(db));
			return 1;
		}
		snprintf(task, sizeof(task), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);

		/* the vendor side: at most 5 s, every 0.5 ms */
		for (int w = 0; w < 10000 && received < 0; w++)
		{
			sink		b = {NULL, 0};
			long		status = 0;

			curl_easy_setopt(http, CURLOPT_WRITEDATA, &b);
			if (curl_easy_perform(http) == CURLE_OK &&
				curl_easy_getinfo(http, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
				status == 200 && b.data && strstr(b.data, marker))
			{
				char	   *p = strstr(b.data, "\"received_at_us\":");

				if (p)
					received = atoll(p + strlen("\"received_at_us\":"));
			}
			free(b.data);
			if (received < 0)
				usleep(500);
		}
		if (received < 0)
		{
			fprintf(stderr, "send %d (task %s) did not reach the vendor within 5 s\n", i, task);
			continue;
		}
		lat[got++] = received - committed;
		printf("%lld\n", received - committed);

		/* the delivery recorded before the next send: at most 5 s */
		for (int w = 0; w < 1000; w++)
		{
			const char *tp[1] = {task};
			int			open;

			res = PQexecParams(db, "SELECT count(*) FROM pushplan.deliveries WHERE task_id = $1 "
							   "AND status IN ('queued', 'sending')", 1, NULL, tp, NULL, NULL, 0);
			open = PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : 1;
			PQclear(res);
			if (open == 0)
				break;
			usleep(5000);
		}
	}
	qsort(lat, got, sizeof(long long), cmp);
	if (got > 0)
		fprintf(stderr, "sends %d of %d: min %.2f ms, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
				got, n, lat[0] / 1000.0, lat[got / 2] / 1000.0, lat[got * 90 / 100] / 1000.0,
				lat[got * 99 / 100] / 1000.0, lat[got - 1] / 1000.0);
	curl_easy_cleanup(http);
	curl_global_cleanup();
	PQfinish(db);
	free(lat);
	return got == n ? 0 : 1;
}
