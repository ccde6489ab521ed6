/*
 * flags.c: command line parsing with Go `flag` package rules, as CoreDNS
 * (coremain/run.go) does: one or two dashes, "-name value" or "-name=value",
 * booleans only as "-name" or "-name=bool", parsing stops at the first
 * non-flag or "--", and any argument left over is fatal.  Also -version and
 * -plugins output.
 */
#include "shim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#ifndef HF_VERSION
#define HF_VERSION "0.0.0"
#endif

static void usage(FILE *out)
{
	fprintf(out,
		"Usage of holdfast:\n"
		"  -conf string\n"
		"    \tCorefile to load (default \"Corefile\")\n"
		"  -dns.port string\n"
		"    \tDefault port (default \"53\")\n"
		"  -p string\n"
		"    \tDefault port (default \"53\")\n"
		"  -pidfile string\n"
		"    \tPath to write pid file\n"
		"  -plugins\n"
		"    \tList installed plugins\n"
		"  -quiet\n"
		"    \tQuiet mode (no initialization output)\n"
		"  -version\n"
		"    \tShow version\n");
}

/* strconv.ParseBool */
static int parse_bool(const char *s, int *out)
{
	static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (strcmp(s, t[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(s, f[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static int parse_port(const char *s, int *port)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

static int bad(const char *what, const char *arg)
{
	fprintf(stderr, "%s%s\n", what, arg);
	usage(stderr);
	return -1;
}

int hfs_flags_parse(int argc, char **argv, struct hfs_flags *f)
{
	memset(f, 0, sizeof(*f));
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || a[1] == '\0')
			break;
		const char *name = a + 1;
		if (name[0] == '-') {
			name++;
			if (name[0] == '\0') { /* "--" terminates flags */
				i++;
				break;
			}
		}
		if (name[0] == '-' || name[0] == '=')
			return bad("bad flag syntax: ", a);
		char key[64];
		const char *val = NULL;
		const char *eq = strchr(name, '=');
		size_t klen = eq ? (size_t)(eq - name) : strlen(name);
		if (klen >= sizeof(key))
			return bad("flag provided but not defined: -", name);
		memcpy(key, name, klen);
		key[klen] = '\0';
		if (eq)
			val = eq + 1;

		if (strcmp(key, "h") == 0 || strcmp(key, "help") == 0) {
			usage(stderr);
			return 1;
		}
		int *boolp = NULL;
		if (strcmp(key, "quiet") == 0)
			boolp = &f->quiet;
		else if (strcmp(key, "version") == 0)
			boolp = &f->version;
		else if (strcmp(key, "plugins") == 0)
			boolp = &f->plugins;
		if (boolp) {
			if (val == NULL) {
				*boolp = 1;
			} else if (parse_bool(val, boolp) != 0) {
				fprintf(stderr, "invalid boolean value \"%s\" for -%s: parse error\n",
					val, key);
				usage(stderr);
				return -1;
			}
			continue;
		}
		int is_conf = strcmp(key, "conf") == 0;
		int is_pid = strcmp(key, "pidfile") == 0;
		int is_port = strcmp(key, "dns.port") == 0 || strcmp(key, "p") == 0;
		if (!is_conf && !is_pid && !is_port) {
			fprintf(stderr, "flag provided but not defined: -%s\n", key);
			usage(stderr);
			return -1;
		}
		if (val == NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "flag needs an argument: -%s\n", key);
				usage(stderr);
				return -1;
			}
			val = argv[++i];
		}
		if (is_conf) {
			f->conf = val;
			f->conf_given = 1;
		} else if (is_pid) {
			f->pidfile = val[0] != '\0' ? val : NULL;
		} else if (parse_port(val, &f->port) != 0) {
			fprintf(stderr, "invalid value \"%s\" for flag -%s: not a port number\n",
				val, key);
			usage(stderr);
			return -1;
		}
	}
	if (i < argc) {
		/* CoreDNS: "extra command line arguments: [a b]", fatal */
		fputs("extra command line arguments: [", stderr);
		for (int j = i; j < argc; j++)
			fprintf(stderr, "%s%s", j > i ? " " : "", argv[j]);
		fputs("]\n", stderr);
		return -1;
	}
	return 0;
}

static const char *go_arch(const char *m)
{
	if (strcmp(m, "x86_64") == 0)
		return "amd64";
	if (strcmp(m, "aarch64") == 0)
		return "arm64";
	if (strcmp(m, "i686") == 0 || strcmp(m, "i386") == 0)
		return "386";
	return m;
}

void hfs_print_version(void)
{
	struct utsname u;
	const char *arch = "unknown";
	if (uname(&u) == 0)
		arch = go_arch(u.machine);
	printf("holdfast-%s\n", hf_version());
#if defined(__clang__)
	printf("linux/%s, clang-%d.%d.%d", arch, __clang_major__, __clang_minor__,
	       __clang_patchlevel__);
#else
	printf("linux/%s, gcc-%d.%d.%d", arch, __GNUC__, __GNUC_MINOR__,
	       __GNUC_PATCHLEVEL__);
#endif
#ifdef HF_REVISION
	printf(", %s", HF_REVISION);
#endif
	printf("\n");
	if (strcmp(hf_version(), HF_VERSION) != 0)
		printf("(shim built for %s)\n", HF_VERSION);
}

/* CoreDNS's caddy.DescribePlugins() layout; the list comes from the engine
 * (hf_plugin_name) so it names exactly what this build implements. */
void hfs_print_plugins(void)
{
	printf("Server types:\n  dns\n\nCaddyfile loaders:\n  flag\n  default\n\n"
	       "Other plugins:\n");
	const char *name;
	for (int i = 0; (name = hf_plugin_name(i)) != NULL; i++)
		printf("  dns.%s\n", name);
}
