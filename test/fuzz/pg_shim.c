/*
 * pg_shim.c: the few backend services pushplan's parsers use, outside a server, for the
 * libFuzzer targets (doc/reliability.md, "Fuzzing and sanitizers").
 *
 * The backend is not packaged as a library on Debian, so the fuzz targets link pushplan's own
 * objects against this file, jsonb_shim.c and PostgreSQL's frontend libraries (libpgcommon:
 * the JSON lexer and parser, UTF-8 checks; libpgport: snprintf, qsort):
 *
 *   memory contexts  every chunk is a malloc of its own, linked into its context; a reset or
 *                    delete frees them (so AddressSanitizer sees a use after reset as a use
 *                    after free); pfree frees at once;
 *   ereport(ERROR)   a longjmp to the innermost PG_TRY, as in the backend, with the SQLSTATE
 *                    and message kept for the harness (fuzz_common.h);
 *   StringInfo, List, text, 1-D arrays, UTF-8 string functions: what the backend does, for a
 *                    UTF-8 database;
 *   anything else a linked object names but a target never reaches: fuzz_stubs.c (generated),
 *                    which aborts, so that reaching one shows as a crash.
 */
#include "postgres.h"

#include <limits.h>
#include <locale.h>
#include <time.h>
#include <wchar.h>
#include <wctype.h>

#include <dirent.h>

#include "fmgr.h"
#include "datatype/timestamp.h"
#include "pgtime.h"
#include "utils/datetime.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "parser/scansup.h"
#include "access/tupmacs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "fuzz_common.h"

/* ---------------------------------------------------------------- memory contexts */

typedef struct ShimChunk
{
	struct ShimChunk *prev;
	struct ShimChunk *next;
	Size		size;
	/* last, just before the payload: where GetMemoryChunkContext() looks */
	struct ShimContext *owner;
	/* the payload follows, 16-byte aligned as malloc's */
} ShimChunk;

#define CHUNK_HDR	sizeof(ShimChunk)
StaticAssertDecl(sizeof(ShimChunk) == 32, "chunk header keeps malloc's alignment");

typedef struct ShimContext
{
	MemoryContextData pub;		/* what code outside may look at */
	ShimChunk	head;			/* circular list of chunks */
	struct ShimContext *parent;
	struct ShimContext *firstchild;
	struct ShimContext *nextsib;
} ShimContext;

static ShimContext top_context;
MemoryContext TopMemoryContext = NULL;
MemoryContext CurrentMemoryContext = NULL;
MemoryContext ErrorContext = NULL;
MemoryContext CacheMemoryContext = NULL;
MemoryContext TopTransactionContext = NULL;
MemoryContext CurTransactionContext = NULL;
MemoryContext MessageContext = NULL;
MemoryContext PortalContext = NULL;

static void
context_init(ShimContext *c, ShimContext *parent, const char *name)
{
	memset(c, 0, sizeof(*c));
	c->pub.type = T_AllocSetContext;
	c->pub.name = name;
	c->head.next = c->head.prev = &c->head;
	c->parent = parent;
	if (parent)
	{
		c->nextsib = parent->firstchild;
		parent->firstchild = c;
	}
}

void
shim_init(void)
{
	if (TopMemoryContext)
		return;
	context_init(&top_context, NULL, "TopMemoryContext");
	TopMemoryContext = (MemoryContext) &top_context;
	CurrentMemoryContext = TopMemoryContext;
	ErrorContext = CacheMemoryContext = TopTransactionContext = CurTransactionContext =
		MessageContext = PortalContext = TopMemoryContext;
	/* str_tolower and friends: what a UTF-8 database with a C.UTF-8 ctype does */
	setlocale(LC_CTYPE, "C.UTF-8");
}

