/*
 * jsonb_shim.c: jsonb for the fuzz targets, written for them (doc/reliability.md, "Fuzzing and
 * sanitizers").
 *
 * The on-disk layout is the one utils/jsonb.h defines (container header, JEntry array with an
 * offset every JB_OFFSET_STRIDE entries, int-aligned numerics and containers, object keys
 * sorted by length then bytes, duplicate keys resolved to the last), so that the macros the
 * parsers use (JB_ROOT_IS_OBJECT, JsonContainerSize, ...) read it as in the backend. Text is
 * parsed by libpgcommon's JSON parser (the backend's, built for frontends) and written out in
 * jsonb_out's format ("a": 1, [1, 2]).
 *
 * Numerics are the one difference: a Numeric here is a varlena holding numeric_out's text
 * (numeric_in's normalization: "1.50e1" is 15.0, "-0" is 0; exponents beyond +-1000 and scales
 * beyond 16383 refused as numeric_in refuses them). pushplan reads numbers only through
 * numeric_out and makes them only with int64_to_numeric, both here.
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "fuzz_common.h"

/* ---------------------------------------------------------------- numeric as text */

struct NumericData
{
	int32		vl_len_;
	char		text[FLEXIBLE_ARRAY_MEMBER];	/* numeric_out's form, no terminator */
};

/* jsonb_util.c's bounds */
#define JSONB_MAX_ELEMS (Min(MaxAllocSize / sizeof(JsonbValue), JB_CMASK))
#define JSONB_MAX_PAIRS (Min(MaxAllocSize / sizeof(JsonbPair), JB_CMASK))

#define NUMERIC_MAX_EXPONENT	1000	/* NUMERIC_MAX_PRECISION: numeric_in's bound */
#define NUMERIC_MAX_DSCALE		0x3FFF

static Numeric
numeric_from_text(const char *s, int len)
{
	Numeric		n = palloc(VARHDRSZ + len);

	SET_VARSIZE(n, VARHDRSZ + len);
	memcpy(n->text, s, len);
	return n;
}

static void
numeric_bad(const char *str)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type %s: \"%s\"", "numeric", str)));
}

/* A JSON number (what the JSON lexer accepts) in numeric_out's form. */
static Numeric
numeric_parse(const char *str)
{
	const char *p = str;
	bool		neg = false;
	StringInfoData digits;		/* integer and fraction digits */
	int			intlen = 0;
	int			fraclen = 0;
	long		exponent = 0;
	long		pos;
	long		dscale;
	StringInfoData out;
	bool		allzero = true;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p == '-' || *p == '+')
		neg = (*p++ == '-');
	initStringInfo(&digits);
	while (isdigit((unsigned char) *p))
	{
		appendStringInfoChar(&digits, *p++);
		intlen++;
	}
	if (*p == '.')
	{
		p++;
		while (isdigit((unsigned char) *p))
		{
			appendStringInfoChar(&digits, *p++);
			fraclen++;
		}
	}
	if (intlen + fraclen == 0)
		numeric_bad(str);
	if (*p == 'e' || *p == 'E')
	{
		bool		eneg = false;

		p++;
		if (*p == '-' || *p == '+')
			eneg = (*p++ == '-');
		if (!isdigit((unsigned char) *p))
			numeric_bad(str);
		while (isdigit((unsigned char) *p))
		{
			exponent = exponent * 10 + (*p++ - '0');
			if (exponent > NUMERIC_MAX_EXPONENT)
				numeric_bad(str);
		}
		if (eneg)
			exponent = -exponent;
	}
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p != '\0')
		numeric_bad(str);

	dscale = Max(0, fraclen - exponent);
	if (dscale > NUMERIC_MAX_DSCALE)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value overflows numeric format")));
	pos = intlen + exponent;	/* the decimal point, in digits */
	for (int i = 0; i < digits.len; i++)
		allzero &= digits.data[i] == '0';

	initStringInfo(&out);
	if (neg && !allzero)
		appendStringInfoChar(&out, '-');
	/* integer part without leading zeros */
	{
		int			start = out.len;

		for (long i = 0; i < pos; i++)
		{
			char		d = i < digits.len ? digits.data[i] : '0';

			if (out.len == start && d == '0')
				continue;
			appendStringInfoChar(&out, d);
		}
		if (out.len == start)
			appendStringInfoChar(&out, '0');
	}
	if (dscale > 0)
	{
		appendStringInfoChar(&out, '.');
		for (long i = 0; i < dscale; i++)
		{
			long		at = pos + i;

			appendStringInfoChar(&out, at >= 0 && at < digits.len ? digits.data[at] : '0');
		}
	}
	return numeric_from_text(out.data, out.len);
}

