/*
 * The KeyCRM client against the simulated KeyCRM (tests/fakes/fake_keycrm.py),
 * which this test starts itself: key checks, PUT /offers/stocks with its
 * 422 handling, Retry-After, the shared request window and paging.
 *
 * Run from the repository root (make check-unit does).
 */
#include "unit.h"

#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "config.h"
#include "keycrm.h"
#include "store.h"

#define FAKE "tests/fakes/fake_keycrm.py"
#define KEY "kc-test-key-4f9a1c2e7b"

extern char **environ;

static pid_t fake_pid;
static int fake_port;
static char base_url[64];

/* Per test. */
static char dir[64];
static struct kc_store store;
static struct kc_config cfg;

/* ---- the fake ---------------------------------------------------------- */

static int
start_fake(void **state)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { "/usr/bin/python3", FAKE, "--port", "0", "--api-key",
	    KEY, NULL };
	char line[64];
	size_t len = 0;
	int fds[2];
	int64_t until = kc_monotonic_ms() + 10000;

	(void)state;
	/* Never through a proxy, whatever the environment says. */
	setenv("NO_PROXY", "127.0.0.1", 1);
	setenv("no_proxy", "127.0.0.1", 1);
	if (pipe(fds) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	if (posix_spawn(&fake_pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	while (len < sizeof(line) - 1 && memchr(line, '\n', len) == NULL) {
		struct pollfd p = { fds[0], POLLIN, 0 };
		ssize_t r;

		if (poll(&p, 1, (int)(until - kc_monotonic_ms())) <= 0)
			break;
		r = read(fds[0], line + len, sizeof(line) - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fds[0]);
	line[len] = '\0';
	if (sscanf(line, "PORT=%d", &fake_port) != 1) {
		fprintf(stderr, "the fake KeyCRM did not start: '%s'\n", line);
		kill(fake_pid, SIGTERM);
		waitpid(fake_pid, NULL, 0);
		return -1;
	}
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d/v1", fake_port);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	kc_log_set_level(KC_LOG_ERROR);
	return 0;
}

static int
stop_fake(void **state)
{
	(void)state;
	kill(fake_pid, SIGTERM);
	waitpid(fake_pid, NULL, 0);
	curl_global_cleanup();
	return 0;
}

static size_t
on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	return kc_buf_add(arg, data, size * nmemb) == 0 ? size * nmemb : 0;
}

/* A control call; returns its JSON answer (the caller decrefs). */
static json_t *
ctl(const char *method, const char *path, const char *body)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	struct kc_buf out;
	char url[256];
	long status = 0;
	json_t *j;

	kc_buf_init(&out);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fake_port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (status != 200)
		fail_msg("%s %s: HTTP %ld: %s", method, path, status, out.data);
	j = json_loads(out.data ? out.data : "", 0, NULL);
	kc_buf_free(&out);
	assert_non_null(j);
	return j;
}

static void
ctl_post(const char *path, const char *body)
{
	json_decref(ctl("POST", path, body));
}

/* The fake's request log, API requests only, of one method (or all). */
static json_t *
api_log(const char *method)
{
	json_t *log = ctl("GET", "/_control/log", NULL), *out = json_array(), *e;
	size_t i;

	json_array_foreach(log, i, e) {
		const char *m = json_string_value(json_object_get(e, "method"));

		if (method == NULL || strcmp(m, method) == 0)
			json_array_append(out, e);
	}
	json_decref(log);
	return out;
}

static long
entry_status(json_t *log, size_t i)
{
	return (long)json_integer_value(json_object_get(json_array_get(log, i), "status"));
}

/* An offer's quantity in one warehouse, from the fake's state. */
static double
fake_quantity(const char *sku, int warehouse)
{
	json_t *st = ctl("GET", "/_control/state", NULL), *o;
	char wh[16];
	double q = NAN;
	size_t i;

	snprintf(wh, sizeof(wh), "%d", warehouse);
	json_array_foreach(json_object_get(st, "offers"), i, o) {
		if (strcmp(json_string_value(json_object_get(o, "sku")), sku) == 0) {
			json_t *cell = json_object_get(json_object_get(o, "stocks"), wh);

			q = cell ? json_number_value(json_object_get(cell, "quantity")) : 0;
		}
	}
	json_decref(st);
	return q;
}

/* ---- per test ------------------------------------------------------------ */

static int
setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/kc-keycrm-XXXXXX");
	if (mkdtemp(dir) == NULL || kc_store_open(&store, dir, NULL) != 0)
		return -1;
	ctl_post("/_control/reset", "{}");
	memset(&cfg, 0, sizeof(cfg));
	cfg.keycrm_api_key = KEY;
	cfg.keycrm_api_url = base_url;
	cfg.keycrm_requests_per_minute = 60;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	kc_store_close(&store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
client(struct kc_keycrm *k, struct kc_store *st)
{
	struct kc_error err;

	if (kc_keycrm_init(k, &cfg, st, &err) != 0)
		fail_msg("init: %s", err.msg);
	/* Quick retries; a Retry-After still wins. */
	k->http.base_backoff_ms = 20;
	k->http.max_backoff_ms = 100;
}

/* Exactly n requests are in the store's window. */
static void
assert_slots(long n)
{
	int64_t wait;

	assert_int_equal(kc_store_rate_take(&store, n, kc_now(), &wait, NULL), 0);
	assert_true(wait > 0);
	assert_int_equal(kc_store_rate_take(&store, n + 1, kc_now(), &wait, NULL), 0);
	assert_int_equal(wait, 0);
}

static void
assert_no_key(const struct kc_error *err)
{
	if (strstr(err->msg, KEY) != NULL || strstr(err->msg, "Bearer") != NULL)
		fail_msg("the key is in a message: %s", err->msg);
}

/* ---- the key ---------------------------------------------------------------- */

static void
key_valid(void **state)
{
	struct kc_keycrm k;
	struct kc_error err;
	json_t *log;

	(void)state;
	client(&k, &store);
	assert_int_equal(kc_keycrm_check_key(&k, &err), KC_KEY_VALID);
	assert_int_equal(k.key_rejected, 0);
	log = api_log("GET");
	assert_int_equal(json_array_size(log), 1);
	assert_str(json_string_value(json_object_get(json_array_get(log, 0), "path")), "/v1/offers");
	assert_str(json_string_value(json_object_get(json_object_get(
	    json_array_get(log, 0), "query"), "limit")), "1");
	json_decref(log);
	kc_keycrm_cleanup(&k);
}

static void
key_rejected(void **state)
{
	struct kc_keycrm k;
	struct kc_error err;
	struct kc_keycrm_stock items[] = { { "RW-SIMPLE-001", 3, 0 } };
	struct kc_keycrm_offer *o;
	size_t sent, n;
	long last;

	(void)state;
	cfg.keycrm_api_key = "wrong-" KEY;
	client(&k, &store);
	assert_int_equal(kc_keycrm_check_key(&k, &err), KC_KEY_REJECTED);
	assert_int_equal(k.key_rejected, 1);
	assert_str(err.msg, "KeyCRM rejected the API key (HTTP 401)");
	k.key_rejected = 0;
	assert_int_equal(kc_keycrm_put_stocks(&k, 1, items, 1, &sent, &err), -1);
	assert_int_equal(sent, 0);
	assert_int_equal(k.key_rejected, 1);
	assert_str(err.msg, "KeyCRM rejected the API key (HTTP 401)");
	assert_int_equal(kc_keycrm_get_stocks(&k, 1, 0, &o, &n, &last, &err), -1);
	assert_null(o);
	assert_no_key(&err);
	assert_true(fake_quantity("RW-SIMPLE-001", 1) == 10);
	kc_keycrm_cleanup(&k);
}

static void
key_not_set(void **state)
{
	struct kc_keycrm k;
	struct kc_error err;

	(void)state;
	cfg.keycrm_api_key = NULL;
	assert_int_equal(kc_keycrm_init(&k, &cfg, &store, &err), -1);
	assert_str(err.msg, "the KeyCRM API key is not set (keycrm_api_key)");
	/* A failed init leaves a cleared client that says so too. */
	assert_int_equal(kc_keycrm_check_key(&k, &err), KC_KEY_NOT_SET);
	kc_keycrm_cleanup(&k);
	cfg.keycrm_api_key = "";
	assert_int_equal(kc_keycrm_init(&k, &cfg, &store, &err), -1);
	cfg.keycrm_api_key = KEY "\r\nX-Evil: 1";
	assert_int_equal(kc_keycrm_init(&k, &cfg, &store, &err), -1);
	assert_no_key(&err);
}

static void
key_unreachable(void **state)
{
	struct kc_keycrm k;
	struct kc_error err;
	json_t *log;

	(void)state;
	ctl_post("/_control/faults", "{\"rules\":[{\"method\":\"GET\",\"path_prefix\":\"/v1/offers\","
	    "\"times\":-1,\"action\":\"status\",\"status\":503}]}");
	client(&k, &store);
	assert_int_equal(kc_keycrm_check_key(&k, &err), KC_KEY_UNREACHABLE);
	assert_str(err.msg, "KeyCRM GET /offers: HTTP 503: Server Error");
	assert_int_equal(k.key_rejected, 0);
	/* Two tries, no more. */
	log = api_log(NULL);
	assert_int_equal(json_array_size(log), 2);
	json_decref(log);
	assert_int_equal(k.http.max_attempts, 4);
	kc_keycrm_cleanup(&k);

	/* Something answers 200, but not KeyCRM (a wrong keycrm_api_url). */
	ctl_post("/_control/faults", "{\"rules\":[{\"method\":\"GET\",\"path_prefix\":\"/v1/offers\","
	    "\"times\":1,\"action\":\"garbage\"}]}");
	client(&k, &store);
	assert_int_equal(kc_keycrm_check_key(&k, &err), KC_KEY_UNREACHABLE);
	assert_str(err.msg, "KeyCRM GET /offers: the answer is not KeyCRM's (check keycrm_api_url)");
	kc_keycrm_cleanup(&k);

	/* Nobody listening. */
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:1/v1");
	client(&k, &store);
	assert_int_equal(kc_keycrm_check_key(&k, &err), KC_KEY_UNREACHABLE);
	assert_non_null(strstr(err.msg, "KeyCRM GET /v1/offers"));
	kc_keycrm_cleanup(&k);
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d/v1", fake_port);
}

/* ---- PUT /offers/stocks ---------------------------------------------------------- */

static void
put_accepted(void **state)
{
	struct kc_keycrm k;
	struct kc_error err;
	struct kc_keycrm_stock items[] = {
		{ "RW-SIMPLE-001", 42, 1 }, { "KC-ONLY-001", 2.5, 0 },
		{ "NOT-IN-KEYCRM", 5, 0 }, { "RW-TEE-M", 7, 0 },
	};
	json_t *log, *stocks;
	size_t sent;

	(void)state;
	client(&k, &store);
	assert_int_equal(kc_keycrm_put_stocks(&k, 1, items, 4, &sent, &err), 0);
	assert_int_equal(sent, 4);
	/* A silent skip of an unknown SKU is an acceptance, as far as we can tell. */
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(items[i].unknown, 0);
	assert_true(fake_quantity("RW-SIMPLE-001", 1) == 42);
	assert_true(fake_quantity("RW-SIMPLE-001", 2) == 3);
	assert_true(fake_quantity("KC-ONLY-001", 1) == 2.5);
	assert_true(fake_quantity("RW-TEE-M", 1) == 7);
	log = api_log("PUT");
	assert_int_equal(json_array_size(log), 1);
	assert_int_equal(entry_status(log, 0), 202);
	/* Whole numbers as integers, the rest as they are. */
	stocks = json_object_get(json_object_get(json_array_get(log, 0), "body"), "stocks");
	assert_true(json_is_integer(json_object_get(json_array_get(stocks, 0), "quantity")));
	assert_true(json_is_real(json_object_get(json_array_get(stocks, 1), "quantity")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    json_array_get(log, 0), "body"), "warehouse_id")), 1);
	json_decref(log);
	assert_int_equal(kc_keycrm_put_stocks(&k, 1, items, 0, &sent, &err), 0);
	assert_int_equal(sent, 0);
	kc_keycrm_cleanup(&k);
}

