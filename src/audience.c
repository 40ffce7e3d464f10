/*
 * audience.c: audiences (doc/audiences.md) compiled to SQL set operations over device ids.
 *
 * Each of the three dialects (EngageLab "to", Tencent Push audience_type, Tencent IM Condition) is
 * validated and parsed into one small tree: and / or / not over leaves (all devices, a tag, an
 * attribute containment, registration ids, tokens, accounts, an account package). Tags and
 * packages are then resolved through the app's dictionary, the tree is simplified (an unknown tag
 * is the empty set), and SQL is generated:
 *	 and: the positive members joined on device_id (for tags, merge joins of index-only scans of
 *		  device_tags' primary key), the negative ones as anti-joins (NOT EXISTS);
 *	 or:  one scan per kind (tag_id = ANY, attrs @> ANY), UNION between kinds;
 *	 not: the app's devices minus the set.
 * Sets read from devices apply reachability in the same scan; the others subtract the small set
 * of unreachable devices (partial index devices_unreachable_idx) once, at the top.
 */
#include "pushplan.h"
#include "tenancy.h"
#include "audience.h"
#include "json.h"

#include <errno.h>
#include <limits.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/tuplestore.h"

#define MAX_IDS			1000	/* registration_id, token, account lists */
#define MAX_TAGS		20		/* each of tag, tag_and, tag_not (EngageLab) */
#define MAX_IM_TAGS		10		/* each of TagsAnd, TagsOr (Tencent IM) */
#define MAX_TAG_BYTES	50
#define MAX_NODES		64		/* condition tree */
#define MAX_ATTR_PAIRS	100		/* each attr_and, attr_or, attr, AttrsAnd, AttrsOr */
#define MAX_PREVIEW		10000
#define MAX_DISJOINT_OR	8		/* tags an OR splits into disjoint parts */

#define EINVAL_CODE		ERRCODE_INVALID_PARAMETER_VALUE
#define ETOOBIG_CODE	ERRCODE_PROGRAM_LIMIT_EXCEEDED

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
} AudNode;

typedef struct AudCtx
{
	int32		app_id;
	int			nodes;			/* condition-tree nodes seen */
	SPIPlanPtr	tag_plan;		/* tag -> tag_id look-up */
	PPAudience *out;
	int			app_param;		/* $n of app_id */
	int			alias;			/* next subquery alias number */
} AudCtx;

/* ---------------------------------------------------------------- tree */

static AudNode *
mknode(AudKind kind)
{
	AudNode    *n = palloc0(sizeof(AudNode));

	n->kind = kind;
	return n;
}

static AudNode *
mklist(AudKind kind, List *children)
{
	AudNode    *n;

	if (list_length(children) == 1)
		return linitial(children);
	n = mknode(kind);
	n->children = children;
	return n;
}

/* ---------------------------------------------------------------- JSON access */

static bool
has_member(JsonbContainer *obj, const char *key)
{
	return pp_jmember(obj, key) != NULL;
}

static int
member_count(JsonbContainer *obj)
{
	return JsonContainerSize(obj);
}

/* 92100 for the first key (in jsonb's key order) that allowed does not list. */
static void
check_keys(JsonbContainer *obj, const char *const *allowed, const char *where)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		const char *const *a;
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, key) == 0)
				break;
		if (*a == NULL)
			pp_error(EINVAL_CODE, "92100", "unknown key \"%s\" in %s", pp_shown(key), where);
	}
}

/* A non-empty JSON array of strings, as a List of C strings. */
static List *
json_strings(JsonbValue *v, const char *name)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	List	   *out = NIL;

	if (!pp_jv_is_array(v))
		pp_error(EINVAL_CODE, "92102", "\"%s\" must be a JSON array", name);
	if (JsonContainerSize(v->val.binary.data) == 0)
		pp_error(EINVAL_CODE, "92103", "\"%s\" must not be empty", name);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvString)
			pp_error(EINVAL_CODE, "92104", "\"%s\" must hold only strings", name);
		out = lappend(out, pnstrdup(e.val.string.val, e.val.string.len));
	}
	return out;
}

/* 92070, 92071: a name (tag, attribute name, account) that cannot be stored cannot match. */
static void
check_name(const char *what, const char *s, int len)
{
	char	   *why = pp_name_problem(what, s, len);

	if (why)
		ereport(ERROR, (errcode(EINVAL_CODE), errmsg("%s", why)));
}

/* registration_id, token, account lists: 1..1000 non-empty strings, as text[]. */
static Datum
id_list(JsonbValue *v, const char *name)
{
	List	   *ids = json_strings(v, name);
	Datum	   *elems;
	ListCell   *lc;
	int			i = 0;

	if (list_length(ids) > MAX_IDS)
		pp_error(ETOOBIG_CODE, "92106", "\"%s\" holds more than %d entries", name, MAX_IDS);
	elems = palloc(sizeof(Datum) * list_length(ids));
	foreach(lc, ids)
	{
		char	   *id = lfirst(lc);

		if (*id == '\0')
			pp_error(EINVAL_CODE, "92105", "\"%s\" holds an empty string", name);
		if (strncmp(name, "account", 7) == 0)
			check_name("account", id, strlen(id));
		elems[i++] = CStringGetTextDatum(id);
	}
	return PointerGetDatum(construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));
}

static void
check_tag(const char *tag, const char *name)
{
	if (*tag == '\0')
		pp_error(EINVAL_CODE, "90040", "empty tag in \"%s\"", name);
	if (strlen(tag) > MAX_TAG_BYTES)
		pp_error(EINVAL_CODE, "90020", "tag \"%s\" is longer than %d bytes", pp_shown(tag),
				 MAX_TAG_BYTES);
	check_name("tag", tag, strlen(tag));
}