static void *
chunk_alloc(MemoryContext context, Size size, bool zero, bool huge)
{
	ShimContext *c = (ShimContext *) context;
	ShimChunk  *ch;

	if (!(huge ? AllocHugeSizeIsValid(size) : AllocSizeIsValid(size)))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	if (c == NULL)
		c = &top_context;
	ch = malloc(CHUNK_HDR + size);
	if (ch == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	ch->owner = c;
	ch->size = size;
	ch->next = c->head.next;
	ch->prev = &c->head;
	c->head.next->prev = ch;
	c->head.next = ch;
	c->pub.isReset = false;
	if (zero)
		memset((char *) ch + CHUNK_HDR, 0, size);
	return (char *) ch + CHUNK_HDR;
}

static ShimChunk *
chunk_of(void *p)
{
	return (ShimChunk *) ((char *) p - CHUNK_HDR);
}

static void
chunk_unlink(ShimChunk *ch)
{
	ch->prev->next = ch->next;
	ch->next->prev = ch->prev;
}

static void
context_free_chunks(ShimContext *c)
{
	ShimChunk  *ch = c->head.next;

	while (ch != &c->head)
	{
		ShimChunk  *next = ch->next;

		free(ch);
		ch = next;
	}
	c->head.next = c->head.prev = &c->head;
	c->pub.isReset = true;
}

static void context_delete(ShimContext *c);

static void
context_delete_children(ShimContext *c)
{
	while (c->firstchild)
		context_delete(c->firstchild);
}

static void
context_delete(ShimContext *c)
{
	ShimContext **pp;

	context_delete_children(c);
	context_free_chunks(c);
	if (c->parent)
		for (pp = &c->parent->firstchild; *pp; pp = &(*pp)->nextsib)
			if (*pp == c)
			{
				*pp = c->nextsib;
				break;
			}
	if (CurrentMemoryContext == (MemoryContext) c)
		CurrentMemoryContext = TopMemoryContext;
	if (c != &top_context)
		free(c);
}

MemoryContext
AllocSetContextCreateInternal(MemoryContext parent, const char *name, Size minContextSize,
							  Size initBlockSize, Size maxBlockSize)
{
	ShimContext *c = malloc(sizeof(ShimContext));

	if (c == NULL)
		abort();
	context_init(c, parent ? (ShimContext *) parent : &top_context, name);
	return (MemoryContext) c;
}

MemoryContext
shim_context_create(const char *name)
{
	return AllocSetContextCreateInternal(TopMemoryContext, name, 0, 0, 0);
}

void
MemoryContextReset(MemoryContext context)
{
	context_delete_children((ShimContext *) context);
	context_free_chunks((ShimContext *) context);
}

void
MemoryContextResetOnly(MemoryContext context)
{
	context_free_chunks((ShimContext *) context);
}

void
MemoryContextDelete(MemoryContext context)
{
	context_delete((ShimContext *) context);
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	return chunk_alloc(context, size, false, false);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	return chunk_alloc(context, size, true, false);
}

void *
MemoryContextAllocZeroAligned(MemoryContext context, Size size)
{
	return chunk_alloc(context, size, true, false);
}

void *
MemoryContextAllocExtended(MemoryContext context, Size size, int flags)
{
	return chunk_alloc(context, size, (flags & MCXT_ALLOC_ZERO) != 0,
					   (flags & MCXT_ALLOC_HUGE) != 0);
}

void *
MemoryContextAllocHuge(MemoryContext context, Size size)
{
	return chunk_alloc(context, size, false, true);
}

void *
palloc(Size size)
{
	return chunk_alloc(CurrentMemoryContext, size, false, false);
}

void *
palloc0(Size size)
{
	return chunk_alloc(CurrentMemoryContext, size, true, false);
}

void *
palloc_extended(Size size, int flags)
{
	return MemoryContextAllocExtended(CurrentMemoryContext, size, flags);
}

static void *
chunk_realloc(void *pointer, Size size, bool huge)
{
	ShimChunk  *ch = chunk_of(pointer);
	ShimContext *c = ch->owner;
	ShimChunk  *nch;

	if (!(huge ? AllocHugeSizeIsValid(size) : AllocSizeIsValid(size)))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	chunk_unlink(ch);
	nch = realloc(ch, CHUNK_HDR + size);
	if (nch == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	nch->size = size;
	nch->next = c->head.next;
	nch->prev = &c->head;
	c->head.next->prev = nch;
	c->head.next = nch;
	return (char *) nch + CHUNK_HDR;
}

void *
repalloc(void *pointer, Size size)
{
	return chunk_realloc(pointer, size, false);
}

void *
repalloc_huge(void *pointer, Size size)
{
	return chunk_realloc(pointer, size, true);
}

void
pfree(void *pointer)
{
	ShimChunk  *ch = chunk_of(pointer);

	chunk_unlink(ch);
	free(ch);
}


char *
MemoryContextStrdup(MemoryContext context, const char *string)
{
	Size		n = strlen(string) + 1;
	char	   *s = MemoryContextAlloc(context, n);

	memcpy(s, string, n);
	return s;
}

char *
pstrdup(const char *in)
{
	return MemoryContextStrdup(CurrentMemoryContext, in);
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

size_t
pvsnprintf(char *buf, size_t len, const char *fmt, va_list args)
{
	int			n = pg_vsnprintf(buf, len, fmt, args);

	if (n < 0)
		elog(ERROR, "vsnprintf failed: %m with format string \"%s\"", fmt);
	if ((size_t) n < len)
		return n;
	if ((size_t) n >= MaxAllocSize)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("out of memory")));
	return n + 1;
}

char *
psprintf(const char *fmt,...)
{
	size_t		len = 128;

	for (;;)
	{
		char	   *result = palloc(len);
		va_list		args;
		size_t		newlen;

		va_start(args, fmt);
		newlen = pvsnprintf(result, len, fmt, args);
		va_end(args);
		if (newlen < len)
			return result;
		pfree(result);
		len = newlen;
	}
}

/* ---------------------------------------------------------------- errors */

sigjmp_buf *PG_exception_stack = NULL;
ErrorContextCallback *error_context_stack = NULL;
volatile sig_atomic_t InterruptPending = false;

ShimError	shim_error;
static int	shim_elevel;

bool
errstart(int elevel, const char *domain)
{
	if (elevel < ERROR)
	{
		shim_elevel = elevel;
		return false;			/* notices and warnings: not kept */
	}
	shim_elevel = elevel;
	shim_error.sqlerrcode = ERRCODE_INTERNAL_ERROR;	/* what elog() means */
	shim_error.message[0] = '\0';
	shim_error.detail[0] = '\0';
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	shim_error.filename = filename;
	shim_error.lineno = lineno;
	if (shim_elevel >= FATAL || PG_exception_stack == NULL)
	{
		fprintf(stderr, "shim: error with no PG_TRY (%s:%d): %s\n", filename, lineno,
				shim_error.message);
		abort();
	}
	pg_re_throw();
}

void
pg_re_throw(void)
{
	if (PG_exception_stack == NULL)
		abort();
	siglongjmp(*PG_exception_stack, 1);
}

int
errcode(int sqlerrcode)
{
	shim_error.sqlerrcode = sqlerrcode;
	return 0;
}

#define SHIM_FORMAT(field) \
	do { \
		va_list args; \
		va_start(args, fmt); \
		pg_vsnprintf(shim_error.field, sizeof(shim_error.field), fmt, args); \
		va_end(args); \
	} while (0)

int
errmsg(const char *fmt,...)
{
	SHIM_FORMAT(message);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	SHIM_FORMAT(message);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	SHIM_FORMAT(detail);
	return 0;
}

int
errdetail_internal(const char *fmt,...)
{
	SHIM_FORMAT(detail);
	return 0;
}

int
errhint(const char *fmt,...)
{
	return 0;
}

int
errcontext_msg(const char *fmt,...)
{
	return 0;
}

int
set_errcontext_domain(const char *domain)
{
	return 0;
}

int
errposition(int cursorpos)
{
	return 0;
}

void
FlushErrorState(void)
{
}

void
ProcessInterrupts(void)
{
	InterruptPending = false;
}

/* ---------------------------------------------------------------- StringInfo */

StringInfo
makeStringInfo(void)
{
	StringInfo	s = palloc(sizeof(StringInfoData));

	initStringInfo(s);
	return s;
}

void
initStringInfo(StringInfo str)
{
	str->maxlen = 1024;
	str->data = palloc(str->maxlen);
	resetStringInfo(str);
}

void
resetStringInfo(StringInfo str)
{
	str->data[0] = '\0';
	str->len = 0;
	str->cursor = 0;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			newlen;

	if (needed < 0)
		elog(ERROR, "invalid string enlargement request size: %d", needed);
	if (((Size) needed) >= (MaxAllocSize - (Size) str->len))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("out of memory"),
				 errdetail("Cannot enlarge string buffer containing %d bytes by %d more bytes.",
						   str->len, needed)));
	needed += str->len + 1;
	if (needed <= str->maxlen)
		return;
	newlen = 2 * str->maxlen;
	while (needed > newlen)
		newlen = 2 * newlen;
	if (newlen > (int) MaxAllocSize)
		newlen = (int) MaxAllocSize;
	str->data = repalloc(str->data, newlen);
	str->maxlen = newlen;
}

