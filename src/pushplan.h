/*
 * pushplan.h: declarations shared by the extension's C files.
 *
 * Errors: every user-facing error starts with a stable five-digit pushplan code (Tencent IM's
 * codes where one exists, 92xxx for our own) and carries a standard SQLSTATE for its category;
 * errors.h lists them all, doc/errors.md documents them.
 */
#ifndef PUSHPLAN_H
#define PUSHPLAN_H

#include "postgres.h"

/* every error code, and pp_error / pp_errmsg / PP_CODE that raise or show them */
#include "errors.h"

/* user_text.c: a user's value as messages show it (at most PP_SHOWN_CHARS characters) */
#define PP_SHOWN_CHARS 100
extern char *pp_shown(const char *s);
extern char *pp_shown_n(const char *s, int len);
extern char *pp_name_problem(const char *what, const char *s, int len);
extern bool pp_has_control(const char *s, int len);
/* The tag and attribute-name rules (where: an audience key, or NULL for a device) */
#define PP_MAX_TAG_BYTES		50
#define PP_MAX_ATTR_NAME_BYTES	64
extern char *pp_tag_problem(const char *tag, int len, const char *where);
extern char *pp_attr_name_problem(const char *name, int len, const char *where);

/* timezone.c */
extern const char *pp_canonical_timezone(const char *name);
extern bool pp_fixed_digits(const char *s, int n, int *out);
extern bool pp_valid_time_of_day(const char *s, int len);
extern bool pp_valid_local_datetime(const char *s, int len);

/* url_check.c: an https URL's origin (Web Push's VAPID audience), or NULL and *why */
extern char *pp_url_origin(const char *url, const char **why);

/* device_check.c */
extern bool pp_language_tag_valid(const char *tag);

#endif							/* PUSHPLAN_H */
