/*
 * package.c: account packages (Tencent Push's "push to accounts").
 *
 * An account package is a .txt (UTF-8, one account a row), a .csv (one column, RFC 4180
 * quoting) or a .zip holding exactly one such file and no folders, of at most 100 MB.
 * push_account_package_upload parses it in C, sorts and de-duplicates the accounts, and
 * stores them under a new upload_id.  Nothing is written until the whole package has
 * been parsed and every rule checked, so a bad package leaves no trace.
 *
 * Speed: the accounts are never copied while parsing (each is an offset and a length in
 * the file's bytes) and are inserted the way COPY does it: table_multi_insert of a
 * batch of slots, then the index entries.  Sorted input makes each primary-key insertion
 * take the btree's rightmost-page fast path.  The foreign key from the accounts to their
 * package is satisfied by construction (the package row is inserted just before, in the
 * same transaction, and is invisible to anyone else until commit), so the per-row
 * referential-integrity trigger, which would dominate the cost, is not queued.
 */
#include "pushplan.h"
#include "tenancy.h"

#include <zip.h>

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#define PKG_MAX_BYTES		INT64CONST(104857600)	/* 100 MB, as uploaded and inflated */
#define PKG_RATIO_FLOOR		INT64CONST(1048576) /* below this size any ratio is fine */
#define PKG_MAX_RATIO		100 /* inflated : compressed, beyond the floor */
#define PKG_NAME_MAX_CHARS	100
#define ACCOUNT_MIN_CHARS	2
#define ACCOUNT_MAX_CHARS	100
#define ACCOUNT_MAX_BYTES	(ACCOUNT_MAX_CHARS * 4)
#define INSERT_BATCH		1000	/* slots per table_multi_insert, as in COPY */
#define ZIP_READ_CHUNK		(1024 * 1024)

typedef enum PkgKind
{
	PKG_TXT,
	PKG_CSV,
	PKG_ZIP
} PkgKind;

/* Size limits; the SQL test helper may only lower them. */
typedef struct PkgLimits
{
	int64		max_bytes;
	int64		ratio_floor;
} PkgLimits;

/*
 * One account: its bytes are buf[off .. off + len).  key holds the first eight bytes,
 * big-endian and zero-padded, so most comparisons while sorting touch no string (accounts
 * never contain a NUL byte, so the padding cannot tie with real bytes).
 */
typedef struct Account
{
	uint64		key;
	uint32		off;
	uint32		len;
} Account;

typedef struct AccountList
{
	const char *buf;
	Account    *items;
	size_t		n;
	size_t		cap;
} AccountList;

PG_FUNCTION_INFO_V1(pushplan_account_package_upload);
PG_FUNCTION_INFO_V1(pushplan_account_package_parse);

static inline int
account_cmp(const Account *a, const Account *b, const char *buf)
{
	uint32		minlen;
	int			r;

	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	/* equal keys: either both end within the first 8 bytes (equal) or neither does */
	if (a->len <= 8 && b->len <= 8)
		return 0;
	minlen = Min(a->len, b->len);
	r = memcmp(buf + a->off + 8, buf + b->off + 8, minlen - 8);
	if (r != 0)
		return r;
	return (a->len > b->len) - (a->len < b->len);
}

#define ST_SORT sort_accounts
#define ST_ELEMENT_TYPE Account
#define ST_COMPARE_ARG_TYPE const char
#define ST_COMPARE(a, b, arg) account_cmp(a, b, arg)
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/* The package's type by the name's extension (case-insensitive), or -1. */
static int
kind_of(const char *name, size_t len)
{
	const char *ext;

	if (len < 4 || name[len - 4] != '.')
		return -1;
	ext = name + len - 3;
	if (pg_strncasecmp(ext, "txt", 3) == 0)
		return PKG_TXT;
	if (pg_strncasecmp(ext, "csv", 3) == 0)
		return PKG_CSV;
	if (pg_strncasecmp(ext, "zip", 3) == 0)
		return PKG_ZIP;
	return -1;
}