/* A tag list: 1..max valid tags. im: the Tencent IM limit and its code. */
static List *
tag_list(JsonbValue *v, const char *name, bool im)
{
	List	   *tags = json_strings(v, name);
	ListCell   *lc;

	if (im && list_length(tags) > MAX_IM_TAGS)
		pp_error(ETOOBIG_CODE, "90032", "\"%s\" holds more than %d tags", name, MAX_IM_TAGS);
	if (!im && list_length(tags) > MAX_TAGS)
		pp_error(ETOOBIG_CODE, "92107", "\"%s\" holds more than %d tags", name, MAX_TAGS);
	foreach(lc, tags)
		check_tag(lfirst(lc), name);
	return tags;
}

static AudNode *
tag_node(const char *tag)
{
	AudNode    *n = mknode(A_TAG);

	n->tag = pstrdup(tag);
	return n;
}

static List *
tag_nodes(List *tags)
{
	List	   *out = NIL;
	ListCell   *lc;

	foreach(lc, tags)
		out = lappend(out, tag_node(lfirst(lc)));
	return out;
}

/* 90022 when a tag is in both lists. */
static void
check_disjoint(List *a, const char *aname, List *b, const char *bname)
{
	ListCell   *la,
			   *lb;

	foreach(la, a)
		foreach(lb, b)
			if (strcmp(lfirst(la), lfirst(lb)) == 0)
				pp_error(EINVAL_CODE, "90022", "tag \"%s\" is in both \"%s\" and \"%s\"",
						 pp_shown(lfirst(la)), aname, bname);
}

static int32
account_type_value(JsonbValue *v)
{
	int64		x;

	if (!pp_jv_int64(v, &x, NULL) || x < 0 || x > PG_INT32_MAX)
		pp_error(EINVAL_CODE, "92108", "\"account_type\" must be an integer from 0 to %d",
				 PG_INT32_MAX);
	return (int32) x;
}

static int
push_type_value(JsonbValue *v)
{
	int64		x;

	if (!pp_jv_int64(v, &x, NULL) || (x != 0 && x != 1))
		pp_error(EINVAL_CODE, "92110", "\"account_push_type\" must be 0 or 1");
	return (int) x;
}

static int64
upload_id_value(JsonbValue *v)
{
	int64		x;

	if (!pp_jv_int64(v, &x, NULL) || x <= 0)
		pp_error(EINVAL_CODE, "92109", "\"upload_id\" must be a positive integer");
	return x;
}

/* {name: scalar, ...}, at least one pair; 90033 for an attribute that cannot match. */
static void
check_attrs(JsonbValue *v, const char *name)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (!pp_jv_is_object(v))
		pp_error(EINVAL_CODE, "92112", "\"%s\" must be a JSON object", name);
	if (member_count(v->val.binary.data) == 0)
		pp_error(EINVAL_CODE, "92103", "\"%s\" must not be empty", name);
	if (member_count(v->val.binary.data) > MAX_ATTR_PAIRS)
		pp_error(ETOOBIG_CODE, "92125", "\"%s\" holds more than %d attributes", name,
				 MAX_ATTR_PAIRS);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(e.val.string.val, e.val.string.len);
			if (*key == '\0')
				pp_error(EINVAL_CODE, "90033", "empty attribute name in \"%s\"", name);
			check_name("attribute name", key, e.val.string.len);
		}
		else if (tok == WJB_VALUE &&
				 e.type != jbvString && e.type != jbvNumeric && e.type != jbvBool)
			pp_error(EINVAL_CODE, "90033",
					 "attribute \"%s\" must have a string, number or boolean value", pp_shown(key));
	}
}

static AudNode *
attr_node(Datum jsonb)
{
	AudNode    *n = mknode(A_ATTR);

	n->value = jsonb;
	return n;
}

/* All pairs must hold: one containment test of the whole object. */
static AudNode *
attrs_and(JsonbValue *v, const char *name)
{
	check_attrs(v, name);
	return attr_node(JsonbPGetDatum(JsonbValueToJsonb(v)));
}

/* Any pair may hold: one containment test per pair. */
static AudNode *
attrs_or(JsonbValue *v, const char *name)
{
	JsonbIterator *it;
	JsonbValue	e,
				key;
	JsonbIteratorToken tok;
	List	   *pairs = NIL;

	check_attrs(v, name);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = e;
		else if (tok == WJB_VALUE)
		{
			JsonbParseState *st = NULL;
			JsonbValue *pair;

			pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
			pushJsonbValue(&st, WJB_KEY, &key);
			pushJsonbValue(&st, WJB_VALUE, &e);
			pair = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
			pairs = lappend(pairs, attr_node(JsonbPGetDatum(JsonbValueToJsonb(pair))));
		}
	}
	return mklist(A_OR, pairs);
}

static AudNode *
account_node(Datum accounts, int32 account_type, int push_type)
{
	AudNode    *n = mknode(A_ACCOUNT);

	n->value = accounts;
	n->account_type = account_type;
	n->push_type = push_type;
	return n;
}

static AudNode *
upload_node(int64 upload_id, int32 account_type, int push_type)
{
	AudNode    *n = mknode(A_UPLOAD);

	n->upload_id = upload_id;
	n->account_type = account_type;
	n->push_type = push_type;
	return n;
}

/* ---------------------------------------------------------------- EngageLab condition tree */

static const char *const cond_keys[] = {
	"and", "or", "not", "tag", "attr", "account", "account_type", "account_push_type", NULL
};
static const char *const cond_ops[] = {"and", "or", "not", "tag", "attr", "account", NULL};

