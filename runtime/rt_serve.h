/*
** rt_serve.h — [commands] `JOB serve`: the job binary as a long-lived HTTP service.
**
** libmicrohttpd answers POST /events/<name>, POST /hooks/<user>,
** GET /runs/<id>, /healthz and /metrics. An accepted run is committed to
** LMDB as `queued` (concurrent accepts share one transaction) before the
** 202 answer; N worker threads take queued runs round-robin across users
** and run them with the engine (rt_exec.h). Runs found unfinished at
** start-up are resumed. SIGTERM drains, SIGHUP reopens --log-file,
** NOTIFY_SOCKET gets READY=1 / STOPPING=1. See docs/serve.md.
*/
#ifndef RT_SERVE_H
#define RT_SERVE_H

#include "flowrt.h"

/* `JOB serve ...`: argv[0] is "serve". Returns the process exit code
** (0 after a drain, 2 on bad usage or a listen/state failure). */
int rt_serve_main(const rt_workflow *wf, int argc, char **argv);

#endif