int
appendStringInfoVA(StringInfo str, const char *fmt, va_list args)
{
	int			avail = str->maxlen - str->len;
	size_t		nprinted;

	nprinted = pvsnprintf(str->data + str->len, (size_t) avail, fmt, args);
	if (nprinted < (size_t) avail)
	{
		str->len += (int) nprinted;
		return 0;
	}
	str->data[str->len] = '\0';
	return (int) nprinted;
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(str, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(str, needed);
	}
}

void
appendBinaryStringInfo(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
	str->data[str->len] = '\0';
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	appendBinaryStringInfo(str, s, strlen(s));
}

void
appendStringInfoChar(StringInfo str, char ch)
{
	if (str->len + 1 >= str->maxlen)
		enlargeStringInfo(str, 1);
	str->data[str->len] = ch;
	str->len++;
	str->data[str->len] = '\0';
}

void
appendStringInfoSpaces(StringInfo str, int count)
{
	if (count > 0)
	{
		enlargeStringInfo(str, count);
		memset(&str->data[str->len], ' ', count);
		str->len += count;
		str->data[str->len] = '\0';
	}
}

/* ---------------------------------------------------------------- List */

static List *
list_new(NodeTag type, int n)
{
	int			cap = Max(n, 4);
	List	   *l = palloc(offsetof(List, initial_elements) + cap * sizeof(ListCell));

	l->type = type;
	l->length = n;
	l->max_length = cap;
	l->elements = l->initial_elements;
	return l;
}

