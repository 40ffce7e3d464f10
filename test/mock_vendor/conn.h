/*
 * conn.h: the connection object shared by conn.c and main.c.
 */
#ifndef CONN_H
#define CONN_H

#include <openssl/ssl.h>
#include <nghttp2/nghttp2.h>

#include "mock.h"

/* What an epoll item is: every item struct starts with this int. */
enum
{
	ITEM_LISTEN_TLS, ITEM_LISTEN_PLAIN, ITEM_LISTEN_UNTRUSTED, ITEM_LISTEN_SILENT, ITEM_SIGNAL, ITEM_CONN
};

typedef struct conn
{
	int			kind;			/* ITEM_CONN */
	int			fd;
	int			epfd;
	SSL		   *ssl;			/* NULL on the plain listener */
	bool		handshaking;
	bool		handshake_want_write;
	nghttp2_session *session;	/* HTTP/2; NULL for HTTP/1.1 */
	buf			in;				/* HTTP/1.1 input not yet parsed */
	buf			out;			/* bytes to write */
	size_t		out_off;
	request    *reqs;			/* live requests (streams) */
	request    *h1req;			/* the HTTP/1.1 request being answered */
	size_t		body_bytes;		/* request body bytes held */
	uint32_t	events;			/* epoll interest */
	bool		want_write;
	bool		read_paused;
	bool		close_after_write;
	bool		goaway_sent;	/* h2: the client closes, so no answer is lost to a reset */
	bool		stalled;		/* fault stall: nothing read or written any more */
	bool		in_recv;		/* inside the protocol parser: defer flushing */
	bool		in_parse;
	bool		dead;
	/*
	 * APNs: the key (and so the team) of the first valid provider token on this connection;
	 * APNs ties a connection to it (apns.c).  Points into cfg.
	 */
	const apns_key *apns_bound;
	bool		apns_two_teams; /* counted in conn_stats_apns_two_teams */
	bool		apns_two_keys;
	struct conn *prev,
			   *next;
} conn;

conn	   *conn_new(int epfd, int fd, SSL_CTX *ctx);
void		conn_event(conn *c);
void		conn_close(conn *c);
void		conn_stall(conn *c, request *r);
void		conn_free_dead(void);
void		conn_close_all(void);
void		respond(request *r);

#endif
