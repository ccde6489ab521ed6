/*
 * fuzz_corefile.c: libFuzzer harness for the Corefile module: the input is
 * a Corefile parsed by hfi_config_parse (lexer, parser, imports, every
 * plugin setup, key inspection, overlap check) and by the bare
 * hfi_corefile_parse; both results are freed.  Imports resolve against a
 * small fixed file tree made once in a temp dir (files, globs, nested
 * imports, snippets, a file with env placeholders, a directory), and a few
 * FUZZ_* environment variables are set, so {$VAR}, {%VAR%} and import paths
 * reach real content.  When the input contains a line "%%%", the text after
 * it becomes the file fuzz.conf of that tree (reachable with `import
 * fuzz.conf` or a glob).  The bare parser and a second configuration pass
 * run against a directory that does not exist.  Never crash, hang or leak.
 * The tree has no self-importing file: by the spec (1.4) that is 100000
 * file imports per parse, about 2.5 s under ASan, which would make every
 * descendant input a timeout (the cap has unit tests).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "corefile.h"
#include "log.h"

#define NO_DIR "/nonexistent/holdfast-fuzz"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64];

static void put(const char *name, const char *text, size_t len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", base, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		abort();
	if (len > 0 && fwrite(text, 1, len, f) != len)
		abort();
	fclose(f);
}

static void cleanup(void)
{
	static const char *const files[] = {
		"a.conf", "b.conf", "snip.conf", "env.conf", "empty.conf",
		"blocks/one.server", "blocks/two.server", "fuzz.conf", "cluster.yaml", "hosts",
		"token",
	};
	char path[256];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", base, files[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/blocks", base);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/adir", base);
	rmdir(path);
	rmdir(base);
}

static void setup(void)
{
	snprintf(base, sizeof(base), "/tmp/hf-fuzz-corefile-XXXXXX");
	if (mkdtemp(base) == NULL)
		abort();
	char path[256];
	snprintf(path, sizeof(path), "%s/blocks", base);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/adir", base);
	mkdir(path, 0700);
#define PUT(n, t) put(n, t, sizeof(t) - 1)
	PUT("a.conf", "errors\nlog\n");
	PUT("b.conf", "import a.conf\ncache 30\n");
	PUT("snip.conf", "(snip) {\n    errors\n    log . {\n        class denial\n    }\n}\n");
	PUT("env.conf", "{$FUZZ_DIRECTIVE} {$FUZZ_ARG}\nforward . {%FUZZ_UPSTREAM%}\n");
	PUT("empty.conf", "");
	PUT("blocks/one.server", "one.example {\n    whoami\n}\n");
	PUT("blocks/two.server", "two.example:1053 {\n    import a.conf\n    whoami\n}\n");
	PUT("fuzz.conf", "whoami\n");
	PUT("cluster.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns1}\n");
	PUT("hosts", "10.0.0.1 host.example\n");
	PUT("token", "0123456789abcdef0123456789abcdef\n");
	setenv("FUZZ_DIRECTIVE", "cache", 1);
	setenv("FUZZ_ARG", "30", 1);
	setenv("FUZZ_UPSTREAM", "127.0.0.1:53", 1);
	setenv("FUZZ_ZONE", "cluster.local", 1);
	setenv("FUZZ_EMPTY", "", 1);
	setenv("FUZZ_BRACE", "{", 1);
	setenv("FUZZ_LINES", "errors\nlog\n}", 1);
	setenv("FUZZ_IMPORT", "import a.conf", 1);
	setenv("FUZZ_ENV", "{$FUZZ_ENV}", 1);
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[2048];
	hfi_log_set_quiet(1);
	if (base[0] == '\0')
		setup();
	const char *text = (const char *)data;
	size_t len = size;
	const char *mark = size >= 5 ? memmem(data, size, "\n%%%\n", 5) : NULL;
	if (mark != NULL) {
		len = (size_t)(mark - text) + 1;
		put("fuzz.conf", mark + 5, size - len - 4);
	}
	hfi_config_t *cfg = hfi_config_parse("Corefile", text, len, base, 0, NULL, err, sizeof(err));
	hfi_config_free(cfg);
	hfi_corefile_t *cf = hfi_corefile_parse("Corefile", text, len, NO_DIR, NULL, err, sizeof(err));
	hfi_corefile_free(cf);
	cfg = hfi_config_parse("Corefile", text, len, NO_DIR, 0, NULL, err, sizeof(err));
	hfi_config_free(cfg);
	if (mark != NULL)
		put("fuzz.conf", "whoami\n", 7);
	return 0;
}