static void
put_unknown_named(void **state)
{
	struct kc_keycrm k;
	struct kc_error err;
	struct kc_keycrm_stock items[] = {
		{ "RW-SIMPLE-001", 5, 0 }, { "NOPE-1", 1, 0 },
		{ "RW-SIMPLE-003", 6, 0 }, { "NOPE-2", 2, 0 },
	};
	json_t *log;
	size_t sent;

	(void)state;
	ctl_post("/_control/config", "{\"unknown_sku\":\"422\"}");
	client(&k, &store);
	assert_int_equal(kc_keycrm_put_stocks(&k, 1, items, 4, &sent, &err), 0);
	assert_int_equal(sent, 4);
	assert_int_equal(items[0].unknown, 0);
	assert_int_equal(items[1].unknown, 1);
	assert_int_equal(items[2].unknown, 0);
	assert_int_equal(items[3].unknown, 1);
	assert_true(fake_quantity("RW-SIMPLE-001", 1) == 5);
	assert_true(fake_quantity("RW-SIMPLE-003", 1) == 6);
	log = api_log("PUT");
	assert_int_equal(json_array_size(log), 2);
	assert_int_equal(entry_status(log, 0), 422);
	assert_int_equal(entry_status(log, 1), 202);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(log, 1), "items")), 2);
	json_decref(log);
	kc_keycrm_cleanup(&k);
}

