/*
 * audience_parse.c: the three audience dialects (EngageLab "to" and its condition tree, Tencent
 * Push audience_type, Tencent IM Condition), validated and parsed into one tree
 * (audience_tree.h) with the limits and error codes of doc/audiences.md.
 */
#include "pushplan.h"
#include "tenancy.h"
#include "audience.h"
#include "audience_tree.h"
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


/* ---------------------------------------------------------------- tree */

AudNode *
ppa_mknode(AudKind kind)
{
	AudNode    *n = palloc0(sizeof(AudNode));

	n->kind = kind;
	return n;
}

AudNode *
ppa_mklist(AudKind kind, List *children)
{
	AudNode    *n;

	if (list_length(children) == 1)
		return linitial(children);
	n = ppa_mknode(kind);
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
	char	   *key = pp_jkey_not_in(obj, allowed);

	if (key)
		pp_error(PPE_AUD_KEY_UNKNOWN, "unknown key \"%s\" in %s", pp_shown(key), where);
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
		pp_error(PPE_AUD_MEMBER_NOT_ARRAY, "\"%s\" must be a JSON array", name);
	if (JsonContainerSize(v->val.binary.data) == 0)
		pp_error(PPE_AUD_MEMBER_EMPTY, "\"%s\" must not be empty", name);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvString)
			pp_error(PPE_AUD_MEMBER_NOT_STRINGS, "\"%s\" must hold only strings", name);
		out = lappend(out, pnstrdup(e.val.string.val, e.val.string.len));
	}
	return out;
}

/* A problem text of the rules a device's names follow ("code: message"), raised. */
static void
raise_problem(char *why)
{
	if (why)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s", why)));
}

/* 92070, 92071: a name (account) that cannot be stored cannot match. */
static void
check_name(const char *what, const char *s, int len)
{
	raise_problem(pp_name_problem(what, s, len));
}

/*
 * registration_id, token, account lists: 1..1000 non-empty strings, as text[]. what: the name
 * rule the entries follow (check_name: "account"), or NULL.
 */
static Datum
id_list(JsonbValue *v, const char *name, const char *what)
{
	List	   *ids = json_strings(v, name);
	Datum	   *elems;
	ListCell   *lc;
	int			i = 0;

	if (list_length(ids) > MAX_IDS)
		pp_error(PPE_AUD_IDS_TOO_MANY, "\"%s\" holds more than %d entries", name, MAX_IDS);
	elems = palloc(sizeof(Datum) * list_length(ids));
	foreach(lc, ids)
	{
		char	   *id = lfirst(lc);

		if (*id == '\0')
			pp_error(PPE_AUD_ID_EMPTY, "\"%s\" holds an empty string", name);
		if (what)
			check_name(what, id, strlen(id));
		elems[i++] = CStringGetTextDatum(id);
	}
	return PointerGetDatum(construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));
}

/* A tag, as devices' tags are checked: one that cannot be registered cannot match. */
static void
check_tag(const char *tag, const char *name)
{
	raise_problem(pp_tag_problem(tag, strlen(tag), name));
}

/* A tag list: 1..max valid tags. im: the Tencent IM limit and its code. */
static List *
tag_list(JsonbValue *v, const char *name, bool im)
{
	List	   *tags = json_strings(v, name);
	ListCell   *lc;

	if (im && list_length(tags) > MAX_IM_TAGS)
		pp_error(PPE_AUD_IM_TAGS_TOO_MANY, "\"%s\" holds more than %d tags", name, MAX_IM_TAGS);
	if (!im && list_length(tags) > MAX_TAGS)
		pp_error(PPE_AUD_TAGS_TOO_MANY, "\"%s\" holds more than %d tags", name, MAX_TAGS);
	foreach(lc, tags)
		check_tag(lfirst(lc), name);
	return tags;
}

static AudNode *
tag_node(const char *tag)
{
	AudNode    *n = ppa_mknode(A_TAG);

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
				pp_error(PPE_AUD_TAG_IN_BOTH, "tag \"%s\" is in both \"%s\" and \"%s\"",
						 pp_shown(lfirst(la)), aname, bname);
}

static int32
account_type_value(JsonbValue *v)
{
	int64		x;

	if (!pp_jv_int64(v, &x, NULL) || x < 0 || x > PG_INT32_MAX)
		pp_error(PPE_AUD_ACCOUNT_TYPE_INVALID, "\"account_type\" must be an integer from 0 to %d",
				 PG_INT32_MAX);
	return (int32) x;
}

