/*
 * json.c: a small strict JSON reader (RFC 8259) for request bodies and JWT parts.
 *
 * The mock may depend only on libnghttp2 and OpenSSL, so it carries its own reader.  It keeps
 * each value's source text (raw, rawlen) so that sizes can be measured as the vendors do.
 */
#include <stdlib.h>
#include <string.h>

#include "mock.h"

#define MAX_DEPTH 64

typedef struct parser
{
	const char *p;
	const char *end;
	json	   *allocs;
	int			depth;
} parser;

static json *parse_value(parser *ps);

static json *
new_node(parser *ps, json_type t)
{
	json	   *j = calloc(1, sizeof(json));

	if (j == NULL)
		abort();
	j->type = t;
	j->alloc_next = ps->allocs;
	ps->allocs = j;
	return j;
}

static void
skip_ws(parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
read_u4(parser *ps, unsigned *out)
{
	unsigned	v = 0;

	if (ps->end - ps->p < 4)
		return false;
	for (int i = 0; i < 4; i++)
	{
		int			h = hexval(ps->p[i]);

		if (h < 0)
			return false;
		v = v * 16 + h;
	}
	ps->p += 4;
	*out = v;
	return true;
}

static void
put_utf8(buf *b, unsigned cp)
{
	char		o[4];
	size_t		n;

	if (cp < 0x80)
	{
		o[0] = cp;
		n = 1;
	}
	else if (cp < 0x800)
	{
		o[0] = 0xC0 | (cp >> 6);
		o[1] = 0x80 | (cp & 0x3F);
		n = 2;
	}
	else if (cp < 0x10000)
	{
		o[0] = 0xE0 | (cp >> 12);
		o[1] = 0x80 | ((cp >> 6) & 0x3F);
		o[2] = 0x80 | (cp & 0x3F);
		n = 3;
	}
	else
	{
		o[0] = 0xF0 | (cp >> 18);
		o[1] = 0x80 | ((cp >> 12) & 0x3F);
		o[2] = 0x80 | ((cp >> 6) & 0x3F);
		o[3] = 0x80 | (cp & 0x3F);
		n = 4;
	}
	buf_append(b, o, n);
}

/* Reads a string starting at the opening quote; returns malloc'd decoded text. */
static char *
parse_string(parser *ps, size_t *outlen)
{
	buf			b = {0};

	ps->p++;					/* opening quote */
	buf_reserve(&b, 16);
	while (ps->p < ps->end)
	{
		unsigned char c = (unsigned char) *ps->p++;

		if (c == '"')
		{
			*outlen = b.len;
			return b.data;
		}
		if (c < 0x20)
			break;
		if (c != '\\')
		{
			buf_append(&b, &c, 1);
			continue;
		}
		if (ps->p >= ps->end)
			break;
		c = *ps->p++;
		switch (c)
		{
			case '"':
			case '\\':
			case '/':
				buf_append(&b, &c, 1);
				break;
			case 'b':
				buf_append(&b, "\b", 1);
				break;
			case 'f':
				buf_append(&b, "\f", 1);
				break;
			case 'n':
				buf_append(&b, "\n", 1);
				break;
			case 'r':
				buf_append(&b, "\r", 1);
				break;
			case 't':
				buf_append(&b, "\t", 1);
				break;
			case 'u':
				{
					unsigned	cp,
								lo;

					if (!read_u4(ps, &cp))
						goto fail;
					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u')
							goto fail;
						ps->p += 2;
						if (!read_u4(ps, &lo) || lo < 0xDC00 || lo > 0xDFFF)
							goto fail;
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					}
					else if (cp >= 0xDC00 && cp <= 0xDFFF)
						goto fail;
					put_utf8(&b, cp);
					break;
				}
			default:
				goto fail;
		}
	}
fail:
	buf_free(&b);
	return NULL;
}

static bool
parse_number(parser *ps, json *j)
{
	const char *s = ps->p;

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p >= ps->end)
		return false;
	if (*ps->p == '0')
		ps->p++;
	else if (*ps->p >= '1' && *ps->p <= '9')
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	else
		return false;
	if (ps->p < ps->end && *ps->p == '.')
	{
		ps->p++;
		if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
			return false;
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E'))
	{
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
			return false;
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	}
	{
		char		tmp[64];
		size_t		n = ps->p - s;

		if (n >= sizeof(tmp))
			n = sizeof(tmp) - 1;
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		j->num = strtod(tmp, NULL);
	}
	return true;
}