Datum
numeric_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(numeric_parse(PG_GETARG_CSTRING(0)));
}

Datum
numeric_out(PG_FUNCTION_ARGS)
{
	Numeric		n = (Numeric) PG_GETARG_POINTER(0);

	PG_RETURN_CSTRING(pnstrdup(n->text, VARSIZE(n) - VARHDRSZ));
}

Numeric
int64_to_numeric(int64 val)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), INT64_FORMAT, val);
	return numeric_from_text(buf, strlen(buf));
}

/* ---------------------------------------------------------------- reading a container */

uint32
getJsonbOffset(const JsonbContainer *jc, int index)
{
	uint32		offset = 0;

	for (int i = index - 1; i >= 0; i--)
	{
		offset += JBE_OFFLENFLD(jc->children[i]);
		if (JBE_HAS_OFF(jc->children[i]))
			break;
	}
	return offset;
}

uint32
getJsonbLength(const JsonbContainer *jc, int index)
{
	uint32		off = JBE_OFFLENFLD(jc->children[index]);

	if (JBE_HAS_OFF(jc->children[index]))
		return off - getJsonbOffset(jc, index);
	return off;
}

static void
fill_value(JsonbContainer *container, int index, char *base_addr, uint32 offset,
		   JsonbValue *result)
{
	JEntry		entry = container->children[index];

	if (JBE_ISNULL(entry))
		result->type = jbvNull;
	else if (JBE_ISSTRING(entry))
	{
		result->type = jbvString;
		result->val.string.val = base_addr + offset;
		result->val.string.len = getJsonbLength(container, index);
	}
	else if (JBE_ISNUMERIC(entry))
	{
		result->type = jbvNumeric;
		result->val.numeric = (Numeric) (base_addr + INTALIGN(offset));
	}
	else if (JBE_ISBOOL_TRUE(entry))
	{
		result->type = jbvBool;
		result->val.boolean = true;
	}
	else if (JBE_ISBOOL_FALSE(entry))
	{
		result->type = jbvBool;
		result->val.boolean = false;
	}
	else
	{
		result->type = jbvBinary;
		result->val.binary.data = (JsonbContainer *) (base_addr + INTALIGN(offset));
		result->val.binary.len = getJsonbLength(container, index) - (INTALIGN(offset) - offset);
	}
}

static int
key_cmp(const char *a, int alen, const char *b, int blen)
{
	if (alen == blen)
		return memcmp(a, b, alen);
	return alen > blen ? 1 : -1;
}

