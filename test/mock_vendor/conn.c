/*
 * conn.c: one client connection: TLS (ALPN h2 or http/1.1) or plain TCP, an nghttp2 server
 * session or a small HTTP/1.1 keep-alive parser, and the bounded output buffer.
 *
 * Memory per connection is bounded: at most MAX_STREAMS concurrent streams, request bodies
 * buffered up to MAX_CONN_BODY_BYTES in all, and reading pauses while OUTBUF_HIGH bytes of
 * answers wait to be written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mock.h"
#include "conn.h"

long		conn_stats_accepted,
			conn_stats_open,
			conn_stats_h2,
			conn_stats_http1;

static conn *all_conns;			/* every live connection */
static conn *dead_conns;		/* closed during this loop turn, freed after it */

/* ---- request helpers ---- */

const char *
req_header(const request *r, const char *name)
{
	size_t		pos = 0;
	const char *n,
			   *v;

	while (req_header_next(r, &pos, &n, &v))
		if (strcasecmp(n, name) == 0)
			return v;
	return NULL;
}

bool
req_header_next(const request *r, size_t *pos, const char **name, const char **value)
{
	if (*pos >= r->hbuf.len)
		return false;
	*name = r->hbuf.data + *pos;
	*value = *name + strlen(*name) + 1;
	*pos = (*value + strlen(*value) + 1) - r->hbuf.data;
	return true;
}

static void
req_add_header(request *r, const char *n, size_t nl, const char *v, size_t vl)
{
	if (r->hbuf.len + nl + vl + 2 > MAX_HEADER_BYTES)
	{
		r->header_too_large = true;
		return;
	}
	buf_reserve(&r->hbuf, nl + vl + 2);
	for (size_t i = 0; i < nl; i++)
		r->hbuf.data[r->hbuf.len++] = (n[i] >= 'A' && n[i] <= 'Z') ? n[i] + 32 : n[i];
	r->hbuf.data[r->hbuf.len++] = '\0';
	memcpy(r->hbuf.data + r->hbuf.len, v, vl);
	r->hbuf.len += vl;
	r->hbuf.data[r->hbuf.len++] = '\0';
	r->nhdr++;
}

void
resp_header(request *r, const char *name, const char *value)
{
	if (r->no_retry_after && strcasecmp(name, "retry-after") == 0)
		return;
	for (int i = 0; i < r->nrh; i++)
		if (strcasecmp(r->rh[i].name, name) == 0)
		{
			free(r->rh[i].value);
			r->rh[i].value = strdup(value);
			return;
		}
	if (r->nrh == (int) (sizeof(r->rh) / sizeof(r->rh[0])))
		return;
	r->rh[r->nrh].name = strdup(name);
	r->rh[r->nrh].value = strdup(value);
	r->nrh++;
}

void
resp_json(request *r, int status, const char *body)
{
	r->status = status;
	buf_reset(&r->resp);
	buf_puts(&r->resp, body);
	resp_header(r, "content-type", "application/json");
}

