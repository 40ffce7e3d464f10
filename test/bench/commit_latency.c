/*
 * commit_latency.c: COMMIT of a one-device push_send -> first byte of its request at the vendor.
 *
 *   commit_latency CONNINFO APP TOKEN MOCK_BASE CA_FILE N [PACE_MS]
 *
 * N times, one after the other: push_send(APP, a push to TOKEN's device with a unique alert) in
 * an autocommit statement; the server's clock (clock_timestamp(), CLOCK_REALTIME as the mock's)
 * at the end of that statement is the commit time: the commit follows at once, and no sender
 * can see the push before it. (The client's clock once the statement has returned was later by
 * however long the client waited to run again: on a busy machine several milliseconds, and the
 * mock then saw some pushes "before" their commit.) Then it waits (bounded) until the mock vendor's /_mock/last?token=TOKEN shows
 * that alert, takes the mock's received_at_us, and waits until the delivery is recorded before
 * the next send. Prints each latency in microseconds on stdout (one per line) and a summary on
 * stderr. Built by test/bench/bench_sending.sh with gcc -O2 ... -lpq -lcurl.
 *
 * With PACE_MS (paced: while a broadcast is being sent), the sends go to the devices of tokens
 * TOKEN-0 .. TOKEN-<N-1>, one every PACE_MS, without looking at the vendor in between (asking it
 * every half millisecond would take CPU from the broadcast being measured); once all are sent,
 * each token's arrival is read from the mock (bounded), and the time is split at the start of
 * the claim that took each delivery (stderr, "breakdown").
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

/* The mock's arrival time (received_at_us) of the last request to token, if it carries marker; -1 if not. */
static long long
arrival(CURL *http, const char *base, const char *token, const char *marker)
{
	char		url[1024];
	sink		b = {NULL, 0};
	long		status = 0;
	long long	received = -1;

	snprintf(url, sizeof(url), "%s/_mock/last?token=%s", base, token);
	curl_easy_setopt(http, CURLOPT_URL, url);
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
	return received;
}

/* push_send(app, a push to token with alert marker) in autocommit; returns the task id or NULL */
static char *
send_one(PGconn *db, const char *app, const char *token, const char *marker, long long *committed)
{
	char		push[512];
	const char *params[2] = {app, push};
	PGresult   *res;
	char	   *task;

	snprintf(push, sizeof(push),
			 "{\"to\": {\"token\": [\"%s\"]}, \"body\": {\"platform\": \"ios\", "
			 "\"notification\": {\"alert\": \"%s\"}}}", token, marker);
	res = PQexecParams(db, "SELECT pushplan.push_send($1, $2::jsonb), "
					   "(extract(epoch FROM clock_timestamp()) * 1000000)::int8",
					   2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "push_send: %s", PQerrorMessage(db));
		PQclear(res);
		return NULL;
	}
	task = strdup(PQgetvalue(res, 0, 0));
	*committed = atoll(PQgetvalue(res, 0, 1));
	PQclear(res);
	return task;
}

