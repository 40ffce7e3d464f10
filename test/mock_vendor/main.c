/*
 * main.c: command line, TLS context, listeners, timers and the epoll loop of the mock
 * vendor server.
 *
 *   mock_vendor --listen 127.0.0.1:PORT [--listen 127.0.0.1:PORT ...] [--listen-plain 127.0.0.1:PORT] --cert F --key F
 *               --config F [--pid-file F]
 *               [--listen-untrusted 127.0.0.1:PORT --untrusted-cert F --untrusted-key F]
 *               [--listen-silent 127.0.0.1:PORT]
 *
 * The last two are whole-endpoint faults, for clients pointed at them: the untrusted listener
 * serves the vendors behind a certificate the client does not trust (its TLS handshake fails),
 * the silent one accepts TCP connections and never reads from them (no TLS handshake, no answer).
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
	int			kind;			/* ITEM_LISTEN_* / ITEM_SIGNAL */
	int			fd;
} listener;

long		listen_untrusted_accepted,
			listen_silent_accepted;

/*
 * The silent listener's connections: held open, never read, closed after STALL_CLOSE_MS (or
 * the oldest first when the ring is full), as a stalled connection is.
 */
#define SILENT_MAX 1024
static struct
{
	int			fd;
	uint64_t	since_ms;
} silent[SILENT_MAX];
static int	silent_next;

void		apns_cache_free(void);

/* the same vendors on several ports: clients keep one connection per port, as per vendor host */
#define MAX_TLS_LISTENERS 32

static SSL_CTX *ssl_ctx;
static SSL_CTX *untrusted_ctx;
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
		if (l->kind == ITEM_LISTEN_SILENT)
		{
			if (silent[silent_next].fd > 0)
				close(silent[silent_next].fd);
			silent[silent_next].fd = fd;
			silent[silent_next].since_ms = now_ms();
			silent_next = (silent_next + 1) % SILENT_MAX;
			listen_silent_accepted++;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (l->kind == ITEM_LISTEN_UNTRUSTED)
			listen_untrusted_accepted++;
		conn_new(epfd, fd, l->kind == ITEM_LISTEN_TLS ? ssl_ctx :
				 l->kind == ITEM_LISTEN_UNTRUSTED ? untrusted_ctx : NULL);
	}
}

static void
silent_close(bool all)
{
	uint64_t	now = now_ms();

	for (int i = 0; i < SILENT_MAX; i++)
		if (silent[i].fd > 0 && (all || now - silent[i].since_ms >= STALL_CLOSE_MS))
		{
			close(silent[i].fd);
			silent[i].fd = 0;
		}
}

static void
listen_add(int epfd, listener *l)
{
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = l};

	epoll_ctl(epfd, EPOLL_CTL_ADD, l->fd, &e);
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: mock_vendor --listen HOST:PORT [--listen HOST:PORT ...] [--listen-plain HOST:PORT] --cert FILE --key FILE\n"
			"                   --config FILE [--pid-file FILE]\n"
			"                   [--listen-untrusted HOST:PORT --untrusted-cert FILE --untrusted-key FILE]\n"
			"                   [--listen-silent HOST:PORT]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *listen_tls[MAX_TLS_LISTENERS] = {0},
			   *listen_plain = NULL,
			   *cert = NULL,
			   *key = NULL,
			   *config_path = NULL,
			   *pid_file = NULL,
			   *listen_untrusted = NULL,
			   *untrusted_cert = NULL,
			   *untrusted_key = NULL,
			   *listen_silent = NULL;
	listener	ltls[MAX_TLS_LISTENERS];
	int			ntls = 0;
	listener	lplain = {ITEM_LISTEN_PLAIN, -1},
				luntrusted = {ITEM_LISTEN_UNTRUSTED, -1},
				lsilent = {ITEM_LISTEN_SILENT, -1},
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
		{
			if (ntls == MAX_TLS_LISTENERS)
				usage();
			listen_tls[ntls++] = v;
		}
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
		else if (strcmp(argv[i], "--listen-untrusted") == 0)
			listen_untrusted = v;
		else if (strcmp(argv[i], "--untrusted-cert") == 0)
			untrusted_cert = v;
		else if (strcmp(argv[i], "--untrusted-key") == 0)
			untrusted_key = v;
		else if (strcmp(argv[i], "--listen-silent") == 0)
			listen_silent = v;
		else
			usage();
	}
	if (ntls == 0 || cert == NULL || key == NULL || config_path == NULL ||
		(listen_untrusted && (untrusted_cert == NULL || untrusted_key == NULL)))
		usage();
	if (config_load(config_path) != 0)
		return 1;
	access_token_init();
	ssl_ctx = make_ssl_ctx(cert, key);
	if (ssl_ctx == NULL)
		return 1;
	if (listen_untrusted && (untrusted_ctx = make_ssl_ctx(untrusted_cert, untrusted_key)) == NULL)
		return 1;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	lsig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

	epfd = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < ntls; i++)
	{
		ltls[i].kind = ITEM_LISTEN_TLS;
		if ((ltls[i].fd = listen_on(listen_tls[i])) < 0)
		{
			fprintf(stderr, "mock_vendor: cannot listen on %s\n", listen_tls[i]);
			return 1;
		}
	}
	if ((listen_plain && (lplain.fd = listen_on(listen_plain)) < 0) ||
		(listen_untrusted && (luntrusted.fd = listen_on(listen_untrusted)) < 0) ||
		(listen_silent && (lsilent.fd = listen_on(listen_silent)) < 0))
	{
		fprintf(stderr, "mock_vendor: cannot listen\n");
		return 1;
	}
	for (int i = 0; i < ntls; i++)
		listen_add(epfd, &ltls[i]);
	if (lplain.fd >= 0)
		listen_add(epfd, &lplain);
	if (luntrusted.fd >= 0)
		listen_add(epfd, &luntrusted);
	if (lsilent.fd >= 0)
		listen_add(epfd, &lsilent);
	e.events = EPOLLIN;
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
		silent_close(false);
	}

	conn_close_all();
	for (int i = 0; i < ntls; i++)
		close(ltls[i].fd);
	if (lplain.fd >= 0)
		close(lplain.fd);
	if (luntrusted.fd >= 0)
		close(luntrusted.fd);
	if (lsilent.fd >= 0)
		close(lsilent.fd);
	silent_close(true);
	close(lsig.fd);
	if (untrusted_ctx)
		SSL_CTX_free(untrusted_ctx);
	close(epfd);
	SSL_CTX_free(ssl_ctx);
	stats_free();
	apns_cache_free();
	config_free();
	if (pid_file)
		unlink(pid_file);
	return 0;
}