static void
list_grow(List *l, int need)
{
	int			cap;

	if (need <= l->max_length)
		return;
	cap = Max(need, 2 * l->max_length);
	if (l->elements == l->initial_elements)
	{
		l->elements = palloc(cap * sizeof(ListCell));
		memcpy(l->elements, l->initial_elements, l->length * sizeof(ListCell));
	}
	else
		l->elements = repalloc(l->elements, cap * sizeof(ListCell));
	l->max_length = cap;
}

List *
list_make1_impl(NodeTag t, ListCell datum1)
{
	List	   *l = list_new(t, 1);

	l->elements[0] = datum1;
	return l;
}

List *
list_make2_impl(NodeTag t, ListCell datum1, ListCell datum2)
{
	List	   *l = list_new(t, 2);

	l->elements[0] = datum1;
	l->elements[1] = datum2;
	return l;
}

List *
list_make3_impl(NodeTag t, ListCell datum1, ListCell datum2, ListCell datum3)
{
	List	   *l = list_new(t, 3);

	l->elements[0] = datum1;
	l->elements[1] = datum2;
	l->elements[2] = datum3;
	return l;
}

List *
list_make4_impl(NodeTag t, ListCell datum1, ListCell datum2, ListCell datum3, ListCell datum4)
{
	List	   *l = list_new(t, 4);

	l->elements[0] = datum1;
	l->elements[1] = datum2;
	l->elements[2] = datum3;
	l->elements[3] = datum4;
	return l;
}

static List *
list_add(NodeTag t, List *l, ListCell cell)
{
	if (l == NIL)
		return list_make1_impl(t, cell);
	list_grow(l, l->length + 1);
	l->elements[l->length++] = cell;
	return l;
}

List *
lappend(List *list, void *datum)
{
	return list_add(T_List, list, (ListCell) {.ptr_value = datum});
}

List *
lappend_int(List *list, int datum)
{
	return list_add(T_IntList, list, (ListCell) {.int_value = datum});
}

List *
lappend_oid(List *list, Oid datum)
{
	return list_add(T_OidList, list, (ListCell) {.oid_value = datum});
}

List *
lcons(void *datum, List *list)
{
	if (list == NIL)
		return list_make1_impl(T_List, (ListCell) {.ptr_value = datum});
	list_grow(list, list->length + 1);
	memmove(&list->elements[1], &list->elements[0], list->length * sizeof(ListCell));
	list->elements[0].ptr_value = datum;
	list->length++;
	return list;
}

List *
list_concat(List *list1, const List *list2)
{
	if (list1 == NIL)
	{
		List	   *l;

		if (list2 == NIL)
			return NIL;
		l = list_new(list2->type, list2->length);
		memcpy(l->elements, list2->elements, list2->length * sizeof(ListCell));
		return l;
	}
	if (list2 == NIL)
		return list1;
	list_grow(list1, list1->length + list2->length);
	memcpy(&list1->elements[list1->length], list2->elements, list2->length * sizeof(ListCell));
	list1->length += list2->length;
	return list1;
}

List *
list_copy(const List *oldlist)
{
	return list_concat(NIL, oldlist);
}

bool
list_member_int(const List *list, int datum)
{
	if (list == NIL)
		return false;
	for (int i = 0; i < list->length; i++)
		if (list->elements[i].int_value == datum)
			return true;
	return false;
}

List *
list_append_unique_int(List *list, int datum)
{
	if (list_member_int(list, datum))
		return list;
	return lappend_int(list, datum);
}

void
list_free(List *list)
{
	if (list == NIL)
		return;
	if (list->elements != list->initial_elements)
		pfree(list->elements);
	pfree(list);
}

