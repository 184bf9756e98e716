/*
 * http.c - see http.h.
 */
#include "http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

static int curl_started;

void
kc_http_global_cleanup(void)
{
	if (curl_started)
		curl_global_cleanup();
	curl_started = 0;
}

int
kc_http_init(struct kc_http *h, const char *service, const char *ca_file,
    const char *connect_to, struct kc_error *err)
{
	memset(h, 0, sizeof(*h));
	h->service = service;
	h->connect_timeout_ms = 10000;
	h->timeout_ms = 60000;
	h->max_response_bytes = 64u << 20;
	h->max_attempts = 4;
	h->base_backoff_ms = 500;
	h->max_backoff_ms = 30000;
	/*
	 * libcurl (and with it OpenSSL) starts on first use, not at program
	 * start: most requests - a refused webhook, an accepted one whose
	 * applier is already at work - make no HTTP request at all.
	 */
	if (!curl_started) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
			kc_error_set(err, "cannot initialise libcurl");
			return -1;
		}
		curl_started = 1;
	}
	h->curl = curl_easy_init();
	if (h->curl == NULL) {
		kc_error_set(err, "cannot start the HTTP client");
		return -1;
	}
	if (ca_file != NULL)
		h->ca_file = kc_strdup(ca_file);
	if (connect_to != NULL) {
		/* "::host:port": any host and port of the URL goes there. */
		if (asprintf(&h->connect_to, "::%s", connect_to) < 0)
			h->connect_to = NULL;
	}
	return 0;
}

void
kc_http_cleanup(struct kc_http *h)
{
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	free(h->ca_file);
	free(h->connect_to);
	memset(h, 0, sizeof(*h));
}

void
kc_http_response_init(struct kc_http_response *r)
{
	r->status = 0;
	kc_buf_init(&r->body);
	r->wp_total = -1;
	r->wp_total_pages = -1;
	r->retry_after_s = -1;
}

void
kc_http_response_free(struct kc_http_response *r)
{
	kc_buf_free(&r->body);
}

void
kc_url_path(const char *url, char *out, size_t outsz)
{
	const char *p = strstr(url, "://");
	size_t n;

	p = p ? strchr(p + 3, '/') : url;
	if (p == NULL)
		p = "/";
	n = strcspn(p, "?#");
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

long
kc_parse_retry_after(const char *v, double now)
{
	struct tm tm;
	const char *end;
	long n = 0;

	while (*v == ' ')
		v++;
	if (*v >= '0' && *v <= '9') {
		for (; *v >= '0' && *v <= '9'; v++) {
			if (n > 86400)
				return 86400;
			n = n * 10 + (*v - '0');
		}
		while (*v == ' ' || *v == '\r' || *v == '\n')
			v++;
		return *v == '\0' ? n : -1;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL)
		return -1;
	n = (long)(timegm(&tm) - (time_t)now);
	return n < 0 ? 0 : n;
}

struct transfer {
	struct kc_http_response *resp;
	size_t max;
	int too_big;
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct transfer *t = arg;
	size_t n = size * nmemb;

	if (t->resp->body.len + n > t->max) {
		t->too_big = 1;
		return 0;
	}
	if (kc_buf_add(&t->resp->body, data, n) != 0)
		return 0;
	return n;
}

static long
header_long(const char *v)
{
	long n = 0;

	while (*v == ' ')
		v++;
	if (!isdigit((unsigned char)*v))
		return -1;
	for (; isdigit((unsigned char)*v); v++) {
		if (n > 100000000L)
			return -1;
		n = n * 10 + (*v - '0');
	}
	return n;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct transfer *t = arg;
	size_t n = size * nmemb;
	char line[512];
	char *colon;

	if (n == 0 || n >= sizeof(line))
		return n;
	memcpy(line, data, n);
	line[n] = '\0';
	/* A new status line (after a 100 Continue) starts a new header set. */
	if (strncmp(line, "HTTP/", 5) == 0) {
		t->resp->wp_total = -1;
		t->resp->wp_total_pages = -1;
		t->resp->retry_after_s = -1;
		return n;
	}
	colon = strchr(line, ':');
	if (colon == NULL)
		return n;
	*colon = '\0';
	if (strcasecmp(line, "X-WP-Total") == 0)
		t->resp->wp_total = header_long(colon + 1);
	else if (strcasecmp(line, "X-WP-TotalPages") == 0)
		t->resp->wp_total_pages = header_long(colon + 1);
	else if (strcasecmp(line, "Retry-After") == 0)
		t->resp->retry_after_s = kc_parse_retry_after(colon + 1, kc_now());
	return n;
}

static int
retryable_status(long status)
{
	return status == 429 || status == 500 || status == 502 ||
	    status == 503 || status == 504;
}

static int
retryable_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
		return 1;
	default:
		return 0;
	}
}

