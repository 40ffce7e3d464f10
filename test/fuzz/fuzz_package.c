/*
 * fuzz_package: the account package reader (package.c): a file name, then the file, .txt,
 * .csv or .zip, read, inflated, checked and its accounts sorted and de-duplicated as
 * push_account_package_upload does before it inserts them. Input: the name, "\n", the bytes
 * (any bytes: a zip is binary). The limits are lowered (1 MB; any ratio below 64 kB) so that
 * the zip-bomb checks are reached at fuzzing speed.
 *
 * parse_package is static: the file is included.
 */
#include "../../src/package.c"

#include "fuzz_common.h"

static void
body(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char	   *name;
	text	   *filename;
	bytea	   *content;
	size_t		namelen;
	size_t		len;
	PkgLimits	lim = {.max_bytes = 1024 * 1024, .ratio_floor = 64 * 1024};
	AccountList l;

	if (nl == NULL)
		return;
	namelen = nl - data;
	name = fuzz_text(data, namelen);
	if (name == NULL)
		return;
	filename = cstring_to_text(name);
	len = size - namelen - 1;
	content = palloc(VARHDRSZ + len);
	SET_VARSIZE(content, VARHDRSZ + len);
	memcpy(VARDATA(content), nl + 1, len);
	parse_package(filename, content, &lim, &l);
	for (size_t i = 0; i < l.n; i++)
		(void) account_datum(&l, &l.items[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_run(body, data, size);
}
