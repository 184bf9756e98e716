/*
 * page_section_settings.c - the Settings form: the keys the page may
 * change (KeyCRM's key and warehouse, the shop's REST key, the reserve and
 * stock-management choices), each with where its value comes from.
 * Secrets are never sent back: an empty field keeps the current value.
 */
#include "page.h"

#include <string.h>

#include "html.h"
#include "settings_file.h"

static void
select_field(struct kc_buf *b, const struct page *p, enum kc_key key,
    const char *label, const char *const *options, const char *const *labels,
    const char *hint)
{
	const char *name = kc_config_key_name(key);
	char cur[64];
	int here = p->cfg.source[key] == KC_SRC_SETTINGS;

	kc_config_value_text(&p->cfg, key, cur, sizeof(cur));
	kc_html_f(b, "<div class=\"field\"><label for=\"%s\">%s", name, label);
	page_source_badge(b, p->cfg.source[key], 0);
	kc_html_f(b, "</label><select id=\"%s\" name=\"%s\">", name, name);
	/* "Not set here" leaves the key to the configuration file. */
	kc_html_f(b, "<option value=\"\"%s>", here ? "" : " selected");
	kc_html_f(b, _("As in the configuration file (%s)"), here ? _("default") : cur);
	kc_html_raw(b, "</option>");
	for (int i = 0; options[i] != NULL; i++)
		kc_html_f(b, "<option value=\"%s\"%s>%s</option>", options[i],
		    here && strcmp(cur, options[i]) == 0 ? " selected" : "", labels[i]);
	kc_html_f(b, "</select><p class=\"hint\">%s</p></div>", hint);
}

/* The shop's REST key: replaceable here, so a revoked key needs no SSH. */
static void
woo_key_field(struct kc_buf *b, const struct page *p)
{
	const enum kc_source src = p->cfg.source[KC_KEY_WOO_CONSUMER_KEY];
	char masked[64];

	kc_mask_secret(p->cfg.woo_consumer_secret, masked, sizeof(masked));
	kc_html_f(b, "<div class=\"field\"><label for=\"woo_consumer_key\">%s",
	    _("WooCommerce REST key"));
	page_source_badge(b, src, p->cfg.woo_consumer_key == NULL);
	kc_html_f(b, "</label><input type=\"text\" id=\"woo_consumer_key\" "
	    "name=\"woo_consumer_key\" value=\"\" autocomplete=\"off\" spellcheck=\"false\" "
	    "placeholder=\"ck_...\"><input type=\"password\" id=\"woo_consumer_secret\" "
	    "name=\"woo_consumer_secret\" value=\"\" autocomplete=\"new-password\" "
	    "spellcheck=\"false\" placeholder=\"cs_...\" aria-label=\"%s\">"
	    "<p class=\"hint\">", _("Consumer secret"));
	if (p->cfg.woo_consumer_key != NULL)
		kc_html_f(b, _("Current key: <code>%s</code>, secret %s. Leave both empty to "
		    "keep it."), p->cfg.woo_consumer_key, masked[0] ? masked : _("not set"));
	else
		kc_html_f(b, "%s", _("No key is set."));
	kc_html_f(b, " %s</p>", _("A new key (Read/Write, from WooCommerce, Settings, "
	    "Advanced, REST API) is checked with the shop before it is saved."));
	if (src == KC_SRC_SETTINGS)
		kc_html_f(b, "<label class=\"check\"><input type=\"checkbox\" "
		    "name=\"forget_woo_key\" value=\"1\"> %s</label>",
		    _("Remove the key saved here (use the configuration file's)"));
	kc_html_raw(b, "</div>");
}

