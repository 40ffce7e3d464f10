/*
 * push_parse.h: validation and normalization of push bodies (doc/push.md).
 *
 * A push arrives in one of three dialects (EngageLab push object, Tencent Push body, Tencent IM
 * all/tag/attribute push body); pp_push_normalize checks it completely and returns the one shape
 * that tasks store: the EngageLab push object with defaults filled in, "body.platform" always an
 * array, and "dialect" recorded (doc/push.md). Bad input ereports with a coded message.
 */
#ifndef PUSH_PARSE_H
#define PUSH_PARSE_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/* Dialect names, as recorded in the normalized push's "dialect". */
#define PP_DIALECT_ENGAGELAB	"engagelab"
#define PP_DIALECT_TENCENT_PUSH	"tencent_push"
#define PP_DIALECT_TENCENT_IM	"tencent_im"

/*
 * Returns the normalized push (palloc'd in the current memory context) and, when dialect_out is
 * not NULL, the dialect detected (a static string).  A normalized push is accepted as input and
 * comes back unchanged.
 */
extern Jsonb *pp_push_normalize(Jsonb *push, const char **dialect_out);

/* The first key of a push that marks one of the Tencent forms, or NULL (push_vendor_test takes only EngageLab's). */
extern const char *pp_push_tencent_mark(Jsonb *push);

/*
 * One of a push's A/B variants (doc/variants.md): its share of the hash buckets 0..9999, in the
 * order the push lists them ([bucket_from, bucket_to): weight * 100, or weight * percent with a
 * "variants_test", whose winner later takes [percent * 100, 10000)), and the push it sends (normalized,
 * without "variants"; for the control group, which is sent nothing, the push's own content).
 */
typedef struct PPVariant
{
	char	   *name;
	int			weight;
	int			bucket_from;
	int			bucket_to;
	bool		control;
	Jsonb	   *push;
	int			template_reads;	/* filled by push_send's checks */
	char	   *task_id;		/* filled when stored */
} PPVariant;

/* The variants of a normalized push (a List of PPVariant *), NIL when it has none. */
extern List *pp_push_variants(Jsonb *normalized);

#endif							/* PUSH_PARSE_H */
