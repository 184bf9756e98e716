/*
 * settings_page.h - the administrator's page (SPEC section 3,
 * settings.cgi): status, connection checks, setup instructions, the
 * settings saved from the page, problems and history, and the actions
 * (check, save, sync now, dry run, backfill, push all, show secrets).
 *
 * Only a user the web server authenticated (REMOTE_USER) sees anything.
 * Every action is a POST carrying a CSRF token bound to that user, and
 * answers with a 303 back to the page (redirect-after-POST); its result
 * travels through a short-lived record in the state database whose random
 * id is the only thing in the URL.  Long work (sync now, push all,
 * backfill, compare) runs in a detached process and the page shows its
 * progress, then its result.  The page needs no JavaScript (one small
 * script, allowed by its hash, refreshes a running job's progress) and
 * loads nothing from elsewhere: its Content-Security-Policy forbids it.
 */
#ifndef KC_SETTINGS_PAGE_H
#define KC_SETTINGS_PAGE_H

#include "request.h"
#include "worker.h"

void kc_settings_handle(struct kc_request *req, struct kc_job *job);

#endif