static request *
request_new(conn *c)
{
	request    *r = calloc(1, sizeof(request));
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	r->received_at_us = (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	r->conn = c;
	r->cnext = c->reqs;
	if (c->reqs)
		c->reqs->cprev = r;
	c->reqs = r;
	return r;
}

void
request_free(request *r)
{
	conn	   *c = r->conn;

	timer_remove(r);
	if (r->cprev)
		r->cprev->cnext = r->cnext;
	else if (c->reqs == r)
		c->reqs = r->cnext;
	if (r->cnext)
		r->cnext->cprev = r->cprev;
	c->body_bytes -= r->body.len;
	free(r->method);
	free(r->path);
	buf_free(&r->hbuf);
	buf_free(&r->body);
	buf_free(&r->resp);
	for (int i = 0; i < r->nrh; i++)
	{
		free(r->rh[i].name);
		free(r->rh[i].value);
	}
	free(r);
}

/* ---- raw I/O over TLS or TCP: >0 bytes, 0 would block, -1 closed or failed ---- */

static ssize_t
io_read(conn *c, void *p, size_t n)
{
	if (c->ssl)
	{
		int			k = SSL_read(c->ssl, p, (int) n);

		if (k > 0)
			return k;
		switch (SSL_get_error(c->ssl, k))
		{
			case SSL_ERROR_WANT_READ:
				return 0;
			case SSL_ERROR_WANT_WRITE:
				c->want_write = true;
				return 0;
			default:
				ERR_clear_error();
				return -1;
		}
	}
	else
	{
		ssize_t		k = read(c->fd, p, n);

		if (k > 0)
			return k;
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		return -1;
	}
}

static ssize_t
io_write(conn *c, const void *p, size_t n)
{
	if (c->ssl)
	{
		int			k = SSL_write(c->ssl, p, (int) n);

		if (k > 0)
			return k;
		switch (SSL_get_error(c->ssl, k))
		{
			case SSL_ERROR_WANT_WRITE:
			case SSL_ERROR_WANT_READ:
				return 0;
			default:
				ERR_clear_error();
				return -1;
		}
	}
	else
	{
		ssize_t		k = write(c->fd, p, n);

		if (k >= 0)
			return k;
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return -1;
	}
}

/* ---- closing ---- */

void
conn_close(conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	/* unlink from the live list, push on the dead list */
	if (c->prev)
		c->prev->next = c->next;
	else
		all_conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = dead_conns;
	dead_conns = c;
	for (request *r = c->reqs; r; r = r->cnext)
		timer_remove(r);
}

static void
conn_free(conn *c)
{
	if (c->session)
		nghttp2_session_del(c->session);	/* frees streams without callbacks */
	while (c->reqs)
		request_free(c->reqs);
	if (c->ssl)
		SSL_free(c->ssl);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	conn_stats_open--;
	free(c);
}

void
conn_free_dead(void)
{
	while (dead_conns)
	{
		conn	   *c = dead_conns;

		dead_conns = c->next;
		conn_free(c);
	}
}

void
conn_close_all(void)
{
	while (all_conns)
		conn_close(all_conns);
	conn_free_dead();
}

/* ---- responses ---- */

static ssize_t
data_read(nghttp2_session *s, int32_t sid, uint8_t *out, size_t len, uint32_t *flags,
		  nghttp2_data_source *src, void *ud)
{
	request    *r = src->ptr;
	size_t		n = r->resp.len - r->resp_off;

	(void) s;
	(void) sid;
	(void) ud;
	if (n > len)
		n = len;
	memcpy(out, r->resp.data + r->resp_off, n);
	r->resp_off += n;
	if (r->resp_off == r->resp.len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t) n;
}

static const char *
reason_phrase(int s)
{
	switch (s)
	{
		case 200:
			return "OK";
		case 400:
			return "Bad Request";
		case 401:
			return "Unauthorized";
		case 403:
			return "Forbidden";
		case 404:
			return "Not Found";
		case 405:
			return "Method Not Allowed";
		case 410:
			return "Gone";
		case 413:
			return "Payload Too Large";
		case 414:
			return "URI Too Long";
		case 429:
			return "Too Many Requests";
		case 431:
			return "Request Header Fields Too Large";
		case 500:
			return "Internal Server Error";
		case 501:
			return "Not Implemented";
		case 503:
			return "Service Unavailable";
		case 505:
			return "HTTP Version Not Supported";
		default:
			return "Status";
	}
}

static void h1_parse(conn *c);
static void conn_flush(conn *c);

void
respond(request *r)
{
	conn	   *c = r->conn;
	char		st[8],
				cl[24];

	if (c->dead || c->stalled || r->answered)
		return;
	r->answered = true;
	if (r->status == 0)
		resp_json(r, 500, "{\"error\":\"no answer\"}");
	snprintf(st, sizeof(st), "%d", r->status);
	snprintf(cl, sizeof(cl), "%zu", r->resp.len);
	if (r->http2)
	{
		nghttp2_nv	nva[12];
		size_t		n = 0;

#define NV(N, V) do { nva[n].name = (uint8_t *) (N); nva[n].namelen = strlen(N); \
	nva[n].value = (uint8_t *) (V); nva[n].valuelen = strlen(V); \
	nva[n].flags = NGHTTP2_NV_FLAG_NONE; n++; } while (0)
		NV(":status", st);
		for (int i = 0; i < r->nrh; i++)
			NV(r->rh[i].name, r->rh[i].value);
		NV("content-length", cl);
#undef NV
		nghttp2_data_provider prd;

		prd.source.ptr = r;
		prd.read_callback = data_read;
		nghttp2_submit_response(c->session, r->stream_id, nva, n, r->resp.len ? &prd : NULL);
		if (r->act == ACT_GOAWAY)
		{
			nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
								  nghttp2_session_get_last_proc_stream_id(c->session),
								  NGHTTP2_NO_ERROR, NULL, 0);
			c->goaway_sent = true;
		}
		if (!c->in_recv)
			conn_flush(c);
	}
	else
	{
		buf_printf(&c->out, "HTTP/1.1 %d %s\r\n", r->status, reason_phrase(r->status));
		for (int i = 0; i < r->nrh; i++)
			buf_printf(&c->out, "%s: %s\r\n", r->rh[i].name, r->rh[i].value);
		if (r->act == ACT_GOAWAY || c->close_after_write)
		{
			buf_puts(&c->out, "connection: close\r\n");
			c->close_after_write = true;
		}
		buf_printf(&c->out, "content-length: %zu\r\n\r\n", r->resp.len);
		buf_append(&c->out, r->resp.data ? r->resp.data : "", r->resp.len);
		c->h1req = NULL;
		request_free(r);
		if (!c->close_after_write)
			h1_parse(c);
		if (!c->in_recv)
			conn_flush(c);
	}
}