/* ---------------------------------------------------------------- text, varlena, arrays */

text *
cstring_to_text_with_len(const char *s, int len)
{
	text	   *t = palloc(len + VARHDRSZ);

	SET_VARSIZE(t, len + VARHDRSZ);
	memcpy(VARDATA(t), s, len);
	return t;
}

text *
cstring_to_text(const char *s)
{
	return cstring_to_text_with_len(s, strlen(s));
}

char *
text_to_cstring(const text *t)
{
	text	   *tunpacked = pg_detoast_datum_packed(unconstify(text *, t));
	int			len = VARSIZE_ANY_EXHDR(tunpacked);
	char	   *result = palloc(len + 1);

	memcpy(result, VARDATA_ANY(tunpacked), len);
	result[len] = '\0';
	return result;
}

struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	if (VARATT_IS_EXTERNAL(datum) || VARATT_IS_COMPRESSED(datum))
		abort();				/* the shim never makes one */
	if (VARATT_IS_SHORT(datum))
	{
		Size		len = VARSIZE_SHORT(datum) - VARHDRSZ_SHORT;
		struct varlena *copy = palloc(len + VARHDRSZ);

		SET_VARSIZE(copy, len + VARHDRSZ);
		memcpy(VARDATA(copy), VARDATA_SHORT(datum), len);
		return copy;
	}
	return datum;
}

struct varlena *
pg_detoast_datum_packed(struct varlena *datum)
{
	if (VARATT_IS_EXTERNAL(datum) || VARATT_IS_COMPRESSED(datum))
		abort();
	return datum;
}

struct varlena *
pg_detoast_datum_copy(struct varlena *datum)
{
	struct varlena *d = pg_detoast_datum(datum);
	struct varlena *copy;

	if (d != datum)
		return d;
	copy = palloc(VARSIZE(d));
	memcpy(copy, d, VARSIZE(d));
	return copy;
}

/* A one-dimensional array without nulls, as construct_array makes it. */
ArrayType *
construct_array(Datum *elems, int nelems, Oid elmtype, int elmlen, bool elmbyval, char elmalign)
{
	Size		nbytes = 0;
	ArrayType  *a;
	char	   *p;

	if (nelems <= 0)
	{
		a = palloc0(sizeof(ArrayType));
		SET_VARSIZE(a, sizeof(ArrayType));
		a->elemtype = elmtype;
		return a;
	}
	for (int i = 0; i < nelems; i++)
	{
		nbytes = att_align_nominal(nbytes, elmalign);
		nbytes = att_addlength_datum(nbytes, elmlen, elems[i]);
	}
	nbytes = att_align_nominal(nbytes, elmalign);
	a = palloc0(ARR_OVERHEAD_NONULLS(1) + nbytes);
	SET_VARSIZE(a, ARR_OVERHEAD_NONULLS(1) + nbytes);
	a->ndim = 1;
	a->dataoffset = 0;
	a->elemtype = elmtype;
	ARR_DIMS(a)[0] = nelems;
	ARR_LBOUND(a)[0] = 1;
	p = ARR_DATA_PTR(a);
	for (int i = 0; i < nelems; i++)
	{
		p = (char *) att_align_nominal(p, elmalign);
		if (elmbyval)
			store_att_byval(p, elems[i], elmlen);
		else if (elmlen == -1)
			memcpy(p, DatumGetPointer(elems[i]), VARSIZE_ANY(DatumGetPointer(elems[i])));
		else
			memcpy(p, DatumGetPointer(elems[i]), elmlen);
		p = att_addlength_pointer(p, elmlen, p);
	}
	return a;
}

int
ArrayGetNItems(int ndim, const int *dims)
{
	int			n = 1;

	if (ndim <= 0)
		return 0;
	for (int i = 0; i < ndim; i++)
		n *= dims[i];
	return n;
}

/* ---------------------------------------------------------------- fmgr */

Datum
DirectFunctionCall1Coll(PGFunction func, Oid collation, Datum arg1)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, collation, NULL, NULL);
	fcinfo->args[0].value = arg1;
	fcinfo->args[0].isnull = false;
	result = (*func) (fcinfo);
	if (fcinfo->isnull)
		elog(ERROR, "function %p returned NULL", (void *) func);
	return result;
}

