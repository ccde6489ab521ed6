/*
 * config_load.c: Corefile -> validated hfi_config_t.  Owns the plugin
 * table (plugin.cfg order, spec 3, plus holdfast's own directives), the
 * load sequence of CoreDNS (parse with directive check, server-block key
 * inspection, plugin setups in plugin.cfg order across blocks, listener
 * overlap check), block building and hfi_config_free.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"
#include "config_keys.h"
#include "corefile.h"
#include "corefile_lex.h"
#include "holdfast.h"

#define MAX_CORE_BYTES (16u << 20)
#define MAX_LISTEN_ENTRIES 4096

typedef struct pdef {
	const char *name;
	int order;
	hfi_setup_fn setup;   /* NULL: a CoreDNS plugin holdfast does not implement */
	hfi_free_fn free;
} pdef_t;

static const pdef_t plugin_table[] = {
	{"root", 1, NULL, NULL},
	{"metadata", 2, NULL, NULL},
	{"geoip", 3, NULL, NULL},
	{"cancel", 4, NULL, NULL},
	{"proxyproto", 5, NULL, NULL},
	{"quic", 6, NULL, NULL},
	{"grpc_server", 7, NULL, NULL},
	{"https", 8, NULL, NULL},
	{"https3", 9, NULL, NULL},
	{"timeouts", 10, hfi_setup_timeouts, NULL},
	{"multisocket", 11, NULL, NULL},
	{"reload", 12, hfi_setup_reload, NULL},
	{"nsid", 13, NULL, NULL},
	{"bufsize", 14, NULL, NULL},
	{"bind", 15, hfi_setup_bind, NULL},
	{"debug", 16, hfi_setup_debug, NULL},
	{"trace", 17, NULL, NULL},
	{"ready", 18, hfi_setup_ready, NULL},
	{"health", 19, hfi_setup_health, NULL},
	{"pprof", 20, NULL, NULL},
	{"shed", 21, NULL, NULL},
	{"prometheus", 22, hfi_setup_prometheus, NULL},
	{"errors", 23, hfi_setup_errors, hfi_free_errors},
	{"log", 24, hfi_setup_log, hfi_free_log},
	{"dnstap", 25, NULL, NULL},
	{"local", 26, NULL, NULL},
	{"dns64", 27, NULL, NULL},
	{"any", 28, hfi_setup_any, NULL},
	{"chaos", 29, hfi_setup_chaos, hfi_free_chaos},
	{"loadbalance", 30, hfi_setup_loadbalance, hfi_free_loadbalance},
	{"tsig", 31, NULL, NULL},
	{"rewrite", 32, NULL, NULL},
	{"autopath", 33, NULL, NULL},
	{"acl", 34, NULL, NULL},
	{"cache", 35, hfi_setup_cache, hfi_free_cache},
	{"header", 36, NULL, NULL},
	{"dnssec", 37, NULL, NULL},
	{"tls", 38, NULL, NULL},
	{"minimal", 39, NULL, NULL},
	{"template", 40, NULL, NULL},
	{"transfer", 41, hfi_setup_transfer, hfi_free_transfer},
	{"hosts", 42, hfi_setup_hosts, hfi_free_hosts},
	{"route53", 43, NULL, NULL},
	{"azure", 44, NULL, NULL},
	{"clouddns", 45, NULL, NULL},
	{"k8s_external", 46, NULL, NULL},
	{"kubernetes", 47, hfi_setup_kubernetes, hfi_free_kubernetes},
	{"file", 48, hfi_setup_file, hfi_free_file},
	{"auto", 49, NULL, NULL},
	{"secondary", 50, NULL, NULL},
	{"etcd", 51, NULL, NULL},
	{"loop", 52, hfi_setup_loop, NULL},
	{"forward", 53, hfi_setup_forward, hfi_free_forward},
	{"grpc", 54, NULL, NULL},
	{"erratic", 55, NULL, NULL},
	{"whoami", 56, hfi_setup_whoami, NULL},
	{"on", 57, NULL, NULL},
	{"sign", 58, NULL, NULL},
	{"view", 59, NULL, NULL},
	{"nomad", 60, NULL, NULL},
	/* holdfast's own directives: global, after every plugin.cfg entry */
	{"memory", 0, hfi_setup_memory, NULL},
	{"breakglass", 0, hfi_setup_breakglass, NULL},
};

