/*
 * json.h: reading jsonb members, writing JSON text (vendor payloads) and building jsonb values
 * (what SQL functions return) (json.c).
 */
#ifndef PUSHPLAN_JSON_H
#define PUSHPLAN_JSON_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* Readers: NULL / false when c is NULL, not an object, or has no such member of that type. */
extern JsonbValue *pp_jmember(JsonbContainer *c, const char *key);
extern bool pp_jv_is_object(const JsonbValue *v);
extern bool pp_jv_is_array(const JsonbValue *v);
/*
 * A JSON number that is an integer (no fraction or exponent left).  One beyond int64 is
 * clamped and *huge set; with huge NULL it is refused.
 */
extern bool pp_jv_int64(const JsonbValue *v, int64 *out, bool *huge);
extern bool pp_jget(JsonbContainer *c, const char *key, JsonbValue *v);
extern JsonbContainer *pp_jobj(JsonbContainer *c, const char *key);
extern char *pp_jstr(JsonbContainer *c, const char *key);
/* an integer member, or a string holding one */
extern bool pp_jnum(JsonbContainer *c, const char *key, int64 *out);
extern bool pp_jbool(JsonbContainer *c, const char *key, bool *out);
extern char *pp_jraw(JsonbContainer *c, const char *key);
/* the first key of an object that allowed (NULL-terminated) does not list, or NULL */
extern char *pp_jkey_not_in(JsonbContainer *c, const char *const *allowed);

/* Writers: "key":value, a comma first unless *first. */
extern void pp_jw_key(StringInfo b, bool *first, const char *key);
extern void pp_jw_str(StringInfo b, bool *first, const char *key, const char *val);
extern void pp_jw_int(StringInfo b, bool *first, const char *key, int64 val);
extern void pp_jw_raw(StringInfo b, bool *first, const char *key, const char *json);

/*
 * Builder: a jsonb object made member by member with pushJsonbValue, for SQL functions that
 * return jsonb (no text round trip through jsonb_in).  Between pp_jb_begin and pp_jb_end,
 * pp_jb_object opens a nested object member and pp_jb_close closes it.
 */
typedef struct PPJsonb
{
	JsonbParseState *state;
	JsonbValue *result;
} PPJsonb;

extern void pp_jb_begin(PPJsonb *b);
extern void pp_jb_str(PPJsonb *b, const char *key, const char *val);	/* NULL: null */
extern void pp_jb_int(PPJsonb *b, const char *key, int64 val);
extern void pp_jb_bool(PPJsonb *b, const char *key, bool val);
extern void pp_jb_jsonb(PPJsonb *b, const char *key, Jsonb *val);
extern void pp_jb_object(PPJsonb *b, const char *key);
extern void pp_jb_close(PPJsonb *b);
extern Jsonb *pp_jb_end(PPJsonb *b);

/* Text from outside (a vendor's answer) as jsonb, or NULL when it is not valid JSON. */
extern Jsonb *pp_json_parse_safe(const char *text, size_t len);

#endif							/* PUSHPLAN_JSON_H */