JsonbValue *
getKeyJsonValueFromContainer(JsonbContainer *container, const char *keyVal, int keyLen,
							 JsonbValue *res)
{
	JEntry	   *children = container->children;
	int			count = JsonContainerSize(container);
	char	   *baseAddr = (char *) (children + count * 2);
	uint32		lo = 0;
	uint32		hi = count;

	if (!JsonContainerIsObject(container))
		elog(ERROR, "shim: key look-up in a jsonb that is not an object");
	while (lo < hi)
	{
		uint32		mid = lo + (hi - lo) / 2;
		int			d = key_cmp(baseAddr + getJsonbOffset(container, mid),
								getJsonbLength(container, mid), keyVal, keyLen);

		if (d == 0)
		{
			int			index = mid + count;

			if (res == NULL)
				res = palloc(sizeof(JsonbValue));
			fill_value(container, index, baseAddr, getJsonbOffset(container, index), res);
			return res;
		}
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

JsonbValue *
getIthJsonbValueFromContainer(JsonbContainer *container, uint32 i)
{
	uint32		n = JsonContainerSize(container);
	JsonbValue *result;

	if (!JsonContainerIsArray(container))
		elog(ERROR, "not a jsonb array");
	if (i >= n)
		return NULL;
	result = palloc(sizeof(JsonbValue));
	fill_value(container, i, (char *) &container->children[n], getJsonbOffset(container, i), result);
	return result;
}

static JsonbIterator *
iterator_from(JsonbContainer *container, JsonbIterator *parent)
{
	JsonbIterator *it = palloc0(sizeof(JsonbIterator));

	it->container = container;
	it->parent = parent;
	it->nElems = JsonContainerSize(container);
	it->children = container->children;
	if (JsonContainerIsArray(container))
	{
		it->dataProper = (char *) it->children + it->nElems * sizeof(JEntry);
		it->isScalar = JsonContainerIsScalar(container);
		it->state = JBI_ARRAY_START;
	}
	else if (JsonContainerIsObject(container))
	{
		it->dataProper = (char *) it->children + it->nElems * sizeof(JEntry) * 2;
		it->state = JBI_OBJECT_START;
	}
	else
		elog(ERROR, "unknown type of jsonb container");
	return it;
}

JsonbIterator *
JsonbIteratorInit(JsonbContainer *container)
{
	return iterator_from(container, NULL);
}

static JsonbIterator *
free_and_parent(JsonbIterator *it)
{
	JsonbIterator *v = it->parent;

	pfree(it);
	return v;
}

#define ADVANCE(offset, je) \
	do { \
		JEntry	je_ = (je); \
		if (JBE_HAS_OFF(je_)) (offset) = JBE_OFFLENFLD(je_); \
		else (offset) += JBE_OFFLENFLD(je_); \
	} while (0)

JsonbIteratorToken
JsonbIteratorNext(JsonbIterator **it, JsonbValue *val, bool skipNested)
{
	if (*it == NULL)
		return WJB_DONE;
recurse:
	switch ((*it)->state)
	{
		case JBI_ARRAY_START:
			val->type = jbvArray;
			val->val.array.nElems = (*it)->nElems;
			val->val.array.rawScalar = (*it)->isScalar;
			(*it)->curIndex = 0;
			(*it)->curDataOffset = 0;
			(*it)->curValueOffset = 0;
			(*it)->state = JBI_ARRAY_ELEM;
			return WJB_BEGIN_ARRAY;
		case JBI_ARRAY_ELEM:
			if ((*it)->curIndex >= (int) (*it)->nElems)
			{
				*it = free_and_parent(*it);
				return WJB_END_ARRAY;
			}
			fill_value((*it)->container, (*it)->curIndex, (*it)->dataProper,
					   (*it)->curDataOffset, val);
			ADVANCE((*it)->curDataOffset, (*it)->children[(*it)->curIndex]);
			(*it)->curIndex++;
			if (!IsAJsonbScalar(val) && !skipNested)
			{
				*it = iterator_from(val->val.binary.data, *it);
				goto recurse;
			}
			return WJB_ELEM;
		case JBI_OBJECT_START:
			val->type = jbvObject;
			val->val.object.nPairs = (*it)->nElems;
			(*it)->curIndex = 0;
			(*it)->curDataOffset = 0;
			(*it)->curValueOffset = getJsonbOffset((*it)->container, (*it)->nElems);
			(*it)->state = JBI_OBJECT_KEY;
			return WJB_BEGIN_OBJECT;
		case JBI_OBJECT_KEY:
			if ((*it)->curIndex >= (int) (*it)->nElems)
			{
				*it = free_and_parent(*it);
				return WJB_END_OBJECT;
			}
			fill_value((*it)->container, (*it)->curIndex, (*it)->dataProper,
					   (*it)->curDataOffset, val);
			if (val->type != jbvString)
				elog(ERROR, "unexpected jsonb type as object key");
			(*it)->state = JBI_OBJECT_VALUE;
			return WJB_KEY;
		case JBI_OBJECT_VALUE:
			(*it)->state = JBI_OBJECT_KEY;
			fill_value((*it)->container, (*it)->curIndex + (*it)->nElems, (*it)->dataProper,
					   (*it)->curValueOffset, val);
			ADVANCE((*it)->curDataOffset, (*it)->children[(*it)->curIndex]);
			ADVANCE((*it)->curValueOffset, (*it)->children[(*it)->curIndex + (*it)->nElems]);
			(*it)->curIndex++;
			if (!IsAJsonbScalar(val) && !skipNested)
			{
				*it = iterator_from(val->val.binary.data, *it);
				goto recurse;
			}
			return WJB_VALUE;
	}
	elog(ERROR, "invalid jsonb iterator state");
	return -1;
}

bool
JsonbExtractScalar(JsonbContainer *jbc, JsonbValue *res)
{
	JsonbIterator *it;
	JsonbValue	tmp;

	if (!JsonContainerIsArray(jbc) || !JsonContainerIsScalar(jbc))
	{
		res->type = jbvNull;
		return false;
	}
	it = JsonbIteratorInit(jbc);
	(void) JsonbIteratorNext(&it, &tmp, true);
	(void) JsonbIteratorNext(&it, res, true);
	(void) JsonbIteratorNext(&it, &tmp, true);
	(void) JsonbIteratorNext(&it, &tmp, true);
	return true;
}

/* ---------------------------------------------------------------- building in memory */

static JsonbParseState *
push_state(JsonbParseState **pstate)
{
	JsonbParseState *ns = palloc(sizeof(JsonbParseState));

	ns->next = *pstate;
	return ns;
}

static void
append_key(JsonbParseState *pstate, JsonbValue *string)
{
	JsonbValue *object = &pstate->contVal;

	if (string == NULL || string->type != jbvString)
		elog(ERROR, "shim: a jsonb key that is not a string");
	if (object->val.object.nPairs >= (int) JSONB_MAX_PAIRS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("number of jsonb object pairs exceeds the maximum allowed (%zu)",
						JSONB_MAX_PAIRS)));
	if (object->val.object.nPairs >= (int) pstate->size)
	{
		pstate->size *= 2;
		object->val.object.pairs = repalloc(object->val.object.pairs,
											sizeof(JsonbPair) * pstate->size);
	}
	object->val.object.pairs[object->val.object.nPairs].key = *string;
	object->val.object.pairs[object->val.object.nPairs].order = object->val.object.nPairs;
}

static void
append_value(JsonbParseState *pstate, JsonbValue *scalarVal)
{
	JsonbValue *object = &pstate->contVal;

	object->val.object.pairs[object->val.object.nPairs++].value = *scalarVal;
}

static void
append_element(JsonbParseState *pstate, JsonbValue *scalarVal)
{
	JsonbValue *array = &pstate->contVal;

	if (array->val.array.nElems >= (int) JSONB_MAX_ELEMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("number of jsonb array elements exceeds the maximum allowed (%zu)",
						JSONB_MAX_ELEMS)));
	if (array->val.array.nElems >= (int) pstate->size)
	{
		pstate->size *= 2;
		array->val.array.elems = repalloc(array->val.array.elems,
										  sizeof(JsonbValue) * pstate->size);
	}
	array->val.array.elems[array->val.array.nElems++] = *scalarVal;
}

