/*
** rt_users.c — [services] connected users' records (rt_users.h); their
** sealed secrets are rt_secrets.c's.
*/
#include "rt_users.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_crypto.h"
#include "rt_log.h"
#include "rt_type.h"
#include "rt_util.h"

/* ---- user records ------------------------------------------------------- */

json_t *rt_users_get_enabled(rt_store *st, const rt_workflow *wf, const char *user, char *err, size_t n)
{
    json_t *rec = rt_store_get_user(st, user);
    if (!rec) {
        snprintf(err, n, "unknown user '%s' (add it with `%s users set %s --settings FILE`)", user, wf->name, user);
        return NULL;
    }
    if (rt_store_damaged(rec)) {
        snprintf(err, n, "user '%s''s record cannot be read (%s): restore the state from a backup, or store the user "
                 "again with `%s users set %s --settings FILE --secret ...`", user, rt_store_damaged(rec), wf->name,
                 user);
        json_decref(rec);
        return NULL;
    }
    if (!json_is_true(json_object_get(rec, "enabled"))) {
        snprintf(err, n, "user '%s' is disabled (`%s users enable %s` enables it)", user, wf->name, user);
        json_decref(rec);
        return NULL;
    }
    return rec;
}