static void
put_unnamed_422_bisects(void **state)
{
	struct kc_keycrm k;
	struct kc_error err;
	struct kc_keycrm_stock items[] = {
		{ "RW-SIMPLE-001", 1, 0 }, { "RW-SIMPLE-003", 2, 0 },
		{ "RW-SIMPLE-004", 3, 0 }, { "RW-SIMPLE-005", 4, 0 },
	};
	static const long want[] = { 422, 422, 422, 202, 202 };
	json_t *log;
	size_t sent;

	(void)state;
	/* [abcd] 422, [ab] 422, [a] 422: a is refused; [b] and [cd] go. */
	ctl_post("/_control/faults", "{\"rules\":[{\"method\":\"PUT\",\"path_prefix\":\"/v1/offers/stocks\","
	    "\"times\":3,\"action\":\"status\",\"status\":422,"
	    "\"body\":\"{\\\"message\\\":\\\"The given data was invalid.\\\"}\"}]}");
	client(&k, &store);
	assert_int_equal(kc_keycrm_put_stocks(&k, 1, items, 4, &sent, &err), 0);
	assert_int_equal(sent, 4);
	assert_int_equal(items[0].unknown, 1);
	for (size_t i = 1; i < 4; i++)
		assert_int_equal(items[i].unknown, 0);
	assert_true(fake_quantity("RW-SIMPLE-001", 1) == 10);
	assert_true(fake_quantity("RW-SIMPLE-003", 1) == 2);
	assert_true(fake_quantity("RW-SIMPLE-004", 1) == 3);
	assert_true(fake_quantity("RW-SIMPLE-005", 1) == 4);
	log = api_log("PUT");
	assert_int_equal(json_array_size(log), 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(entry_status(log, i), want[i]);
	json_decref(log);
	/* Every request took its slot in the window. */
	assert_slots(5);
	kc_keycrm_cleanup(&k);
}

static void
put_warehouse_refused(void **state)
{
	struct kc_keycrm k;
	struct kc_error err;
	struct kc_keycrm_stock items[] = {
		{ "RW-SIMPLE-001", 5, 0 }, { "NOPE-1", 1, 0 },
	};
	json_t *log;
	size_t sent;

	(void)state;
	/* Even with an item named too, the warehouse is what is wrong. */
	ctl_post("/_control/config", "{\"unknown_sku\":\"422\"}");
	client(&k, &store);
	assert_int_equal(kc_keycrm_put_stocks(&k, 99, items, 2, &sent, &err), -1);
	assert_str(err.msg, "KeyCRM refused warehouse_id 99: The selected warehouse id is invalid.");
	assert_int_equal(sent, 0);
	assert_int_equal(items[1].unknown, 0);
	log = api_log("PUT");
	assert_int_equal(json_array_size(log), 1);
	json_decref(log);
	assert_int_equal(kc_keycrm_put_stocks(&k, 0, items, 2, &sent, &err), -1);
	assert_str(err.msg, "the KeyCRM warehouse is not set (keycrm_warehouse_id)");
	kc_keycrm_cleanup(&k);
}

static void
put_refuses_unsendable_items_locally(void **state)
{
	struct kc_keycrm k;
	struct kc_error err;
	struct kc_keycrm_stock items[] = {
		{ NULL, 1, 0 }, { "", 1, 0 }, { "RW-SIMPLE-003", 8, 0 },
		{ "RW-SIMPLE-004", NAN, 0 }, { "BAD-\xff", 1, 0 },
		{ "RW-SIMPLE-005", 1e300, 0 },
	};
	json_t *log;
	size_t sent;

	(void)state;
	client(&k, &store);
	assert_int_equal(kc_keycrm_put_stocks(&k, 1, items, 6, &sent, &err), 0);
	assert_int_equal(sent, 6);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(items[i].unknown, i != 2);
	assert_true(fake_quantity("RW-SIMPLE-003", 1) == 8);
	log = api_log("PUT");
	assert_int_equal(json_array_size(log), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(log, 0), "items")), 1);
	json_decref(log);
	kc_keycrm_cleanup(&k);
}

