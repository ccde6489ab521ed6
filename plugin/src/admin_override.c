/*
 * admin_override.c: operator overrides (break-glass, issue 7): `set NAME
 * TYPE TTL RDATA`, `unset NAME [TYPE]`, `overrides`, and their file.
 *
 * A change copies the published table into a free slot, edits the copy and
 * publishes it (admin.c), so the answer path (admin_answer.c) only ever
 * sees complete tables.  `set` adds a record to the RRset of NAME/TYPE (a
 * record that is already there only gets the new TTL; every record of the
 * RRset takes the TTL given last, as RFC 2181 5.2 wants one TTL per RRset);
 * a CNAME replaces the name's CNAME and cannot coexist with other types.
 *
 * When a kubernetes block has `snapshot PATH`, every change is saved to
 * PATH.overrides (temp file, fsync, rename, directory fsync) as `set` lines
 * and loaded again at start, so overrides survive restarts and reloads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "admin_int.h"
#include "log.h"

#define PLUGIN "breakglass"
#define FILE_MAX (4u << 20) /* a saved overrides file is never larger */

/* ---- parsing ------------------------------------------------------------------ */

static bool parse_u(const char *s, unsigned long max, unsigned long *out)
{
	if (*s < '0' || *s > '9')
		return false;
	unsigned long v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

/* Text name -> lower-case wire; length or -1. */
/* NAME as typed, or as `overrides` / `export` print it: labels separated
 * by '.', with the zone-file escapes \DDD and \X (hfi_admin_name_text
 * writes every byte that is not alphanumeric, '-', '_' or '*' as \DDD, so
 * its output must be read back; found by tests/fuzz/fuzz_admin.c).
 * Lower-case wire into out (HFI_DNAME_MAX + 1 bytes); length or -1. */
static int name_wire(const char *s, uint8_t *out)
{
	if (strcmp(s, "@") == 0 || s[0] == '\0')
		return -1;
	if (strcmp(s, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	size_t lab = 0, ll = 0;
	const char *p = s;
	for (;;) {
		if (*p == '.' || *p == '\0') {
			if (ll == 0)
				return -1; /* empty label */
			out[lab] = (uint8_t)ll;
			lab += 1 + ll;
			ll = 0;
			if (*p == '\0' || p[1] == '\0')
				break; /* the end, or the trailing dot */
			p++;
			continue;
		}
		unsigned ch = (unsigned char)*p++;
		if (ch == '\\') {
			if (p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
			    p[2] <= '9') {
				ch = (unsigned)(p[0] - '0') * 100 + (unsigned)(p[1] - '0') * 10 + (unsigned)(p[2] - '0');
				if (ch > 255)
					return -1;
				p += 3;
			} else if (*p != '\0') {
				ch = (unsigned char)*p++;
			} else {
				return -1;
			}
		}
		if (ll == HFI_LABEL_MAX || lab + 1 + ll + 1 >= HFI_DNAME_MAX)
			return -1;
		out[lab + 1 + ll++] = (uint8_t)ch;
	}
	out[lab] = 0;
	hfi_dname_lower(out, out);
	return (int)(lab + 1);
}

static const uint16_t settable[] = {HFI_T_A, HFI_T_AAAA, HFI_T_CNAME, HFI_T_TXT, HFI_T_SRV,
				    HFI_T_PTR, HFI_T_MX, HFI_T_NS};

/* Parse "NAME TYPE TTL RDATA..." (tokens t[0..n)) into rr; 0 or -1 + err. */
static int parse_rr(const hfi_tok_t *t, size_t n, hfi_ovr_rr_t *rr, char *err, size_t errlen)
{
	memset(rr, 0, sizeof(*rr));
	if (n < 4) {
		snprintf(err, errlen, "usage: set NAME TYPE TTL RDATA");
		return -1;
	}
	int ol = name_wire(t[0].s, rr->owner);
	if (ol < 0) {
		snprintf(err, errlen, "invalid name '%s'", t[0].s);
		return -1;
	}
	rr->olen = (uint16_t)ol;
	rr->type = hfi_admin_type(t[1].s);
	bool ok = false;
	for (size_t i = 0; i < sizeof(settable) / sizeof(settable[0]); i++)
		ok |= settable[i] == rr->type && rr->type != 0;
	if (!ok) {
		snprintf(err, errlen, "type '%s' cannot be overridden (A, AAAA, CNAME, TXT, SRV, PTR, MX, NS)",
			 t[1].s);
		return -1;
	}
	unsigned long v;
	if (!parse_u(t[2].s, 2147483647UL, &v)) {
		snprintf(err, errlen, "invalid TTL '%s' (0 to 2147483647 seconds)", t[2].s);
		return -1;
	}
	rr->ttl = (uint32_t)v;
	const hfi_tok_t *rd = t + 3;
	size_t nrd = n - 3;
	uint8_t *p = rr->rdata;
	size_t fixed = 0;
	const char *target = NULL;
	switch (rr->type) {
	case HFI_T_A:
	case HFI_T_AAAA:
		if (nrd != 1 || inet_pton(rr->type == HFI_T_A ? AF_INET : AF_INET6, rd[0].s, p) != 1) {
			snprintf(err, errlen, "invalid %s address '%s'", rr->type == HFI_T_A ? "IPv4" : "IPv6",
				 rd[0].s);
			return -1;
		}
		rr->rdlen = rr->type == HFI_T_A ? 4 : 16;
		return 0;
	case HFI_T_TXT: {
		size_t o = 0;
		for (size_t i = 0; i < nrd; i++) {
			if (rd[i].len > 255 || o + 1 + rd[i].len > HFI_OVR_RDATA) {
				snprintf(err, errlen, "TXT string longer than 255 bytes or TXT data over %d bytes",
					 HFI_OVR_RDATA);
				return -1;
			}
			p[o++] = (uint8_t)rd[i].len;
			memcpy(p + o, rd[i].s, rd[i].len);
			o += rd[i].len;
		}
		rr->rdlen = (uint16_t)o;
		return 0;
	}
	case HFI_T_CNAME:
	case HFI_T_PTR:
	case HFI_T_NS:
		if (nrd != 1) {
			snprintf(err, errlen, "usage: set NAME %s TTL TARGET", t[1].s);
			return -1;
		}
		target = rd[0].s;
		break;
	case HFI_T_MX:
		if (nrd != 2 || !parse_u(rd[0].s, 65535, &v)) {
			snprintf(err, errlen, "usage: set NAME MX TTL PREFERENCE TARGET");
			return -1;
		}
		p[0] = (uint8_t)(v >> 8);
		p[1] = (uint8_t)v;
		fixed = 2;
		target = rd[1].s;
		break;
	case HFI_T_SRV:
		if (nrd != 4) {
			snprintf(err, errlen, "usage: set NAME SRV TTL PRIORITY WEIGHT PORT TARGET");
			return -1;
		}
		for (int i = 0; i < 3; i++) {
			if (!parse_u(rd[i].s, 65535, &v)) {
				snprintf(err, errlen, "invalid SRV number '%s' (0 to 65535)", rd[i].s);
				return -1;
			}
			p[2 * i] = (uint8_t)(v >> 8);
			p[2 * i + 1] = (uint8_t)v;
		}
		fixed = 6;
		target = rd[3].s;
		break;
	default:
		return -1;
	}
	int tl = name_wire(target, p + fixed);
	if (tl < 0) {
		snprintf(err, errlen, "invalid target name '%s'", target);
		return -1;
	}
	rr->rdlen = (uint16_t)fixed;
	rr->nlen = (uint16_t)tl;
	return 0;
}

/* ---- presentation ------------------------------------------------------------ */

void hfi_admin_ovr_text(const hfi_ovr_rr_t *rr, char *buf, size_t len)
{
	char owner[1100], tn[16], rd[2200] = "", target[1100] = "";
	hfi_admin_name_text(rr->owner, false, owner, sizeof(owner));
	hfi_admin_type_name(rr->type, tn, sizeof(tn));
	if (rr->nlen > 0)
		hfi_admin_name_text(rr->rdata + rr->rdlen, false, target, sizeof(target));
	const uint8_t *p = rr->rdata;
	switch (rr->type) {
	case HFI_T_A:
		inet_ntop(AF_INET, p, rd, sizeof(rd));
		break;
	case HFI_T_AAAA:
		inet_ntop(AF_INET6, p, rd, sizeof(rd));
		break;
	case HFI_T_TXT:
		hfi_admin_txt_text(p, rr->rdlen, rd, sizeof(rd));
		break;
	case HFI_T_MX:
		snprintf(rd, sizeof(rd), "%u %s", (unsigned)(p[0] << 8 | p[1]), target);
		break;
	case HFI_T_SRV:
		snprintf(rd, sizeof(rd), "%u %u %u %s", (unsigned)(p[0] << 8 | p[1]),
			 (unsigned)(p[2] << 8 | p[3]), (unsigned)(p[4] << 8 | p[5]), target);
		break;
	default:
		snprintf(rd, sizeof(rd), "%s", target);
		break;
	}
	snprintf(buf, len, "%s\t%u\tIN\t%s\t%s", owner, rr->ttl, tn, rd);
}

/* ---- table edits ---------------------------------------------------------------- */

static bool same_rdata(const hfi_ovr_rr_t *a, const hfi_ovr_rr_t *b)
{
	return a->rdlen == b->rdlen && a->nlen == b->nlen &&
	       memcmp(a->rdata, b->rdata, (size_t)a->rdlen + a->nlen) == 0;
}

static void remove_at(hfi_ovr_table_t *t, size_t i, size_t n)
{
	memmove(&t->rr[i], &t->rr[i + n], (t->n - i - n) * sizeof(hfi_ovr_rr_t));
	t->n -= (uint32_t)n;
}

/* Add rr to t (a private copy); 0, or HF_EINVAL (conflict) / HF_ENOMEM
 * (full) + err. */
static int table_add(hfi_ovr_table_t *t, const hfi_ovr_rr_t *rr, char *err, size_t errlen)
{
	/* CNAME and other data never share a name */
	size_t first = 0;
	bool other = false, cname = false;
	for (uint32_t i = 0; i < t->n; i++) {
		if (t->rr[i].olen != rr->olen || memcmp(t->rr[i].owner, rr->owner, rr->olen) != 0)
			continue;
		if (t->rr[i].type == HFI_T_CNAME)
			cname = true;
		else
			other = true;
	}
	char nm[1100];
	if ((rr->type == HFI_T_CNAME && other) || (rr->type != HFI_T_CNAME && cname)) {
		hfi_admin_name_text(rr->owner, false, nm, sizeof(nm));
		snprintf(err, errlen, "%.300s has %s overrides: a CNAME cannot coexist with other data (unset them first)",
			 nm, rr->type == HFI_T_CNAME ? "other" : "CNAME");
		return HF_EINVAL;
	}
	size_t n = hfi_ovr_find(t, rr->owner, rr->type, &first);
	if (rr->type == HFI_T_CNAME && n > 0) {
		remove_at(t, first, n); /* one CNAME per name: replace */
		n = 0;
	}
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		t->rr[first + i].ttl = rr->ttl;
		found |= same_rdata(&t->rr[first + i], rr);
	}
	if (found)
		return 0;
	if (t->n >= HFI_OVR_MAX) {
		snprintf(err, errlen, "the override table is full (%d records)", HFI_OVR_MAX);
		return HF_ENOMEM;
	}
	size_t at = first + n;
	memmove(&t->rr[at + 1], &t->rr[at], (t->n - at) * sizeof(hfi_ovr_rr_t));
	t->rr[at] = *rr;
	t->n++;
	return 0;
}

/* A private copy of the published table in a free slot; slot or -1. */
static int edit_slot(hf_engine_t *e, hfi_admin_t *a)
{
	const hfi_ovr_table_t *cur = atomic_load(&e->overrides);
	int idx = hfi_admin_free_slot(e, (void *const *)a->ovr, a->ovr_tag, cur);
	if (idx < 0)
		return -1;
	hfi_ovr_table_t *t = a->ovr[idx];
	t->n = cur != NULL ? cur->n : 0;
	if (t->n > 0)
		memcpy(t->rr, cur->rr, t->n * sizeof(hfi_ovr_rr_t));
	return idx;
}

static void save_report(hf_engine_t *e, hfi_admin_t *a, hfi_out_t *o)
{
	if (a->ovr_path == NULL)
		return;
	char err[600];
	if (hfi_admin_overrides_save(e, a, err, sizeof(err)) != 0) {
		hfi_out_printf(o, "; warning: not saved: %s\n", err);
		hfi_log(HFI_LOG_ERROR, PLUGIN, "overrides: %s", err);
	}
}

int hfi_admin_set(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	hfi_ovr_rr_t rr;
	char err[600];
	if (parse_rr(c->t + 1, c->n - 1, &rr, err, sizeof(err)) != 0)
		return hfi_out_err(o, HF_EINVAL, "%s", err);
	int idx = edit_slot(e, a);
	if (idx < 0)
		return hfi_out_err(o, HF_ENOMEM, "busy: every override table is still in use, try again");
	hfi_ovr_table_t *t = a->ovr[idx];
	int ret = table_add(t, &rr, err, sizeof(err));
	if (ret != 0)
		return hfi_out_err(o, ret, "%s", err);
	hfi_admin_publish_ovr(e, a, t->n > 0 ? idx : -1);
	size_t first = 0, n = hfi_ovr_find(t, rr.owner, rr.type, &first);
	char line[2300];
	for (size_t i = 0; i < n; i++) {
		hfi_admin_ovr_text(&t->rr[first + i], line, sizeof(line));
		hfi_out_printf(o, "%s\n", line);
	}
	save_report(e, a, o);
	return hfi_out_ok(o, "set (%zu record%s in the set, %u overrides)", n, n == 1 ? "" : "s", t->n);
}

int hfi_admin_unset(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	if (c->n != 2 && c->n != 3)
		return hfi_out_err(o, HF_EINVAL, "usage: unset NAME [TYPE]");
	uint8_t owner[HFI_DNAME_MAX + 1];
	int ol = name_wire(c->t[1].s, owner);
	if (ol < 0)
		return hfi_out_err(o, HF_EINVAL, "invalid name '%s'", c->t[1].s);
	uint16_t type = 0;
	if (c->n == 3 && strcasecmp(c->t[2].s, "ANY") != 0) {
		type = hfi_admin_type(c->t[2].s);
		if (type == 0)
			return hfi_out_err(o, HF_EINVAL, "unknown type '%s'", c->t[2].s);
	}
	int idx = edit_slot(e, a);
	if (idx < 0)
		return hfi_out_err(o, HF_ENOMEM, "busy: every override table is still in use, try again");
	hfi_ovr_table_t *t = a->ovr[idx];
	size_t removed = 0;
	for (uint32_t i = 0; i < t->n;) {
		const hfi_ovr_rr_t *r = &t->rr[i];
		if (r->olen == (uint16_t)ol && memcmp(r->owner, owner, (size_t)ol) == 0 &&
		    (type == 0 || r->type == type)) {
			remove_at(t, i, 1);
			removed++;
		} else {
			i++;
		}
	}
	if (removed == 0)
		return hfi_out_err(o, HF_ENOENT, "no override for %s%s%s", c->t[1].s, c->n == 3 ? " " : "",
				   c->n == 3 ? c->t[2].s : "");
	hfi_admin_publish_ovr(e, a, t->n > 0 ? idx : -1);
	save_report(e, a, o);
	return hfi_out_ok(o, "removed %zu record%s (%u overrides)", removed, removed == 1 ? "" : "s", t->n);
}

int hfi_admin_overrides(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	if (c->n != 1)
		return hfi_out_err(o, HF_EINVAL, "usage: overrides");
	const hfi_ovr_table_t *t = atomic_load(&e->overrides);
	char line[2300];
	for (uint32_t i = 0; t != NULL && i < t->n; i++) {
		hfi_admin_ovr_text(&t->rr[i], line, sizeof(line));
		hfi_out_printf(o, "%s\n", line);
	}
	return hfi_out_ok(o, "%u overrides%s%s", t ? t->n : 0, a->ovr_path ? ", saved to " : "",
			  a->ovr_path ? a->ovr_path : "");
}

/* ---- the file ------------------------------------------------------------------- */

static int fsync_dir(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

int hfi_admin_overrides_save(hf_engine_t *e, hfi_admin_t *a, char *err, size_t errlen)
{
	if (a->ovr_path == NULL)
		return 0;
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", a->ovr_path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", a->ovr_path);
		return -1;
	}
	(void)unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	const hfi_ovr_table_t *t = atomic_load(&e->overrides);
	bool ok = fprintf(f, "# holdfast break-glass overrides, written by the admin port: "
			  "set NAME TYPE TTL RDATA\n") > 0;
	char line[2300], name[1100], type[16];
	for (uint32_t i = 0; ok && t != NULL && i < t->n; i++) {
		const hfi_ovr_rr_t *rr = &t->rr[i];
		hfi_admin_ovr_text(rr, line, sizeof(line));
		/* "NAME\tTTL\tIN\tTYPE\tRDATA" -> "set NAME TYPE TTL RDATA" */
		const char *rd = line;
		for (int tabs = 0; tabs < 4 && rd != NULL; tabs++) {
			rd = strchr(rd, '\t');
			if (rd != NULL)
				rd++;
		}
		hfi_admin_name_text(rr->owner, false, name, sizeof(name));
		hfi_admin_type_name(rr->type, type, sizeof(type));
		ok = rd != NULL && fprintf(f, "set %s %s %u %s\n", name, type, rr->ttl, rd) > 0;
	}
	ok = ok && fflush(f) == 0 && fsync(fd) == 0;
	int e2 = errno;
	if (fclose(f) != 0)
		ok = false;
	if (!ok) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(e2));
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, a->ovr_path) != 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, a->ovr_path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	(void)fsync_dir(a->ovr_path);
	return 0;
}