static AudNode *
parse_cond(AudCtx *c, JsonbValue *v)
{
	JsonbContainer *obj;
	JsonbValue *m;
	const char *const *k;
	const char *op = NULL;
	int			ops = 0;

	if (++c->nodes > MAX_NODES)
		pp_error(ETOOBIG_CODE, "92113", "the condition tree has more than %d nodes", MAX_NODES);
	if (!pp_jv_is_object(v))
		pp_error(EINVAL_CODE, "92114",
				 "a condition node must be a JSON object with one of \"and\", \"or\", \"not\", \"tag\", \"attr\", \"account\"");
	obj = v->val.binary.data;
	check_keys(obj, cond_keys, "a condition node");
	for (k = cond_ops; *k != NULL; k++)
		if (has_member(obj, *k))
		{
			op = *k;
			ops++;
		}
	if (ops != 1)
		pp_error(EINVAL_CODE, "92114",
				 "a condition node must be a JSON object with one of \"and\", \"or\", \"not\", \"tag\", \"attr\", \"account\"");
	if (strcmp(op, "account") != 0)
	{
		if (has_member(obj, "account_type"))
			pp_error(EINVAL_CODE, "92118", "\"account_type\" needs \"account\"");
		if (has_member(obj, "account_push_type"))
			pp_error(EINVAL_CODE, "92118", "\"account_push_type\" needs \"account\"");
	}
	m = pp_jmember(obj, op);

	if (strcmp(op, "and") == 0 || strcmp(op, "or") == 0)
	{
		JsonbIterator *it;
		JsonbValue	e;
		JsonbIteratorToken tok;
		List	   *children = NIL;

		if (!pp_jv_is_array(m))
			pp_error(EINVAL_CODE, "92102", "\"%s\" must be a JSON array", op);
		if (JsonContainerSize(m->val.binary.data) == 0)
			pp_error(EINVAL_CODE, "92103", "\"%s\" must not be empty", op);
		it = JsonbIteratorInit(m->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
			if (tok == WJB_ELEM)
				children = lappend(children, parse_cond(c, &e));
		return mklist(op[0] == 'a' ? A_AND : A_OR, children);
	}
	if (strcmp(op, "not") == 0)
	{
		AudNode    *n = mknode(A_NOT);

		n->children = list_make1(parse_cond(c, m));
		return n;
	}
	if (strcmp(op, "attr") == 0)
		return attrs_and(m, "attr");
	if (m->type != jbvString)
		pp_error(EINVAL_CODE, "92115", "\"%s\" in a condition node must be a string", op);
	if (strcmp(op, "tag") == 0)
	{
		char	   *tag = pnstrdup(m->val.string.val, m->val.string.len);

		check_tag(tag, "tag");
		return tag_node(tag);
	}
	else
	{
		JsonbValue *t = pp_jmember(obj, "account_type");
		JsonbValue *p = pp_jmember(obj, "account_push_type");
		Datum		one;

		if (m->val.string.len == 0)
			pp_error(EINVAL_CODE, "92105", "\"account\" holds an empty string");
		check_name("account", m->val.string.val, m->val.string.len);
		one = CStringGetTextDatum(pnstrdup(m->val.string.val, m->val.string.len));
		return account_node(PointerGetDatum(construct_array(&one, 1, TEXTOID, -1, false,
															TYPALIGN_INT)),
							t ? account_type_value(t) : 0, p ? push_type_value(p) : 0);
	}
}

/* ---------------------------------------------------------------- EngageLab "to" */

static const char *const engagelab_keys[] = {
	"registration_id", "token", "account", "account_type", "account_push_type", "upload_id",
	"tag", "tag_and", "tag_not", "attr_and", "attr_or", "condition", NULL
};

/* Every target given must hold (AND), as in EngageLab / JPush audiences. */
static AudNode *
parse_engagelab(AudCtx *c, JsonbContainer *obj)
{
	List	   *and = NIL;
	JsonbValue *v,
			   *acc = pp_jmember(obj, "account"),
			   *upl = pp_jmember(obj, "upload_id"),
			   *atype = pp_jmember(obj, "account_type"),
			   *ptype = pp_jmember(obj, "account_push_type");
	List	   *tag_or = NIL,
			   *tag_and = NIL;

	check_keys(obj, engagelab_keys, "the audience");
	if (acc && upl)
		pp_error(EINVAL_CODE, "92119", "\"account\" and \"upload_id\" cannot be combined");
	if (atype && upl)
		pp_error(EINVAL_CODE, "92116",
				 "\"account_type\" does not go with \"upload_id\": the account package's type applies");
	if (atype && !acc)
		pp_error(EINVAL_CODE, "92118", "\"account_type\" needs \"account\"");
	if (ptype && !acc && !upl)
		pp_error(EINVAL_CODE, "92118", "\"account_push_type\" needs \"account\" or \"upload_id\"");

	if ((v = pp_jmember(obj, "registration_id")) != NULL)
	{
		AudNode    *n = mknode(A_REGID);

		n->value = id_list(v, "registration_id");
		and = lappend(and, n);
	}
	if ((v = pp_jmember(obj, "token")) != NULL)
	{
		AudNode    *n = mknode(A_TOKEN);

		n->value = id_list(v, "token");
		and = lappend(and, n);
	}
	if (acc)
		and = lappend(and, account_node(id_list(acc, "account"),
										atype ? account_type_value(atype) : 0,
										ptype ? push_type_value(ptype) : 0));
	if (upl)
		and = lappend(and, upload_node(upload_id_value(upl), -1,
									   ptype ? push_type_value(ptype) : 0));
	if ((v = pp_jmember(obj, "tag")) != NULL)
	{
		tag_or = tag_list(v, "tag", false);
		and = lappend(and, mklist(A_OR, tag_nodes(tag_or)));
	}
	if ((v = pp_jmember(obj, "tag_and")) != NULL)
	{
		tag_and = tag_list(v, "tag_and", false);
		and = list_concat(and, tag_nodes(tag_and));
	}
	check_disjoint(tag_or, "tag", tag_and, "tag_and");
	if ((v = pp_jmember(obj, "tag_not")) != NULL)
	{
		AudNode    *n = mknode(A_NOT);

		n->children = list_make1(mklist(A_OR, tag_nodes(tag_list(v, "tag_not", false))));
		and = lappend(and, n);
	}
	if ((v = pp_jmember(obj, "attr_and")) != NULL)
		and = lappend(and, attrs_and(v, "attr_and"));
	if ((v = pp_jmember(obj, "attr_or")) != NULL)
		and = lappend(and, attrs_or(v, "attr_or"));
	if ((v = pp_jmember(obj, "condition")) != NULL)
		and = lappend(and, parse_cond(c, v));
	if (and == NIL)
		pp_error(EINVAL_CODE, "92101", "the audience names no target");
	return mklist(A_AND, and);
}

/* ---------------------------------------------------------------- Tencent Push */

static const char *const tpns_keys[] = {
	"audience_type", "token_list", "account_list", "account_type", "account_push_type",
	"upload_id", "tag_list", NULL
};

/* audience_type, then the members it requires and the ones it allows. */
static const struct
{
	const char *type;
	const char *required;
	const char *allowed[4];
}			tpns_types[] = {
	{"all", NULL, {NULL}},
	{"tag", "tag_list", {"tag_list", NULL}},
	{"token", "token_list", {"token_list", NULL}},
	{"token_list", "token_list", {"token_list", NULL}},
	{"account", "account_list", {"account_list", "account_type", "account_push_type", NULL}},
	{"account_list", "account_list", {"account_list", "account_type", "account_push_type", NULL}},
	{"package_account_push", "upload_id", {"upload_id", "account_type", "account_push_type", NULL}},
};

static AudNode *
parse_tpns(AudCtx *c, JsonbContainer *obj)
{
	JsonbValue *at = pp_jmember(obj, "audience_type"),
			   *v,
			   *atype = pp_jmember(obj, "account_type"),
			   *ptype = pp_jmember(obj, "account_push_type");
	char	   *type = NULL;
	int			t = -1,
				i;
	const char *const *k;

	check_keys(obj, tpns_keys, "a Tencent Push audience");
	if (at->type == jbvString)
	{
		type = pnstrdup(at->val.string.val, at->val.string.len);
		for (i = 0; i < lengthof(tpns_types); i++)
			if (strcmp(tpns_types[i].type, type) == 0)
				t = i;
	}
	if (t < 0)
		pp_error(EINVAL_CODE, "92120",
				 "\"audience_type\" must be one of all, tag, token, token_list, account, account_list, package_account_push");
	for (k = tpns_keys + 1; *k != NULL; k++)
	{
		const char *const *a;

		if (!has_member(obj, *k))
			continue;
		for (a = tpns_types[t].allowed; *a != NULL; a++)
			if (strcmp(*a, *k) == 0)
				break;
		if (*a == NULL)
			pp_error(EINVAL_CODE, "92122", "\"%s\" does not go with audience_type \"%s\"", *k, type);
	}
	if (tpns_types[t].required && !has_member(obj, tpns_types[t].required))
		pp_error(EINVAL_CODE, "92121", "audience_type \"%s\" needs \"%s\"", type,
				 tpns_types[t].required);

	if (strcmp(type, "all") == 0)
		return mknode(A_ALL);
	if (strcmp(type, "tag") == 0)
	{
		JsonbValue *tags,
				   *op;
		static const char *const tag_list_keys[] = {"tags", "op", NULL};
		const char *shape = "\"tag_list\" must be {\"tags\": [...], \"op\": \"AND\" or \"OR\"}";

		v = pp_jmember(obj, "tag_list");
		if (!pp_jv_is_object(v))
			pp_error(EINVAL_CODE, "92123", "%s", shape);
		check_keys(v->val.binary.data, tag_list_keys, "\"tag_list\"");
		tags = pp_jmember(v->val.binary.data, "tags");
		op = pp_jmember(v->val.binary.data, "op");
		if (tags == NULL || op == NULL || op->type != jbvString ||
			!((op->val.string.len == 3 && strncmp(op->val.string.val, "AND", 3) == 0) ||
			  (op->val.string.len == 2 && strncmp(op->val.string.val, "OR", 2) == 0)))
			pp_error(EINVAL_CODE, "92123", "%s", shape);
		return mklist(op->val.string.len == 3 ? A_AND : A_OR,
					  tag_nodes(tag_list(tags, "tags", false)));
	}
	if (strcmp(type, "token") == 0 || strcmp(type, "token_list") == 0)
	{
		AudNode    *n = mknode(A_TOKEN);

		n->value = id_list(pp_jmember(obj, "token_list"), "token_list");
		return n;
	}
	if (strcmp(type, "package_account_push") == 0)
		return upload_node(upload_id_value(pp_jmember(obj, "upload_id")),
						   atype ? account_type_value(atype) : -1,
						   ptype ? push_type_value(ptype) : 0);
	return account_node(id_list(pp_jmember(obj, "account_list"), "account_list"),
						atype ? account_type_value(atype) : 0,
						ptype ? push_type_value(ptype) : 0);
}

/* ---------------------------------------------------------------- Tencent IM */

static const char *const im_condition_keys[] = {"TagsAnd", "TagsOr", "AttrsAnd", "AttrsOr", NULL};
static const char *const im_body_keys[] = {
	"From_Account", "MsgRandom", "Condition", "OfflinePushInfo", NULL
};

/*
 * Tencent IM says the four conditions cannot coexist, yet defines 90022 for a tag in both TagsOr
 * and TagsAnd: so TagsOr and TagsAnd may be given together (both must hold); tags with attributes
 * are 90039, AttrsOr with AttrsAnd is 92124.
 */
static AudNode *
parse_im_condition(AudCtx *c, JsonbContainer *obj)
{
	JsonbValue *tand = pp_jmember(obj, "TagsAnd"),
			   *tor = pp_jmember(obj, "TagsOr"),
			   *aand = pp_jmember(obj, "AttrsAnd"),
			   *aor = pp_jmember(obj, "AttrsOr");
	List	   *and = NIL,
			   *lor = NIL,
			   *land = NIL;

	check_keys(obj, im_condition_keys, "an IM Condition");
	if ((tand || tor) && (aand || aor))
		pp_error(EINVAL_CODE, "90039", "tags and attributes cannot both be conditions");
	if (aand && aor)
		pp_error(EINVAL_CODE, "92124", "\"AttrsAnd\" and \"AttrsOr\" cannot be combined");
	if (tor)
	{
		lor = tag_list(tor, "TagsOr", true);
		and = lappend(and, mklist(A_OR, tag_nodes(lor)));
	}
	if (tand)
	{
		land = tag_list(tand, "TagsAnd", true);
		and = list_concat(and, tag_nodes(land));
	}
	check_disjoint(lor, "TagsOr", land, "TagsAnd");
	if (aand)
		and = lappend(and, attrs_and(aand, "AttrsAnd"));
	if (aor)
		and = lappend(and, attrs_or(aor, "AttrsOr"));
	if (and == NIL)
		pp_error(EINVAL_CODE, "92101", "the audience names no target");
	return mklist(A_AND, and);
}

/* The whole IM push body: no Condition means every device. */
static AudNode *
parse_im_body(AudCtx *c, JsonbContainer *obj)
{
	JsonbValue *cond = pp_jmember(obj, "Condition");

	check_keys(obj, im_body_keys, "an IM push body");
	if (cond == NULL)
		return mknode(A_ALL);
	if (!pp_jv_is_object(cond))
		pp_error(EINVAL_CODE, "92112", "\"Condition\" must be a JSON object");
	return parse_im_condition(c, cond->val.binary.data);
}

static AudNode *
parse_audience(AudCtx *c, Jsonb *audience)
{
	JsonbValue	v;
	JsonbContainer *obj;
	const char *const *k;

	if (audience == NULL)
		pp_error(ERRCODE_INVALID_TEXT_REPRESENTATION, "90001",
				 "audience must be \"all\" or a JSON object");
	if (JB_ROOT_IS_SCALAR(audience))
	{
		if (JsonbExtractScalar(&audience->root, &v) && v.type == jbvString &&
			v.val.string.len == 3 && strncmp(v.val.string.val, "all", 3) == 0)
			return mknode(A_ALL);
		pp_error(ERRCODE_INVALID_TEXT_REPRESENTATION, "90001",
				 "audience must be \"all\" or a JSON object");
	}
	if (!JB_ROOT_IS_OBJECT(audience))
		pp_error(ERRCODE_INVALID_TEXT_REPRESENTATION, "90001",
				 "audience must be \"all\" or a JSON object");
	obj = &audience->root;
	if (has_member(obj, "audience_type"))
		return parse_tpns(c, obj);
	for (k = im_body_keys; *k != NULL; k++)
		if (has_member(obj, *k))
			return parse_im_body(c, obj);
	for (k = im_condition_keys; *k != NULL; k++)
		if (has_member(obj, *k))
			return parse_im_condition(c, obj);
	return parse_engagelab(c, obj);
}

/* ---------------------------------------------------------------- resolution, simplification */

static void
resolve(AudCtx *c, AudNode *n)
{
	ListCell   *lc;

	if (n->kind == A_TAG)
	{
		Datum		args[2];
		bool		isnull;

		if (c->tag_plan == NULL)
		{
			Oid			types[2] = {INT4OID, TEXTOID};

			c->tag_plan = SPI_prepare("SELECT tag_id FROM pushplan.tags WHERE app_id = $1 AND tag = $2",
									  2, types);
			if (c->tag_plan == NULL)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		}
		args[0] = Int32GetDatum(c->app_id);
		args[1] = CStringGetTextDatum(n->tag);
		if (SPI_execute_plan(c->tag_plan, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "tag look-up failed");
		if (SPI_processed == 0)
			n->kind = A_NONE;	/* an unknown tag matches nothing */
		else
			n->tag_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 1, &isnull));
	}
	else if (n->kind == A_UPLOAD)
	{
		Oid			types[2] = {INT8OID, INT4OID};
		Datum		args[2];
		bool		isnull;
		int32		type;

		args[0] = Int64GetDatum(n->upload_id);
		args[1] = Int32GetDatum(c->app_id);
		if (SPI_execute_with_args("SELECT account_type FROM pushplan.account_packages "
								  "WHERE upload_id = $1 AND app_id = $2",
								  2, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "account package look-up failed");
		if (SPI_processed == 0)
			pp_error(ERRCODE_UNDEFINED_OBJECT, "92111", "account package %lld does not exist",
					 (long long) n->upload_id);
		type = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
										   &isnull));
		if (n->account_type >= 0 && n->account_type != type)
			pp_error(EINVAL_CODE, "92117",
					 "\"account_type\" %d differs from account package %lld's account type %d",
					 n->account_type, (long long) n->upload_id, type);
		n->account_type = type;
	}
	foreach(lc, n->children)
		resolve(c, lfirst(lc));
}

