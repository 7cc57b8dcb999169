/*
** rt_serve_answer.h — [drivers] serve's answers and waiting webhooks
** (rt_serve_answer.c). Internal to rt_serve*.c.
*/
#ifndef RT_SERVE_ANSWER_H
#define RT_SERVE_ANSWER_H

#include "rt_serve_state.h"

void rt_serve_count_code(serve *sv, unsigned status);
enum MHD_Result rt_serve_answer_text(request *rq, unsigned status, const char *text, const char *ctype);
/* Answers with body (a NEW reference, taken over) as JSON. */
enum MHD_Result rt_serve_answer_json(request *rq, unsigned status, json_t *body);
/* {"error": msg}: msg redacted and valid UTF-8 (it may quote a request's
** bytes), so that the answer always carries it. */
enum MHD_Result rt_serve_answer_error(request *rq, unsigned status, const char *msg);
/* Fills in the answer of a suspended request and resumes it; rq must not
** be touched afterwards. */
void rt_serve_resume_with(request *rq, unsigned status, json_t *body);
bool rt_serve_finished_status(const char *s);
/* Answers every webhook waiting for run id (rec is its final record). */
void rt_serve_hooks_finish(serve *sv, const char *id, const json_t *rec);
/* Answers 202 to the webhooks past their deadline (all of them: draining). */
void rt_serve_hooks_expire(serve *sv, bool all);
/* Puts a committed webhook request on the waiting list; a replayed one
** whose run already ended is answered at once. */
void rt_serve_hook_wait(serve *sv, request *rq);

#endif
