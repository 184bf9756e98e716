/*
 * unit.h - what every unit test includes: cmocka (which needs these
 * headers first) and the library.
 */
#ifndef KC_UNIT_H
#define KC_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define assert_str(a, b) assert_string_equal((a), (b))

#endif