int64_t
kc_http_backoff_ms(const struct kc_http *h, int attempt, long retry_after_s)
{
	int64_t wait = h->base_backoff_ms;

	for (int i = 1; i < attempt && wait < h->max_backoff_ms; i++)
		wait *= 2;
	if (wait > h->max_backoff_ms)
		wait = h->max_backoff_ms;
	/* Jitter spreads out clients that failed together. */
	wait += (int64_t)kc_random_below((uint32_t)(wait / 2 + 1));
	if (retry_after_s >= 0 && retry_after_s * 1000 > wait)
		wait = (int64_t)retry_after_s * 1000 + 50;
	return wait;
}

/* What one transfer needs to stay alive while curl works on it. */
struct prepared {
	struct transfer t;
	struct curl_slist *connect_to;
	char errbuf[CURL_ERROR_SIZE];
};

/* Sets up h's easy handle for one attempt. */
static void
prepare_easy(struct kc_http *h, const struct kc_http_request *req,
    const char *url, struct curl_slist *headers,
    struct kc_http_response *resp, long timeout_ms, struct prepared *pr)
{
	CURL *c = h->curl;

	pr->t.resp = resp;
	pr->t.max = h->max_response_bytes;
	pr->t.too_big = 0;
	pr->connect_to = NULL;
	pr->errbuf[0] = '\0';
	curl_easy_reset(c);
	kc_buf_reset(&resp->body);
	resp->status = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
	if (h->connect_to != NULL) {
		pr->connect_to = curl_slist_append(NULL, h->connect_to);
		curl_easy_setopt(c, CURLOPT_CONNECT_TO, pr->connect_to);
	}
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "keycrm-sync/1.0");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, pr->errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &pr->t);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &pr->t);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	if (strcmp(req->method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(req->body ? req->body_len : 0));
	}
}

/* One attempt. Returns the curl code; resp holds what arrived. */
static CURLcode
attempt(struct kc_http *h, const struct kc_http_request *req,
    const char *url, struct curl_slist *headers,
    struct kc_http_response *resp, long timeout_ms, int *too_big,
    char *errbuf)
{
	struct prepared pr;
	CURLcode rc;

	prepare_easy(h, req, url, headers, resp, timeout_ms, &pr);
	rc = curl_easy_perform(h->curl);
	h->requests++;
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	*too_big = pr.t.too_big;
	memcpy(errbuf, pr.errbuf, sizeof(pr.errbuf));
	curl_slist_free_all(pr.connect_to);
	return rc;
}

/* Headers every request carries, plus its own authorization. */
/* Request headers may carry a key (Authorization): wiped before freed. */
static void
free_headers(struct curl_slist *headers)
{
	for (struct curl_slist *h = headers; h != NULL; h = h->next)
		if (h->data != NULL)
			kc_wipe(h->data, strlen(h->data));
	curl_slist_free_all(headers);
}

static struct curl_slist *
base_headers(const struct kc_http_request *req)
{
	struct curl_slist *headers = NULL;
	char ctype[128];

	headers = curl_slist_append(headers, "Accept: application/json");
	headers = curl_slist_append(headers, "Expect:");
	if (req->content_type != NULL) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", req->content_type);
		headers = curl_slist_append(headers, ctype);
	}
	return headers;
}

/*
 * Starts request j on handle h; 0 when it is in flight, -1 when it could
 * not start (ok[j] stays 0 and the caller sends it again alone).
 */