static int
push_type_value(JsonbValue *v)
{
	int64		x;

	if (!pp_jv_int64(v, &x, NULL) || (x != 0 && x != 1))
		pp_error(PPE_AUD_PUSH_TYPE_INVALID, "\"account_push_type\" must be 0 or 1");
	return (int) x;
}

static int64
upload_id_value(JsonbValue *v)
{
	int64		x;

	if (!pp_jv_int64(v, &x, NULL) || x <= 0)
		pp_error(PPE_AUD_UPLOAD_ID_INVALID, "\"upload_id\" must be a positive integer");
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
		pp_error(PPE_AUD_MEMBER_NOT_OBJECT, "\"%s\" must be a JSON object", name);
	if (member_count(v->val.binary.data) == 0)
		pp_error(PPE_AUD_MEMBER_EMPTY, "\"%s\" must not be empty", name);
	if (member_count(v->val.binary.data) > MAX_ATTR_PAIRS)
		pp_error(PPE_AUD_ATTRS_TOO_MANY, "\"%s\" holds more than %d attributes", name,
				 MAX_ATTR_PAIRS);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			raise_problem(pp_attr_name_problem(e.val.string.val, e.val.string.len, name));
			key = pnstrdup(e.val.string.val, e.val.string.len);
		}
		else if (tok == WJB_VALUE &&
				 e.type != jbvString && e.type != jbvNumeric && e.type != jbvBool)
			pp_error(PPE_ATTR_INVALID,
					 "attribute \"%s\" must have a string, number or boolean value", pp_shown(key));
	}
}

static AudNode *
attr_node(Datum jsonb)
{
	AudNode    *n = ppa_mknode(A_ATTR);

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
	return ppa_mklist(A_OR, pairs);
}

static AudNode *
account_node(Datum accounts, int32 account_type, int push_type)
{
	AudNode    *n = ppa_mknode(A_ACCOUNT);

	n->value = accounts;
	n->account_type = account_type;
	n->push_type = push_type;
	return n;
}

static AudNode *
upload_node(int64 upload_id, int32 account_type, int push_type)
{
	AudNode    *n = ppa_mknode(A_UPLOAD);

	n->upload_id = upload_id;
	n->account_type = account_type;
	n->push_type = push_type;
	return n;
}

/* {"view": "schema.view"}: an allowed view of the app's (audience_view.c) */
static AudNode *
view_node(JsonbValue *v)
{
	AudNode    *n = ppa_mknode(A_VIEW);

	if (v->type != jbvString)
		pp_error(PPE_AUD_VIEW_NAME, "\"view\" names a view with its schema, \"schema.view\"");
	ppa_view_name_check(n, v->val.string.val, v->val.string.len);
	return n;
}

/* ---------------------------------------------------------------- EngageLab condition tree */

static const char *const cond_keys[] = {
	"and", "or", "not", "tag", "attr", "account", "account_type", "account_push_type", "view", NULL
};
static const char *const cond_ops[] = {"and", "or", "not", "tag", "attr", "account", "view", NULL};