Datum
DirectFunctionCall3Coll(PGFunction func, Oid collation, Datum arg1, Datum arg2, Datum arg3)
{
	LOCAL_FCINFO(fcinfo, 3);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 3, collation, NULL, NULL);
	fcinfo->args[0].value = arg1;
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = arg2;
	fcinfo->args[1].isnull = false;
	fcinfo->args[2].value = arg3;
	fcinfo->args[2].isnull = false;
	result = (*func) (fcinfo);
	if (fcinfo->isnull)
		elog(ERROR, "function %p returned NULL", (void *) func);
	return result;
}

/* ---------------------------------------------------------------- encoding: a UTF-8 database */

int
GetDatabaseEncoding(void)
{
	return PG_UTF8;
}

int
pg_mblen(const char *mbstr)
{
	return pg_utf_mblen((const unsigned char *) mbstr);
}

int
pg_mbstrlen(const char *mbstr)
{
	int			len = 0;

	while (*mbstr)
	{
		mbstr += pg_mblen(mbstr);
		len++;
	}
	return len;
}

int
pg_mbstrlen_with_len(const char *mbstr, int limit)
{
	int			len = 0;

	while (limit > 0 && *mbstr)
	{
		int			l = pg_mblen(mbstr);

		limit -= l;
		mbstr += l;
		len++;
	}
	return len;
}

int
pg_mbcliplen(const char *mbstr, int len, int limit)
{
	int			clen = 0;

	while (len > 0 && *mbstr)
	{
		int			l = pg_mblen(mbstr);

		if (clen + l > limit)
			break;
		clen += l;
		if (clen == limit)
			break;
		len -= l;
		mbstr += l;
	}
	return clen;
}

int
pg_mbcharcliplen(const char *mbstr, int len, int limit)
{
	int			clen = 0;
	int			nch = 0;

	while (len > 0 && *mbstr)
	{
		int			l = pg_mblen(mbstr);

		nch++;
		if (nch > limit)
			break;
		clen += l;
		len -= l;
		mbstr += l;
	}
	return clen;
}

bool
pg_verify_mbstr(int encoding, const char *mbstr, int len, bool noError)
{
	int			ok = pg_encoding_verifymbstr(encoding, mbstr, len);

	if (ok == len)
		return true;
	if (noError)
		return false;
	ereport(ERROR,
			(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
			 errmsg("invalid byte sequence for encoding \"%s\"", pg_enc2name_tbl[encoding].name)));
	return false;
}

/*
 * Conversion from another encoding needs the backend's conversion procedures: the shim raises
 * SHIM_UNSUPPORTED, which the harnesses count as an expected outcome (doc/reliability.md).
 */
char *
pg_any_to_server(const char *s, int len, int encoding)
{
	if (encoding == PG_UTF8 || encoding == PG_SQL_ASCII)
	{
		pg_verify_mbstr(PG_UTF8, s, len, false);
		return unconstify(char *, s);
	}
	for (int i = 0; i < len; i++)
		if ((unsigned char) s[i] >= 0x80)
			ereport(ERROR, (errcode(SHIM_UNSUPPORTED),
							errmsg("shim: no conversion from encoding %d", encoding)));
	return unconstify(char *, s);
}

static char *
str_case(const char *buff, size_t nbytes, bool upper)
{
	StringInfoData out;
	mbstate_t	in_state;
	mbstate_t	out_state;
	size_t		i = 0;

	memset(&in_state, 0, sizeof(in_state));
	memset(&out_state, 0, sizeof(out_state));
	initStringInfo(&out);
	while (i < nbytes && buff[i])
	{
		wchar_t		wc;
		char		mb[MB_LEN_MAX];
		size_t		n = mbrtowc(&wc, buff + i, nbytes - i, &in_state);
		size_t		m;

		if (n == (size_t) -1 || n == (size_t) -2 || n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("invalid multibyte character for locale")));
		wc = upper ? towupper(wc) : towlower(wc);
		m = wcrtomb(mb, wc, &out_state);
		if (m == (size_t) -1)
			abort();
		appendBinaryStringInfo(&out, mb, m);
		i += n;
	}
	return out.data;
}

char *
str_tolower(const char *buff, size_t nbytes, Oid collid)
{
	return str_case(buff, nbytes, false);
}

char *
str_toupper(const char *buff, size_t nbytes, Oid collid)
{
	return str_case(buff, nbytes, true);
}

/* ---------------------------------------------------------------- identifiers */

/*
 * SplitIdentifierString (utils/adt/varlena.c) and what it uses of parser/scansup.c, as
 * PostgreSQL 15 has them, for a UTF-8 database (downcasing ASCII only): audience views'
 * "schema.view" names are split with it (audience_view.c).
 */
bool
scanner_isspace(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f';
}