/*
 * The fault stall: from now on the connection is neither read nor written (no SSL_read, no
 * answer to any of its streams, not even to those already due), so the client's TCP send window
 * fills as a vendor's that stops reading.  It ends when the client closes the connection (epoll
 * still reports hang-ups and errors) or, at the latest, after STALL_CLOSE_MS (r's timer).
 */
void
conn_stall(conn *c, request *r)
{
	struct epoll_event e;

	c->stalled = true;
	c->events = EPOLLRDHUP;
	e.events = c->events;
	e.data.ptr = c;
	epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->fd, &e);
	timer_add(r, STALL_CLOSE_MS);
}

static void
dispatch(request *r)
{
	if (r->conn->stalled)
		return;					/* read in the same chunk as the stall: never seen */
	if (r->header_too_large)
	{
		resp_json(r, 431, "{\"error\":\"request header too large\"}");
		respond(r);
		return;
	}
	handle_request(r);
	if (r->act == ACT_DROP)
	{
		conn_close(r->conn);
		return;
	}
	if (r->act == ACT_STALL)
	{
		conn_stall(r->conn, r);
		return;
	}
	if (r->delay_ms > 0)
		timer_add(r, r->delay_ms);
	else
		respond(r);
}

/* ---- HTTP/2 ---- */

static int
on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	conn	   *c = ud;
	request    *r;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	r = request_new(c);
	r->stream_id = f->hd.stream_id;
	r->http2 = true;
	nghttp2_session_set_stream_user_data(s, f->hd.stream_id, r);
	return 0;
}

static int
on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
		  const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	request    *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);

	(void) flags;
	(void) ud;
	if (r == NULL || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (nl == 7 && memcmp(name, ":method", 7) == 0)
		r->method = strndup((const char *) value, vl);
	else if (nl == 5 && memcmp(name, ":path", 5) == 0)
		r->path = strndup((const char *) value, vl);
	else
		req_add_header(r, (const char *) name, nl, (const char *) value, vl);
	return 0;
}

static int
on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len,
			  void *ud)
{
	conn	   *c = ud;
	request    *r = nghttp2_session_get_stream_user_data(s, sid);

	(void) flags;
	if (r == NULL || r->body_too_large)
		return 0;
	if (r->body.len + len > MAX_BODY || c->body_bytes + len > MAX_CONN_BODY_BYTES)
	{
		/* keep nothing more; the handler answers 413 (or its vendor's equivalent) */
		r->body_too_large = true;
		c->body_bytes -= r->body.len;
		buf_free(&r->body);
		return 0;
	}
	buf_append(&r->body, data, len);
	c->body_bytes += len;
	return 0;
}

static int
on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	conn	   *c = ud;
	request    *r;

	if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
		!(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (r == NULL || r->answered || r->timed)
		return 0;
	if (r->method == NULL || r->path == NULL)
	{
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_PROTOCOL_ERROR);
		return 0;
	}
	dispatch(r);
	return c->dead ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int
on_stream_close(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
	request    *r = nghttp2_session_get_stream_user_data(s, sid);

	(void) code;
	(void) ud;
	if (r)
	{
		nghttp2_session_set_stream_user_data(s, sid, NULL);
		request_free(r);
	}
	return 0;
}