#define NPLUGINS (sizeof(plugin_table) / sizeof(plugin_table[0]))

static const pdef_t *pdef_by_name(const char *name)
{
	for (size_t i = 0; i < NPLUGINS; i++)
		if (strcmp(plugin_table[i].name, name) == 0)
			return &plugin_table[i];
	return NULL;
}

int hfi_plugin_order(const char *name)
{
	const pdef_t *p = name ? pdef_by_name(name) : NULL;
	return p ? p->order : 0;
}

static enum hfi_dir_check check_directive(const char *name)
{
	const pdef_t *p = pdef_by_name(name);
	if (p == NULL)
		return HFI_DIR_UNKNOWN;
	return p->setup ? HFI_DIR_OK : HFI_DIR_UNSUPPORTED;
}

/* ------------------------------------------------------------- freeing */

static void free_plugin_cfg(const hf_mm_t *mm, hfi_plugin_t *p)
{
	if (p->cfg == NULL)
		return;
	const pdef_t *d = pdef_by_name(p->name);
	if (d != NULL && d->free != NULL)
		d->free(mm, p->cfg);
}

static void free_block(const hf_mm_t *mm, hfi_block_t *b)
{
	for (size_t i = 0; i < b->nkeys; i++)
		hfi_mm_free(mm, b->keys[i].zone);
	hfi_mm_free(mm, b->keys);
	hfi_strv_free(mm, &b->bind);
	for (size_t i = 0; i < b->nplugins; i++)
		free_plugin_cfg(mm, &b->plugins[i]);
	hfi_mm_free(mm, b->plugins);
	hfi_mm_free(mm, b->forward);
	hfi_mm_free(mm, b->files);
}

void hfi_config_free(hfi_config_t *cfg)
{
	if (cfg == NULL)
		return;
	hf_mm_t mm = cfg->mm;
	for (size_t i = 0; i < cfg->nblocks; i++)
		free_block(&mm, &cfg->blocks[i]);
	hfi_mm_free(&mm, cfg->blocks);
	hfi_mm_free(&mm, cfg->health_addr);
	hfi_mm_free(&mm, cfg->ready_addr);
	hfi_mm_free(&mm, cfg->metrics_addr);
	hfi_mm_free(&mm, cfg->breakglass_addr);
	hfi_mm_free(&mm, cfg->path);
	for (size_t i = 0; i < cfg->nfiles; i++)
		hfi_mm_free(&mm, cfg->files[i]);
	hfi_mm_free(&mm, cfg->files);
	hfi_mm_free(&mm, cfg);
}

/* ------------------------------------------------------------ building */

typedef struct lblock {
	size_t *key_tok;           /* per expanded key: index of its key token */
} lblock_t;

typedef struct loader {
	hfi_load_t ld;
	const hfi_corefile_t *cf;
	lblock_t *lb;
	size_t total_keys;
} loader_t;

/* The config's copy of a token's file name. */
static const char *cfg_file(const hfi_load_t *ld, const char *f)
{
	hfi_config_t *cfg = ld->cfg;
	for (size_t i = 0; i < cfg->nfiles; i++)
		if (strcmp(cfg->files[i], f) == 0)
			return cfg->files[i];
	return cfg->nfiles ? cfg->files[0] : "";
}

