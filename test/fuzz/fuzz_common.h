/*
 * fuzz_common.h: what the fuzz targets (test/fuzz/fuzz_*.c) share with the runtime shim
 * (pg_shim.c, jsonb_shim.c, fuzz_common.c). doc/reliability.md, "Fuzzing and sanitizers".
 */
#ifndef PUSHPLAN_FUZZ_COMMON_H
#define PUSHPLAN_FUZZ_COMMON_H

#include "postgres.h"

#include "utils/jsonb.h"

/* An ERROR the shim raises where the backend would have done the work (encoding conversions). */
#define SHIM_UNSUPPORTED	MAKE_SQLSTATE('F', 'Z', '0', '0', '1')

/*
 * Nesting the shim's JSON input accepts: the backend's parser stops near this depth with
 * "stack depth limit exceeded" at the default max_stack_depth (2MB), its frontend build
 * (libpgcommon) does not check at all.
 */
#define SHIM_MAX_JSON_DEPTH	6000

typedef struct ShimError
{
	int			sqlerrcode;
	char		message[1024];
	char		detail[1024];
	const char *filename;
	int			lineno;
} ShimError;

extern ShimError shim_error;

extern void shim_init(void);
extern MemoryContext shim_context_create(const char *name);
extern void shim_check_stack_depth(void);
extern Jsonb *shim_jsonb_from_text(const char *json, int len);

/*
 * Runs fn(data, size) as one input: in a memory context reset afterwards, under PG_TRY. An
 * ERROR is the expected answer to bad input, unless it is an internal one (elog, SQLSTATE
 * XX000): bad input must get a coded message, so that one aborts, as a crash does.
 */
typedef void (*FuzzBody) (const uint8_t *data, size_t size);
extern int	fuzz_run(FuzzBody fn, const uint8_t *data, size_t size);

/* The input as a NUL-terminated string, when it is valid UTF-8 without NUL (server text). */
extern char *fuzz_text(const uint8_t *data, size_t size);
/* The input as jsonb, or NULL when it is not valid server text or valid JSON. */
extern Jsonb *fuzz_jsonb(const char *text, size_t len);

/* Splits data at the first "\n---\n": the part before (a) and after (b). false: no separator */
extern bool fuzz_split(const char *text, char **a, char **b);

#endif							/* PUSHPLAN_FUZZ_COMMON_H */