void
truncate_identifier(char *ident, int len, bool warn)
{
	if (len >= NAMEDATALEN)
	{
		len = pg_mbcliplen(ident, len, NAMEDATALEN - 1);
		ident[len] = '\0';		/* the backend's NOTICE, when warn, is not kept here */
	}
}

char *
downcase_truncate_identifier(const char *ident, int len, bool warn)
{
	char	   *result = palloc(len + 1);
	int			i;

	for (i = 0; i < len; i++)
	{
		unsigned char ch = (unsigned char) ident[i];

		if (ch >= 'A' && ch <= 'Z')
			ch += 'a' - 'A';
		result[i] = (char) ch;
	}
	result[i] = '\0';
	if (i >= NAMEDATALEN)
		truncate_identifier(result, i, warn);
	return result;
}

bool
SplitIdentifierString(char *rawstring, char separator, List **namelist)
{
	char	   *nextp = rawstring;
	bool		done = false;

	*namelist = NIL;
	while (scanner_isspace(*nextp))
		nextp++;
	if (*nextp == '\0')
		return true;			/* an empty string is an empty list */
	do
	{
		char	   *curname;
		char	   *endp;

		if (*nextp == '"')
		{
			/* quoted: quote-quote pairs collapse, no downcasing */
			curname = nextp + 1;
			for (;;)
			{
				endp = strchr(nextp + 1, '"');
				if (endp == NULL)
					return false;
				if (endp[1] != '"')
					break;
				memmove(endp, endp + 1, strlen(endp));
				nextp = endp;
			}
			nextp = endp + 1;
		}
		else
		{
			char	   *downname;
			int			len;

			curname = nextp;
			while (*nextp && *nextp != separator && !scanner_isspace(*nextp))
				nextp++;
			endp = nextp;
			if (curname == nextp)
				return false;
			len = endp - curname;
			downname = downcase_truncate_identifier(curname, len, false);
			strncpy(curname, downname, len);
			pfree(downname);
		}
		while (scanner_isspace(*nextp))
			nextp++;
		if (*nextp == separator)
		{
			nextp++;
			while (scanner_isspace(*nextp))
				nextp++;
		}
		else if (*nextp == '\0')
			done = true;
		else
			return false;
		*endp = '\0';
		truncate_identifier(curname, strlen(curname), false);
		*namelist = lappend(*namelist, curname);
	} while (!done);
	return true;
}

/* ---------------------------------------------------------------- misc */

static const char hextbl[] = "0123456789abcdef";

uint64
hex_encode(const char *src, size_t len, char *dst)
{
	const char *end = src + len;

	while (src < end)
	{
		*dst++ = hextbl[(*src >> 4) & 0xF];
		*dst++ = hextbl[*src & 0xF];
		src++;
	}
	return (uint64) len * 2;
}

/* escape_json as in PostgreSQL 15's json.c */
void
escape_json(StringInfo buf, const char *str)
{
	const char *p;

	appendStringInfoCharMacro(buf, '"');
	for (p = str; *p; p++)
	{
		switch (*p)
		{
			case '\b':
				appendStringInfoString(buf, "\\b");
				break;
			case '\f':
				appendStringInfoString(buf, "\\f");
				break;
			case '\n':
				appendStringInfoString(buf, "\\n");
				break;
			case '\r':
				appendStringInfoString(buf, "\\r");
				break;
			case '\t':
				appendStringInfoString(buf, "\\t");
				break;
			case '"':
				appendStringInfoString(buf, "\\\"");
				break;
			case '\\':
				appendStringInfoString(buf, "\\\\");
				break;
			default:
				if ((unsigned char) *p < ' ')
					appendStringInfo(buf, "\\u%04x", (int) *p);
				else
					appendStringInfoCharMacro(buf, *p);
				break;
		}
	}
	appendStringInfoCharMacro(buf, '"');
}

char *
unpack_sql_state(int sql_state)
{
	static char buf[12];

	for (int i = 0; i < 5; i++)
	{
		buf[i] = PGUNSIXBIT(sql_state);
		sql_state >>= 6;
	}
	buf[5] = '\0';
	return buf;
}

/* datetime.c's table: days per month, in common and leap years */
const int	day_tab[2][13] =
{
	{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0},
	{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0}
};

/*
 * pg_tzset: a zone of the system's tz database (Debian's PostgreSQL is built with
 * --with-system-tzdata=/usr/share/zoneinfo), its name matched without regard to case one path
 * component at a time, as pg_tzset does; the canonical spelling is the files'. POSIX TZ specs
 * are not parsed (pushplan refuses them before it asks: timezone.c).
 */
