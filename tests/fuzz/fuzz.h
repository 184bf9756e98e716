/*
 * fuzz.h - shared bits of the libFuzzer drivers in tests/fuzz/.
 *
 * Each driver feeds one parser of lib/ and then checks what the parser
 * promises (its header comment, SPEC section 3), not only that it does not
 * crash: a broken promise calls FUZZ_CHECK, which aborts, and libFuzzer
 * saves the input as a crash.  Built by tests/fuzz/run.sh with clang,
 * -fsanitize=fuzzer,address,undefined.
 */
#ifndef KC_FUZZ_H
#define KC_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: property violated: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/* The library logs warnings about bad input; a fuzzer makes millions. */
#define FUZZ_QUIET_INIT						\
int LLVMFuzzerInitialize(int *argc, char ***argv);		\
int								\
LLVMFuzzerInitialize(int *argc, char ***argv)			\
{								\
	(void)argc;						\
	(void)argv;						\
	kc_log_set_level(KC_LOG_ERROR);				\
	return 0;						\
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An error message is a NUL-terminated, non-empty string. */
static inline int
fuzz_msg_ok(const struct kc_error *err)
{
	return memchr(err->msg, '\0', sizeof(err->msg)) != NULL &&
	    err->msg[0] != '\0';
}

/* No byte below 0x20 and no DEL. */
static inline int
fuzz_no_controls(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

#endif