/* Fold empty and full sets, flatten nested and/or, drop double negation. */
static AudNode *
simplify(AudNode *n)
{
	List	   *kids = NIL;
	ListCell   *lc;

	if (n->kind == A_NOT)
	{
		AudNode    *x = simplify(linitial(n->children));

		if (x->kind == A_NONE)
			return mknode(A_ALL);
		if (x->kind == A_ALL)
			return mknode(A_NONE);
		if (x->kind == A_NOT)
			return linitial(x->children);
		n->children = list_make1(x);
		return n;
	}
	if (n->kind != A_AND && n->kind != A_OR)
		return n;
	foreach(lc, n->children)
	{
		AudNode    *x = simplify(lfirst(lc));

		/* and: all is neutral, none absorbs; or: the other way round */
		if (x->kind == (n->kind == A_AND ? A_ALL : A_NONE))
			continue;
		if (x->kind == (n->kind == A_AND ? A_NONE : A_ALL))
			return x;
		if (x->kind == n->kind)
			kids = list_concat(kids, x->children);
		else
			kids = lappend(kids, x);
	}
	if (kids == NIL)
		return mknode(n->kind == A_AND ? A_ALL : A_NONE);
	return mklist(n->kind, kids);
}

/* ---------------------------------------------------------------- SQL generation */