static int
pair_cmp(const void *a, const void *b)
{
	const JsonbPair *pa = a;
	const JsonbPair *pb = b;
	int			d = key_cmp(pa->key.val.string.val, pa->key.val.string.len,
							pb->key.val.string.val, pb->key.val.string.len);

	if (d != 0)
		return d;
	return pa->order > pb->order ? -1 : 1;	/* the last of equal keys first: it wins */
}

static void
uniqueify_object(JsonbValue *object)
{
	JsonbPair  *pairs = object->val.object.pairs;
	int			n = object->val.object.nPairs;
	int			kept = 0;

	if (n <= 1)
		return;
	qsort(pairs, n, sizeof(JsonbPair), pair_cmp);
	for (int i = 0; i < n; i++)
		if (kept == 0 || key_cmp(pairs[kept - 1].key.val.string.val, pairs[kept - 1].key.val.string.len,
								 pairs[i].key.val.string.val, pairs[i].key.val.string.len) != 0)
			pairs[kept++] = pairs[i];
	object->val.object.nPairs = kept;
}

static JsonbValue *
push_scalar(JsonbParseState **pstate, JsonbIteratorToken seq, JsonbValue *scalarVal)
{
	JsonbValue *result = NULL;

	switch (seq)
	{
		case WJB_BEGIN_ARRAY:
			*pstate = push_state(pstate);
			result = &(*pstate)->contVal;
			(*pstate)->contVal.type = jbvArray;
			(*pstate)->contVal.val.array.nElems = 0;
			(*pstate)->contVal.val.array.rawScalar = (scalarVal && scalarVal->val.array.rawScalar);
			(*pstate)->size = 4;
			(*pstate)->contVal.val.array.elems = palloc(sizeof(JsonbValue) * (*pstate)->size);
			break;
		case WJB_BEGIN_OBJECT:
			*pstate = push_state(pstate);
			result = &(*pstate)->contVal;
			(*pstate)->contVal.type = jbvObject;
			(*pstate)->contVal.val.object.nPairs = 0;
			(*pstate)->size = 4;
			(*pstate)->contVal.val.object.pairs = palloc(sizeof(JsonbPair) * (*pstate)->size);
			break;
		case WJB_KEY:
			append_key(*pstate, scalarVal);
			break;
		case WJB_VALUE:
			if (!IsAJsonbScalar(scalarVal) && scalarVal->type != jbvBinary)
				elog(ERROR, "shim: a jsonb value pushed that is not a scalar");
			append_value(*pstate, scalarVal);
			break;
		case WJB_ELEM:
			append_element(*pstate, scalarVal);
			break;
		case WJB_END_OBJECT:
			uniqueify_object(&(*pstate)->contVal);
			/* fall through */
		case WJB_END_ARRAY:
			result = &(*pstate)->contVal;
			*pstate = (*pstate)->next;
			if (*pstate)
			{
				if ((*pstate)->contVal.type == jbvArray)
					append_element(*pstate, result);
				else
					append_value(*pstate, result);
			}
			break;
		default:
			elog(ERROR, "unrecognized jsonb sequential processing token");
	}
	return result;
}

