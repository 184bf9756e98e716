/*
 * sync_endpoint.h - sync.cgi's two faces (SPEC section 3): the cron URL
 * (token, 409 when busy, a JSON summary) and the shell command (options,
 * a progress bar on a terminal, a readable summary, exit statuses).
 */
#ifndef KC_SYNC_ENDPOINT_H
#define KC_SYNC_ENDPOINT_H

#include <stdio.h>

#include "request.h"
#include "worker.h"

void kc_sync_handle(struct kc_request *req, struct kc_job *job);
/* The cron URL as an endpoint of the request pipeline (worker.h). */
extern const struct kc_endpoint kc_sync_endpoint;
/* From a shell: options in argv; the summary to out, errors to errout. */
int kc_sync_shell(int argc, char **argv, FILE *out, FILE *errout);

#endif
