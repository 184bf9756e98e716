/*
 * csrf.c - see csrf.h.
 */
#include "csrf.h"
#include "store_settings.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* Tells these MACs apart from any other use of the same key. */
#define DOMAIN "keycrm-sync settings csrf v1"

static void
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/*
 * Makes a new key file.  link() never replaces an existing name, so if
 * another process got there first its key stays, and ours is dropped.
 */
static int
create_key(const char *dir, const char *path, struct kc_error *err)
{
	unsigned char key[KC_CSRF_KEY_BYTES];
	char *tmp = NULL;
	int fd, rc = -1;

	if (asprintf(&tmp, "%s/.%s.XXXXXX", dir, KC_CSRF_KEY_FILE) < 0) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		kc_error_set(err, "cannot create a file in %s: %s", dir, strerror(errno));
		free(tmp);
		return -1;
	}
	if (kc_random_bytes(key, sizeof(key)) != 0) {
		kc_error_set(err, "no random numbers from the system");
	} else if (fchmod(fd, 0600) != 0 || kc_write_all(fd, key, sizeof(key)) != 0 ||
	    fsync(fd) != 0) {
		kc_error_set(err, "cannot write %s: %s", tmp, strerror(errno));
	} else if (link(tmp, path) != 0 && errno != EEXIST) {
		kc_error_set(err, "cannot create %s: %s", path, strerror(errno));
	} else {
		rc = 0;
	}
	kc_wipe(key, sizeof(key));
	close(fd);
	unlink(tmp);
	free(tmp);
	if (rc == 0)
		sync_dir(dir);
	return rc;
}

static int
read_key(struct kc_csrf *c, const char *path, struct kc_error *err)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);

	if (fd < 0) {
		kc_error_set(err, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size != KC_CSRF_KEY_BYTES) {
		kc_error_set(err, "%s: not a %d-byte key file; remove it and a new one is made",
		    path, KC_CSRF_KEY_BYTES);
		close(fd);
		return -1;
	}
	if (st.st_mode & 077) {
		kc_error_set(err, "%s: others may read it; run chmod 600 on it", path);
		close(fd);
		return -1;
	}
	do
		n = read(fd, c->key, sizeof(c->key));
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n != (ssize_t)sizeof(c->key)) {
		kc_error_set(err, "%s: cannot read it", path);
		kc_csrf_clear(c);
		return -1;
	}
	return 0;
}

int
kc_csrf_init(struct kc_csrf *c, const char *state_dir, struct kc_error *err)
{
	char *path = NULL;
	int rc;

	memset(c, 0, sizeof(*c));
	if (asprintf(&path, "%s/%s", state_dir, KC_CSRF_KEY_FILE) < 0) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	if (access(path, F_OK) != 0 && errno == ENOENT &&
	    create_key(state_dir, path, err) != 0) {
		free(path);
		return -1;
	}
	rc = read_key(c, path, err);
	free(path);
	return rc;
}

void
kc_csrf_clear(struct kc_csrf *c)
{
	kc_wipe(c->key, sizeof(c->key));
}

static void
token_for_slot(const struct kc_csrf *c, const char *user, int64_t slot,
    char out[KC_CSRF_TOKEN_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	unsigned char be[8];
	struct kc_buf msg;

	/*
	 * DOMAIN with its NUL, the slot in 8 bytes, then the user name: no
	 * two (slot, user) pairs give the same text.
	 */
	for (int i = 0; i < 8; i++)
		be[i] = (unsigned char)((uint64_t)slot >> (56 - 8 * i));
	kc_buf_init(&msg);
	if (kc_buf_add(&msg, DOMAIN, sizeof(DOMAIN)) != 0 ||
	    kc_buf_add(&msg, be, sizeof(be)) != 0 ||
	    kc_buf_adds(&msg, user ? user : "") != 0 ||
	    HMAC(EVP_sha256(), c->key, sizeof(c->key),
	    (const unsigned char *)msg.data, msg.len, mac, &maclen) == NULL ||
	    maclen * 2 != KC_CSRF_TOKEN_LEN) {
		/* Out of memory: a token nobody can match. */
		memset(out, 'x', KC_CSRF_TOKEN_LEN);
		out[KC_CSRF_TOKEN_LEN] = '\0';
		kc_buf_free(&msg);
		return;
	}
	kc_buf_free(&msg);
	for (unsigned int i = 0; i < maclen; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[KC_CSRF_TOKEN_LEN] = '\0';
}

static int64_t
slot_of(int64_t now)
{
	return now >= 0 ? now / KC_CSRF_SLOT_SECONDS : 0;
}

void
kc_csrf_token(const struct kc_csrf *c, const char *user, int64_t now,
    char out[KC_CSRF_TOKEN_LEN + 1])
{
	token_for_slot(c, user, slot_of(now), out);
}

int
kc_csrf_check(const struct kc_csrf *c, const char *user, const char *given,
    int64_t now)
{
	char cur[KC_CSRF_TOKEN_LEN + 1], prev[KC_CSRF_TOKEN_LEN + 1];
	int ok;

	if (given == NULL || user == NULL || *user == '\0' ||
	    strlen(given) != KC_CSRF_TOKEN_LEN)
		return 0;
	token_for_slot(c, user, slot_of(now), cur);
	token_for_slot(c, user, slot_of(now) - 1, prev);
	/* Both compared every time: the answer's timing tells nothing. */
	ok = (CRYPTO_memcmp(given, cur, KC_CSRF_TOKEN_LEN) == 0) |
	    (CRYPTO_memcmp(given, prev, KC_CSRF_TOKEN_LEN) == 0);
	return ok;
}

int
kc_csrf_init_store(struct kc_csrf *c, struct kc_store *st,
    struct kc_error *err)
{
	return kc_store_shared_secret(st, "csrf", c->key, sizeof(c->key), err);
}
