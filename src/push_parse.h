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

#endif							/* PUSH_PARSE_H */