static int
param(AudCtx *c, Oid type, Datum value)
{
	PPAudience *a = c->out;

	if (a->nargs == a->maxargs)
	{
		a->maxargs *= 2;
		a->argtypes = repalloc(a->argtypes, sizeof(Oid) * a->maxargs);
		a->values = repalloc(a->values, sizeof(Datum) * a->maxargs);
	}
	a->argtypes[a->nargs] = type;
	a->values[a->nargs] = value;
	return a->first_param + a->nargs++;
}

static Datum
int4_array(List *ids)
{
	Datum	   *elems = palloc(sizeof(Datum) * list_length(ids));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, ids)
		elems[i++] = Int32GetDatum(lfirst_int(lc));
	return PointerGetDatum(construct_array(elems, i, INT4OID, 4, true, TYPALIGN_INT));
}

static Datum
jsonb_array(List *values)
{
	Datum	   *elems = palloc(sizeof(Datum) * list_length(values));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, values)
		elems[i++] = PointerGetDatum(lfirst(lc));
	return PointerGetDatum(construct_array(elems, i, JSONBOID, -1, false, TYPALIGN_INT));
}

static bool gen_set(AudCtx *c, AudNode *n, StringInfo buf);

static void
gen_devices(AudCtx *c, StringInfo buf)
{
	appendStringInfo(buf, "SELECT device_id FROM pushplan.devices WHERE app_id = $%d AND reachable",
					 c->app_param);
}

