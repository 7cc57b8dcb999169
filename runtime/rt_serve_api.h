/*
** rt_serve_api.h — [drivers] serve's the HTTP API (rt_serve_api.c).
** Internal to rt_serve*.c.
*/
#ifndef RT_SERVE_API_H
#define RT_SERVE_API_H

#include "rt_serve_state.h"

enum MHD_Result rt_serve_on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls);
void rt_serve_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe);

#endif