/* Checks the file name and returns the package's type. */
static PkgKind
check_filename(text *filename)
{
	const char *name;
	int			len;
	int			nchars;
	int			kind;

	if (filename == NULL)
		pp_error(PPE_PKG_FILENAME_INVALID,
				 "account package filename must be 1 to 100 characters");
	name = VARDATA_ANY(filename);
	len = VARSIZE_ANY_EXHDR(filename);
	nchars = pg_mbstrlen_with_len(name, len);
	if (nchars < 1 || nchars > PKG_NAME_MAX_CHARS)
		pp_error(PPE_PKG_FILENAME_INVALID,
				 "account package filename must be 1 to 100 characters, got %d", nchars);
	/* shown in push_account_packages and in messages: no line breaks or terminal escapes */
	if (pp_has_control(name, len))
		pp_error(PPE_PKG_FILENAME_CONTROL,
				 "account package filename \"%s\" holds a control character",
				 pp_shown_n(name, len));
	kind = kind_of(name, len);
	if (kind < 0)
		pp_error(PPE_PKG_FILE_TYPE,
				 "account package \"%s\" must be a .txt, .csv or .zip file",
				 pp_shown_n(name, len));
	return (PkgKind) kind;
}

/* Rejects bytes that are not UTF-8, and NUL bytes, naming the line. */
static void
validate_utf8(const unsigned char *s, size_t len)
{
	const unsigned char *end = s + len;
	int			line = 1;

	while (s < end)
	{
		int			l;

		if (*s < 0x80)
		{
			if (*s == '\n')
				line++;
			else if (*s == '\0')
				pp_error(PPE_PKG_LINE_NUL,
						 "line %d of the account package contains a NUL byte", line);
			s++;
			continue;
		}
		l = pg_utf_mblen(s);
		if (l > end - s || !pg_utf8_islegal(s, l))
			pp_error(PPE_PKG_LINE_NOT_UTF8,
					 "line %d of the account package is not valid UTF-8", line);
		s += l;
	}
}

static inline bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/*
 * Adds one row's value: surrounding spaces, tabs (and the CR of a CRLF) are trimmed, an
 * empty value is a blank row and skipped, anything else must be 2..100 characters.
 */