static void
gen_accounts(AudCtx *c, AudNode *n, StringInfo buf)
{
	StringInfoData from;

	initStringInfo(&from);
	if (n->kind == A_ACCOUNT)
		appendStringInfo(&from, "pushplan.device_accounts b "
						 "WHERE b.app_id = $%d AND b.account_type = $%d AND b.account = ANY ($%d)",
						 c->app_param, param(c, INT4OID, Int32GetDatum(n->account_type)),
						 param(c, TEXTARRAYOID, n->value));
	else
		appendStringInfo(&from, "pushplan.account_package_accounts p "
						 "JOIN pushplan.device_accounts b ON b.account = p.account "
						 "WHERE p.upload_id = $%d AND b.app_id = $%d AND b.account_type = $%d",
						 param(c, INT8OID, Int64GetDatum(n->upload_id)), c->app_param,
						 param(c, INT4OID, Int32GetDatum(n->account_type)));
	if (n->push_type == 1)
		appendStringInfo(buf, "SELECT DISTINCT b.device_id FROM %s", from.data);
	else
	{
		/* each account's latest binding; a tie on bound_at goes to the newer device */
		int			a = c->alias++;

		appendStringInfo(buf, "SELECT DISTINCT s%d.device_id FROM (SELECT DISTINCT ON (b.account) "
						 "b.device_id FROM %s ORDER BY b.account, b.bound_at DESC, b.device_id DESC) s%d",
						 a, from.data, a);
	}
}

/*
 * or: tags in one scan, attribute tests in one scan, every other member on its own, UNION
 * between them. distinct = false: the caller only tests membership, so repeats may stay.
 */
