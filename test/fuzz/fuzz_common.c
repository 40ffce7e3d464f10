/*
 * fuzz_common.c: the part of every fuzz target around the parser it drives: one memory context
 * per input, the ERROR boundary, the input as server text and as jsonb (fuzz_common.h).
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "fuzz_common.h"

static MemoryContext input_context;
static char *stack_base;

/* As the backend's check_stack_depth() at the default max_stack_depth (2MB). */
#define SHIM_MAX_STACK	(2L * 1024 * 1024)

void
shim_check_stack_depth(void)
{
	char		here;

	if (stack_base != NULL && labs(stack_base - &here) > SHIM_MAX_STACK)
		ereport(ERROR,
				(errcode(ERRCODE_STATEMENT_TOO_COMPLEX),
				 errmsg("stack depth limit exceeded")));
}

void
check_stack_depth(void)
{
	shim_check_stack_depth();
}

int
fuzz_run(FuzzBody fn, const uint8_t *data, size_t size)
{
	MemoryContext old;
	char		base;

	shim_init();
	if (input_context == NULL)
		input_context = shim_context_create("fuzz input");
	stack_base = &base;
	old = MemoryContextSwitchTo(input_context);
	PG_TRY();
	{
		fn(data, size);
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "fuzz: accepted\n");
	}
	PG_CATCH();
	{
		if (shim_error.sqlerrcode == ERRCODE_INTERNAL_ERROR && getenv("FUZZ_ALLOW_INTERNAL") == NULL)
		{
			fprintf(stderr, "fuzz: internal error (%s:%d): %s\n", shim_error.filename,
					shim_error.lineno, shim_error.message);
			abort();
		}
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "fuzz: error %s: %s\n", unpack_sql_state(shim_error.sqlerrcode),
					shim_error.message);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	MemoryContextReset(input_context);
	stack_base = NULL;
	return 0;
}

char *
fuzz_text(const uint8_t *data, size_t size)
{
	char	   *s;

	if (size > MaxAllocSize - 1 || !pg_verify_mbstr(PG_UTF8, (const char *) data, size, true))
		return NULL;
	s = palloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

Jsonb *
fuzz_jsonb(const char *text, size_t len)
{
	Jsonb	   *volatile jb = NULL;

	if (text == NULL)
		return NULL;
	/* invalid JSON is the server's jsonb_in error, not the parser's: not an input here */
	PG_TRY();
	{
		jb = shim_jsonb_from_text(text, len);
	}
	PG_CATCH();
	{
		jb = NULL;
	}
	PG_END_TRY();
	return jb;
}

bool
fuzz_split(const char *text, char **a, char **b)
{
	const char *sep = strstr(text, "\n---\n");

	if (sep == NULL)
		return false;
	*a = pnstrdup(text, sep - text);
	*b = pstrdup(sep + 5);
	return true;
}
