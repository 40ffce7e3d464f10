/*
 * push_check.h: what the push dialect files (push_*.c) share: size caps, field tables, the
 * generic checker and the jsonb builders (push_check.c), and each dialect's entry point.
 * Private to those files; the rest of pushplan sees push_parse.h.
 */
#ifndef PUSH_CHECK_H
#define PUSH_CHECK_H

#include "postgres.h"

#include "utils/jsonb.h"

/* Size caps, in bytes of UTF-8 text unless said otherwise (doc/push.md gives the reasons). */
#define MAX_PUSH_BYTES		65536	/* a whole push, as jsonb text */
#define MAX_IM_BODY_BYTES	10240	/* a Tencent IM body (Tencent IM, 90056) */
#define MAX_SHORT			256		/* titles, sounds, categories, channel and thread ids */
#define MAX_TEXT			4000	/* alerts, message content, big text */
#define MAX_URL				1024	/* images, icons, links */
#define MAX_EXTRAS			4000	/* extras, custom_args, inbox: as JSON text */
#define MAX_ID				64		/* plan_id, apns_collapse_id; request_id in characters */
#define MAX_LANGUAGES		100
#define MAX_TTL				(15 * 86400)
#define DEFAULT_TTL			86400
#define TP_MAX_EXPIRE		(3 * 86400) /* Tencent Push: 72 hours, also its default */
#define IM_MAX_LIFETIME		(7 * 86400) /* Tencent IM: 7 days */

#define N_PLATFORMS			4
#define ALL_PLATFORMS		0xF
#define TENCENT_PLATFORMS	0x3		/* android, ios: what both Tencent services reach */

typedef enum FieldKind
{
	FK_ANY,						/* checked by someone else (the audience compiler) */
	FK_TEXT,					/* non-empty string of at most max bytes */
	FK_INT,						/* integer in [min, max] */
	FK_BOOL,
	FK_EXTRAS,					/* object of any JSON values, at most MAX_EXTRAS as text */
	FK_OBJECT,					/* object checked against sub */
	FK_CUSTOM					/* checked by check() */
} FieldKind;

typedef struct FieldSpec
{
	const char *key;
	FieldKind	kind;
	bool		required;
	int64		min;
	int64		max;
	const struct FieldSpec *sub;
	void		(*check) (JsonbValue *v, const char *path);
} FieldSpec;

extern const char *const ppj_platform_names[];

/* push_check.c: reading */
extern char *ppj_child_path(const char *path, const char *key);
extern bool ppj_string_is(JsonbValue *v, const char *s);
extern char *ppj_string_of(JsonbValue *v);
/* an integer; huge ones clamped, so that range checks report them */
extern bool ppj_jbv_int64(JsonbValue *v, int64 *out);
extern int64 ppj_int_of(JsonbValue *v);
extern int ppj_json_text_length(JsonbContainer *c, int estimate);

/* push_check.c: checks against field tables; errors name the path the caller wrote */
extern void ppj_check_text(JsonbValue *v, const char *path, int64 max);
extern int64 ppj_check_int(JsonbValue *v, const char *path, int64 min, int64 max);
extern void ppj_check_extras(JsonbValue *v, const char *path);
extern void ppj_check_missing_attribute(JsonbValue *v, const char *path);
/* options.category (doc/privacy.md); the Tencent bodies take it as a top-level "category" */
extern void ppj_check_category(JsonbValue *v, const char *path);
extern void ppj_check_object(JsonbValue *v, const char *path, const FieldSpec *specs);

/* push_check.c: building the normalized push */
extern void ppj_put_key(JsonbParseState **st, const char *key);
extern void ppj_put_value(JsonbParseState **st, const char *key, JsonbValue *v);
extern void ppj_put_string(JsonbParseState **st, const char *key, const char *s);
extern void ppj_put_int(JsonbParseState **st, const char *key, int64 n);
extern void ppj_put_bool(JsonbParseState **st, const char *key, bool b);
extern void ppj_put_copy_as(JsonbParseState **st, const char *key, JsonbContainer *from, const char *fromkey);
extern void ppj_put_copy(JsonbParseState **st, JsonbContainer *from, const char *key);
extern void ppj_begin_object(JsonbParseState **st, const char *key);
extern JsonbValue *ppj_end_object(JsonbParseState **st);
extern void ppj_put_block(JsonbParseState **st, const char *key, JsonbParseState **sub);
extern void ppj_push_pairs(JsonbParseState **st, JsonbContainer *c);

/* push_engagelab.c */
extern void ppj_put_platforms(JsonbParseState **st, int mask);
/* push_fallback.c: checks a push's "fallback" and writes it normalized (doc/fallback.md) */
extern void pp_fallback_put(JsonbParseState **st, JsonbValue *v);
extern const FieldSpec ppj_ios_alert_fields[];
extern void ppj_check_msg_random(JsonbValue *v, const char *path);
extern void ppj_check_send_time(JsonbValue *v, const char *path);
extern Jsonb *pp_engagelab_normalize(JsonbContainer *root, const char **dialect_out);

/* push_variants.c: "variants" (doc/variants.md) */
extern void ppj_check_variants(JsonbValue *v, const char *path);
extern void ppj_check_variants_test(JsonbValue *v, const char *path);
extern Jsonb *ppj_variant_push(JsonbContainer *root, JsonbContainer *variant);

/* push_tencent.c, push_tencent_im.c: checked in their own terms, translated to EngageLab */
extern Jsonb *pp_tencent_push_translate(JsonbContainer *root);
extern Jsonb *pp_tencent_im_translate(Jsonb *push);

#endif							/* PUSH_CHECK_H */
