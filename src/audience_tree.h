/*
 * audience_tree.h: the audience tree that the dialects parse into (audience_parse.c) and that
 * is compiled to SQL (audience_sql.c). Private to the audience files; the rest of pushplan sees
 * audience.h.
 */
#ifndef AUDIENCE_TREE_H
#define AUDIENCE_TREE_H

#include "postgres.h"

#include "executor/spi.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "audience.h"

#define MAX_IDS			1000	/* registration_id, token, account lists */
#define MAX_TAGS		20		/* each of tag, tag_and, tag_not (EngageLab) */
#define MAX_IM_TAGS		10		/* each of TagsAnd, TagsOr (Tencent IM) */
#define MAX_NODES		64		/* condition tree */
#define MAX_ATTR_PAIRS	100		/* each attr_and, attr_or, attr, AttrsAnd, AttrsOr */
#define MAX_PREVIEW		10000
#define MAX_DISJOINT_OR	8		/* tags an OR splits into disjoint parts */

typedef enum AudKind
{
	A_ALL,						/* every device of the app */
	A_NONE,						/* no device (an unknown tag) */
	A_TAG,
	A_ATTR,						/* attrs @> value */
	A_REGID,
	A_TOKEN,
	A_ACCOUNT,
	A_UPLOAD,
	A_VIEW,						/* an allowed view of the app's (audience_view.c) */
	A_AND,
	A_OR,
	A_NOT
} AudKind;

typedef struct AudNode
{
	AudKind		kind;
	char	   *tag;			/* A_TAG, until resolved */
	int32		tag_id;			/* A_TAG */
	Datum		value;			/* A_ATTR: jsonb; A_REGID, A_TOKEN, A_ACCOUNT: text[] */
	int32		account_type;	/* A_ACCOUNT; A_UPLOAD: as given (-1: none), then the package's */
	int			push_type;		/* A_ACCOUNT, A_UPLOAD: account_push_type */
	int64		upload_id;		/* A_UPLOAD */
	List	   *children;		/* A_AND, A_OR: members; A_NOT: its one operand */
	char	   *view;			/* A_VIEW: the name as given, */
	char	   *view_schema;	/* its two parts, */
	char	   *view_name;
	Oid			view_oid;		/* and once resolved: the view, */
	bool		view_account;	/* whether it returns accounts (else registration ids), */
	char	   *view_sql;		/* its catalog name, quoted */
} AudNode;

typedef struct AudCtx
{
	int32		app_id;
	int			nodes;			/* condition-tree nodes seen */
	SPIPlanPtr	tag_plan;		/* tag -> tag_id look-up */
	PPAudience *out;
	int			app_param;		/* $n of app_id */
	int			alias;			/* next subquery alias number */
	bool		any_state;		/* devices reachable or not (the explanation's tests) */
} AudCtx;

/* audience_parse.c */
extern AudNode *ppa_mknode(AudKind kind);
extern AudNode *ppa_mklist(AudKind kind, List *children);
extern AudNode *ppa_parse_audience(AudCtx *c, Jsonb *audience);

/* audience_view.c */
extern void ppa_view_name_check(AudNode *n, const char *name, int len);
extern void ppa_view_resolve(AudCtx *c, AudNode *n);

/* audience_sql.c */
extern void ppa_resolve(AudCtx *c, AudNode *n);		/* tags and packages, in place */
extern AudNode *ppa_simplify(AudNode *n);
/* the query of root's devices into out; c holds the app and any_state */
extern void ppa_generate(AudCtx *c, AudNode *root, int first_param, PPAudience *out);

#endif							/* AUDIENCE_TREE_H */