static void
keycrm_key_field(struct kc_buf *b, const struct page *p)
{
	const enum kc_source ksrc = p->cfg.source[KC_KEY_KEYCRM_API_KEY];
	char masked[64];

	kc_mask_secret(p->cfg.keycrm_api_key, masked, sizeof(masked));
	kc_html_f(b, "<div class=\"field\"><label for=\"keycrm_api_key\">%s",
	    _("KeyCRM API key"));
	page_source_badge(b, ksrc, masked[0] == '\0');
	kc_html_f(b, "</label><input type=\"password\" id=\"keycrm_api_key\" "
	    "name=\"keycrm_api_key\" value=\"\" autocomplete=\"new-password\" "
	    "spellcheck=\"false\" placeholder=\"%s\"><p class=\"hint\">",
	    masked[0] ? _("leave empty to keep the current key") : _("paste the key from KeyCRM"));
	if (masked[0])
		kc_html_f(b, _("Current key: %s. Leave the field empty to keep it."), masked);
	else
		kc_html_f(b, "%s", _("No key is set."));
	kc_html_f(b, " %s</p>", _("A new key is checked with KeyCRM before it is saved."));
	if (ksrc == KC_SRC_SETTINGS)
		kc_html_f(b, "<label class=\"check\"><input type=\"checkbox\" "
		    "name=\"forget_api_key\" value=\"1\"> %s</label>",
		    _("Remove the key saved here (use the configuration file's)"));
	kc_html_raw(b, "</div>");
}

static void
warehouse_field(struct kc_buf *b, const struct page *p)
{
	const enum kc_source wsrc = p->cfg.source[KC_KEY_KEYCRM_WAREHOUSE_ID];
	char wh[32];

	kc_config_value_text(&p->cfg, KC_KEY_KEYCRM_WAREHOUSE_ID, wh, sizeof(wh));
	kc_html_f(b, "<div class=\"field\"><label for=\"keycrm_warehouse_id\">%s",
	    _("KeyCRM warehouse id"));
	page_source_badge(b, wsrc, wh[0] == '\0');
	kc_html_f(b, "</label><input type=\"text\" id=\"keycrm_warehouse_id\" "
	    "name=\"keycrm_warehouse_id\" inputmode=\"numeric\" value=\"%s\" "
	    "placeholder=\"%s\"><p class=\"hint\">", wsrc == KC_SRC_SETTINGS ? wh : "",
	    wsrc == KC_SRC_SETTINGS || !wh[0] ? "" : wh);
	if (wsrc != KC_SRC_SETTINGS && wh[0])
		kc_html_f(b, _("The warehouse the shop's stock is written to (KeyCRM, Settings, "
		    "Warehouses: the number in its address). Empty: as in the configuration "
		    "file (%s). A new id is checked against KeyCRM's stock list before it is "
		    "saved."), wh);
	else
		kc_html_f(b, "%s", _("The warehouse the shop's stock is written to (KeyCRM, "
		    "Settings, Warehouses: the number in its address). Empty: as in the "
		    "configuration file. A new id is checked against KeyCRM's stock list "
		    "before it is saved."));
	kc_html_f(b, "</p><label class=\"check\"><input type=\"checkbox\" "
	    "name=\"warehouse_unlisted\" value=\"yes\"> %s</label></div>",
	    _("The id is right although KeyCRM's stock list does not show it yet: save it anyway"));
}

void
section_settings(struct kc_buf *b, struct page *p)
{
	const char *const yesno[] = { "yes", "no", NULL };
	const char *const yesno_l[] = { _("yes: shop stock = in stock - reserve"),
	    _("no: shop stock = in stock"), NULL };
	const char *const manage[] = { "skip", "enable", NULL };
	const char *const manage_l[] = { _("skip them"),
	    _("enable stock management on them"), NULL };

	kc_html_f(b, "<section class=\"card\" id=\"settings\"><h2>%s</h2><p class=\"muted\">",
	    _("Settings"));
	kc_html_f(b, _("Saved to %s/%s, which overrides these keys of %s. Each shows where "
	    "its value comes from."), p->cfg.state_dir, KC_SETTINGS_FILE, p->cfg.path);
	kc_html_f(b, "</p><form method=\"post\" action=\"%s\" autocomplete=\"off\">", p->self);
	page_csrf_field(b, p);
	kc_html_raw(b, "<input type=\"hidden\" name=\"action\" value=\"save\">");
	keycrm_key_field(b, p);
	warehouse_field(b, p);
	woo_key_field(b, p);
	select_field(b, p, KC_KEY_SUBTRACT_RESERVE, _("Subtract KeyCRM's reserve"),
	    yesno, yesno_l, _("Whether goods reserved in KeyCRM count as sold in the shop."));
	select_field(b, p, KC_KEY_MANAGE_STOCK, _("Products that do not manage stock"),
	    manage, manage_l, _("What to do with shop products whose stock is not managed."));
	kc_html_f(b, "<div class=\"actions\"><button type=\"submit\" class=\"primary\">"
	    "%s</button></div></form></section>", _("Save settings"));
}