int hfi_block_add_plugin(hfi_disp_t *d, const hfi_token_t *at, void *cfg)
{
	const hf_mm_t *mm = d->ld->mm;
	hfi_block_t *b = d->blk;
	const pdef_t *pd = pdef_by_name(d->plugin);
	void *np = b->plugins;
	if (hfi_arr_push(mm, &np, b->nplugins, sizeof(hfi_plugin_t)) != HF_EOK) {
		if (cfg != NULL && pd != NULL && pd->free != NULL)
			pd->free(mm, cfg);
		return hfi_d_oom(d);
	}
	b->plugins = np;
	hfi_plugin_t *p = &b->plugins[b->nplugins++];
	p->name = pd->name;
	p->order = pd->order;
	p->cfg = cfg;
	p->file = cfg_file(d->ld, at->file);
	p->line = at->line;
	p->col = at->col;
	switch (pd->order) {
	case 10: b->has_timeouts = true; break;
	case 12: b->has_reload = true; break;
	case 15: b->has_bind = true; break;
	case 16: b->has_debug = true; break;
	case 18: b->has_ready = true; break;
	case 19: b->has_health = true; break;
	case 22: b->has_prometheus = true; break;
	case 23: b->has_errors = true; b->errors_cfg = cfg; break;
	case 24: b->has_log = true; b->log_cfg = cfg; break;
	case 28: b->has_any = true; break;
	case 29: b->has_chaos = true; b->chaos = cfg; break;
	case 30: b->has_loadbalance = true; b->lb_cfg = cfg; break;
	case 35: b->has_cache = true; b->cache = cfg; break;
	case 41: b->has_transfer = true; b->transfer = cfg; break;
	case 42: b->has_hosts = true; b->hosts = cfg; break;
	case 47: b->has_kubernetes = true; b->kubernetes = cfg; break;
	case 52: b->has_loop = true; break;
	case 56: b->has_whoami = true; break;
	case 48: {
		void *f = b->files;
		if (hfi_arr_push(mm, &f, b->nfiles, sizeof(hfi_cfg_file_t *)) != HF_EOK)
			return hfi_d_oom(d);
		b->files = f;
		b->files[b->nfiles++] = cfg;
		b->has_file = true;
		break;
	}
	case 53: {
		void *f = b->forward;
		if (hfi_arr_push(mm, &f, b->nforward, sizeof(hfi_cfg_forward_t *)) != HF_EOK)
			return hfi_d_oom(d);
		b->forward = f;
		b->forward[b->nforward++] = cfg;
		b->has_forward = true;
		break;
	}
	default:
		break;
	}
	return HF_EOK;
}

static int copy_files(loader_t *l)
{
	hfi_config_t *cfg = l->ld.cfg;
	cfg->files = hfi_mm_calloc(l->ld.mm, l->cf->nfiles ? l->cf->nfiles : 1, sizeof(char *));
	if (cfg->files == NULL)
		return HF_ENOMEM;
	for (size_t i = 0; i < l->cf->nfiles; i++) {
		cfg->files[i] = hfi_mm_strdup(l->ld.mm, l->cf->files[i]);
		if (cfg->files[i] == NULL)
			return HF_ENOMEM;
		cfg->nfiles++;
	}
	return HF_EOK;
}

/* InspectServerBlocks: keys -> zones/ports, CIDRs expanded. */
static int inspect_block(loader_t *l, size_t bi)
{
	const hfi_server_block_t *sb = &l->cf->blocks[bi];
	hfi_block_t *b = &l->ld.cfg->blocks[bi];
	const hf_mm_t *mm = l->ld.mm;
	size_t cap = 0, tcap = 0;
	b->file = cfg_file(&l->ld, sb->keys[0].file);
	b->line = sb->keys[0].line;
	b->col = sb->keys[0].col;
	for (size_t k = 0; k < sb->nkeys; k++) {
		const hfi_token_t *t = &sb->keys[k];
		char msg[700], l2[800];
		size_t before = b->nkeys;
		int ret = hfi_key_parse(mm, t->text, l->ld.default_port, &b->keys, &b->nkeys, &cap,
					msg, sizeof(msg));
		if (ret == HF_ENOMEM) {
			hfi_cf_oom(l->ld.err, l->ld.errlen, t->file);
			return ret;
		}
		if (ret == HF_ECONFIG) {
			hfi_cf_fmt(l2, sizeof(l2), "error inspecting server blocks: %s", msg);
			hfi_cf_err2(l->ld.err, l->ld.errlen, t->file, t->line, t->col, l2, l2);
			return ret;
		}
		if (ret != HF_EOK) {
			hfi_cf_errf(l->ld.err, l->ld.errlen, t->file, t->line, t->col, "%s", msg);
			return HF_ECONFIG;
		}
		l->total_keys += b->nkeys - before;
		if (l->total_keys > MAX_LISTEN_ENTRIES) {
			hfi_cf_errf(l->ld.err, l->ld.errlen, t->file, t->line, t->col,
				    "too many server block keys (more than %d)", MAX_LISTEN_ENTRIES);
			return HF_ECONFIG;
		}
		for (size_t i = before; i < b->nkeys; i++) {
			if (b->keys[i].scheme != HFI_SCHEME_DNS) {
				const char *s = hfi_scheme_name(b->keys[i].scheme);
				hfi_cf_errf(l->ld.err, l->ld.errlen, t->file, t->line, t->col,
					    "server block key '%s': the %s:// transport is not supported by holdfast (only dns://)",
					    t->text, s);
				return HF_ECONFIG;
			}
			void *a = l->lb[bi].key_tok;
			if (hfi_mm_grow(mm, &a, &tcap, i + 1, sizeof(size_t)) != HF_EOK) {
				hfi_cf_oom(l->ld.err, l->ld.errlen, t->file);
				return HF_ENOMEM;
			}
			l->lb[bi].key_tok = a;
			l->lb[bi].key_tok[i] = k;
		}
	}
	return HF_EOK;
}