static void
put_failure_reports_what_was_sent(void **state)
{
	enum { N = KC_KEYCRM_PUT_MAX + 1 };
	struct kc_keycrm k;
	struct kc_error err;
	struct kc_keycrm_stock *items = calloc(N, sizeof(*items));
	char (*skus)[16] = calloc(N, sizeof(*skus));
	json_t *log;
	size_t sent;

	(void)state;
	assert_non_null(items);
	assert_non_null(skus);
	for (size_t i = 0; i < N; i++) {
		snprintf(skus[i], sizeof(skus[i]), "X-%zu", i);
		items[i].sku = skus[i];
		items[i].quantity = 1;
	}
	items[N - 1].sku = "RW-SIMPLE-001";
	/* The first request passes; the shop's second one meets a broken KeyCRM. */
	ctl_post("/_control/faults", "{\"rules\":[{\"method\":\"PUT\",\"path_prefix\":\"/v1/offers/stocks\","
	    "\"skip\":1,\"times\":-1,\"action\":\"status\",\"status\":500,"
	    "\"body\":\"{\\\"message\\\":\\\"Server Error\\\"}\"}]}");
	client(&k, &store);
	assert_int_equal(kc_keycrm_put_stocks(&k, 1, items, N, &sent, &err), -1);
	assert_str(err.msg, "KeyCRM PUT /offers/stocks: HTTP 500: Server Error");
	assert_int_equal(sent, KC_KEYCRM_PUT_MAX);
	assert_int_equal(items[N - 1].unknown, 0);
	assert_true(fake_quantity("RW-SIMPLE-001", 1) == 10);
	log = api_log("PUT");
	/* One of 10,000 items, then the second chunk with its retries. */
	assert_int_equal(json_array_size(log), 1 + 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(log, 0), "items")),
	    KC_KEYCRM_PUT_MAX);
	assert_int_equal(entry_status(log, 0), 202);
	assert_int_equal(entry_status(log, 4), 500);
	json_decref(log);
	assert_slots(5);
	kc_keycrm_cleanup(&k);
	free(items);
	free(skus);
}