JsonbValue *
pushJsonbValue(JsonbParseState **pstate, JsonbIteratorToken seq, JsonbValue *jbval)
{
	JsonbIterator *it;
	JsonbValue *res = NULL;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!jbval || (seq != WJB_ELEM && seq != WJB_VALUE) || jbval->type != jbvBinary)
		return push_scalar(pstate, seq, jbval);

	/* a container: unpacked into the value being built, as the backend does */
	it = JsonbIteratorInit(jbval->val.binary.data);
	if ((jbval->val.binary.data->header & JB_FSCALAR) && *pstate)
	{
		(void) JsonbIteratorNext(&it, &v, true);
		(void) JsonbIteratorNext(&it, &v, true);
		if ((*pstate)->contVal.type == jbvArray)
			return push_scalar(pstate, WJB_ELEM, &v);
		return push_scalar(pstate, WJB_VALUE, &v);
	}
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
		res = push_scalar(pstate, tok,
						  tok < WJB_BEGIN_ARRAY ||
						  (tok == WJB_BEGIN_ARRAY && v.val.array.rawScalar) ? &v : NULL);
	return res;
}

/* ---------------------------------------------------------------- in memory to binary */

static int
reserve(StringInfo buffer, int len)
{
	int			offset;

	enlargeStringInfo(buffer, len);
	offset = buffer->len;
	buffer->len += len;
	buffer->data[buffer->len] = '\0';
	return offset;
}

static void
append_bytes(StringInfo buffer, const void *data, int len)
{
	int			offset = reserve(buffer, len);

	memcpy(buffer->data + offset, data, len);
}

static short
pad_to_int(StringInfo buffer)
{
	int			padlen = INTALIGN(buffer->len) - buffer->len;
	int			offset = reserve(buffer, padlen);

	memset(buffer->data + offset, 0, padlen);
	return padlen;
}

static void convert_value(StringInfo buffer, JEntry *header, JsonbValue *val, int level);

static void
check_total(uint32 totallen, const char *what)
{
	if (totallen > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb %s elements exceeds the maximum of %d bytes",
						what, JENTRY_OFFLENMASK)));
}

static void
convert_scalar(StringInfo buffer, JEntry *header, JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			*header = JENTRY_ISNULL;
			break;
		case jbvString:
			append_bytes(buffer, v->val.string.val, v->val.string.len);
			*header = v->val.string.len;
			break;
		case jbvNumeric:
			{
				int			numlen = VARSIZE_ANY(v->val.numeric);
				int			padlen = pad_to_int(buffer);

				append_bytes(buffer, v->val.numeric, numlen);
				*header = JENTRY_ISNUMERIC | (padlen + numlen);
				break;
			}
		case jbvBool:
			*header = v->val.boolean ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE;
			break;
		default:
			elog(ERROR, "invalid jsonb scalar type");
	}
}

