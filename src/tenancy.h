/*
 * tenancy.h: which apps the caller may act on, and with which rights (doc/security.md).
 *
 * A role acts on an app through a binding (pushplan.app_grants, written by push_app_grant):
 * kind admin, operator, app or reader. Superusers and members of pushplan_admin act on every
 * app. "The caller" is the role the session acts as outside any function: the login, or the
 * role it took with SET ROLE (GetOuterUserId), so that pushplan's own SECURITY DEFINER
 * functions, which all check, see the real caller and not their owner.
 *
 * An app the caller holds no binding on and an app that does not exist give the same error
 * (92001): nobody learns that another tenant's app exists.
 */
#ifndef PUSHPLAN_TENANCY_H
#define PUSHPLAN_TENANCY_H

#include "postgres.h"

/* Rights, as bits. A binding of kind admin holds them all; operator holds reader's too. */
#define PP_RIGHT_READER		0x01	/* statistics and progress views */
#define PP_RIGHT_APP		0x02	/* devices, tags, attributes, accounts; transactional sends */
#define PP_RIGHT_OPERATOR	0x04	/* plans, audiences, packages, any send, devices seen */
#define PP_RIGHT_ADMIN		0x08	/* settings, vendor credentials, bindings */
#define PP_RIGHTS_ALL		0x0F

/*
 * The app's id if the caller holds at least one of the rights in `any_of` on it, and in *held
 * (if not NULL) all the rights it holds there. Raises 92001 (as for an unknown app) when the
 * caller holds nothing on it, 92061 when it holds other rights. Opens its own SPI connection.
 */
extern int32 pp_app_id(const char *app, int any_of, int *held);

/* The rights the caller holds on an app (PP_RIGHTS_ALL for superusers and pushplan_admin). */
extern int	pp_app_rights(int32 app_id);

/* Whether the caller acts on every app (a superuser, or has the privileges of pushplan_admin). */
extern bool pp_caller_cluster_wide(void);

/* The caller's role (see above). */
extern Oid	pp_caller(void);

#endif							/* PUSHPLAN_TENANCY_H */