static bool
h2_start(conn *c)
{
	nghttp2_session_callbacks *cb;
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS},
		{NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_BYTES},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
	};
	int			rc;

	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	rc = nghttp2_session_server_new(&c->session, cb, c);
	nghttp2_session_callbacks_del(cb);
	if (rc != 0)
		return false;
	return nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv,
								   sizeof(iv) / sizeof(iv[0])) == 0;
}

/* ---- HTTP/1.1 ---- */

static void
h1_fail(conn *c, int status, const char *body)
{
	request    *r = request_new(c);

	r->method = strdup("?");
	r->path = strdup("?");
	c->close_after_write = true;
	c->h1req = r;
	resp_json(r, status, body);
	respond(r);
}

/* Parses and dispatches complete requests, one at a time (answers keep request order). */
static void
h1_parse(conn *c)
{
	if (c->in_parse)
		return;					/* the loop below goes on when the answer is out */
	c->in_parse = true;
	while (!c->dead && c->h1req == NULL && !c->close_after_write && c->in.len > 0)
	{
		char	   *end = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
		char	   *head,
				   *line,
				   *p,
				   *sp1,
				   *sp2;
		size_t		hlen;
		long		clen = 0;
		bool		chunked = false,
					close = false;
		request    *r;

		if (end == NULL)
		{
			if (c->in.len > MAX_HEADER_BYTES)
				h1_fail(c, 431, "{\"error\":\"request header too large\"}");
			break;
		}
		hlen = end + 4 - c->in.data;
		head = strndup(c->in.data, hlen - 4);
		line = head;
		p = strstr(line, "\r\n");
		if (p)
		{
			*p = '\0';
			p += 2;
		}
		sp1 = strchr(line, ' ');
		sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
		if (sp1 == NULL || sp2 == NULL || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
		{
			free(head);
			h1_fail(c, 400, "{\"error\":\"bad request line\"}");
			break;
		}
		r = request_new(c);
		r->method = strndup(line, sp1 - line);
		r->path = strndup(sp1 + 1, sp2 - sp1 - 1);
		if (strcmp(sp2 + 1, "HTTP/1.0") == 0)
			close = true;
		while (p && *p)
		{
			char	   *eol = strstr(p, "\r\n");
			char	   *colon;
			char	   *v;

			if (eol)
				*eol = '\0';
			colon = strchr(p, ':');
			if (colon)
			{
				*colon = '\0';
				v = colon + 1;
				while (*v == ' ' || *v == '\t')
					v++;
				req_add_header(r, p, strlen(p), v, strlen(v));
				if (strcasecmp(p, "content-length") == 0)
					clen = atol(v);
				else if (strcasecmp(p, "transfer-encoding") == 0)
					chunked = true;
				else if (strcasecmp(p, "connection") == 0 && strcasecmp(v, "close") == 0)
					close = true;
			}
			p = eol ? eol + 2 : NULL;
		}
		free(head);
		if (chunked || clen < 0 || clen > MAX_BODY)
		{
			request_free(r);
			if (chunked)
				h1_fail(c, 501, "{\"error\":\"chunked request bodies are not supported\"}");
			else
				h1_fail(c, 413, "{\"error\":\"body too large\"}");
			break;
		}
		if (c->in.len < hlen + (size_t) clen)
		{
			/* wait for the whole body; the head is parsed again then */
			request_free(r);
			break;
		}
		if (close)
			c->close_after_write = true;
		buf_append(&r->body, c->in.data + hlen, clen);
		c->body_bytes += clen;
		buf_consume(&c->in, hlen + clen);
		c->h1req = r;
		dispatch(r);
	}
	c->in_parse = false;
}

/* ---- driving a connection ---- */

static bool
should_pause(const conn *c)
{
	return (c->out.len - c->out_off) >= OUTBUF_HIGH || c->in.len > MAX_HEADER_BYTES + MAX_BODY;
}

static void
update_events(conn *c)
{
	uint32_t	ev = 0;
	struct epoll_event e;

	if (c->dead || c->stalled)
		return;
	c->read_paused = should_pause(c);
	if (!c->read_paused)
		ev |= EPOLLIN;
	if (c->want_write || c->handshake_want_write)
		ev |= EPOLLOUT;
	if (ev == c->events)
		return;
	e.events = ev;
	e.data.ptr = c;
	epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->fd, &e);
	c->events = ev;
}

