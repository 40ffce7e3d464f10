/*
 * pushplan.h: declarations shared by the extension's C files.
 *
 * Errors: every user-facing error starts with a stable five-digit pushplan code (Tencent IM's
 * codes where one exists, 92xxx for our own; doc/errors.md lists them all) and carries a
 * standard SQLSTATE for its category.
 */
#ifndef PUSHPLAN_H
#define PUSHPLAN_H

#include "postgres.h"

/* ereport(ERROR) with a SQLSTATE and a message that starts with the pushplan code. */
#define pp_error(sqlstate, code, ...) \
	ereport(ERROR, (errcode(sqlstate), errmsg(code ": " __VA_ARGS__)))

/* user_text.c: a user's value as messages show it (at most PP_SHOWN_CHARS characters) */
#define PP_SHOWN_CHARS 100
extern char *pp_shown(const char *s);
extern char *pp_shown_n(const char *s, int len);
extern char *pp_name_problem(const char *what, const char *s, int len);
/* The tag and attribute-name rules (where: an audience key, or NULL for a device) */
#define PP_MAX_TAG_BYTES		50
#define PP_MAX_ATTR_NAME_BYTES	64
extern char *pp_tag_problem(const char *tag, int len, const char *where);
extern char *pp_attr_name_problem(const char *name, int len, const char *where);

/* timezone.c */
extern const char *pp_canonical_timezone(const char *name);

/* device_check.c */
extern bool pp_language_tag_valid(const char *tag);

#endif							/* PUSHPLAN_H */