/* Paced mode: n sends to tokens prefix-i, one every pace_ms; then their arrivals. */
static int
paced(PGconn *db, CURL *http, char **argv, int n, int pace_ms, long long *lat)
{
	long long  *committed = calloc(n, sizeof(long long));
	long long	start = now_us();
	int			got = 0;
	char		token[256];
	char		marker[64];
	char	  **tasks = calloc(n, sizeof(char *));
	long long  *wake = calloc(n, sizeof(long long));	/* COMMIT -> the claim's start */
	long long  *go = calloc(n, sizeof(long long));	/* the claim's start -> arrival */
	int			split = 0;

	for (int i = 0; i < n; i++)
	{
		long long	due = start + (long long) i * pace_ms * 1000;

		if (now_us() < due)
			usleep((useconds_t) (due - now_us()));
		snprintf(token, sizeof(token), "%s-%d", argv[3], i);
		snprintf(marker, sizeof(marker), "paced probe %d", i);
		if ((tasks[i] = send_one(db, argv[2], token, marker, &committed[i])) == NULL)
			return got;
	}
	for (int i = 0; i < n; i++)
	{
		long long	received = -1;

		snprintf(token, sizeof(token), "%s-%d", argv[3], i);
		snprintf(marker, sizeof(marker), "paced probe %d", i);
		/* at most 10 s for the last ones */
		for (int w = 0; w < 1000 && received < 0; w++)
		{
			received = arrival(http, argv[4], token, marker);
			if (received < 0)
				usleep(10000);
		}
		if (received < 0)
		{
			fprintf(stderr, "paced send %d did not reach the vendor\n", i);
			continue;
		}
		lat[got++] = received - committed[i];
		printf("%lld\n", received - committed[i]);

		/*
		 * Where the time went: the delivery's claimed_at is the start of the claim's
		 * transaction (now()), so COMMIT -> claim start is the wake-up of a sender, and claim
		 * start -> arrival the claim, the request's building and its way to the vendor.
		 */
		{
			const char *params[1] = {tasks[i]};
			PGresult   *res = PQexecParams(db, "SELECT (extract(epoch FROM claimed_at) * 1000000)::int8 "
										   "FROM pushplan.deliveries WHERE task_id = $1",
										   1, NULL, params, NULL, NULL, 0);

			if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
			{
				long long	claimed = atoll(PQgetvalue(res, 0, 0));

				wake[split] = claimed - committed[i];
				go[split++] = received - claimed;
			}
			PQclear(res);
		}
	}
	if (split > 0)
	{
		qsort(wake, split, sizeof(long long), cmp);
		qsort(go, split, sizeof(long long), cmp);
		fprintf(stderr, "breakdown of %d: COMMIT -> claim start p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; "
				"claim start -> arrival p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", split,
				wake[split / 2] / 1000.0, wake[split * 90 / 100] / 1000.0, wake[split * 99 / 100] / 1000.0,
				wake[split - 1] / 1000.0, go[split / 2] / 1000.0, go[split * 90 / 100] / 1000.0,
				go[split * 99 / 100] / 1000.0, go[split - 1] / 1000.0);
	}
	for (int i = 0; i < n; i++)
		free(tasks[i]);
	free(tasks);
	free(wake);
	free(go);
	free(committed);
	return got;
}

int
main(int argc, char **argv)
{
	PGconn	   *db;
	CURL	   *http;
	int			n;
	long long  *lat;
	int			got = 0;

	if (argc != 7 && argc != 8)
	{
		fprintf(stderr, "usage: commit_latency CONNINFO APP TOKEN MOCK_BASE CA_FILE N [PACE_MS]\n");
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
	curl_easy_setopt(http, CURLOPT_CAINFO, argv[5]);
	curl_easy_setopt(http, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(http, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(http, CURLOPT_WRITEFUNCTION, collect);

	if (argc == 8)
		got = paced(db, http, argv, n, atoi(argv[7]), lat);
	else
		for (int i = 0; i < n; i++)
		{
			char		marker[64];
			char	   *task;
			long long	committed;
			long long	received = -1;

			snprintf(marker, sizeof(marker), "latency probe %d", i);
			if ((task = send_one(db, argv[2], argv[3], marker, &committed)) == NULL)
				return 1;
			/* the vendor side: at most 5 s, every 0.5 ms */
			for (int w = 0; w < 10000 && received < 0; w++)
			{
				received = arrival(http, argv[4], argv[3], marker);
				if (received < 0)
					usleep(500);
			}
			if (received < 0)
			{
				fprintf(stderr, "send %d (task %s) did not reach the vendor within 5 s\n", i, task);
				free(task);
				continue;
			}
			lat[got++] = received - committed;
			printf("%lld\n", received - committed);

			/* the delivery recorded before the next send: at most 5 s */
			for (int w = 0; w < 1000; w++)
			{
				const char *tp[1] = {task};
				PGresult   *res;
				int			open;

				res = PQexecParams(db, "SELECT count(*) FROM pushplan.deliveries WHERE task_id = $1 "
								   "AND status IN ('queued', 'sending')", 1, NULL, tp, NULL, NULL, 0);
				open = PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : 1;
				PQclear(res);
				if (open == 0)
					break;
				usleep(5000);
			}
			free(task);
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
