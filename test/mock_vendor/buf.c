/*
 * buf.c: growable byte buffer and JSON string escaping for the mock's responses.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"

void
buf_reserve(buf *b, size_t extra)
{
	size_t		need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	size_t		cap = b->cap ? b->cap : 256;

	while (cap < need)
		cap *= 2;
	b->data = realloc(b->data, cap);
	if (b->data == NULL)
	{
		fprintf(stderr, "mock_vendor: out of memory\n");
		abort();
	}
	b->cap = cap;
}

void
buf_append(buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_puts(buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_printf(buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	buf_reserve(b, n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
}

void
buf_json_str(buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	buf_reserve(b, n + 2);
	b->data[b->len++] = '"';
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
		{
			char		e[2] = {'\\', (char) c};

			buf_append(b, e, 2);
		}
		else if (c < 0x20 || c == 0x7f)
		{
			char		e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

			buf_append(b, e, 6);
		}
		else
		{
			buf_reserve(b, 1);
			b->data[b->len++] = (char) c;
		}
	}
	buf_reserve(b, 1);
	b->data[b->len++] = '"';
	b->data[b->len] = '\0';
}

void
buf_consume(buf *b, size_t n)
{
	if (n >= b->len)
	{
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void
buf_reset(buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
buf_free(buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
