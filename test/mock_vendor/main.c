/*
 * main.c: command line, TLS context, listeners, timers and the epoll loop of the mock
 * vendor server.
 *
 *   mock_vendor --listen 127.0.0.1:PORT [--listen-plain 127.0.0.1:PORT] --cert F --key F
 *               --config F [--pid-file F]
 *
 * Prints "ready" on stdout once every listener accepts; exits cleanly on SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mock.h"
#include "conn.h"

typedef struct listener
{
	int			kind;			/* ITEM_LISTEN_TLS / ITEM_LISTEN_PLAIN / ITEM_SIGNAL */
	int			fd;
} listener;

void		apns_cache_free(void);

static SSL_CTX *ssl_ctx;
static request *timers;			/* sorted by due time */
static request *timers_tail;

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- timers: a sorted list; delays are few and mostly equal, so insert from the tail ---- */

void
timer_add(request *r, int delay_ms)
{
	request    *p;

	timer_remove(r);
	r->due_ms = now_ms() + delay_ms;
	r->timed = true;
	for (p = timers_tail; p && p->due_ms > r->due_ms; p = p->tprev)
		;
	r->tprev = p;
	r->tnext = p ? p->tnext : timers;
	if (r->tnext)
		r->tnext->tprev = r;
	else
		timers_tail = r;
	if (p)
		p->tnext = r;
	else
		timers = r;
}

void
timer_remove(request *r)
{
	if (!r->timed)
		return;
	if (r->tprev)
		r->tprev->tnext = r->tnext;
	else
		timers = r->tnext;
	if (r->tnext)
		r->tnext->tprev = r->tprev;
	else
		timers_tail = r->tprev;
	r->tprev = r->tnext = NULL;
	r->timed = false;
}

static int
timers_timeout(void)
{
	uint64_t	now;

	if (timers == NULL)
		return -1;
	now = now_ms();
	return timers->due_ms <= now ? 0 : (int) (timers->due_ms - now);
}

static void
timers_run(void)
{
	uint64_t	now = now_ms();

	while (timers && timers->due_ms <= now)
	{
		request    *r = timers;

		timer_remove(r);
		if (r->act == ACT_STALL)
			conn_close(r->conn);	/* the stall is over: the connection ends unanswered */
		else
			respond(r);
	}
}

/* ---- setup ---- */

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
			const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x02h2\x08http/1.1";
	unsigned char *o;

	(void) ssl;
	(void) arg;
	if (SSL_select_next_proto(&o, outlen, ours, sizeof(ours) - 1, in, inlen) !=
		OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;	/* no common protocol: speak HTTP/1.1 */
	*out = o;
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *
make_ssl_ctx(const char *cert, const char *key)
{
	SSL_CTX    *ctx = SSL_CTX_new(TLS_server_method());

	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
		SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
		SSL_CTX_check_private_key(ctx) != 1)
	{
		ERR_print_errors_fp(stderr);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return ctx;
}

static int
listen_on(const char *addr)
{
	char		host[64];
	const char *colon = strrchr(addr, ':');
	struct sockaddr_in sa = {0};
	int			fd,
				one = 1;

	if (colon == NULL || (size_t) (colon - addr) >= sizeof(host))
		return -1;
	memcpy(host, addr, colon - addr);
	host[colon - addr] = '\0';
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t) atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0 || listen(fd, 1024) != 0)
	{
		perror("mock_vendor: bind/listen");
		close(fd);
		return -1;
	}
	return fd;
}

static void
accept_all(int epfd, listener *l)
{
	for (;;)
	{
		int			one = 1;
		int			fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;				/* EAGAIN, or a transient error: try on the next event */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		conn_new(epfd, fd, l->kind == ITEM_LISTEN_TLS ? ssl_ctx : NULL);
	}
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: mock_vendor --listen HOST:PORT [--listen-plain HOST:PORT] --cert FILE --key FILE\n"
			"                   --config FILE [--pid-file FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *listen_tls = NULL,
			   *listen_plain = NULL,
			   *cert = NULL,
			   *key = NULL,
			   *config_path = NULL,
			   *pid_file = NULL;
	listener	ltls = {ITEM_LISTEN_TLS, -1},
				lplain = {ITEM_LISTEN_PLAIN, -1},
				lsig = {ITEM_SIGNAL, -1};
	int			epfd;
	sigset_t	mask;
	struct epoll_event e;
	bool		stop = false;

	for (int i = 1; i < argc; i += 2)
	{
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			usage();
		if (strcmp(argv[i], "--listen") == 0)
			listen_tls = v;
		else if (strcmp(argv[i], "--listen-plain") == 0)
			listen_plain = v;
		else if (strcmp(argv[i], "--cert") == 0)
			cert = v;
		else if (strcmp(argv[i], "--key") == 0)
			key = v;
		else if (strcmp(argv[i], "--config") == 0)
			config_path = v;
		else if (strcmp(argv[i], "--pid-file") == 0)
			pid_file = v;
		else
			usage();
	}
	if (listen_tls == NULL || cert == NULL || key == NULL || config_path == NULL)
		usage();
	if (config_load(config_path) != 0)
		return 1;
	access_token_init();
	ssl_ctx = make_ssl_ctx(cert, key);
	if (ssl_ctx == NULL)
		return 1;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	lsig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

	epfd = epoll_create1(EPOLL_CLOEXEC);
	ltls.fd = listen_on(listen_tls);
	if (ltls.fd < 0 || (listen_plain && (lplain.fd = listen_on(listen_plain)) < 0))
	{
		fprintf(stderr, "mock_vendor: cannot listen\n");
		return 1;
	}
	e.events = EPOLLIN;
	e.data.ptr = &ltls;
	epoll_ctl(epfd, EPOLL_CTL_ADD, ltls.fd, &e);
	if (lplain.fd >= 0)
	{
		e.data.ptr = &lplain;
		epoll_ctl(epfd, EPOLL_CTL_ADD, lplain.fd, &e);
	}
	e.data.ptr = &lsig;
	epoll_ctl(epfd, EPOLL_CTL_ADD, lsig.fd, &e);

	if (pid_file)
	{
		FILE	   *f = fopen(pid_file, "w");

		if (f)
		{
			fprintf(f, "%d\n", (int) getpid());
			fclose(f);
		}
	}
	printf("ready\n");
	fflush(stdout);

	while (!stop)
	{
		struct epoll_event evs[256];
		int			n = epoll_wait(epfd, evs, 256, timers_timeout());

		if (n < 0 && errno != EINTR)
		{
			perror("mock_vendor: epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++)
		{
			int			kind = *(int *) evs[i].data.ptr;

			if (kind == ITEM_CONN)
				conn_event(evs[i].data.ptr);
			else if (kind == ITEM_SIGNAL)
				stop = true;
			else
				accept_all(epfd, evs[i].data.ptr);
		}
		timers_run();
		conn_free_dead();
	}

	conn_close_all();
	close(ltls.fd);
	if (lplain.fd >= 0)
		close(lplain.fd);
	close(lsig.fd);
	close(epfd);
	SSL_CTX_free(ssl_ctx);
	stats_free();
	apns_cache_free();
	config_free();
	if (pid_file)
		unlink(pid_file);
	return 0;
}