/* Run one directive's setup for one block (tokens of every occurrence). */
static int run_setup(loader_t *l, const pdef_t *pd, size_t bi)
{
	const hfi_server_block_t *sb = &l->cf->blocks[bi];
	size_t n = 0;
	for (size_t i = 0; i < sb->ndirs; i++)
		if (strcmp(sb->dirs[i].tok[0].text, pd->name) == 0)
			n += sb->dirs[i].ntok;
	if (n == 0)
		return HF_EOK;
	hfi_token_t **tok = hfi_mm_alloc(l->ld.mm, n * sizeof(*tok));
	if (tok == NULL) {
		hfi_cf_oom(l->ld.err, l->ld.errlen, l->ld.main_file);
		return HF_ENOMEM;
	}
	size_t w = 0;
	for (size_t i = 0; i < sb->ndirs; i++)
		if (strcmp(sb->dirs[i].tok[0].text, pd->name) == 0)
			for (size_t j = 0; j < sb->dirs[i].ntok; j++)
				tok[w++] = &sb->dirs[i].tok[j];
	hfi_disp_t d = {
		.tok = tok, .n = n, .cursor = -1, .plugin = pd->name, .wrap = 1,
		.ld = &l->ld, .blk = &l->ld.cfg->blocks[bi],
	};
	int ret = pd->setup(&d);
	hfi_mm_free(l->ld.mm, tok);
	return ret;
}

typedef struct lkey {
	enum hfi_scheme scheme;
	const char *zone;
	uint16_t port;
	const char *addr;  /* "" = unbound */
} lkey_t;

static bool lkey_eq(const lkey_t *a, const lkey_t *b)
{
	return a->scheme == b->scheme && a->port == b->port && strcmp(a->zone, b->zone) == 0 &&
	       strcmp(a->addr, b->addr) == 0;
}

static void lkey_str(const lkey_t *k, char *buf, size_t len)
{
	if (k->addr[0])
		hfi_cf_fmt(buf, len, "%s://%s:%u on %s", hfi_scheme_name(k->scheme), k->zone,
			   k->port, k->addr);
	else
		hfi_cf_fmt(buf, len, "%s://%s:%u", hfi_scheme_name(k->scheme), k->zone, k->port);
}