#define SHIM_TZDIR "/usr/share/zoneinfo"

struct pg_tz
{
	char		TZname[TZ_STRLEN_MAX + 1];
};

static bool
tz_component(char *path, size_t pathlen, const char *want, size_t wantlen)
{
	DIR		   *d = opendir(path);
	struct dirent *e;
	bool		found = false;

	if (d == NULL)
		return false;
	while ((e = readdir(d)) != NULL)
	{
		if (e->d_name[0] == '.')
			continue;
		if (strlen(e->d_name) == wantlen && pg_strncasecmp(e->d_name, want, wantlen) == 0)
		{
			snprintf(path + pathlen, MAXPGPATH - pathlen, "/%s", e->d_name);
			found = true;
			break;
		}
	}
	closedir(d);
	return found;
}

pg_tz *
pg_tzset(const char *name)
{
	static pg_tz tz;
	char		path[MAXPGPATH];
	const char *p = name;
	FILE	   *f;
	char		magic[4];

	if (strlen(name) > TZ_STRLEN_MAX || name[0] == '\0' || name[0] == '/')
		return NULL;
	if (pg_strcasecmp(name, "GMT") == 0 || pg_strcasecmp(name, "UTC") == 0)
	{
		strlcpy(tz.TZname, pg_strcasecmp(name, "GMT") == 0 ? "GMT" : "UTC", sizeof(tz.TZname));
		return &tz;
	}
	strlcpy(path, SHIM_TZDIR, sizeof(path));
	while (*p)
	{
		size_t		n = strcspn(p, "/");

		if (n == 0 || (n <= 2 && p[0] == '.' && (n == 1 || p[1] == '.')))
			return NULL;
		if (!tz_component(path, strlen(path), p, n))
			return NULL;
		p += n;
		if (*p == '/')
			p++;
	}
	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "TZif", 4) != 0)
	{
		fclose(f);
		return NULL;
	}
	fclose(f);
	strlcpy(tz.TZname, path + strlen(SHIM_TZDIR) + 1, sizeof(tz.TZname));
	return &tz;
}

const char *
pg_get_timezone_name(pg_tz *tz)
{
	return tz ? tz->TZname : NULL;
}

/* UTC, in the ISO style */
const char *
timestamptz_to_str(TimestampTz t)
{
	static char buf[MAXDATELEN + 1];
	time_t		secs = (time_t) (t / USECS_PER_SEC + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY);
	struct tm	tm;

	gmtime_r(&secs, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S+00", &tm);
	return buf;
}

/* The start of the "transaction": a fixed time (the targets have none). */
TimestampTz
GetCurrentTransactionStartTimestamp(void)
{
	return 0;
}

/* Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian). */
static int64
days_from_civil(int64 y, int m, int d)
{
	int64		era;
	int64		yoe;
	int64		doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/*
 * The backend's timestamptz input, for what the targets give it: ISO 8601 times of the form
 * track_read.c checks (YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]](Z|+HH[[:]MM])). A field out of range
 * raises the backend's error; otherwise the fields as UTC, the offset applied.
 */
Datum
timestamptz_in(PG_FUNCTION_ARGS)
{
	const char *s = PG_GETARG_CSTRING(0);
	int			y,
				mo,
				d,
				h,
				mi,
				sec = 0,
				oh = 0,
				om = 0;
	const char *p = s + 16;
	int			sign = 1;

	if (strlen(s) < 17 || sscanf(s, "%4d-%2d-%2d%*c%2d:%2d", &y, &mo, &d, &h, &mi) != 5)
		ereport(ERROR, (errcode(ERRCODE_INVALID_DATETIME_FORMAT),
						errmsg("invalid input syntax for type timestamp with time zone: \"%s\"", s)));
	if (*p == ':')
	{
		sec = (p[1] - '0') * 10 + (p[2] - '0');
		p += 3;
		if (*p == '.')
			for (p++; *p >= '0' && *p <= '9'; p++)
				;
	}
	if (*p == '+' || *p == '-')
	{
		sign = *p == '-' ? -1 : 1;
		oh = (p[1] - '0') * 10 + (p[2] - '0');
		p += 3;
		if (*p == ':')
			p++;
		if (*p)
			om = (p[0] - '0') * 10 + (p[1] - '0');
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 60 || om > 59)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
						errmsg("date/time field value out of range: \"%s\"", s)));
	PG_RETURN_TIMESTAMPTZ(((days_from_civil(y, mo, d) - (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE)) * SECS_PER_DAY +
						   h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60)) * USECS_PER_SEC);
}