static void
convert_array(StringInfo buffer, JEntry *pheader, JsonbValue *val, int level)
{
	int			base_offset = buffer->len;
	int			jentry_offset;
	int			n = val->val.array.nElems;
	uint32		header;
	uint32		totallen = 0;

	pad_to_int(buffer);
	header = n | JB_FARRAY;
	if (val->val.array.rawScalar)
		header |= JB_FSCALAR;
	append_bytes(buffer, &header, sizeof(uint32));
	jentry_offset = reserve(buffer, sizeof(JEntry) * n);
	for (int i = 0; i < n; i++)
	{
		JEntry		meta;

		convert_value(buffer, &meta, &val->val.array.elems[i], level + 1);
		totallen += JBE_OFFLENFLD(meta);
		check_total(totallen, "array");
		if ((i % JB_OFFSET_STRIDE) == 0)
			meta = (meta & JENTRY_TYPEMASK) | totallen | JENTRY_HAS_OFF;
		memcpy(buffer->data + jentry_offset, &meta, sizeof(JEntry));
		jentry_offset += sizeof(JEntry);
	}
	totallen = buffer->len - base_offset;
	check_total(totallen, "array");
	*pheader = JENTRY_ISCONTAINER | totallen;
}

static void
convert_object(StringInfo buffer, JEntry *pheader, JsonbValue *val, int level)
{
	int			base_offset = buffer->len;
	int			jentry_offset;
	int			n = val->val.object.nPairs;
	uint32		header;
	uint32		totallen = 0;

	pad_to_int(buffer);
	header = n | JB_FOBJECT;
	append_bytes(buffer, &header, sizeof(uint32));
	jentry_offset = reserve(buffer, sizeof(JEntry) * n * 2);
	for (int i = 0; i < n; i++)
	{
		JEntry		meta;

		convert_scalar(buffer, &meta, &val->val.object.pairs[i].key);
		totallen += JBE_OFFLENFLD(meta);
		check_total(totallen, "object");
		if ((i % JB_OFFSET_STRIDE) == 0)
			meta = (meta & JENTRY_TYPEMASK) | totallen | JENTRY_HAS_OFF;
		memcpy(buffer->data + jentry_offset, &meta, sizeof(JEntry));
		jentry_offset += sizeof(JEntry);
	}
	for (int i = 0; i < n; i++)
	{
		JEntry		meta;

		convert_value(buffer, &meta, &val->val.object.pairs[i].value, level + 1);
		totallen += JBE_OFFLENFLD(meta);
		check_total(totallen, "object");
		if (((i + n) % JB_OFFSET_STRIDE) == 0)
			meta = (meta & JENTRY_TYPEMASK) | totallen | JENTRY_HAS_OFF;
		memcpy(buffer->data + jentry_offset, &meta, sizeof(JEntry));
		jentry_offset += sizeof(JEntry);
	}
	totallen = buffer->len - base_offset;
	check_total(totallen, "object");
	*pheader = JENTRY_ISCONTAINER | totallen;
}

static void
convert_value(StringInfo buffer, JEntry *header, JsonbValue *val, int level)
{
	shim_check_stack_depth();
	if (IsAJsonbScalar(val))
		convert_scalar(buffer, header, val);
	else if (val->type == jbvArray)
		convert_array(buffer, header, val, level);
	else if (val->type == jbvObject)
		convert_object(buffer, header, val, level);
	else
		elog(ERROR, "unknown type of jsonb container to convert");
}

