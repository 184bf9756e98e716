/*
 * config-keys - prints the configuration keys the programs know, from the
 * one table in lib/config_keys.c, as the key table of README.md, of the man
 * page or of the example configuration file.  tools/docs.py puts the output
 * between the marker lines of those files (make docs) and checks that it is
 * still there (make check-docs, tests/integration/test_docs.py), so the
 * three cannot drift from the program.
 *
 *   config-keys readme|man|example
 */
#include <stdio.h>
#include <string.h>

#include "config.h"

#define EXAMPLE_WIDTH 92

/* The sentences after the key's own help, the same in every format. */
static void
notes(const struct kc_key_doc *d, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s%s", d->secret ? " Secret." : "",
	    d->page_editable ? " The settings page can change it." : "");
}

static void
print_readme(void)
{
	puts("| key | value | default | meaning |");
	puts("|---|---|---|---|");
	for (int k = 0; k < KC_KEY__MAX; k++) {
		struct kc_key_doc d;
		char more[128];

		kc_config_key_doc((enum kc_key)k, &d);
		notes(&d, more, sizeof(more));
		printf("| `%s` | %s | %s%s%s | %s%s |\n", d.name, d.values,
		    d.default_value[0] ? "`" : "", d.default_value[0] ? d.default_value : "none",
		    d.default_value[0] ? "`" : "", d.help, more);
	}
}

static void
print_man(void)
{
	puts(".Bl -tag -width Ds");
	for (int k = 0; k < KC_KEY__MAX; k++) {
		struct kc_key_doc d;

		kc_config_key_doc((enum kc_key)k, &d);
		printf(".It Cm %s\n", d.name);
		printf("Value: %s.\n", d.values);
		if (d.default_value[0])
			printf("Default:\n.Ql %s .\n", d.default_value);
		else
			puts("No default.");
		puts(d.help);
		if (d.secret)
			puts("Secret.");
		if (d.page_editable)
			puts("The settings page can change it.");
	}
	puts(".El");
}

/* "# " and the words of text, wrapped before EXAMPLE_WIDTH columns. */
static void
print_comment(const char *text)
{
	size_t col = 0;

	while (*text != '\0') {
		size_t n = strcspn(text, " ");

		if (col > 0 && col + 1 + n > EXAMPLE_WIDTH) {
			putchar('\n');
			col = 0;
		}
		if (col == 0) {
			fputs("#", stdout);
			col = 1;
		}
		printf(" %.*s", (int)n, text);
		col += 1 + n;
		text += n;
		text += strspn(text, " ");
	}
	if (col > 0)
		putchar('\n');
}

static void
print_example(void)
{
	for (int k = 0; k < KC_KEY__MAX; k++) {
		struct kc_key_doc d;
		char line[1024], more[128];

		kc_config_key_doc((enum kc_key)k, &d);
		if (d.section != NULL) {
			size_t n = (size_t)snprintf(line, sizeof(line), "%s# --- %s ",
			    k > 0 ? "\n" : "", d.section);
			while (n < EXAMPLE_WIDTH + (k > 0) && n + 1 < sizeof(line))
				line[n++] = '-';
			line[n] = '\0';
			puts(line);
		}
		notes(&d, more, sizeof(more));
		snprintf(line, sizeof(line), "%s Value: %s.%s", d.help, d.values, more);
		print_comment(line);
		printf("# %s =%s%s\n", d.name,
		    d.default_value[0] || d.example ? " " : "",
		    d.default_value[0] ? d.default_value : d.example ? d.example : "");
	}
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "readme") == 0)
		print_readme();
	else if (argc == 2 && strcmp(argv[1], "man") == 0)
		print_man();
	else if (argc == 2 && strcmp(argv[1], "example") == 0)
		print_example();
	else {
		fprintf(stderr, "usage: config-keys readme|man|example\n");
		return 2;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