static void
put_honours_retry_after(void **state)
{
	struct kc_keycrm k;
	struct kc_error err;
	struct kc_keycrm_stock items[] = { { "RW-SIMPLE-004", 9, 0 } };
	json_t *log;
	size_t sent;
	int64_t t0;

	(void)state;
	ctl_post("/_control/faults", "{\"rules\":[{\"method\":\"PUT\",\"path_prefix\":\"/v1/offers/stocks\","
	    "\"times\":1,\"action\":\"status\",\"status\":429,\"retry_after\":1,"
	    "\"body\":\"{\\\"message\\\":\\\"Too Many Attempts.\\\"}\"}]}");
	client(&k, &store);
	t0 = kc_monotonic_ms();
	assert_int_equal(kc_keycrm_put_stocks(&k, 1, items, 1, &sent, &err), 0);
	assert_true(kc_monotonic_ms() - t0 >= 1000);
	assert_int_equal(sent, 1);
	assert_true(fake_quantity("RW-SIMPLE-004", 1) == 9);
	log = api_log("PUT");
	assert_int_equal(json_array_size(log), 2);
	assert_int_equal(entry_status(log, 0), 429);
	assert_int_equal(entry_status(log, 1), 202);
	json_decref(log);
	/* The retry took a slot of its own. */
	assert_slots(2);
	kc_keycrm_cleanup(&k);
}