/* validateZonesAndListeningAddresses */
static int check_overlap(loader_t *l)
{
	hfi_config_t *cfg = l->ld.cfg;
	size_t total = 0;
	for (size_t bi = 0; bi < cfg->nblocks; bi++) {
		size_t h = cfg->blocks[bi].bind.n ? cfg->blocks[bi].bind.n : 1;
		total += cfg->blocks[bi].nkeys * h;
	}
	if (total == 0)
		return HF_EOK;
	if (total > MAX_LISTEN_ENTRIES) {
		const hfi_block_t *b = &cfg->blocks[0];
		hfi_cf_errf(l->ld.err, l->ld.errlen, b->file, b->line, b->col,
			    "too many zone listeners (more than %d)", MAX_LISTEN_ENTRIES);
		return HF_ECONFIG;
	}
	lkey_t *reg = hfi_mm_alloc(l->ld.mm, total * sizeof(*reg));
	lkey_t *unb = hfi_mm_alloc(l->ld.mm, total * sizeof(*unb));   /* uz */
	lkey_t *unv = hfi_mm_alloc(l->ld.mm, total * sizeof(*unv));   /* its value */
	if (reg == NULL || unb == NULL || unv == NULL) {
		hfi_mm_free(l->ld.mm, reg);
		hfi_mm_free(l->ld.mm, unb);
		hfi_mm_free(l->ld.mm, unv);
		hfi_cf_oom(l->ld.err, l->ld.errlen, l->ld.main_file);
		return HF_ENOMEM;
	}
	size_t nreg = 0, nunb = 0;
	int ret = HF_EOK;
	for (size_t bi = 0; bi < cfg->nblocks && ret == HF_EOK; bi++) {
		const hfi_block_t *b = &cfg->blocks[bi];
		size_t nh = b->bind.n ? b->bind.n : 1;
		for (size_t ki = 0; ki < b->nkeys && ret == HF_EOK; ki++) {
			for (size_t hi = 0; hi < nh; hi++) {
				lkey_t z = {b->keys[ki].scheme, b->keys[ki].zone, b->keys[ki].port,
					    b->bind.n ? b->bind.v[hi] : ""};
				lkey_t uz = z;
				uz.addr = "";
				const lkey_t *exist = NULL, *over = NULL;
				for (size_t i = 0; i < nreg && !exist; i++)
					if (lkey_eq(&reg[i], &z))
						exist = &reg[i];
				if (!exist) {
					for (size_t i = 0; i < nunb; i++) {
						if (!lkey_eq(&unb[i], &uz))
							continue;
						if (z.addr[0] == '\0') {
							over = &unv[i];
						} else {
							for (size_t j = 0; j < nreg; j++)
								if (lkey_eq(&reg[j], &uz))
									over = &uz;
						}
						break;
					}
				}
				if (exist || over) {
					char ks[600], os[600], m[1400];
					lkey_str(&z, ks, sizeof(ks));
					if (exist) {
						hfi_cf_fmt(m, sizeof(m), "cannot serve %s - it is already defined", ks);
					} else {
						lkey_str(over, os, sizeof(os));
						hfi_cf_fmt(m, sizeof(m),
							   "cannot serve %s - zone overlap listener capacity with %s",
							   ks, os);
					}
					const hfi_token_t *t =
						&l->cf->blocks[bi].keys[l->lb[bi].key_tok[ki]];
					hfi_cf_err2(l->ld.err, l->ld.errlen, t->file, t->line, t->col, m, m);
					ret = HF_ECONFIG;
					break;
				}
				reg[nreg++] = z;
				size_t i = 0;
				for (; i < nunb; i++)
					if (lkey_eq(&unb[i], &uz))
						break;
				if (i == nunb) {
					unb[nunb] = uz;
					nunb++;
				}
				unv[i] = z;
			}
		}
	}
	hfi_mm_free(l->ld.mm, reg);
	hfi_mm_free(l->ld.mm, unb);
	hfi_mm_free(l->ld.mm, unv);
	return ret;
}

static int build(loader_t *l)
{
	hfi_config_t *cfg = l->ld.cfg;
	const hfi_corefile_t *cf = l->cf;
	if (copy_files(l) != HF_EOK) {
		hfi_cf_oom(l->ld.err, l->ld.errlen, l->ld.main_file);
		return HF_ENOMEM;
	}
	if (cf->nblocks == 0)
		return HF_EOK;
	cfg->blocks = hfi_mm_calloc(l->ld.mm, cf->nblocks, sizeof(hfi_block_t));
	l->lb = hfi_mm_calloc(l->ld.mm, cf->nblocks, sizeof(lblock_t));
	if (cfg->blocks == NULL || l->lb == NULL) {
		hfi_cf_oom(l->ld.err, l->ld.errlen, l->ld.main_file);
		return HF_ENOMEM;
	}
	cfg->nblocks = cf->nblocks;
	for (size_t bi = 0; bi < cf->nblocks; bi++) {
		int ret = inspect_block(l, bi);
		if (ret != HF_EOK)
			return ret;
	}
	for (size_t pi = 0; pi < NPLUGINS; pi++) {
		const pdef_t *pd = &plugin_table[pi];
		if (pd->setup == NULL)
			continue;
		for (size_t bi = 0; bi < cf->nblocks; bi++) {
			int ret = run_setup(l, pd, bi);
			if (ret != HF_EOK)
				return ret;
		}
	}
	return check_overlap(l);
}

