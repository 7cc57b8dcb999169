/*
** rt_ops.h — [commands] operating a job's runs: `history` (range scans, newest
** first), `show` (a run's trigger, steps, attempts, inputs, outputs and
** logs, secrets redacted), `retry` (a failed run from its failed step) and
** `prune` (old runs in bounded transactions).
*/
#ifndef RT_OPS_H
#define RT_OPS_H

#include "rt_cli.h"

int rt_ops_history(const rt_workflow *wf, const rt_cli_opts *o);
int rt_ops_show(const rt_workflow *wf, const rt_cli_opts *o);
int rt_ops_retry(const rt_workflow *wf, const rt_cli_opts *o);
int rt_ops_prune(const rt_workflow *wf, const rt_cli_opts *o);

#endif