/* ---- the request window --------------------------------------------------------- */

/*
 * Three requests go at once; a fourth would exceed the limit, and with the
 * run's deadline a second away it gives up rather than wait or exceed.
 */
static void
paced(struct kc_store *st)
{
	struct kc_keycrm k, other;
	struct kc_store st2;
	struct kc_error err;
	struct kc_keycrm_offer *o;
	size_t n;
	long last;
	int64_t t0;
	json_t *log, *e;
	size_t i;

	ctl_post("/_control/config", "{\"rate_limit\":{\"requests\":3,\"window_s\":60}}");
	cfg.keycrm_requests_per_minute = 3;
	client(&k, st);
	for (int r = 0; r < 3; r++) {
		if (kc_keycrm_get_stocks(&k, 1, 0, &o, &n, &last, &err) != 0)
			fail_msg("request %d: %s", r, err.msg);
		kc_keycrm_offers_free(o, n);
	}
	t0 = kc_monotonic_ms();
	k.http.deadline_ms = t0 + 1000;
	assert_int_equal(kc_keycrm_get_stocks(&k, 1, 0, &o, &n, &last, &err), -1);
	assert_non_null(strstr(err.msg, "out of time"));
	assert_true(kc_monotonic_ms() - t0 < 1000);
	if (st != NULL) {
		/* Another process, with its own connection to the store, waits too. */
		assert_int_equal(kc_store_open(&st2, dir, NULL), 0);
		client(&other, &st2);
		other.http.deadline_ms = kc_monotonic_ms() + 1000;
		assert_int_equal(kc_keycrm_check_key(&other, &err), KC_KEY_UNREACHABLE);
		assert_non_null(strstr(err.msg, "out of time"));
		kc_keycrm_cleanup(&other);
		kc_store_close(&st2);
	}
	log = api_log(NULL);
	assert_int_equal(json_array_size(log), 3);
	json_array_foreach(log, i, e) {
		assert_false(json_is_true(json_object_get(e, "over_limit")));
		assert_int_equal(entry_status(log, i), 200);
	}
	json_decref(log);
	kc_keycrm_cleanup(&k);
}

static void
paced_by_the_store(void **state)
{
	(void)state;
	paced(&store);
}

static void
paced_in_memory(void **state)
{
	(void)state;
	paced(NULL);
}

/* ---- GET /offers/stocks ---------------------------------------------------------- */