static int
pool_start(CURLM *multi, struct kc_http *h, const struct kc_http_request *req,
    struct kc_buf *url, struct curl_slist **headers,
    struct kc_http_response *resp, struct prepared *pr, int *ok)
{
	long timeout = h->timeout_ms;

	kc_buf_init(url);
	*headers = base_headers(req);
	if (req->authorize != NULL) {
		if (req->authorize(req->auth_ctx, req->method, req->url, url, headers,
		    NULL) != 0)
			return -1;
	} else {
		kc_buf_adds(url, req->url);
	}
	if (h->deadline_ms > 0) {
		int64_t left = h->deadline_ms - kc_monotonic_ms();
		if (left < 200)
			return -1;
		if (left < timeout)
			timeout = (long)left;
	}
	prepare_easy(h, req, url->data, *headers, resp, timeout, pr);
	curl_easy_setopt(h->curl, CURLOPT_PRIVATE, (void *)ok);
	if (curl_multi_add_handle(multi, h->curl) != CURLM_OK)
		return -1;
	h->requests++;
	*ok = -1;	/* in flight */
	return 0;
}

/* Request j is over (or never started): what its handle got, and clean up. */
static void
pool_finish(CURLM *multi, struct kc_http *h, struct kc_http_response *resp,
    struct prepared *pr, struct curl_slist *headers, struct kc_buf *url, int *ok)
{
	if (*ok != 0) {
		if (*ok < 0)
			*ok = 0;
		curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
		if (pr->t.too_big)
			*ok = 0;
		curl_multi_remove_handle(multi, h->curl);
	}
	free_headers(headers);
	kc_buf_free(url);
	curl_slist_free_all(pr->connect_to);
	pr->connect_to = NULL;
}

int
kc_http_perform_pool(struct kc_http **hs, size_t nh,
    const struct kc_http_request *reqs, struct kc_http_response *resps,
    int *ok, size_t n)
{
	struct prepared *pr = calloc(n ? n : 1, sizeof(*pr));
	struct curl_slist **headers = calloc(n ? n : 1, sizeof(*headers));
	struct kc_buf *urls = calloc(n ? n : 1, sizeof(*urls));
	size_t *on = calloc(nh ? nh : 1, sizeof(*on));	/* request on handle, or n */
	CURLM *multi = curl_multi_init();
	size_t next = 0, busy = 0, i;

	for (i = 0; i < n; i++)
		ok[i] = 0;
	if (pr == NULL || headers == NULL || urls == NULL || on == NULL ||
	    multi == NULL || nh == 0)
		goto out;
	/* Each free handle takes the next request; a handle that finishes, too. */
	for (i = 0; i < nh; i++)
		on[i] = n;
	for (;;) {
		int running = 0;
		CURLMsg *msg;
		int left;

		for (i = 0; i < nh && next < n; i++) {
			if (on[i] != n)
				continue;
			while (next < n && pool_start(multi, hs[i], &reqs[next], &urls[next],
			    &headers[next], &resps[next], &pr[next], &ok[next]) != 0) {
				pool_finish(multi, hs[i], &resps[next], &pr[next],
				    headers[next], &urls[next], &ok[next]);
				headers[next] = NULL;
				next++;
			}
			if (next < n) {
				on[i] = next++;
				busy++;
			}
		}
		if (busy == 0)
			break;
		if (curl_multi_perform(multi, &running) != CURLM_OK)
			break;
		/*
		 * What finished is read before waiting: a handle that is free
		 * again takes its next request now, not after the poll's timeout.
		 */
		if (running == (int)busy &&
		    curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			for (i = 0; i < nh; i++) {
				size_t j = on[i];
				if (j == n || hs[i]->curl != msg->easy_handle)
					continue;
				ok[j] = msg->data.result == CURLE_OK ? 1 : 0;
				curl_easy_getinfo(hs[i]->curl, CURLINFO_RESPONSE_CODE,
				    &resps[j].status);
				if (pr[j].t.too_big)
					ok[j] = 0;
				curl_multi_remove_handle(multi, hs[i]->curl);
				free_headers(headers[j]);
				headers[j] = NULL;
				kc_buf_free(&urls[j]);
				curl_slist_free_all(pr[j].connect_to);
				pr[j].connect_to = NULL;
				on[i] = n;
				busy--;
			}
		}
	}
out:
	/* Whatever is still on a handle (a multi error): not answered. */
	for (i = 0; on != NULL && i < nh; i++) {
		size_t j = on[i];
		if (j == n)
			continue;
		ok[j] = -1;
		pool_finish(multi, hs[i], &resps[j], &pr[j], headers[j], &urls[j], &ok[j]);
		ok[j] = 0;
	}
	if (multi != NULL)
		curl_multi_cleanup(multi);
	free(on);
	free(pr);
	free(headers);
	free(urls);
	return 0;
}

