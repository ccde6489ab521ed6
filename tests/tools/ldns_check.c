/*
 * ldns_check.c: cross-checks DNS messages with an independent parser (ldns).
 *
 * Reads DNS messages as hex strings, one message per line, from stdin or
 * from the files named on the command line, and parses each one with
 * ldns_wire2pkt().  Blank lines and lines starting with '#' are skipped;
 * whitespace inside a line is ignored.  For every message ldns rejects (or
 * every line that is not valid hex) it prints
 *     msg N (SOURCE:LINE): ERROR
 * and at the end "ok N" when all N messages parsed, else "FAILED F of N".
 * With -v it also prints "ok N" for each message that parsed.
 * Exit status: 0 all parsed, 1 some failed, 2 usage or I/O error.
 *
 * The integration suite (tests/integration/run_all.py) feeds it every
 * response holdfast sent during the run.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#define MSG_MAX 65535u                      /* largest DNS message */
#define LINE_MAX_CHARS (4u * 1024u * 1024u) /* longest input line accepted */

struct stats {
	unsigned long total;
	unsigned long failed;
	int verbose;
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode the hex digits of line into out (cap bytes).  Returns the number of
 * bytes, or -1 with why set.
 */
static long decode_hex(const char *line, uint8_t *out, size_t cap, const char **why)
{
	size_t n = 0;
	int hi = -1;
	for (const char *p = line; *p != '\0'; p++) {
		if (isspace((unsigned char)*p))
			continue;
		int v = hexval((unsigned char)*p);
		if (v < 0) {
			*why = "not a hex digit in input";
			return -1;
		}
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n >= cap) {
			*why = "message longer than 65535 bytes";
			return -1;
		}
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0) {
		*why = "odd number of hex digits";
		return -1;
	}
	return (long)n;
}

static int blank_or_comment(const char *line)
{
	const char *p = line;
	while (isspace((unsigned char)*p))
		p++;
	return *p == '\0' || *p == '#';
}

/* Parse one message; returns 0 if ldns accepts it. */
static int check_one(const char *src, unsigned long lineno, const char *line,
		     uint8_t *buf, struct stats *st)
{
	const char *why = NULL;
	unsigned long id = ++st->total;
	long len = decode_hex(line, buf, MSG_MAX, &why);
	if (len < 0) {
		printf("msg %lu (%s:%lu): bad input: %s\n", id, src, lineno, why);
		st->failed++;
		return -1;
	}
	if (len < 12) {
		printf("msg %lu (%s:%lu): ldns: %ld bytes, shorter than a DNS header\n",
		       id, src, lineno, len);
		st->failed++;
		return -1;
	}
	ldns_pkt *pkt = NULL;
	ldns_status s = ldns_wire2pkt(&pkt, buf, (size_t)len);
	if (s != LDNS_STATUS_OK) {
		printf("msg %lu (%s:%lu): ldns_wire2pkt: %s (%ld bytes, id %u)\n",
		       id, src, lineno, ldns_get_errorstr_by_id(s), len,
		       (unsigned)(buf[0] << 8 | buf[1]));
		if (pkt != NULL)
			ldns_pkt_free(pkt);
		st->failed++;
		return -1;
	}
	ldns_pkt_free(pkt);
	if (st->verbose)
		printf("ok %lu\n", id);
	return 0;
}

/* Check every message of one stream; returns -1 on an I/O error. */
static int check_stream(FILE *f, const char *src, uint8_t *buf, struct stats *st)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned long lineno = 0;
	ssize_t got;
	errno = 0;
	while ((got = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if ((size_t)got > LINE_MAX_CHARS) {
			printf("msg %lu (%s:%lu): bad input: line longer than %u characters\n",
			       ++st->total, src, lineno, LINE_MAX_CHARS);
			st->failed++;
			continue;
		}
		if (blank_or_comment(line))
			continue;
		check_one(src, lineno, line, buf, st);
	}
	int err = ferror(f);
	free(line);
	if (err) {
		fprintf(stderr, "ldns-check: %s: read error\n", src);
		return -1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: ldns-check [-v] [FILE...]\n"
			"  reads hex-encoded DNS messages, one per line (stdin when no FILE),\n"
			"  parses each with ldns_wire2pkt(); exit 1 if any fails\n");
}

int main(int argc, char **argv)
{
	struct stats st = {0, 0, 0};
	int first = 1;
	for (; first < argc; first++) {
		if (strcmp(argv[first], "-v") == 0) {
			st.verbose = 1;
		} else if (strcmp(argv[first], "-h") == 0 || strcmp(argv[first], "--help") == 0) {
			usage();
			return 0;
		} else if (strcmp(argv[first], "--") == 0) {
			first++;
			break;
		} else if (argv[first][0] == '-' && argv[first][1] != '\0') {
			fprintf(stderr, "ldns-check: unknown option %s\n", argv[first]);
			usage();
			return 2;
		} else {
			break;
		}
	}
	uint8_t *buf = malloc(MSG_MAX);
	if (buf == NULL) {
		fprintf(stderr, "ldns-check: out of memory\n");
		return 2;
	}
	int ioerr = 0;
	if (first >= argc) {
		ioerr |= check_stream(stdin, "stdin", buf, &st) != 0;
	}
	for (int i = first; i < argc; i++) {
		FILE *f = strcmp(argv[i], "-") == 0 ? stdin : fopen(argv[i], "r");
		if (f == NULL) {
			fprintf(stderr, "ldns-check: %s: %s\n", argv[i], strerror(errno));
			ioerr = 1;
			continue;
		}
		ioerr |= check_stream(f, argv[i], buf, &st) != 0;
		if (f != stdin)
			fclose(f);
	}
	free(buf);
	if (st.failed > 0)
		printf("FAILED %lu of %lu\n", st.failed, st.total);
	else
		printf("ok %lu\n", st.total);
	if (ioerr)
		return 2;
	return st.failed > 0 ? 1 : 0;
}