Jsonb *
JsonbValueToJsonb(JsonbValue *val)
{
	if (IsAJsonbScalar(val))
	{
		JsonbParseState *pstate = NULL;
		JsonbValue	scalarArray;
		JsonbValue *res;

		scalarArray.type = jbvArray;
		scalarArray.val.array.rawScalar = true;
		scalarArray.val.array.nElems = 1;
		pushJsonbValue(&pstate, WJB_BEGIN_ARRAY, &scalarArray);
		pushJsonbValue(&pstate, WJB_ELEM, val);
		res = pushJsonbValue(&pstate, WJB_END_ARRAY, NULL);
		return JsonbValueToJsonb(res);
	}
	if (val->type == jbvObject || val->type == jbvArray)
	{
		StringInfoData buffer;
		JEntry		jentry;

		initStringInfo(&buffer);
		reserve(&buffer, VARHDRSZ);
		convert_value(&buffer, &jentry, val, 0);
		SET_VARSIZE(buffer.data, buffer.len);
		return (Jsonb *) buffer.data;
	}
	else
	{
		Jsonb	   *out = palloc(VARHDRSZ + val->val.binary.len);

		SET_VARSIZE(out, VARHDRSZ + val->val.binary.len);
		memcpy(VARDATA(out), val->val.binary.data, val->val.binary.len);
		return out;
	}
}

/* ---------------------------------------------------------------- jsonb_out's text */

static void
put_escaped_value(StringInfo out, JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			appendBinaryStringInfo(out, "null", 4);
			break;
		case jbvString:
			escape_json(out, pnstrdup(v->val.string.val, v->val.string.len));
			break;
		case jbvNumeric:
			appendStringInfoString(out, DatumGetCString(DirectFunctionCall1(numeric_out,
																			PointerGetDatum(v->val.numeric))));
			break;
		case jbvBool:
			appendStringInfoString(out, v->val.boolean ? "true" : "false");
			break;
		default:
			elog(ERROR, "unknown jsonb scalar type");
	}
}

char *
JsonbToCString(StringInfo out, JsonbContainer *in, int estimated_len)
{
	bool		first = true;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken type = WJB_DONE;
	bool		redo_switch = false;
	bool		raw_scalar = false;

	if (out == NULL)
		out = makeStringInfo();
	enlargeStringInfo(out, (estimated_len >= 0) ? estimated_len : 64);
	it = JsonbIteratorInit(in);
	while (redo_switch || ((type = JsonbIteratorNext(&it, &v, false)) != WJB_DONE))
	{
		redo_switch = false;
		switch (type)
		{
			case WJB_BEGIN_ARRAY:
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				if (!v.val.array.rawScalar)
					appendStringInfoCharMacro(out, '[');
				else
					raw_scalar = true;
				first = true;
				break;
			case WJB_BEGIN_OBJECT:
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				appendStringInfoCharMacro(out, '{');
				first = true;
				break;
			case WJB_KEY:
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				first = true;
				put_escaped_value(out, &v);
				appendBinaryStringInfo(out, ": ", 2);
				type = JsonbIteratorNext(&it, &v, false);
				if (type == WJB_VALUE)
				{
					first = false;
					put_escaped_value(out, &v);
				}
				else
					redo_switch = true;
				break;
			case WJB_ELEM:
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				first = false;
				put_escaped_value(out, &v);
				break;
			case WJB_END_ARRAY:
				if (!raw_scalar)
					appendStringInfoCharMacro(out, ']');
				first = false;
				break;
			case WJB_END_OBJECT:
				appendStringInfoCharMacro(out, '}');
				first = false;
				break;
			default:
				elog(ERROR, "unknown jsonb iterator token type");
		}
	}
	return out->data;
}

/* ---------------------------------------------------------------- jsonb_in */

typedef struct InState
{
	JsonbParseState *parseState;
	JsonbValue *res;
} InState;

static void
in_object_start(void *pstate)
{
	InState    *s = pstate;

	s->res = pushJsonbValue(&s->parseState, WJB_BEGIN_OBJECT, NULL);
}

static void
in_object_end(void *pstate)
{
	InState    *s = pstate;

	s->res = pushJsonbValue(&s->parseState, WJB_END_OBJECT, NULL);
}

static void
in_array_start(void *pstate)
{
	InState    *s = pstate;

	s->res = pushJsonbValue(&s->parseState, WJB_BEGIN_ARRAY, NULL);
}

static void
in_array_end(void *pstate)
{
	InState    *s = pstate;

	s->res = pushJsonbValue(&s->parseState, WJB_END_ARRAY, NULL);
}

static void
in_check_len(size_t len)
{
	if (len > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("string too long to represent as jsonb string")));
}