int
kc_http_perform_parallel(struct kc_http **hs, const struct kc_http_request *reqs,
    struct kc_http_response *resps, int *ok, size_t n)
{
	return kc_http_perform_pool(hs, n, reqs, resps, ok, n);
}

int
kc_http_perform(struct kc_http *h, const struct kc_http_request *req,
    struct kc_http_response *resp, struct kc_error *err)
{
	struct kc_error local;
	char path[256], errbuf[CURL_ERROR_SIZE];
	int max = req->retry ? h->max_attempts : 1;

	if (err == NULL)
		err = &local;
	kc_url_path(req->url, path, sizeof(path));
	for (int n = 1;; n++) {
		struct curl_slist *headers = NULL;
		struct kc_buf url;
		long timeout = h->timeout_ms;
		int too_big = 0, again;
		CURLcode rc;

		if (h->deadline_ms > 0) {
			int64_t left = h->deadline_ms - kc_monotonic_ms();
			if (left < 200) {
				kc_error_set(err, "%s %s %s: out of time for this run",
				    h->service, req->method, path);
				return -1;
			}
			if (left < timeout)
				timeout = (long)left;
		}
		kc_buf_init(&url);
		headers = base_headers(req);
		if (req->authorize != NULL) {
			if (req->authorize(req->auth_ctx, req->method, req->url, &url,
			    &headers, err) != 0) {
				free_headers(headers);
				kc_buf_free(&url);
				return -1;
			}
		} else {
			kc_buf_adds(&url, req->url);
		}
		/* Authorizing may have waited (KeyCRM's rate window). */
		if (h->deadline_ms > 0) {
			int64_t left = h->deadline_ms - kc_monotonic_ms();
			if (left < 200) {
				free_headers(headers);
				kc_buf_free(&url);
				kc_error_set(err, "%s %s %s: out of time for this run",
				    h->service, req->method, path);
				return -1;
			}
			if (left < timeout)
				timeout = (long)left;
		}
		rc = attempt(h, req, url.data, headers, resp, timeout, &too_big, errbuf);
		free_headers(headers);
		kc_buf_free(&url);

		if (rc == CURLE_OK) {
			if (!retryable_status(resp->status) || n >= max)
				return 0;
			kc_error_set(err, "%s %s %s: HTTP %ld", h->service,
			    req->method, path, resp->status);
			again = 1;
		} else if (too_big) {
			kc_error_set(err, "%s %s %s: the answer is larger than %zu bytes",
			    h->service, req->method, path, h->max_response_bytes);
			return -1;
		} else {
			/* curl's own words; they name hosts and ports, not queries. */
			kc_error_set(err, "%s %s %s: %s", h->service, req->method,
			    path, errbuf[0] && strchr(errbuf, '?') == NULL ? errbuf :
			    curl_easy_strerror(rc));
			again = retryable_curl(rc);
			if (!again || n >= max) {
				if (n > 1)
					kc_error_prefix(err, "after %d attempts", n);
				return -1;
			}
		}
		if (again) {
			int64_t wait = kc_http_backoff_ms(h, n,
			    rc == CURLE_OK ? resp->retry_after_s : -1);
			if (h->deadline_ms > 0 &&
			    kc_monotonic_ms() + wait + 200 > h->deadline_ms) {
				/* No time for another try: report what we have. */
				return rc == CURLE_OK ? 0 : -1;
			}
			kc_log(KC_LOG_DEBUG, "%s; retrying in %lld ms", err->msg,
			    (long long)wait);
			kc_sleep_ms(wait);
		}
	}
}