static AudNode *
parse_cond(AudCtx *c, JsonbValue *v)
{
	JsonbContainer *obj;
	JsonbValue *m;
	const char *const *k;
	const char *op = NULL;
	int			ops = 0;

	if (++c->nodes > MAX_NODES)
		pp_error(PPE_AUD_TREE_TOO_BIG, "the condition tree has more than %d nodes", MAX_NODES);
	if (!pp_jv_is_object(v))
		pp_error(PPE_AUD_NODE_INVALID,
				 "a condition node must be a JSON object with one of \"and\", \"or\", \"not\", \"tag\", \"attr\", \"account\", \"view\"");
	obj = v->val.binary.data;
	check_keys(obj, cond_keys, "a condition node");
	for (k = cond_ops; *k != NULL; k++)
		if (has_member(obj, *k))
		{
			op = *k;
			ops++;
		}
	if (ops != 1)
		pp_error(PPE_AUD_NODE_INVALID,
				 "a condition node must be a JSON object with one of \"and\", \"or\", \"not\", \"tag\", \"attr\", \"account\", \"view\"");
	if (strcmp(op, "account") != 0)
	{
		if (has_member(obj, "account_type"))
			pp_error(PPE_AUD_ACCOUNT_NEEDED, "\"account_type\" needs \"account\"");
		if (has_member(obj, "account_push_type"))
			pp_error(PPE_AUD_ACCOUNT_NEEDED, "\"account_push_type\" needs \"account\"");
	}
	m = pp_jmember(obj, op);

	if (strcmp(op, "and") == 0 || strcmp(op, "or") == 0)
	{
		JsonbIterator *it;
		JsonbValue	e;
		JsonbIteratorToken tok;
		List	   *children = NIL;

		if (!pp_jv_is_array(m))
			pp_error(PPE_AUD_MEMBER_NOT_ARRAY, "\"%s\" must be a JSON array", op);
		if (JsonContainerSize(m->val.binary.data) == 0)
			pp_error(PPE_AUD_MEMBER_EMPTY, "\"%s\" must not be empty", op);
		it = JsonbIteratorInit(m->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
			if (tok == WJB_ELEM)
				children = lappend(children, parse_cond(c, &e));
		return ppa_mklist(op[0] == 'a' ? A_AND : A_OR, children);
	}
	if (strcmp(op, "not") == 0)
	{
		AudNode    *n = ppa_mknode(A_NOT);

		n->children = list_make1(parse_cond(c, m));
		return n;
	}
	if (strcmp(op, "attr") == 0)
		return attrs_and(m, "attr");
	if (m->type != jbvString)
		pp_error(PPE_AUD_NODE_NOT_STRING, "\"%s\" in a condition node must be a string", op);
	if (strcmp(op, "view") == 0)
		return view_node(m);
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
			pp_error(PPE_AUD_ID_EMPTY, "\"account\" holds an empty string");
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
	"tag", "tag_and", "tag_not", "attr_and", "attr_or", "condition", "view", NULL
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
		pp_error(PPE_AUD_ACCOUNT_WITH_PACKAGE, "\"account\" and \"upload_id\" cannot be combined");
	if (atype && upl)
		ereport(ERROR,
				(pp_errmsg(PPE_AUD_ACCOUNT_TYPE_WITH_PACKAGE,
						   "\"account_type\" does not go with \"upload_id\""),
				 errdetail("The account package's type applies.")));
	if (atype && !acc)
		pp_error(PPE_AUD_ACCOUNT_NEEDED, "\"account_type\" needs \"account\"");
	if (ptype && !acc && !upl)
		pp_error(PPE_AUD_ACCOUNT_NEEDED, "\"account_push_type\" needs \"account\" or \"upload_id\"");

	if ((v = pp_jmember(obj, "registration_id")) != NULL)
	{
		AudNode    *n = ppa_mknode(A_REGID);

		n->value = id_list(v, "registration_id", NULL);
		and = lappend(and, n);
	}
	if ((v = pp_jmember(obj, "token")) != NULL)
	{
		AudNode    *n = ppa_mknode(A_TOKEN);

		n->value = id_list(v, "token", NULL);
		and = lappend(and, n);
	}
	if (acc)
		and = lappend(and, account_node(id_list(acc, "account", "account"),
										atype ? account_type_value(atype) : 0,
										ptype ? push_type_value(ptype) : 0));
	if (upl)
		and = lappend(and, upload_node(upload_id_value(upl), -1,
									   ptype ? push_type_value(ptype) : 0));
	if ((v = pp_jmember(obj, "tag")) != NULL)
	{
		tag_or = tag_list(v, "tag", false);
		and = lappend(and, ppa_mklist(A_OR, tag_nodes(tag_or)));
	}
	if ((v = pp_jmember(obj, "tag_and")) != NULL)
	{
		tag_and = tag_list(v, "tag_and", false);
		and = list_concat(and, tag_nodes(tag_and));
	}
	check_disjoint(tag_or, "tag", tag_and, "tag_and");
	if ((v = pp_jmember(obj, "tag_not")) != NULL)
	{
		AudNode    *n = ppa_mknode(A_NOT);

		n->children = list_make1(ppa_mklist(A_OR, tag_nodes(tag_list(v, "tag_not", false))));
		and = lappend(and, n);
	}
	if ((v = pp_jmember(obj, "attr_and")) != NULL)
		and = lappend(and, attrs_and(v, "attr_and"));
	if ((v = pp_jmember(obj, "attr_or")) != NULL)
		and = lappend(and, attrs_or(v, "attr_or"));
	if ((v = pp_jmember(obj, "condition")) != NULL)
		and = lappend(and, parse_cond(c, v));
	if ((v = pp_jmember(obj, "view")) != NULL)
		and = lappend(and, view_node(v));
	if (and == NIL)
		pp_error(PPE_AUD_NO_TARGET, "the audience names no target");
	return ppa_mklist(A_AND, and);
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
		pp_error(PPE_AUD_TYPE_UNKNOWN,
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
			pp_error(PPE_AUD_TYPE_MEMBER_EXTRA, "\"%s\" does not go with audience_type \"%s\"", *k, type);
	}
	if (tpns_types[t].required && !has_member(obj, tpns_types[t].required))
		pp_error(PPE_AUD_TYPE_MEMBER_MISSING, "audience_type \"%s\" needs \"%s\"", type,
				 tpns_types[t].required);

	if (strcmp(type, "all") == 0)
		return ppa_mknode(A_ALL);
	if (strcmp(type, "tag") == 0)
	{
		JsonbValue *tags,
				   *op;
		static const char *const tag_list_keys[] = {"tags", "op", NULL};
		const char *shape = "\"tag_list\" must be {\"tags\": [...], \"op\": \"AND\" or \"OR\"}";

		v = pp_jmember(obj, "tag_list");
		if (!pp_jv_is_object(v))
			pp_error(PPE_AUD_TAG_LIST_INVALID, "%s", shape);
		check_keys(v->val.binary.data, tag_list_keys, "\"tag_list\"");
		tags = pp_jmember(v->val.binary.data, "tags");
		op = pp_jmember(v->val.binary.data, "op");
		if (tags == NULL || op == NULL || op->type != jbvString ||
			!((op->val.string.len == 3 && strncmp(op->val.string.val, "AND", 3) == 0) ||
			  (op->val.string.len == 2 && strncmp(op->val.string.val, "OR", 2) == 0)))
			pp_error(PPE_AUD_TAG_LIST_INVALID, "%s", shape);
		return ppa_mklist(op->val.string.len == 3 ? A_AND : A_OR,
					  tag_nodes(tag_list(tags, "tags", false)));
	}
	if (strcmp(type, "token") == 0 || strcmp(type, "token_list") == 0)
	{
		AudNode    *n = ppa_mknode(A_TOKEN);

		n->value = id_list(pp_jmember(obj, "token_list"), "token_list", NULL);
		return n;
	}
	if (strcmp(type, "package_account_push") == 0)
		return upload_node(upload_id_value(pp_jmember(obj, "upload_id")),
						   atype ? account_type_value(atype) : -1,
						   ptype ? push_type_value(ptype) : 0);
	return account_node(id_list(pp_jmember(obj, "account_list"), "account_list", "account"),
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
		pp_error(PPE_AUD_TAGS_WITH_ATTRS, "tags and attributes cannot both be conditions");
	if (aand && aor)
		pp_error(PPE_AUD_ATTRS_AND_OR, "\"AttrsAnd\" and \"AttrsOr\" cannot be combined");
	if (tor)
	{
		lor = tag_list(tor, "TagsOr", true);
		and = lappend(and, ppa_mklist(A_OR, tag_nodes(lor)));
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
		pp_error(PPE_AUD_NO_TARGET, "the audience names no target");
	return ppa_mklist(A_AND, and);
}

/* The whole IM push body: no Condition means every device. */
static AudNode *
parse_im_body(AudCtx *c, JsonbContainer *obj)
{
	JsonbValue *cond = pp_jmember(obj, "Condition");

	check_keys(obj, im_body_keys, "an IM push body");
	if (cond == NULL)
		return ppa_mknode(A_ALL);
	if (!pp_jv_is_object(cond))
		pp_error(PPE_AUD_MEMBER_NOT_OBJECT, "\"Condition\" must be a JSON object");
	return parse_im_condition(c, cond->val.binary.data);
}

AudNode *
ppa_parse_audience(AudCtx *c, Jsonb *audience)
{
	JsonbValue	v;
	JsonbContainer *obj;
	const char *const *k;

	if (audience == NULL)
		pp_error(PPE_AUD_INVALID,
				 "audience must be \"all\" or a JSON object");
	if (JB_ROOT_IS_SCALAR(audience))
	{
		if (JsonbExtractScalar(&audience->root, &v) && v.type == jbvString &&
			v.val.string.len == 3 && strncmp(v.val.string.val, "all", 3) == 0)
			return ppa_mknode(A_ALL);
		pp_error(PPE_AUD_INVALID,
				 "audience must be \"all\" or a JSON object");
	}
	if (!JB_ROOT_IS_OBJECT(audience))
		pp_error(PPE_AUD_INVALID,
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