static void
in_object_field_start(void *pstate, char *fname, bool isnull)
{
	InState    *s = pstate;
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.len = strlen(fname);
	in_check_len(v.val.string.len);
	v.val.string.val = fname;
	s->res = pushJsonbValue(&s->parseState, WJB_KEY, &v);
}

static void
in_scalar(void *pstate, char *token, JsonTokenType tokentype)
{
	InState    *s = pstate;
	JsonbValue	v;

	switch (tokentype)
	{
		case JSON_TOKEN_STRING:
			v.type = jbvString;
			v.val.string.len = strlen(token);
			in_check_len(v.val.string.len);
			v.val.string.val = token;
			break;
		case JSON_TOKEN_NUMBER:
			v.type = jbvNumeric;
			v.val.numeric = numeric_parse(token);
			break;
		case JSON_TOKEN_TRUE:
			v.type = jbvBool;
			v.val.boolean = true;
			break;
		case JSON_TOKEN_FALSE:
			v.type = jbvBool;
			v.val.boolean = false;
			break;
		case JSON_TOKEN_NULL:
			v.type = jbvNull;
			break;
		default:
			elog(ERROR, "invalid json token type");
			break;
	}
	if (s->parseState == NULL)
	{
		JsonbValue	va;

		va.type = jbvArray;
		va.val.array.rawScalar = true;
		va.val.array.nElems = 1;
		s->res = pushJsonbValue(&s->parseState, WJB_BEGIN_ARRAY, &va);
		s->res = pushJsonbValue(&s->parseState, WJB_ELEM, &v);
		s->res = pushJsonbValue(&s->parseState, WJB_END_ARRAY, NULL);
	}
	else if (s->parseState->contVal.type == jbvArray)
		s->res = pushJsonbValue(&s->parseState, WJB_ELEM, &v);
	else
		s->res = pushJsonbValue(&s->parseState, WJB_VALUE, &v);
}

/*
 * The frontend build of the JSON parser has no check_stack_depth(): nesting deeper than the
 * backend's default max_stack_depth would reach is refused here first, as the backend refuses it.
 */
static void
in_check_depth(const char *json, int len)
{
	int			depth = 0;
	bool		in_string = false;

	for (int i = 0; i < len; i++)
	{
		char		c = json[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '[' || c == '{')
		{
			if (++depth > SHIM_MAX_JSON_DEPTH)
				ereport(ERROR,
						(errcode(ERRCODE_STATEMENT_TOO_COMPLEX),
						 errmsg("stack depth limit exceeded")));
		}
		else if (c == ']' || c == '}')
			depth--;
	}
}

Jsonb *
shim_jsonb_from_text(const char *json, int len)
{
	JsonLexContext *lex;
	JsonSemAction sem;
	InState		state;
	JsonParseErrorType result;
	char	   *copy = pnstrdup(json, len);

	in_check_depth(copy, strlen(copy));
	memset(&state, 0, sizeof(state));
	memset(&sem, 0, sizeof(sem));
	lex = makeJsonLexContextCstringLen(copy, strlen(copy), PG_UTF8, true);
	sem.semstate = &state;
	sem.object_start = in_object_start;
	sem.array_start = in_array_start;
	sem.object_end = in_object_end;
	sem.array_end = in_array_end;
	sem.scalar = in_scalar;
	sem.object_field_start = in_object_field_start;
	result = pg_parse_json(lex, &sem);
	if (result != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(result == JSON_UNICODE_CODE_POINT_ZERO ||
						 result == JSON_UNICODE_HIGH_ESCAPE
						 ? ERRCODE_UNTRANSLATABLE_CHARACTER
						 : ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s", "json"),
				 errdetail("JSON parse error %d (the frontend parser has no json_errdetail)", (int) result)));
	return JsonbValueToJsonb(state.res);
}

Datum
jsonb_in(PG_FUNCTION_ARGS)
{
	char	   *json = PG_GETARG_CSTRING(0);

	PG_RETURN_POINTER(shim_jsonb_from_text(json, strlen(json)));
}

Datum
jsonb_out(PG_FUNCTION_ARGS)
{
	Jsonb	   *jb = (Jsonb *) PG_GETARG_POINTER(0);

	PG_RETURN_CSTRING(JsonbToCString(NULL, &jb->root, VARSIZE(jb)));
}
