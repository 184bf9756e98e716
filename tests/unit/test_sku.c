/*
 * SKU identity, SPEC 4.6: Unicode case folding and trailing blanks, and
 * nothing looser.
 */
#include "unit.h"

#include "sku.h"

static const struct {
	const char *a, *b;
	int same;
} cases[] = {
	{ "rw-simple-010", "RW-SIMPLE-010", 1 },
	{ "RW-SIMPLE-01", "RW-SIMPLE-010", 0 },
	{ "RW+011", "RW 011", 0 },
	/* Cyrillic, as KeyCRM's users write SKUs. */
	{ "Футболка-S", "футболка-s", 1 },
	{ "ФУТБОЛКА-XL", "футболка-xl", 1 },
	{ "Їжак-Ґ", "їжак-ґ", 1 },
	{ "Футболка-S", "Футболка-M", 0 },
	/* Full case folding: "ß" is "ss", as the shop's collation has it. */
	{ "STRASSE-1", "straße-1", 1 },
	/* A decomposed "Ї" (І + combining diaeresis) is the same letter. */
	{ "\xd0\x86\xcc\x88" "-1", "\xd1\x97-1", 1 },
	/* Accent folding the shop also does is not identity. */
	{ "RW-SÏMPLE-004", "RW-SIMPLE-004", 0 },
	{ "Їжак", "Іжак", 0 },
	{ "Йод", "Иод", 0 },
	/* Trailing blanks only. */
	{ "TRAIL ", "TRAIL", 1 },
	{ "TRAIL\t ", "trail", 1 },
	{ " LEAD", "LEAD", 0 },
	{ "DBL  SPACE", "dbl space", 0 },
	{ "A B", "AB", 0 },
	{ "AB ", "ABC", 0 },
	{ "", "A", 0 },
	{ "", "  ", 1 },
	/* Not UTF-8: compared byte for byte. */
	{ "\xff\xfe", "\xff\xfe", 1 },
	{ "\xff" "A", "\xff" "a", 0 },
};

static void
equal_follows_the_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (kc_sku_equal(cases[i].a, cases[i].b) != cases[i].same)
			fail_msg("case %zu: \"%s\" vs \"%s\" should be %s", i,
			    cases[i].a, cases[i].b, cases[i].same ? "equal" : "different");
		if (kc_sku_equal(cases[i].b, cases[i].a) != cases[i].same)
			fail_msg("case %zu is not symmetric", i);
	}
}

static void
key_is_the_identity(void **state)
{
	char *k1, *k2;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		k1 = kc_sku_key(cases[i].a);
		k2 = kc_sku_key(cases[i].b);
		assert_non_null(k1);
		assert_non_null(k2);
		if ((strcmp(k1, k2) == 0) != cases[i].same)
			fail_msg("case %zu: keys \"%s\" and \"%s\"", i, k1, k2);
		free(k1);
		free(k2);
	}
	k1 = kc_sku_key("Футболка-S  ");
	assert_str(k1, "футболка-s");
	free(k1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(equal_follows_the_table),
		cmocka_unit_test(key_is_the_identity),
	};
	return cmocka_run_group_tests_name("sku", tests, NULL, NULL);
}
