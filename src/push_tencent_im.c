/*
 * push_tencent_im.c: the Tencent IM all/tag/attribute push, checked in its own terms, then
 * translated to an EngageLab object.
 */
#include "pushplan.h"

#include "common/jsonapi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "json.h"
#include "push_check.h"
#include "push_parse.h"

static void
check_msg_lifetime(JsonbValue *v, const char *path)
{
	int64		n;

	if (!ppj_jbv_int64(v, &n) || n < 0 || n > IM_MAX_LIFETIME)
		pp_error(PPE_PUSH_TTL,
				 "\"%s\" must be an integer from 0 to %d (seconds, at most 7 days)",
				 path, IM_MAX_LIFETIME);
}

/* Ext becomes the extra "ext" of the notification, so it must fit the extras cap as JSON. */
static void
check_im_ext(JsonbValue *v, const char *path)
{
	StringInfoData buf;

	ppj_check_text(v, path, MAX_TEXT);
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"ext\": ");
	escape_json(&buf, ppj_string_of(v));
	appendStringInfoChar(&buf, '}');
	if (buf.len > MAX_EXTRAS)
		pp_error(PPE_PUSH_TOO_LONG,
				 "\"%s\" is longer than %d bytes as the JSON text {\"ext\": ...}", path, MAX_EXTRAS);
}

static void
check_condition(JsonbValue *v, const char *path)
{
	/* its members and Tencent IM's tag rules are the audience parser's (src/audience_parse.c) */
	if (!pp_jv_is_object(v))
		pp_error(PPE_PUSH_TYPE, "\"%s\" must be an object", path);
}

static const FieldSpec im_android_fields[] = {
	{"Sound", FK_TEXT, .max = MAX_SHORT},
	{"GoogleChannelID", FK_TEXT, .max = MAX_SHORT},
	{NULL}
};

static const FieldSpec im_apns_fields[] = {
	{"Sound", FK_TEXT, .max = MAX_SHORT},
	{"BadgeMode", FK_INT, .min = 0, .max = 1},
	{"Title", FK_TEXT, .max = MAX_SHORT},
	{"SubTitle", FK_TEXT, .max = MAX_SHORT},
	{"Image", FK_TEXT, .max = MAX_URL},
	{"MutableContent", FK_INT, .min = 0, .max = 1},
	{NULL}
};

static const FieldSpec im_offline_fields[] = {
	{"PushFlag", FK_INT, .min = 0, .max = 1},
	{"Title", FK_TEXT, .max = MAX_SHORT},
	{"Desc", FK_TEXT, .max = MAX_TEXT},
	{"Ext", FK_CUSTOM, .check = check_im_ext},
	{"AndroidInfo", FK_OBJECT, .sub = im_android_fields},
	{"ApnsInfo", FK_OBJECT, .sub = im_apns_fields},
	{NULL}
};

static const FieldSpec im_fields[] = {
	{"From_Account", FK_TEXT, .max = MAX_SHORT},
	{"MsgRandom", FK_CUSTOM, .check = ppj_check_msg_random},
	{"Condition", FK_CUSTOM, .check = check_condition},
	{"OfflinePushInfo", FK_OBJECT, .sub = im_offline_fields},
	{"MsgLifeTime", FK_CUSTOM, .check = check_msg_lifetime},
	{"missing_attribute", FK_CUSTOM, .check = ppj_check_missing_attribute},	/* pushplan's own */
	{"category", FK_CUSTOM, .check = ppj_check_category},	/* pushplan's own */
	{NULL}
};

/* Ext, the IM pass-through string, reaches the app as the extra "ext" (as IM itself does). */
static void
im_put_ext(JsonbParseState **st, JsonbValue *ext)
{
	if (ext == NULL)
		return;
	ppj_begin_object(st, "extras");
	ppj_put_value(st, "ext", ext);
	ppj_end_object(st);
}