hfi_config_t *hfi_config_parse(const char *name, const char *text, size_t len,
			       const char *base_dir, int default_port,
			       const hf_mm_t *mm, char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (name == NULL)
		name = "Corefile";
	hfi_config_t *cfg = hfi_mm_calloc(mm, 1, sizeof(*cfg));
	if (cfg == NULL) {
		hfi_cf_oom(err, errlen, name);
		return NULL;
	}
	if (mm != NULL)
		cfg->mm = *mm;
	loader_t l;
	memset(&l, 0, sizeof(l));
	l.ld.cfg = cfg;
	l.ld.mm = &cfg->mm;
	l.ld.err = err;
	l.ld.errlen = errlen;
	l.ld.default_port = default_port;
	l.ld.main_file = name;
	char *bdir = hfi_path_abs(&cfg->mm, base_dir != NULL && base_dir[0] ? base_dir : ".");
	cfg->path = hfi_mm_strdup(&cfg->mm, name);
	if (bdir == NULL || cfg->path == NULL) {
		hfi_mm_free(&cfg->mm, bdir);
		hfi_cf_oom(err, errlen, name);
		hfi_config_free(cfg);
		return NULL;
	}
	l.ld.base_dir = bdir;
	hfi_corefile_opts_t opts = {.check = check_directive};
	hfi_corefile_t *cf = hfi_corefile_parse_ex(name, text, len, bdir, &opts, &cfg->mm, err,
						   errlen);
	int ret = HF_EPARSE;
	if (cf != NULL) {
		l.cf = cf;
		ret = build(&l);
	}
	if (l.lb != NULL) {
		for (size_t i = 0; i < cf->nblocks; i++)
			hfi_mm_free(&cfg->mm, l.lb[i].key_tok);
		hfi_mm_free(&cfg->mm, l.lb);
	}
	hfi_corefile_free(cf);
	hfi_mm_free(&cfg->mm, bdir);
	if (ret != HF_EOK) {
		hfi_config_free(cfg);
		return NULL;
	}
	return cfg;
}

static int read_stdin(const hf_mm_t *mm, char **buf, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *b = hfi_mm_alloc(mm, cap + 1);
	if (b == NULL)
		return HF_ENOMEM;
	for (;;) {
		if (n == cap) {
			if (cap > MAX_CORE_BYTES) {
				hfi_mm_free(mm, b);
				return HF_ERANGE;
			}
			char *nb = hfi_mm_realloc(mm, b, cap * 2 + 1);
			if (nb == NULL) {
				hfi_mm_free(mm, b);
				return HF_ENOMEM;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t r = read(0, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			hfi_mm_free(mm, b);
			return HF_EIO;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return HF_EOK;
}

hfi_config_t *hfi_config_load(const char *path, int default_port, const hf_mm_t *mm,
			      char *err, size_t errlen)
{
	char *buf = NULL, *dir = NULL, why[700];
	size_t len = 0;
	int ret;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL || path[0] == '\0') {
		hfi_cf_err2(err, errlen, "", 0, 0, "no Corefile given", "no Corefile given");
		return NULL;
	}
	if (strcmp(path, "stdin") == 0) {
		ret = read_stdin(mm, &buf, &len);
		if (ret != HF_EOK) {
			const char *m = ret == HF_ENOMEM ? "out of memory"
				      : ret == HF_ERANGE ? "Corefile on stdin is too large"
							 : "cannot read Corefile from stdin";
			hfi_cf_err2(err, errlen, path, 1, 1, m, m);
			return NULL;
		}
		dir = hfi_mm_strdup(mm, ".");
	} else {
		char *clean = hfi_path_clean(mm, path);
		if (clean == NULL) {
			hfi_cf_oom(err, errlen, path);
			return NULL;
		}
		ret = hfi_read_file(mm, clean, MAX_CORE_BYTES, &buf, &len, why, sizeof(why));
		if (ret != HF_EOK) {
			char m[800];
			if (ret == HF_ENOMEM)
				hfi_cf_fmt(m, sizeof(m), "out of memory");
			else if (strncmp(why, "open ", 5) == 0 || strncmp(why, "read ", 5) == 0 ||
				 strncmp(why, "stat ", 5) == 0)
				hfi_cf_fmt(m, sizeof(m), "%s", why);
			else
				hfi_cf_fmt(m, sizeof(m), "read %s: %s", clean, why);
			hfi_cf_err2(err, errlen, path, 1, 1, m, m);
			hfi_mm_free(mm, clean);
			return NULL;
		}
		dir = hfi_path_dir(mm, clean);
		hfi_mm_free(mm, clean);
	}
	if (dir == NULL) {
		hfi_mm_free(mm, buf);
		hfi_cf_oom(err, errlen, path);
		return NULL;
	}
	hfi_config_t *cfg = hfi_config_parse(path, buf, len, dir, default_port, mm, err, errlen);
	hfi_mm_free(mm, buf);
	hfi_mm_free(mm, dir);
	return cfg;
}