static void
conn_flush(conn *c)
{
	if (c->stalled)
		return;
	while (!c->dead)
	{
		ssize_t		n;

		if (c->out_off >= c->out.len)
		{
			buf_reset(&c->out);
			c->out_off = 0;
			while (c->session && c->out.len < OUTBUF_HIGH)
			{
				const uint8_t *d;
				ssize_t		k = nghttp2_session_mem_send(c->session, &d);

				if (k < 0)
				{
					conn_close(c);
					return;
				}
				if (k == 0)
					break;
				buf_append(&c->out, d, k);
			}
			if (c->out.len == 0)
				break;
		}
		n = io_write(c, c->out.data + c->out_off, c->out.len - c->out_off);
		if (n < 0)
		{
			conn_close(c);
			return;
		}
		if (n == 0)
		{
			c->want_write = true;
			update_events(c);
			return;
		}
		c->out_off += n;
	}
	if (c->dead)
		return;
	c->want_write = false;
	/*
	 * After a GOAWAY the client closes, as with a real vendor: closing here with the client's
	 * last frames unread would reset the connection and could destroy the answer in flight.
	 */
	if ((c->session && !c->goaway_sent && !nghttp2_session_want_read(c->session) &&
		 !nghttp2_session_want_write(c->session)) ||
		(c->close_after_write && c->h1req == NULL))
	{
		conn_close(c);
		return;
	}
	update_events(c);
}

static bool
handshake(conn *c)
{
	int			k = SSL_do_handshake(c->ssl);
	const unsigned char *alpn = NULL;
	unsigned int alen = 0;

	c->handshake_want_write = false;
	if (k != 1)
	{
		int			e = SSL_get_error(c->ssl, k);

		if (e == SSL_ERROR_WANT_READ)
			return false;
		if (e == SSL_ERROR_WANT_WRITE)
		{
			c->handshake_want_write = true;
			update_events(c);
			return false;
		}
		ERR_clear_error();
		conn_close(c);
		return false;
	}
	c->handshaking = false;
	SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
	if (alen == 2 && memcmp(alpn, "h2", 2) == 0)
	{
		if (!h2_start(c))
		{
			conn_close(c);
			return false;
		}
		conn_stats_h2++;
	}
	else
		conn_stats_http1++;
	return true;
}

/* Reads what is there (unless paused), feeds the protocol, writes what is due. */
void
conn_event(conn *c)
{
	unsigned char tmp[16384];

	if (c->dead)
		return;
	if (c->stalled)
	{
		/* only a hang-up or an error wakes a stalled connection: the client has gone */
		conn_close(c);
		return;
	}
	if (c->handshaking && !handshake(c))
		return;
	for (;;)
	{
		ssize_t		n;

		c->read_paused = should_pause(c);
		if (c->read_paused)
			break;
		n = io_read(c, tmp, sizeof(tmp));
		if (n < 0)
		{
			conn_close(c);
			return;
		}
		if (n == 0)
			break;
		if (c->session)
		{
			ssize_t		k;

			c->in_recv = true;
			k = nghttp2_session_mem_recv(c->session, tmp, n);
			c->in_recv = false;
			if (k < 0 || c->dead)
			{
				conn_close(c);
				return;
			}
			if (c->stalled)
				return;
		}
		else
		{
			buf_append(&c->in, tmp, n);
			c->in_recv = true;
			h1_parse(c);
			c->in_recv = false;
			if (c->dead || c->stalled)
				return;
		}
		/* write as we go, so a long burst of requests cannot pile up answers */
		conn_flush(c);
		if (c->dead)
			return;
	}
	conn_flush(c);
	if (!c->dead && c->read_paused && !should_pause(c))
	{
		/* the output drained: resume reading (TLS may hold decrypted bytes already) */
		c->read_paused = false;
		conn_event(c);
		return;
	}
	update_events(c);
}

conn *
conn_new(int epfd, int fd, SSL_CTX *ctx)
{
	conn	   *c = calloc(1, sizeof(conn));
	struct epoll_event e;

	c->kind = ITEM_CONN;
	c->fd = fd;
	c->epfd = epfd;
	if (ctx)
	{
		c->ssl = SSL_new(ctx);
		SSL_set_fd(c->ssl, fd);
		SSL_set_accept_state(c->ssl);
		SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		c->handshaking = true;
	}
	else
		conn_stats_http1++;
	c->events = EPOLLIN;
	e.events = EPOLLIN;
	e.data.ptr = c;
	epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
	c->next = all_conns;
	if (all_conns)
		all_conns->prev = c;
	all_conns = c;
	conn_stats_accepted++;
	conn_stats_open++;
	return c;
}
