/*
** rt_host_api.h — [commands] the application's API on `serve` (operator token, JSON;
** docs/project.md): users, their connections and activations, and the
** project's workflows, on the same host functions as the CLI.
**
**   PUT/GET/DELETE /api/users/ID                   {enabled?}
**   GET            /api/users                      every user (views)
**   PUT/DELETE     /api/users/ID/connections/INTEG {secrets: {...}, fields: {...}}
**   PUT/DELETE     /api/users/ID/workflows/W       {settings: {...}}
**   GET            /api/workflows                  as `info --json`
**   POST           /api/workflows/W/deploy, /undeploy
**
** A refused request stores nothing and answers 4xx with {"error"} naming
** the problem. No answer holds a secret's value: connections show their
** secrets' names only.
*/
#ifndef RT_HOST_API_H
#define RT_HOST_API_H

#include "rt_host.h"

typedef struct rt_host_api_ctx {
    rt_store *st;
    const char *state_dir;
    /* starts a `trigger enabled` run an activation made (its record, a NEW
    ** reference taken over): serve stores and queues it */
    void (*start_run)(void *arg, json_t *rec);
    void *arg;
} rt_host_api_ctx;

/* Answers one request: path is what follows "/api" ("/users/alice"),
** body its bytes (may be NULL). The answer (NEW) and its status. */
json_t *rt_host_api(const rt_host_api_ctx *c, const char *method, const char *path, const char *body, size_t len,
                    unsigned *status);

#endif