static void
reads_pages(void **state)
{
	struct kc_keycrm k;
	struct kc_error err;
	struct kc_keycrm_offer *o;
	json_t *reset = json_object(), *offers = json_array(), *stocks = json_array();
	json_t *log, *q;
	char *text;
	size_t n;
	long last;

	(void)state;
	for (int i = 1; i <= 120; i++) {
		char sku[16];

		snprintf(sku, sizeof(sku), "P-%03d", i);
		json_array_append_new(offers, json_pack("{s:i,s:s}", "id", 2000 + i, "sku", sku));
		json_array_append_new(stocks, json_pack("{s:s,s:i,s:i,s:i}", "sku", sku,
		    "warehouse_id", 1, "quantity", i, "reserve", 0));
		if (i % 2 == 0)
			json_array_append_new(stocks, json_pack("{s:s,s:i,s:f,s:i}", "sku", sku,
			    "warehouse_id", 2, "quantity", i * 10 + 0.5, "reserve", 1));
	}
	json_object_set_new(reset, "offers", offers);
	json_object_set_new(reset, "stocks", stocks);
	text = json_dumps(reset, JSON_COMPACT);
	ctl_post("/_control/reset", text);
	free(text);
	json_decref(reset);

	client(&k, &store);
	assert_int_equal(kc_keycrm_get_stocks(&k, 1, 0, &o, &n, &last, &err), 0);
	assert_int_equal(n, 50);
	assert_int_equal(last, 3);
	assert_int_equal(o[0].id, 2001);
	assert_str(o[0].sku, "P-001");
	assert_true(o[0].quantity == 1 && o[0].reserve == 0);
	assert_true(o[1].quantity == 2 + 20.5 && o[1].reserve == 1);
	kc_keycrm_offers_free(o, n);

	assert_int_equal(kc_keycrm_get_stocks(&k, 3, 0, &o, &n, &last, &err), 0);
	assert_int_equal(n, 20);
	assert_int_equal(last, 3);
	assert_str(o[19].sku, "P-120");
	kc_keycrm_offers_free(o, n);

	/* One warehouse: its own numbers; absent from it, nothing. */
	assert_int_equal(kc_keycrm_get_stocks(&k, 2, 2, &o, &n, &last, &err), 0);
	assert_int_equal(n, 50);
	assert_str(o[0].sku, "P-051");
	assert_true(o[0].quantity == 0 && o[0].reserve == 0);
	assert_true(o[1].quantity == 520.5 && o[1].reserve == 1);
	kc_keycrm_offers_free(o, n);
	assert_int_equal(kc_keycrm_get_stocks(&k, 2, 1, &o, &n, &last, &err), 0);
	assert_true(o[1].quantity == 52 && o[1].reserve == 0);
	kc_keycrm_offers_free(o, n);

	/* Past the end: an empty page, not an error. */
	assert_int_equal(kc_keycrm_get_stocks(&k, 4, 0, &o, &n, &last, &err), 0);
	assert_int_equal(n, 0);
	kc_keycrm_offers_free(o, n);
	assert_int_equal(kc_keycrm_get_stocks(&k, 0, 0, &o, &n, &last, &err), -1);

	log = api_log("GET");
	assert_int_equal(json_array_size(log), 5);
	q = json_object_get(json_array_get(log, 0), "query");
	assert_str(json_string_value(json_object_get(q, "limit")), "50");
	assert_str(json_string_value(json_object_get(q, "page")), "1");
	assert_null(json_object_get(q, "filter"));
	q = json_object_get(json_array_get(log, 2), "query");
	assert_str(json_string_value(json_object_get(q, "page")), "2");
	assert_str(json_string_value(json_object_get(json_object_get(q, "filter"), "details")), "true");
	json_decref(log);
	kc_keycrm_cleanup(&k);
}

static void
reads_bad_pages_as_errors(void **state)
{
	struct kc_keycrm k;
	struct kc_error err;
	struct kc_keycrm_offer *o;
	size_t n;
	long last;

	(void)state;
	ctl_post("/_control/faults", "{\"rules\":[{\"method\":\"GET\",\"path_prefix\":\"/v1/offers/stocks\","
	    "\"times\":1,\"action\":\"garbage\"}]}");
	client(&k, &store);
	assert_int_equal(kc_keycrm_get_stocks(&k, 1, 0, &o, &n, &last, &err), -1);
	assert_null(o);
	assert_non_null(strstr(err.msg, "KeyCRM GET /offers/stocks page 1: an unexpected answer: not JSON"));
	kc_keycrm_cleanup(&k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(key_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(key_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(key_not_set, setup, teardown),
		cmocka_unit_test_setup_teardown(key_unreachable, setup, teardown),
		cmocka_unit_test_setup_teardown(put_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(put_unknown_named, setup, teardown),
		cmocka_unit_test_setup_teardown(put_unnamed_422_bisects, setup, teardown),
		cmocka_unit_test_setup_teardown(put_warehouse_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(put_refuses_unsendable_items_locally, setup, teardown),
		cmocka_unit_test_setup_teardown(put_failure_reports_what_was_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(put_honours_retry_after, setup, teardown),
		cmocka_unit_test_setup_teardown(paced_by_the_store, setup, teardown),
		cmocka_unit_test_setup_teardown(paced_in_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(reads_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(reads_bad_pages_as_errors, setup, teardown),
	};
	return cmocka_run_group_tests_name("keycrm against the fake", tests,
	    start_fake, stop_fake);
}