static bool
gen_or(AudCtx *c, List *members, StringInfo buf, bool distinct)
{
	List	   *tags = NIL,
			   *attrs = NIL,
			   *parts = NIL;
	ListCell   *lc;
	bool		reach = true;

	foreach(lc, members)
	{
		AudNode    *x = lfirst(lc);

		if (x->kind == A_TAG)
			tags = list_append_unique_int(tags, x->tag_id);
		else if (x->kind == A_ATTR)
			attrs = lappend(attrs, DatumGetPointer(x->value));
		else
			parts = lappend(parts, x);
	}
	if (tags != NIL || attrs != NIL || parts != NIL)
	{
		bool		first = true;

#define NEXT_PART() \
		do { \
			if (!first) appendStringInfoString(buf, distinct ? " UNION " : " UNION ALL "); \
			appendStringInfoChar(buf, '('); \
			first = false; \
		} while (0)

		if (list_length(tags) == 1)
		{
			NEXT_PART();
			appendStringInfo(buf, "SELECT device_id FROM pushplan.device_tags WHERE tag_id = $%d)",
							 param(c, INT4OID, Int32GetDatum(linitial_int(tags))));
			reach = false;
		}
		else if (tags != NIL && !distinct)
		{
			NEXT_PART();
			appendStringInfo(buf, "SELECT device_id FROM pushplan.device_tags WHERE tag_id = ANY ($%d))",
							 param(c, INT4ARRAYOID, int4_array(tags)));
			reach = false;
		}
		else if (tags != NIL)
		{
			/*
			 * A few tags: a UNION ALL of disjoint parts, tag i minus tags 1..i-1 (anti-joins
			 * of index-only scans), needs neither a sort nor a hash over all the ids and
			 * leaves the planner true row estimates (doc/benchmarks.md). Many tags: one
			 * hashed DISTINCT.
			 */
			int		   *p = palloc(sizeof(int) * list_length(tags));
			int			i = 0;
			ListCell   *t;

			NEXT_PART();
			if (list_length(tags) > MAX_DISJOINT_OR)
				appendStringInfo(buf, "SELECT DISTINCT device_id FROM pushplan.device_tags "
								 "WHERE tag_id = ANY ($%d)",
								 param(c, INT4ARRAYOID, int4_array(tags)));
			else
				foreach(t, tags)
				{
					int			a = c->alias++;
					int			j;

					p[i] = param(c, INT4OID, Int32GetDatum(lfirst_int(t)));
					appendStringInfo(buf, "%sSELECT s%d.device_id FROM pushplan.device_tags s%d "
									 "WHERE s%d.tag_id = $%d", i > 0 ? " UNION ALL " : "",
									 a, a, a, p[i]);
					for (j = 0; j < i; j++)
						appendStringInfo(buf, " AND NOT EXISTS (SELECT 1 FROM pushplan.device_tags x "
										 "WHERE x.tag_id = $%d AND x.device_id = s%d.device_id)",
										 p[j], a);
					i++;
				}
			appendStringInfoChar(buf, ')');
			reach = false;
		}
		if (attrs != NIL)
		{
			NEXT_PART();
			gen_devices(c, buf);
			if (list_length(attrs) == 1)
				appendStringInfo(buf, " AND attrs @> $%d)",
								 param(c, JSONBOID, PointerGetDatum(linitial(attrs))));
			else
				appendStringInfo(buf, " AND attrs @> ANY ($%d))",
								 param(c, JSONBARRAYOID, jsonb_array(attrs)));
		}
		foreach(lc, parts)
		{
			NEXT_PART();
			reach &= gen_set(c, lfirst(lc), buf);
			appendStringInfoChar(buf, ')');
		}
#undef NEXT_PART
	}
	return reach;
}

/*
 * and: the positive members joined on device_id (attribute tests merged into one scan of
 * devices), the negated ones as anti-joins; with no positive member, the app's devices.
 */
static bool
gen_and(AudCtx *c, List *members, StringInfo buf)
{
	List	   *pos = NIL,
			   *neg = NIL,
			   *attrs = NIL;
	ListCell   *lc;
	StringInfoData from;
	int			base = c->alias++;
	bool		reach = false;
	bool		first = true;

	foreach(lc, members)
	{
		AudNode    *x = lfirst(lc);

		if (x->kind == A_NOT)
			neg = lappend(neg, linitial(x->children));
		else if (x->kind == A_ATTR)
			attrs = lappend(attrs, x);
		else
			pos = lappend(pos, x);
	}
	initStringInfo(&from);
	if (attrs != NIL || pos == NIL)
	{
		appendStringInfoChar(&from, '(');
		gen_devices(c, &from);
		foreach(lc, attrs)
			appendStringInfo(&from, " AND attrs @> $%d",
							 param(c, JSONBOID, ((AudNode *) lfirst(lc))->value));
		appendStringInfo(&from, ") s%d", base);
		reach = true;
		first = false;
	}
	foreach(lc, pos)
	{
		int			a = first ? base : c->alias++;

		if (!first)
			appendStringInfoString(&from, " JOIN ");
		appendStringInfoChar(&from, '(');
		reach |= gen_set(c, lfirst(lc), &from);
		if (first)
			appendStringInfo(&from, ") s%d", a);
		else
			appendStringInfo(&from, ") s%d ON s%d.device_id = s%d.device_id", a, a, base);
		first = false;
	}
	appendStringInfo(buf, "SELECT s%d.device_id FROM %s", base, from.data);
	foreach(lc, neg)
	{
		AudNode    *x = lfirst(lc);
		int			a = c->alias++;

		appendStringInfo(buf, "%s NOT EXISTS (SELECT 1 FROM (",
						 lc == list_head(neg) ? " WHERE" : " AND");
		if (x->kind == A_OR)
			gen_or(c, x->children, buf, false);
		else
			gen_set(c, x, buf);
		appendStringInfo(buf, ") s%d WHERE s%d.device_id = s%d.device_id)", a, a, base);
	}
	return reach;
}

/* A query for the distinct device ids of n; returns true when all of them are reachable. */
static bool
gen_set(AudCtx *c, AudNode *n, StringInfo buf)
{
	switch (n->kind)
	{
		case A_ALL:
			gen_devices(c, buf);
			return true;
		case A_NONE:
			appendStringInfoString(buf, "SELECT NULL::bigint AS device_id WHERE false");
			return true;
		case A_TAG:
			appendStringInfo(buf, "SELECT device_id FROM pushplan.device_tags WHERE tag_id = $%d",
							 param(c, INT4OID, Int32GetDatum(n->tag_id)));
			return false;
		case A_ATTR:
			gen_devices(c, buf);
			appendStringInfo(buf, " AND attrs @> $%d", param(c, JSONBOID, n->value));
			return true;
		case A_REGID:
		case A_TOKEN:
			gen_devices(c, buf);
			appendStringInfo(buf, " AND %s = ANY ($%d)",
							 n->kind == A_REGID ? "registration_id" : "token",
							 param(c, TEXTARRAYOID, n->value));
			return true;
		case A_ACCOUNT:
		case A_UPLOAD:
			gen_accounts(c, n, buf);
			return false;
		case A_OR:
			return gen_or(c, n->children, buf, true);
		case A_AND:
			return gen_and(c, n->children, buf);
		case A_NOT:
			return gen_and(c, list_make1(n), buf);
	}
	return false;					/* not reached */
}