static bool
literal(parser *ps, const char *lit)
{
	size_t		n = strlen(lit);

	if ((size_t) (ps->end - ps->p) < n || memcmp(ps->p, lit, n) != 0)
		return false;
	ps->p += n;
	return true;
}

static json *
parse_value(parser *ps)
{
	json	   *j;
	const char *start;

	skip_ws(ps);
	if (ps->p >= ps->end || ++ps->depth > MAX_DEPTH)
		return NULL;
	start = ps->p;
	switch (*ps->p)
	{
		case '{':
		case '[':
			{
				bool		obj = *ps->p == '{';
				char		close = obj ? '}' : ']';
				json	   *last = NULL;

				j = new_node(ps, obj ? JSON_OBJ : JSON_ARR);
				ps->p++;
				skip_ws(ps);
				if (ps->p < ps->end && *ps->p == close)
				{
					ps->p++;
					break;
				}
				for (;;)
				{
					char	   *key = NULL;
					size_t		klen;
					json	   *v;

					skip_ws(ps);
					if (obj)
					{
						if (ps->p >= ps->end || *ps->p != '"')
							return NULL;
						key = parse_string(ps, &klen);
						if (key == NULL)
							return NULL;
						skip_ws(ps);
						if (ps->p >= ps->end || *ps->p != ':')
						{
							free(key);
							return NULL;
						}
						ps->p++;
					}
					v = parse_value(ps);
					if (v == NULL)
					{
						free(key);
						return NULL;
					}
					v->key = key;
					if (last)
						last->next = v;
					else
						j->child = v;
					last = v;
					skip_ws(ps);
					if (ps->p < ps->end && *ps->p == ',')
					{
						ps->p++;
						continue;
					}
					if (ps->p < ps->end && *ps->p == close)
					{
						ps->p++;
						break;
					}
					return NULL;
				}
				break;
			}
		case '"':
			j = new_node(ps, JSON_STR);
			j->str = parse_string(ps, &j->strlen);
			if (j->str == NULL)
				return NULL;
			break;
		case 't':
		case 'f':
			j = new_node(ps, JSON_BOOL);
			j->b = *ps->p == 't';
			if (!literal(ps, j->b ? "true" : "false"))
				return NULL;
			break;
		case 'n':
			j = new_node(ps, JSON_NULL);
			if (!literal(ps, "null"))
				return NULL;
			break;
		default:
			j = new_node(ps, JSON_NUM);
			if (!parse_number(ps, j))
				return NULL;
			break;
	}
	ps->depth--;
	j->raw = start;
	j->rawlen = ps->p - start;
	return j;
}

static void
free_list(json *j)
{
	while (j)
	{
		json	   *n = j->alloc_next;

		free(j->str);
		free(j->key);
		free(j);
		j = n;
	}
}

json *
json_parse(const char *text, size_t len)
{
	parser		ps = {text, text + len, NULL, 0};
	json	   *root = parse_value(&ps);

	if (root)
	{
		skip_ws(&ps);
		if (ps.p != ps.end)
			root = NULL;
	}
	if (root == NULL)
	{
		free_list(ps.allocs);
		return NULL;
	}
	/* put the root at the head of the allocation list so json_free(root) frees all */
	if (ps.allocs != root)
	{
		json	   *prev = ps.allocs;

		while (prev->alloc_next != root)
			prev = prev->alloc_next;
		prev->alloc_next = root->alloc_next;
		root->alloc_next = ps.allocs;
	}
	return root;
}

void
json_free(json *j)
{
	free_list(j);
}

json *
json_get(const json *obj, const char *key)
{
	if (obj == NULL || obj->type != JSON_OBJ)
		return NULL;
	for (json *m = obj->child; m; m = m->next)
		if (strcmp(m->key, key) == 0)
			return m;
	return NULL;
}

int
json_count(const json *arr)
{
	int			n = 0;

	for (json *m = arr ? arr->child : NULL; m; m = m->next)
		n++;
	return n;
}
