/*
 * sku.h - SKU identity (SPEC 4.6).
 *
 * The shop decides which product a SKU names, through its database's
 * collation: case does not matter in all of Unicode ("Футболка-S" is
 * "футболка-s") and trailing blanks are ignored.  Two SKUs are the same
 * when they are equal under Unicode case folding (with canonical
 * composition, so a decomposed "Ї" is the composed one) once trailing
 * blanks are cut.  Anything looser that the shop's collation also does,
 * such as folding accents, is not identity: such a product is reported,
 * never written.
 */
#ifndef KC_SKU_H
#define KC_SKU_H

#include <stddef.h>

/*
 * The SKU's identity key: malloc'd, NUL-terminated, equal for two SKUs
 * exactly when they are the same SKU.  NULL when out of memory.  Bytes
 * that are not UTF-8 are kept as they are (compared exactly).
 */
char *kc_sku_key(const char *sku);

/* 1 when a and b name the same SKU, 0 when not (also when out of memory). */
int kc_sku_equal(const char *a, const char *b);

#endif