static void
im_put_notification(JsonbParseState **st, JsonbContainer *info)
{
	JsonbValue *title = pp_jmember(info, "Title");
	JsonbValue *ext = pp_jmember(info, "Ext");
	JsonbValue *v;
	JsonbContainer *ai = NULL;
	JsonbContainer *apns = NULL;
	JsonbValue *ititle;
	JsonbParseState *sub;

	if (pp_jmember(info, "Desc") == NULL)
		pp_error(PPE_PUSH_REQUIRED, "\"OfflinePushInfo.Desc\" is required when PushFlag is 0");
	if ((v = pp_jmember(info, "AndroidInfo")) != NULL)
		ai = v->val.binary.data;
	if ((v = pp_jmember(info, "ApnsInfo")) != NULL)
		apns = v->val.binary.data;

	ppj_begin_object(st, "notification");
	ppj_put_copy_as(st, "alert", info, "Desc");

	sub = NULL;
	ppj_begin_object(&sub, NULL);
	if (title)
		ppj_put_value(&sub, "title", title);
	ppj_put_copy_as(&sub, "sound", ai, "Sound");
	ppj_put_copy_as(&sub, "channel_id", ai, "GoogleChannelID");
	im_put_ext(&sub, ext);
	ppj_put_block(st, "android", &sub);

	sub = NULL;
	ppj_begin_object(&sub, NULL);
	ititle = apns ? pp_jmember(apns, "Title") : NULL;
	if (ititle == NULL)
		ititle = title;
	if (ititle || (apns && pp_jmember(apns, "SubTitle")))
	{
		ppj_begin_object(&sub, "alert");
		if (ititle)
			ppj_put_value(&sub, "title", ititle);
		ppj_put_copy_as(&sub, "subtitle", apns, "SubTitle");
		ppj_put_copy_as(&sub, "body", info, "Desc");
		ppj_end_object(&sub);
	}
	ppj_put_copy_as(&sub, "sound", apns, "Sound");
	/* BadgeMode: absent or 0 counts the message on the badge, 1 does not */
	if (apns == NULL || (v = pp_jmember(apns, "BadgeMode")) == NULL || ppj_int_of(v) == 0)
		ppj_put_string(&sub, "badge", "+1");
	ppj_put_copy_as(&sub, "image", apns, "Image");
	if (apns && (v = pp_jmember(apns, "MutableContent")) != NULL)
		ppj_put_bool(&sub, "mutable_content", ppj_int_of(v) == 1);
	im_put_ext(&sub, ext);
	ppj_put_block(st, "ios", &sub);

	ppj_end_object(st);
}

/*
 * PushFlag 1 means "online users only": pushplan has no online channel, so the nearest thing
 * is a data message, which reaches the app (when it runs) without showing a notification.
 */
static void
im_put_message(JsonbParseState **st, JsonbContainer *info)
{
	JsonbValue *content = pp_jmember(info, "Ext");

	if (content == NULL)
		content = pp_jmember(info, "Desc");
	if (content == NULL)
		ereport(ERROR,
				(pp_errmsg(PPE_PUSH_IM_ONLINE_ONLY,
						   "\"OfflinePushInfo\" with PushFlag 1 (online only) needs \"Ext\""),
				 errdetail("With no online channel, pushplan sends it as a data message.")));
	if (pp_jmember(info, "AndroidInfo"))
		pp_error(PPE_PUSH_IM_PUSHFLAG_INFO,
				 "\"OfflinePushInfo.AndroidInfo\" applies only when PushFlag is 0");
	if (pp_jmember(info, "ApnsInfo"))
		pp_error(PPE_PUSH_IM_PUSHFLAG_INFO, "\"OfflinePushInfo.ApnsInfo\" applies only when PushFlag is 0");
	ppj_begin_object(st, "message");
	ppj_put_value(st, "msg_content", content);
	ppj_put_copy_as(st, "title", info, "Title");
	ppj_end_object(st);
}

Jsonb *
pp_tencent_im_translate(Jsonb *push)
{
	JsonbContainer *root = &push->root;
	JsonbValue	rootv;
	JsonbValue *info;
	JsonbValue *v;
	JsonbParseState *st = NULL;

	if (ppj_json_text_length(root, VARSIZE(push)) > MAX_IM_BODY_BYTES)
		pp_error(PPE_PUSH_IM_TOO_LARGE,
				 "a Tencent IM push body is larger than %d bytes as JSON text", MAX_IM_BODY_BYTES);
	rootv.type = jbvBinary;
	rootv.val.binary.data = root;
	rootv.val.binary.len = 0;
	ppj_check_object(&rootv, "", im_fields);
	if (pp_jmember(root, "MsgRandom") == NULL)
		pp_error(PPE_PUSH_MSG_RANDOM, "MsgRandom is missing or not an integer from 0 to 4294967295");
	if ((info = pp_jmember(root, "OfflinePushInfo")) == NULL)
		ereport(ERROR,
				(pp_errmsg(PPE_PUSH_IM_OFFLINE_MISSING, "\"OfflinePushInfo\" is required"),
				 errdetail("Delivery goes through the vendors' offline channels only.")));

	ppj_begin_object(&st, NULL);
	if ((v = pp_jmember(root, "Condition")) != NULL)
		ppj_put_value(&st, "to", v);
	else
		ppj_put_string(&st, "to", "all");
	ppj_begin_object(&st, "body");
	ppj_put_platforms(&st, TENCENT_PLATFORMS);
	v = pp_jmember(info->val.binary.data, "PushFlag");
	if (v && ppj_int_of(v) == 1)
		im_put_message(&st, info->val.binary.data);
	else
		im_put_notification(&st, info->val.binary.data);
	ppj_begin_object(&st, "options");
	v = pp_jmember(root, "MsgLifeTime");
	ppj_put_int(&st, "time_to_live", v ? ppj_int_of(v) : DEFAULT_TTL);
	ppj_put_copy(&st, root, "missing_attribute");
	ppj_put_copy(&st, root, "category");
	ppj_end_object(&st);
	ppj_end_object(&st);
	ppj_put_copy(&st, root, "MsgRandom");
	ppj_put_copy(&st, root, "From_Account");
	ppj_put_string(&st, "dialect", PP_DIALECT_TENCENT_IM);
	return JsonbValueToJsonb(ppj_end_object(&st));
}
