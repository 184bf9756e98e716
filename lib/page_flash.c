/*
 * page_flash.c - an action's result message: said sentence by sentence,
 * kept in the state database (store_page.c) under a random id that the
 * redirect carries, and shown once, only to the user who acted.
 */
#include "page.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "html.h"
#include "store_page.h"
#include "store_runstate.h"

#define FLASH_TTL_S 3600.0

void
flash_init(struct flash *f)
{
	memset(f, 0, sizeof(*f));
	kc_buf_init(&f->text);
}

void
flash_free(struct flash *f)
{
	kc_buf_free(&f->text);
}

void
flash_say(struct flash *f, enum level level, const char *fmt, ...)
{
	va_list ap;

	if (level > f->level)
		f->level = level;
	if (f->text.len > 0)
		kc_buf_adds(&f->text, " ");
	va_start(ap, fmt);
	kc_buf_vaddf(&f->text, fmt, ap);
	va_end(ap);
}

void
flash_store(struct page *p, const struct flash *f, char *query, size_t qsz)
{
	unsigned char rnd[16];
	char id[33];
	struct kc_error err = { { 0 } };
	json_t *rec;

	kc_strlcpy(query, "m=lost", qsz);
	if (!p->have_store || kc_random_bytes(rnd, sizeof(rnd)) != 0)
		return;
	for (int i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	rec = json_pack("{s:s,s:f,s:s,s:s?}", "user", p->user, "t", p->now,
	    "level", page_level_class[f->level], "text", f->text.data);
	if (rec == NULL)
		return;
	if (f->plan)
		json_object_set_new(rec, "plan", json_true());
	/* Messages nobody came back for (a closed tab) are dropped after an hour. */
	kc_store_flash_purge(&p->st, p->now - FLASH_TTL_S, NULL);
	if (kc_store_flash_put(&p->st, id, rec, &err) == 0)
		snprintf(query, qsz, "m=%s", id);
	else
		kc_log(KC_LOG_WARN, "settings: cannot keep the result message: %s", err.msg);
	json_decref(rec);
}

void
flash_show(struct kc_buf *b, struct page *p, const char *id)
{
	json_t *rec = NULL;
	const char *level, *text;

	if (id != NULL && strcmp(id, "lost") == 0) {
		kc_html_f(b, "<div class=\"notice warn\" role=\"status\"><p>%s</p></div>",
		    _("Done, but the result could not be kept to show here; the web "
		    "server's error log has it."));
		return;
	}
	if (id == NULL || !p->have_store ||
	    kc_store_flash_take(&p->st, id, p->user, &rec) != 0)
		return;
	level = json_string_value(json_object_get(rec, "level"));
	text = json_string_value(json_object_get(rec, "text"));
	kc_html_f(b, "<div class=\"notice %s\" role=\"status\" id=\"result\"><p>%s</p>",
	    level && strspn(level, "abcdefghijklmnopqrstuvwxyz") == strlen(level) ?
	    level : "info", text ? text : "");
	if (json_is_true(json_object_get(rec, "plan")))
		page_plan_table(b, p);
	kc_html_raw(b, "</div>");
	json_decref(rec);
}