static void
add_account(AccountList *l, const char *s, size_t len, int line)
{
	const char *e = s + len;
	int			nchars = 0;
	uint64		key = 0;
	Account    *a;
	char	   *why;

	while (s < e && is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		e--;
	len = e - s;
	if (len == 0)
		return;
	if (len <= ACCOUNT_MAX_BYTES)
	{
		for (const char *p = s; p < e; p++)
			nchars += ((*p & 0xC0) != 0x80);
	}
	if (len > ACCOUNT_MAX_BYTES || nchars < ACCOUNT_MIN_CHARS || nchars > ACCOUNT_MAX_CHARS)
		pp_error(PPE_PKG_ACCOUNT_INVALID,
				 "account at line %d must be 2 to 100 characters", line);
	if ((why = pp_name_problem("account", s, len)) != NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s (line %d of the account package)", why, line)));

	if (l->n == l->cap)
	{
		l->cap *= 2;
		l->items = repalloc_huge(l->items, l->cap * sizeof(Account));
	}
	for (int i = 0; i < 8; i++)
		key = (key << 8) | (i < len ? (unsigned char) s[i] : 0);
	a = &l->items[l->n++];
	a->key = key;
	a->off = (uint32) (s - l->buf);
	a->len = (uint32) len;
}

static void
parse_txt(AccountList *l, const char *p, const char *end)
{
	int			line = 1;

	while (p < end)
	{
		const char *nl = memchr(p, '\n', end - p);
		const char *e = nl ? nl : end;

		add_account(l, p, e - p, line++);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

/*
 * One-column CSV (RFC 4180): a value may be quoted, "" inside quotes is a quote, and a
 * quoted value may span lines.  Quoted values are unescaped in place (never longer).
 */
static void
parse_csv(AccountList *l, char *p, char *end)
{
	int			line = 1;

	while (p < end)
	{
		int			rec_line = line;
		char	   *start;
		size_t		vlen;

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && *p == '"')
		{
			char	   *out;

			start = out = ++p;
			for (;;)
			{
				char		c;

				if (p >= end)
					pp_error(PPE_PKG_LINE_QUOTING,
							 "line %d of the account package has an unterminated quoted value",
							 rec_line);
				c = *p++;
				if (c == '"')
				{
					if (p < end && *p == '"')
						p++;
					else
						break;
				}
				else if (c == '\n')
					line++;
				*out++ = c;
			}
			vlen = out - start;
			while (p < end && is_blank(*p))
				p++;
			if (p < end && *p == ',')
				pp_error(PPE_PKG_LINE_COLUMNS,
						 "line %d of the account package has more than one column", line);
			if (p < end && *p != '\n')
				pp_error(PPE_PKG_LINE_QUOTING,
						 "line %d of the account package has text after a closing quote", line);
		}
		else
		{
			start = p;
			while (p < end && *p != '\n' && *p != ',')
			{
				if (*p == '"')
					pp_error(PPE_PKG_LINE_QUOTING,
							 "line %d of the account package has a quote inside an unquoted value",
							 line);
				p++;
			}
			if (p < end && *p == ',')
				pp_error(PPE_PKG_LINE_COLUMNS,
						 "line %d of the account package has more than one column", line);
			vlen = p - start;
		}
		add_account(l, start, vlen, rec_line);
		if (p < end)
		{
			p++;				/* the newline */
			line++;
		}
	}
}

/* Raises a corrupt-zip error carrying libzip's reason. */
static void
zip_corrupt(const char *zipname, const char *reason)
{
	ereport(ERROR,
			(pp_errmsg(PPE_PKG_ZIP_UNREADABLE,
					   "\"%s\" is not a readable zip archive", pp_shown(zipname)),
			 errdetail("%s", reason)));
}

/*
 * Inflates the one .txt or .csv file of a .zip into a palloc'd buffer.  The entry's
 * declared size is checked first, and the bytes actually inflated again while reading,
 * since a crafted header can declare any size.
 */
static char *
zip_extract(const char *zipname, const char *data, size_t len, const PkgLimits *lim,
			size_t *outlen, PkgKind *kind)
{
	zip_error_t ze;
	zip_source_t *src;
	zip_t	   *volatile za;
	zip_file_t *volatile zf = NULL;
	char	   *volatile buf = NULL;
	volatile size_t total = 0;

	zip_error_init(&ze);
	src = zip_source_buffer_create(data, len, 0, &ze);
	if (src == NULL)
		elog(ERROR, "zip_source_buffer_create failed: %s", zip_error_strerror(&ze));
	za = zip_open_from_source(src, ZIP_RDONLY, &ze);
	if (za == NULL)
	{
		char	   *reason = pstrdup(zip_error_strerror(&ze));

		zip_source_free(src);
		zip_error_fini(&ze);
		zip_corrupt(zipname, reason);
	}
	zip_error_fini(&ze);

	PG_TRY();
	{
		zip_int64_t nentries = zip_get_num_entries(za, 0);
		zip_stat_t	st;
		const char *name;
		size_t		cap;
		int			k;

		for (zip_int64_t i = 0; i < nentries; i++)
		{
			const char *n = zip_get_name(za, i, 0);

			if (n == NULL)
				zip_corrupt(zipname, zip_strerror(za));
			if (strchr(n, '/') != NULL || strchr(n, '\\') != NULL)
				pp_error(PPE_PKG_ZIP_FOLDER,
						 "zip account package must not contain folders, found \"%s\"", pp_shown(n));
		}
		if (nentries != 1)
			pp_error(PPE_PKG_ZIP_FILE_COUNT,
					 "zip account package must hold exactly one file, found %lld",
					 (long long) nentries);
		zip_stat_init(&st);
		if (zip_stat_index(za, 0, 0, &st) < 0)
			zip_corrupt(zipname, zip_strerror(za));
		name = st.name;
		k = kind_of(name, strlen(name));
		if (k != PKG_TXT && k != PKG_CSV)
			pp_error(PPE_PKG_ZIP_FILE_TYPE,
					 "the file in a zip account package must be a .txt or .csv file, found \"%s\"",
					 pp_shown(name));
		*kind = (PkgKind) k;
		if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
			pp_error(PPE_PKG_ZIP_ENCRYPTED,
					 "zip entry \"%s\" is encrypted", pp_shown(name));
		if ((st.valid & ZIP_STAT_SIZE) && st.size > (zip_uint64_t) lim->max_bytes)
			pp_error(PPE_PKG_ZIP_DECLARED_TOO_BIG,
					 "zip entry \"%s\" declares %llu bytes uncompressed, more than the %lld allowed",
					 pp_shown(name), (unsigned long long) st.size, (long long) lim->max_bytes);
		if ((st.valid & ZIP_STAT_SIZE) && (st.valid & ZIP_STAT_COMP_SIZE) &&
			st.size > (zip_uint64_t) lim->ratio_floor &&
			st.size / Max(st.comp_size, 1) > PKG_MAX_RATIO)
			pp_error(PPE_PKG_ZIP_RATIO,
					 "zip entry \"%s\" inflates more than %d times its compressed size",
					 pp_shown(name), PKG_MAX_RATIO);

		zf = zip_fopen_index(za, 0, 0);
		if (zf == NULL)
			zip_corrupt(zipname, zip_strerror(za));

		/* one byte beyond the limit, to see a lying header's excess */
		cap = (st.valid & ZIP_STAT_SIZE) ? st.size + 1 : ZIP_READ_CHUNK;
		cap = Max(cap, 1024);
		cap = Min(cap, (size_t) lim->max_bytes + 1);
		buf = MemoryContextAllocHuge(CurrentMemoryContext, cap);
		for (;;)
		{
			zip_int64_t n;

			if (total == cap)
			{
				cap = Min(cap * 2, (size_t) lim->max_bytes + 1);
				buf = repalloc_huge(buf, cap);
			}
			n = zip_fread(zf, buf + total, Min(cap - total, ZIP_READ_CHUNK));
			if (n < 0)
				zip_corrupt(zipname, zip_file_strerror(zf));
			if (n == 0)
				break;
			total += n;
			if (total > (size_t) lim->max_bytes)
				pp_error(PPE_PKG_ZIP_INFLATED_TOO_BIG,
						 "zip entry \"%s\" inflates to more than %lld bytes although it declares %llu",
						 pp_shown(name), (long long) lim->max_bytes, (unsigned long long) st.size);
			if (total > (size_t) lim->ratio_floor && total / Max(len, 1) > PKG_MAX_RATIO)
				pp_error(PPE_PKG_ZIP_RATIO,
						 "zip entry \"%s\" inflates more than %d times its compressed size",
						 pp_shown(name), PKG_MAX_RATIO);
			CHECK_FOR_INTERRUPTS();
		}
		/* a header that lied within the limits still marks a damaged or crafted archive */
		if ((st.valid & ZIP_STAT_SIZE) && total != st.size)
			zip_corrupt(zipname,
						psprintf("entry \"%s\" inflates to %zu bytes but declares %llu",
								 pp_shown(name), (size_t) total, (unsigned long long) st.size));
	}
	PG_FINALLY();
	{
		if (zf != NULL)
			zip_fclose(zf);
		zip_discard(za);
	}
	PG_END_TRY();

	*outlen = total;
	return buf;
}

/*
 * Parses a package into a sorted, de-duplicated account list whose strings point into
 * l->buf.  Errors name the rule and, for the contents, the line.
 */
static void
parse_package(text *filename, bytea *content, const PkgLimits *lim, AccountList *l)
{
	PkgKind		kind = check_filename(filename);
	char	   *buf;
	size_t		len;
	size_t		out;

	if (content == NULL || VARSIZE_ANY_EXHDR(content) == 0)
		pp_error(PPE_PKG_EMPTY, "account package is empty");
	len = VARSIZE_ANY_EXHDR(content);
	if (len > (size_t) lim->max_bytes)
		pp_error(PPE_PKG_TOO_BIG,
				 "account package is %zu bytes, more than the %lld allowed",
				 len, (long long) lim->max_bytes);

	if (kind == PKG_ZIP)
		buf = zip_extract(text_to_cstring(filename), VARDATA_ANY(content), len, lim,
						  &len, &kind);
	else if (kind == PKG_CSV)
	{
		/* CSV values are unescaped in place: work on a copy */
		buf = MemoryContextAllocHuge(CurrentMemoryContext, Max(len, 1));
		memcpy(buf, VARDATA_ANY(content), len);
	}
	else
		buf = VARDATA_ANY(content);

	/* a UTF-8 byte order mark is not part of the first account */
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
	{
		buf += 3;
		len -= 3;
	}
	validate_utf8((const unsigned char *) buf, len);

	l->buf = buf;
	l->n = 0;
	l->cap = Max(1024, len / 16);
	l->items = MemoryContextAllocHuge(CurrentMemoryContext, l->cap * sizeof(Account));
	if (kind == PKG_CSV)
		parse_csv(l, buf, buf + len);
	else
		parse_txt(l, buf, buf + len);
	if (l->n == 0)
		pp_error(PPE_PKG_NO_ACCOUNT, "account package holds no account");

	sort_accounts(l->items, l->n, buf);
	out = 1;
	for (size_t i = 1; i < l->n; i++)
	{
		if (account_cmp(&l->items[out - 1], &l->items[i], buf) != 0)
			l->items[out++] = l->items[i];
	}
	l->n = out;
}

/*
 * An account as a text datum.  The file is UTF-8; a database in another encoding (but
 * SQL_ASCII, which takes any bytes) gets the account converted.
 */
static Datum
account_datum(const AccountList *l, const Account *a)
{
	const char *s = l->buf + a->off;
	int			enc = GetDatabaseEncoding();

	if (enc != PG_UTF8 && enc != PG_SQL_ASCII)
	{
		char	   *conv = pg_any_to_server(s, a->len, PG_UTF8);

		return PointerGetDatum(cstring_to_text(conv));
	}
	return PointerGetDatum(cstring_to_text_with_len(s, a->len));
}

/*
 * Inserts the accounts as COPY does: batches of slots through table_multi_insert, then
 * their index entries; a per-batch memory context keeps memory flat.
 */
static void
insert_accounts(int64 upload_id, const AccountList *l)
{
	Oid			relid = get_relname_relid("account_package_accounts",
										  get_namespace_oid("pushplan", false));
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	BulkInsertState bistate;
	CommandId	cid = GetCurrentCommandId(true);
	TupleTableSlot *slots[INSERT_BATCH];
	MemoryContext batchcxt;
	MemoryContext oldcxt;

	if (!OidIsValid(relid))
		elog(ERROR, "table pushplan.account_package_accounts does not exist");
	rel = table_open(relid, RowExclusiveLock);
	if (RelationGetDescr(rel)->natts != 2)
		elog(ERROR, "pushplan.account_package_accounts must have two columns");

	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	bistate = GetBulkInsertState();
	for (int i = 0; i < INSERT_BATCH; i++)
		slots[i] = table_slot_create(rel, NULL);
	batchcxt = AllocSetContextCreate(CurrentMemoryContext, "account package batch",
									 ALLOCSET_DEFAULT_SIZES);

	for (size_t done = 0; done < l->n;)
	{
		int			nb = (int) Min((size_t) INSERT_BATCH, l->n - done);

		oldcxt = MemoryContextSwitchTo(batchcxt);
		for (int i = 0; i < nb; i++)
		{
			const Account *a = &l->items[done + i];
			TupleTableSlot *slot = slots[i];

			ExecClearTuple(slot);
			slot->tts_values[0] = Int64GetDatum(upload_id);
			slot->tts_isnull[0] = false;
			slot->tts_values[1] = account_datum(l, a);
			slot->tts_isnull[1] = false;
			ExecStoreVirtualTuple(slot);
		}
		table_multi_insert(rel, slots, nb, cid, 0, bistate);
		for (int i = 0; i < nb; i++)
			list_free(ExecInsertIndexTuples(rri, slots[i], estate, false, false, NULL, NIL));
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(batchcxt);
		ResetPerTupleExprContext(estate);
		done += nb;
		CHECK_FOR_INTERRUPTS();
	}

	for (int i = 0; i < INSERT_BATCH; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	MemoryContextDelete(batchcxt);
	FreeBulkInsertState(bistate);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
}

/*
 * push_account_package_upload(app text, filename text, content bytea,
 *							   account_type int DEFAULT 0) RETURNS bigint
 */
Datum
pushplan_account_package_upload(PG_FUNCTION_ARGS)
{
	text	   *app = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	text	   *filename = PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1);
	bytea	   *content = PG_ARGISNULL(2) ? NULL : PG_GETARG_BYTEA_PP(2);
	PkgLimits	lim = {PKG_MAX_BYTES, PKG_RATIO_FLOOR};
	MemoryContext pkgcxt;
	MemoryContext oldcxt;
	AccountList l;
	Oid			argtypes[5] = {INT4OID, TEXTOID, INT4OID, INT8OID, INT8OID};
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	int32		app_id;
	int64		upload_id;
	bool		isnull;

	app_id = pp_app_id(app ? text_to_cstring(app) : NULL, PP_RIGHT_OPERATOR, NULL);
	SPI_connect();

	if (PG_ARGISNULL(3) || PG_GETARG_INT32(3) < 0)
		pp_error(PPE_PKG_ACCOUNT_TYPE_INVALID,
				 "account_type must be a non-negative integer");

	pkgcxt = AllocSetContextCreate(CurrentMemoryContext, "account package",
								   ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(pkgcxt);
	parse_package(filename, content, &lim, &l);
	MemoryContextSwitchTo(oldcxt);

	args[0] = Int32GetDatum(app_id);
	args[1] = PointerGetDatum(filename);
	args[2] = Int32GetDatum(PG_GETARG_INT32(3));
	args[3] = Int64GetDatum((int64) l.n);
	args[4] = Int64GetDatum((int64) VARSIZE_ANY_EXHDR(content));
	if (SPI_execute_with_args("INSERT INTO pushplan.account_packages"
							  " (app_id, filename, account_type, account_count, byte_size)"
							  " VALUES ($1, $2, $3, $4, $5) RETURNING upload_id",
							  5, argtypes, args, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not insert the account package");
	upload_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											&isnull));

	insert_accounts(upload_id, &l);

	MemoryContextDelete(pkgcxt);
	SPI_finish();
	PG_RETURN_INT64(upload_id);
}

/*
 * _account_package_parse(filename text, content bytea, max_bytes bigint,
 *						  ratio_floor bigint) RETURNS text[]
 *
 * The parser alone, for tests: the accounts an upload would store, sorted.  The limits
 * may only be lowered, so the zip-bomb guards can be exercised with small fixtures.
 */
Datum
pushplan_account_package_parse(PG_FUNCTION_ARGS)
{
	PkgLimits	lim;
	AccountList l;
	Datum	   *elems;
	ArrayType  *result;

	lim.max_bytes = Min(PG_GETARG_INT64(2), PKG_MAX_BYTES);
	lim.ratio_floor = Min(PG_GETARG_INT64(3), PKG_RATIO_FLOOR);
	if (lim.max_bytes < 1 || lim.ratio_floor < 1)
		pp_error(PPE_PKG_LIMITS_INVALID,
				 "max_bytes and ratio_floor must be positive");
	parse_package(PG_GETARG_TEXT_PP(0), PG_GETARG_BYTEA_PP(1), &lim, &l);

	elems = palloc_extended(l.n * sizeof(Datum), MCXT_ALLOC_HUGE);
	for (size_t i = 0; i < l.n; i++)
		elems[i] = account_datum(&l, &l.items[i]);
	result = construct_array(elems, (int) l.n, TEXTOID, -1, false, TYPALIGN_INT);
	PG_RETURN_ARRAYTYPE_P(result);
}