void
pp_audience_compile(int32 app_id, Jsonb *audience, int first_param, PPAudience *out)
{
	AudCtx		c;
	AudNode    *root;
	StringInfoData body;

	memset(&c, 0, sizeof(c));
	c.app_id = app_id;
	c.out = out;
	root = parse_audience(&c, audience);	/* every check before any look-up */
	resolve(&c, root);
	root = simplify(root);

	initStringInfo(&out->sql);
	out->first_param = first_param;
	out->nargs = 0;
	out->maxargs = 8;
	out->argtypes = palloc(sizeof(Oid) * out->maxargs);
	out->values = palloc(sizeof(Datum) * out->maxargs);
	c.app_param = param(&c, INT4OID, Int32GetDatum(app_id));

	initStringInfo(&body);
	if (gen_set(&c, root, &body))
		appendStringInfoString(&out->sql, body.data);
	else
		appendStringInfo(&out->sql, "SELECT s.device_id FROM (%s) s WHERE NOT EXISTS "
						 "(SELECT 1 FROM pushplan.devices u WHERE u.app_id = $%d "
						 "AND NOT u.reachable AND u.device_id = s.device_id)",
						 body.data, c.app_param);
}

int
pp_audience_list_size(Jsonb *audience)
{
	AudCtx		c;
	AudNode    *root;

	memset(&c, 0, sizeof(c));
	root = parse_audience(&c, audience);
	if (root->kind != A_REGID && root->kind != A_TOKEN && root->kind != A_ACCOUNT)
		return -1;
	return ArrayGetNItems(ARR_NDIM(DatumGetArrayTypeP(root->value)),
						  ARR_DIMS(DatumGetArrayTypeP(root->value)));
}

/* ---------------------------------------------------------------- SQL functions */

/* The app's id by the rule of every API function: audiences are for operators (tenancy.h). */
static int32
app_id_of(FunctionCallInfo fcinfo)
{
	return pp_app_id(PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0)),
					 PP_RIGHT_OPERATOR, NULL);
}

PG_FUNCTION_INFO_V1(pushplan_audience_count);
Datum
pushplan_audience_count(PG_FUNCTION_ARGS)
{
	PPAudience	aud;
	StringInfoData q;
	int32		app_id;
	bool		isnull;
	int64		count;

	SPI_connect();
	app_id = app_id_of(fcinfo);
	pp_audience_compile(app_id, PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1), 1, &aud);
	initStringInfo(&q);
	appendStringInfo(&q, "SELECT count(*) FROM (%s) a", aud.sql.data);
	/* no row limit: a limit would make the executor run a parallel plan without workers */
	if (SPI_execute_with_args(q.data, aud.nargs, aud.argtypes, aud.values, NULL, true, 0)
		!= SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "audience count failed");
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_INT64(count);
}

PG_FUNCTION_INFO_V1(pushplan_audience_preview);
Datum
pushplan_audience_preview(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PPAudience	aud;
	StringInfoData q;
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	MemoryContext old;
	int32		app_id;
	uint64		i;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("set-valued function called in context that cannot accept a set")));

	SPI_connect();
	app_id = app_id_of(fcinfo);
	if (PG_ARGISNULL(2) || PG_GETARG_INT32(2) < 1 || PG_GETARG_INT32(2) > MAX_PREVIEW)
		pp_error(EINVAL_CODE, "92140", "max_rows must be from 1 to %d", MAX_PREVIEW);
	pp_audience_compile(app_id, PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1), 1, &aud);
	initStringInfo(&q);
	/* device_id order: the order in which the devices were registered */
	appendStringInfo(&q, "SELECT d.registration_id FROM (%s) a "
					 "JOIN pushplan.devices d ON d.device_id = a.device_id "
					 "ORDER BY a.device_id LIMIT $%d",
					 aud.sql.data, aud.first_param + aud.nargs);
	aud.argtypes = repalloc(aud.argtypes, sizeof(Oid) * (aud.nargs + 1));
	aud.values = repalloc(aud.values, sizeof(Datum) * (aud.nargs + 1));
	aud.argtypes[aud.nargs] = INT4OID;
	aud.values[aud.nargs] = Int32GetDatum(PG_GETARG_INT32(2));
	if (SPI_execute_with_args(q.data, aud.nargs + 1, aud.argtypes, aud.values, NULL, true, 0)
		!= SPI_OK_SELECT)
		elog(ERROR, "audience preview failed");

	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(tupdesc, 1, "registration_id", TEXTOID, -1, 0);
	store = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(old);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		v = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		tuplestore_putvalues(store, tupdesc, &v, &isnull);
	}
	SPI_finish();

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = tupdesc;
	return (Datum) 0;
}

/*
 * _audience_expand(app, audience, target): insert the audience's device ids into table target
 * (column device_id), as the sending code will expand a task's audience into deliveries. For
 * tests and benchmarks; runs with the caller's rights.
 */
PG_FUNCTION_INFO_V1(pushplan_audience_expand);
Datum
pushplan_audience_expand(PG_FUNCTION_ARGS)
{
	Oid			target = PG_GETARG_OID(2);
	PPAudience	aud;
	StringInfoData q;
	int32		app_id;
	uint64		n;

	SPI_connect();
	app_id = app_id_of(fcinfo);
	pp_audience_compile(app_id, PG_GETARG_JSONB_P(1), 1, &aud);
	initStringInfo(&q);
	appendStringInfo(&q, "INSERT INTO %s (device_id) SELECT a.device_id FROM (%s) a",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(target)),
												get_rel_name(target)),
					 aud.sql.data);
	if (SPI_execute_with_args(q.data, aud.nargs, aud.argtypes, aud.values, NULL, false, 0)
		!= SPI_OK_INSERT)
		elog(ERROR, "audience expansion failed");
	n = SPI_processed;
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}