void hfi_admin_overrides_load(hf_engine_t *e, hfi_admin_t *a)
{
	if (a->ovr_path == NULL)
		return;
	int fd = open(a->ovr_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			hfi_log(HFI_LOG_WARNING, PLUGIN, "overrides %s: %s; starting without overrides",
				a->ovr_path, strerror(errno));
		return;
	}
	FILE *f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		return;
	}
	int idx = edit_slot(e, a);
	if (idx < 0) {
		fclose(f);
		return;
	}
	hfi_ovr_table_t *t = a->ovr[idx];
	t->n = 0;
	char line[HFI_ADMIN_LINE + 2], err[600];
	unsigned lineno = 0, bad = 0;
	size_t total = 0;
	while (fgets(line, sizeof(line), f) != NULL && total < FILE_MAX) {
		lineno++;
		size_t len = strlen(line);
		total += len;
		if (len > 0 && line[len - 1] != '\n' && !feof(f)) {
			/* longer than a command: skip the rest of it */
			int ch;
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				total++;
			bad++;
			continue;
		}
		if (hfi_cmd_split(&a->cmd, line, err, sizeof(err)) != 0) {
			hfi_log(HFI_LOG_WARNING, PLUGIN, "overrides %s:%u: %s; skipped", a->ovr_path, lineno, err);
			bad++;
			continue;
		}
		if (a->cmd.n == 0 || a->cmd.t[0].s[0] == '#')
			continue;
		hfi_ovr_rr_t rr;
		if (strcmp(a->cmd.t[0].s, "set") != 0) {
			snprintf(err, sizeof(err), "not a set line");
		} else if (parse_rr(a->cmd.t + 1, a->cmd.n - 1, &rr, err, sizeof(err)) == 0 &&
			   table_add(t, &rr, err, sizeof(err)) == 0) {
			continue;
		}
		hfi_log(HFI_LOG_WARNING, PLUGIN, "overrides %s:%u: %s; skipped", a->ovr_path, lineno, err);
		bad++;
	}
	fclose(f);
	hfi_admin_publish_ovr(e, a, t->n > 0 ? idx : -1);
	hfi_log(HFI_LOG_INFO, PLUGIN, "loaded %u overrides from %s%s", t->n, a->ovr_path,
		bad ? " (some lines skipped)" : "");
}
