/*
 * config_plugins.c: setup (parse + validate) of every supported plugin
 * except kubernetes, forward and cache: timeouts, reload, bind, debug,
 * ready, health, prometheus, errors, log, any, chaos, loadbalance,
 * transfer, hosts, file, loop, whoami, and holdfast's own memory and
 * breakglass.  Each follows the CoreDNS setup.go of the same name so
 * arguments, defaults and error texts match (spec 7-15).
 */
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_int.h"
#include "config_keys.h"
#include "holdfast.h"
#include "log.h"

#define ERR_ONCE "this plugin can only be used once per Server Block"

static const hf_mm_t *MM(hfi_disp_t *d)
{
	return d->ld->mm;
}

/* Parse a Go duration at args[i]; plain Go error on failure. */
static int dur_arg(hfi_disp_t *d, const char *s, int64_t *ns)
{
	char msg[600];
	if (!hfi_go_duration(s, ns, msg, sizeof(msg)))
		return hfi_d_plainf(d, "%s", msg);
	return HF_EOK;
}

/* ------------------------------------------------------------ timeouts */

int hfi_setup_timeouts(hfi_disp_t *d)
{
	hfi_block_t *b = d->blk;
	const hfi_token_t *at = NULL;
	while (hfi_d_next(d)) {
		if (at == NULL)
			at = hfi_d_tok(d);
		size_t st;
		if (hfi_d_remaining(d, &st) > 0)
			return hfi_d_argerr(d);
		int cnt = 0;
		while (hfi_d_next_block(d)) {
			const char *which = hfi_d_val(d);
			size_t n = hfi_d_remaining(d, &st);
			if (n != 1) {
				d->wrap = 0;
				return hfi_d_argerr(d);
			}
			const char *arg = hfi_d_arg(d, st, 0);
			long long secs;
			int64_t ns;
			char msg[600];
			if (arg[0] == '\0') {
				d->wrap = 0;
				return hfi_d_errf(d, "duration can not be an empty string");
			}
			if (hfi_go_atoi(arg, &secs, NULL, 0)) {
				if (secs > INT64_MAX / HFI_NS_PER_S || secs < INT64_MIN / HFI_NS_PER_S) {
					d->wrap = 0;
					return hfi_d_errf(d, "time: invalid duration \"%ss\"", arg);
				}
				ns = secs * HFI_NS_PER_S;
			} else if (!hfi_go_duration(arg, &ns, msg, sizeof(msg))) {
				d->wrap = 0;
				return hfi_d_errf(d, "%s", msg);
			}
			if (ns < HFI_NS_PER_S || ns > 24 * 3600 * HFI_NS_PER_S) {
				char ds[64];
				hfi_go_duration_str(ns, ds, sizeof(ds));
				d->wrap = 0;
				return hfi_d_errf(d,
						  "timeout provided '%s' needs to be between 1 second and 24 hours",
						  ds);
			}
			uint32_t ms = hfi_ns_to_ms(ns);
			if (strcmp(which, "read") == 0) {
				b->read_timeout_ms = ms;
			} else if (strcmp(which, "write") == 0) {
				b->write_timeout_ms = ms;
			} else if (strcmp(which, "idle") == 0) {
				b->idle_timeout_ms = ms;
			} else {
				d->wrap = 0;
				return hfi_d_errf(d, "unknown option: '%s'", which);
			}
			cnt++;
		}
		if (cnt == 0)
			return hfi_d_errf(d, "timeouts block with no timeouts specified");
	}
	return hfi_block_add_plugin(d, at, NULL);
}

/* -------------------------------------------------------------- reload */

int hfi_setup_reload(hfi_disp_t *d)
{
	hfi_config_t *cfg = d->ld->cfg;
	hfi_d_next(d);
	const hfi_token_t *at = hfi_d_tok(d);
	size_t st, n = hfi_d_remaining(d, &st);
	if (n > 2)
		return hfi_d_argerr(d);
	int64_t i = 30 * HFI_NS_PER_S, j = 15 * HFI_NS_PER_S;
	if (n > 0) {
		int ret = dur_arg(d, hfi_d_arg(d, st, 0), &i);
		if (ret != HF_EOK)
			return ret;
	}
	if (i < 2 * HFI_NS_PER_S)
		return hfi_d_plainf(d, "interval value must be greater or equal to 2s");
	if (n > 1) {
		int ret = dur_arg(d, hfi_d_arg(d, st, 1), &j);
		if (ret != HF_EOK)
			return ret;
	}
	if (j != 0 && j < HFI_NS_PER_S)
		return hfi_d_plainf(d, "jitter value must be greater or equal to 1s");
	if (j > i / 2)
		j = i / 2;
	if (cfg->reload_interval_ms == 0) {
		cfg->reload_interval_ms = hfi_ns_to_ms(i);
		cfg->reload_jitter_ms = hfi_ns_to_ms(j);
	}
	return hfi_block_add_plugin(d, at, NULL);
}

/* ---------------------------------------------------------------- bind */

/* listIP: IPs as written, interface names expanded to their addresses. */
static int list_ip(hfi_disp_t *d, size_t st, size_t n, hfi_strv_t *out)
{
	for (size_t i = 0; i < n; i++) {
		const char *a = hfi_d_arg(d, st, i);
		bool iface = false;
		struct ifaddrs *ifs = NULL;
		if (a[0] != '\0' && getifaddrs(&ifs) == 0) {
			for (struct ifaddrs *f = ifs; f != NULL; f = f->ifa_next) {
				if (f->ifa_name == NULL || strcmp(f->ifa_name, a) != 0)
					continue;
				iface = true;
				if (f->ifa_addr == NULL)
					continue;
				char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
				if (f->ifa_addr->sa_family == AF_INET) {
					struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)f->ifa_addr;
					inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
				} else if (f->ifa_addr->sa_family == AF_INET6) {
					struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)f->ifa_addr;
					inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
					if (IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr) ||
					    IN6_IS_ADDR_MC_LINKLOCAL(&s6->sin6_addr)) {
						size_t l = strlen(buf);
						hfi_cf_fmt(buf + l, sizeof(buf) - l, "%%%s", a);
					}
				} else {
					continue;
				}
				if (hfi_strv_push(MM(d), out, buf) != HF_EOK) {
					freeifaddrs(ifs);
					return hfi_d_oom(d);
				}
			}
			freeifaddrs(ifs);
		}
		if (iface)
			continue;
		uint8_t ip[16];
		bool v4;
		if (!hfi_cf_ip_parse(a, ip, &v4)) {
			char q[300];
			hfi_go_quote(a, q, sizeof(q));
			return hfi_d_plainf(d, "not a valid IP address or interface name: %s", q);
		}
		if (hfi_strv_push(MM(d), out, a) != HF_EOK)
			return hfi_d_oom(d);
	}
	return HF_EOK;
}

int hfi_setup_bind(hfi_disp_t *d)
{
	hfi_block_t *b = d->blk;
	const hfi_token_t *at = NULL;
	int ret = HF_EOK;
	while (hfi_d_next(d)) {
		if (at == NULL)
			at = hfi_d_tok(d);
		size_t ast, an = hfi_d_remaining(d, &ast), est = 0, en = 0;
		if (an == 0)
			return hfi_d_plainf(d, "at least one address or interface name is expected");
		while (hfi_d_next_block(d)) {
			if (strcmp(hfi_d_val(d), "except") != 0) {
				char q[300];
				hfi_go_quote(hfi_d_val(d), q, sizeof(q));
				return hfi_d_plainf(d, "invalid option %s", q);
			}
			en = hfi_d_remaining(d, &est);
			if (en == 0)
				return hfi_d_plainf(d,
						    "at least one address or interface must be given to except subdirective");
		}
		hfi_strv_t ips = {0}, ex = {0};
		ret = list_ip(d, ast, an, &ips);
		if (ret == HF_EOK)
			ret = list_ip(d, est, en, &ex);
		hfi_strv_sort(&ex);
		for (size_t i = 0; ret == HF_EOK && i < ips.n; i++)
			if (!hfi_strv_sorted_has(&ex, ips.v[i]) &&
			    hfi_strv_push(MM(d), &b->bind, ips.v[i]) != HF_EOK)
				ret = hfi_d_oom(d);
		hfi_strv_free(MM(d), &ips);
		hfi_strv_free(MM(d), &ex);
		if (ret != HF_EOK)
			return ret;
	}
	return hfi_block_add_plugin(d, at, NULL);
}

/* --------------------------------------------------------------- debug */

int hfi_setup_debug(hfi_disp_t *d)
{
	const hfi_token_t *at = NULL;
	while (hfi_d_next(d)) {
		if (at == NULL)
			at = hfi_d_tok(d);
		if (hfi_d_next_arg(d))
			return hfi_d_argerr(d);
	}
	return hfi_block_add_plugin(d, at, NULL);
}

/* ----------------------------------------------- health, ready, metrics */

static int check_addr(hfi_disp_t *d, const char *addr)
{
	size_t hs, hl, ps;
	char msg[600];
	if (!hfi_go_split_host_port(addr, &hs, &hl, &ps, msg, sizeof(msg)))
		return hfi_d_plainf(d, "%s", msg);
	return HF_EOK;
}

/* One process-wide address: the first block sets it, others must agree. */
static int set_global_addr(hfi_disp_t *d, char **slot, const char *addr)
{
	if (*slot != NULL && strcmp(*slot, addr) != 0)
		return hfi_d_errf(d, "holdfast serves one %s address; '%s' differs from '%s' set earlier",
				  d->plugin, addr, *slot);
	if (*slot == NULL && hfi_str_set(MM(d), slot, addr) != HF_EOK)
		return hfi_d_oom(d);
	return HF_EOK;
}

/* The optional one address argument: checked and stored in *addr (left
 * alone when there is none). */
static int opt_addr(hfi_disp_t *d, const char **addr)
{
	size_t st, n = hfi_d_remaining(d, &st);
	if (n > 1)
		return hfi_d_argerr(d);
	if (n == 1) {
		*addr = hfi_d_arg(d, st, 0);
		return check_addr(d, *addr);
	}
	return HF_EOK;
}

/* A block line "key VALUE": its one value in *val. */
static int block_opt(hfi_disp_t *d, const char *key, const char **val)
{
	if (strcmp(hfi_d_val(d), key) != 0)
		return hfi_d_argerr(d);
	size_t st, n = hfi_d_remaining(d, &st);
	if (n != 1)
		return hfi_d_argerr(d);
	*val = hfi_d_arg(d, st, 0);
	return HF_EOK;
}

int hfi_setup_health(hfi_disp_t *d)
{
	hfi_config_t *cfg = d->ld->cfg;
	const hfi_token_t *at = NULL;
	const char *addr = "";
	int64_t lame = 0;
	while (hfi_d_next(d)) {
		if (at == NULL)
			at = hfi_d_tok(d);
		int ret = opt_addr(d, &addr);
		if (ret != HF_EOK)
			return ret;
		while (hfi_d_next_block(d)) {
			const char *a;
			ret = block_opt(d, "lameduck", &a);
			if (ret != HF_EOK)
				return ret;
			char msg[600];
			if (!hfi_go_duration(a, &lame, msg, sizeof(msg)))
				return hfi_d_plainf(d, "unable to parse lameduck duration value: '%s' : %s",
						    a, msg);
		}
	}
	int ret = set_global_addr(d, &cfg->health_addr, addr[0] ? addr : ":8080");
	if (ret != HF_EOK)
		return ret;
	if (lame > 0 && cfg->health_lameduck_ms == 0)
		cfg->health_lameduck_ms = hfi_ns_to_ms(lame);
	return hfi_block_add_plugin(d, at, NULL);
}

int hfi_setup_ready(hfi_disp_t *d)
{
	hfi_config_t *cfg = d->ld->cfg;
	const hfi_token_t *at = NULL;
	const char *addr = ":8181";
	bool cont = false;
	int i = 0;
	while (hfi_d_next(d)) {
		if (i++ > 0)
			return hfi_d_plainf(d, ERR_ONCE);
		at = hfi_d_tok(d);
		int ret = opt_addr(d, &addr);
		if (ret != HF_EOK)
			return ret;
		while (hfi_d_next_block(d)) {
			const char *m;
			ret = block_opt(d, "monitor", &m);
			if (ret != HF_EOK)
				return ret;
			if (strcmp(m, "until-ready") == 0)
				cont = false;
			else if (strcmp(m, "continuously") == 0)
				cont = true;
			else
				return hfi_d_errf(d, "monitor type '%s' not supported", m);
		}
	}
	int ret = set_global_addr(d, &cfg->ready_addr, addr);
	if (ret != HF_EOK)
		return ret;
	cfg->ready_continuously |= cont;
	return hfi_block_add_plugin(d, at, NULL);
}

int hfi_setup_prometheus(hfi_disp_t *d)
{
	hfi_config_t *cfg = d->ld->cfg;
	const hfi_token_t *at = NULL;
	const char *addr = "localhost:9153";
	int i = 0;
	while (hfi_d_next(d)) {
		if (i++ > 0)
			return hfi_d_plainf(d, ERR_ONCE);
		at = hfi_d_tok(d);
		int ret = opt_addr(d, &addr);
		if (ret != HF_EOK)
			return ret;
	}
	int ret = set_global_addr(d, &cfg->metrics_addr, addr);
	if (ret != HF_EOK)
		return ret;
	return hfi_block_add_plugin(d, at, NULL);
}

/* -------------------------------------------------------------- errors */

void hfi_free_errors(const hf_mm_t *mm, void *p)
{
	hfi_cfg_errors_t *c = p;
	for (size_t i = 0; i < c->nconsolidate; i++)
		hfi_mm_free(mm, c->consolidate[i].regexp);
	hfi_mm_free(mm, c->consolidate);
	hfi_mm_free(mm, c);
}

static int errors_consolidate(hfi_disp_t *d, hfi_cfg_errors_t *c)
{
	size_t st, n = hfi_d_remaining(d, &st);
	if (n < 2 || n > 4)
		return hfi_d_argerr(d);
	int64_t ns;
	char msg[600];
	if (!hfi_go_duration(hfi_d_arg(d, st, 0), &ns, msg, sizeof(msg)))
		return hfi_d_errf(d, "%s", msg);
	const char *re = hfi_d_arg(d, st, 1);
	if (strlen(re) > 10000)
		return hfi_d_errf(d, "regex pattern too long: %zu > %d", strlen(re), 10000);
	int level = HFI_LOG_ERROR;
	bool show_first = false;
	for (size_t i = 2; i < n; i++) {
		const char *a = hfi_d_arg(d, st, i);
		if (strcmp(a, "show_first") == 0)
			show_first = true;
		else if (strcmp(a, "warning") == 0)
			level = HFI_LOG_WARNING;
		else if (strcmp(a, "error") == 0)
			level = HFI_LOG_ERROR;
		else if (strcmp(a, "info") == 0)
			level = HFI_LOG_INFO;
		else if (strcmp(a, "debug") == 0)
			level = HFI_LOG_DEBUG;
		else
			return hfi_d_errf(d, "unknown log level argument in consolidate: %s", a);
	}
	void *np = c->consolidate;
	if (hfi_arr_push(MM(d), &np, c->nconsolidate, sizeof(hfi_cfg_errors_pattern_t)) != HF_EOK)
		return hfi_d_oom(d);
	c->consolidate = np;
	hfi_cfg_errors_pattern_t *p = &c->consolidate[c->nconsolidate];
	p->regexp = hfi_mm_strdup(MM(d), re);
	if (p->regexp == NULL)
		return hfi_d_oom(d);
	p->duration_ms = hfi_ns_to_ms(ns);
	p->level = level;
	p->show_first = show_first;
	c->nconsolidate++;
	return HF_EOK;
}

int hfi_setup_errors(hfi_disp_t *d)
{
	hfi_cfg_errors_t *c = hfi_mm_calloc(MM(d), 1, sizeof(*c));
	if (c == NULL)
		return hfi_d_oom(d);
	const hfi_token_t *at = NULL;
	int i = 0, ret = HF_EOK;
	while (ret == HF_EOK && hfi_d_next(d)) {
		if (i++ > 0) {
			ret = hfi_d_plainf(d, ERR_ONCE);
			break;
		}
		at = hfi_d_tok(d);
		size_t st, n = hfi_d_remaining(d, &st);
		if (n == 1 && strcmp(hfi_d_arg(d, st, 0), "stdout") != 0)
			ret = hfi_d_errf(d, "invalid log file: %s", hfi_d_arg(d, st, 0));
		else if (n > 1)
			ret = hfi_d_argerr(d);
		while (ret == HF_EOK && hfi_d_next_block(d)) {
			const char *v = hfi_d_val(d);
			if (strcmp(v, "stacktrace") == 0) {
				c->stacktrace = true;
			} else if (strcmp(v, "consolidate") == 0) {
				ret = errors_consolidate(d, c);
			} else {
				char e[600];
				hfi_cf_fmt(e, sizeof(e), "Unknown field %s", v);
				ret = hfi_d_syntax(d, e);
			}
		}
	}
	if (ret != HF_EOK) {
		hfi_free_errors(MM(d), c);
		return ret;
	}
	return hfi_block_add_plugin(d, at, c);
}

/* ----------------------------------------------------------------- log */

#define LOG_COMMON "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} {>rflags} {rsize} {duration}"

void hfi_free_log(const hf_mm_t *mm, void *p)
{
	hfi_cfg_log_t *c = p;
	for (size_t i = 0; i < c->nrules; i++) {
		hfi_mm_free(mm, c->rules[i].name);
		hfi_mm_free(mm, c->rules[i].format);
	}
	hfi_mm_free(mm, c->rules);
	hfi_mm_free(mm, c);
}

static int log_rule(hfi_disp_t *d, hfi_cfg_log_t *c, const char *name, const char *fmt)
{
	void *nr = c->rules;
	if (hfi_arr_push(MM(d), &nr, c->nrules, sizeof(hfi_cfg_log_rule_t)) != HF_EOK)
		return hfi_d_oom(d);
	c->rules = nr;
	hfi_cfg_log_rule_t *r = &c->rules[c->nrules];
	memset(r, 0, sizeof(*r));
	size_t l = strlen(name);
	r->name = hfi_mm_alloc(MM(d), l + 2);
	r->format = hfi_mm_strdup(MM(d), fmt);
	if (r->name == NULL || r->format == NULL) {
		hfi_mm_free(MM(d), r->name);
		hfi_mm_free(MM(d), r->format);
		return hfi_d_oom(d);
	}
	memcpy(r->name, name, l + 1);
	if (!hfi_is_fqdn(name)) {
		r->name[l] = '.';
		r->name[l + 1] = '\0';
	}
	r->classes = HFI_LOG_CLASS_ALL;
	c->nrules++;
	return HF_EOK;
}

static int log_occurrence(hfi_disp_t *d, hfi_cfg_log_t *c)
{
	size_t st, n = hfi_d_remaining(d, &st), first = c->nrules;
	int ret = HF_EOK;
	if (n == 0) {
		ret = log_rule(d, c, ".", LOG_COMMON);
	} else if (n == 1) {
		ret = log_rule(d, c, hfi_d_arg(d, st, 0), LOG_COMMON);
	} else {
		const char *fmt = LOG_COMMON;
		const char *last = hfi_d_arg(d, st, n - 1);
		char *combined = NULL;
		if (strchr(last, '{') != NULL) {
			if (strcmp(last, "{common}") == 0) {
				fmt = LOG_COMMON;
			} else if (strcmp(last, "{combined}") == 0) {
				combined = hfi_mm_alloc(MM(d), sizeof(LOG_COMMON " \"{>opcode}\""));
				if (combined == NULL)
					return hfi_d_oom(d);
				memcpy(combined, LOG_COMMON " \"{>opcode}\"",
				       sizeof(LOG_COMMON " \"{>opcode}\""));
				fmt = combined;
			} else {
				fmt = last;
			}
			n--;
		}
		for (size_t i = 0; i < n && ret == HF_EOK; i++)
			ret = log_rule(d, c, hfi_d_arg(d, st, i), fmt);
		hfi_mm_free(MM(d), combined);
	}
	if (ret != HF_EOK)
		return ret;
	unsigned classes = 0;
	while (hfi_d_next_block(d)) {
		if (strcmp(hfi_d_val(d), "class") != 0)
			return hfi_d_argerr(d);
		size_t cst, cn = hfi_d_remaining(d, &cst);
		if (cn == 0)
			return hfi_d_argerr(d);
		for (size_t i = 0; i < cn; i++) {
			const char *a = hfi_d_arg(d, cst, i);
			if (strcmp(a, "all") == 0)
				classes |= HFI_LOG_CLASS_ALL;
			else if (strcmp(a, "success") == 0)
				classes |= HFI_LOG_CLASS_SUCCESS;
			else if (strcmp(a, "denial") == 0)
				classes |= HFI_LOG_CLASS_DENIAL;
			else if (strcmp(a, "error") == 0)
				classes |= HFI_LOG_CLASS_ERROR;
			else
				return hfi_d_plainf(d, "invalid Class: %s", a);
		}
	}
	if (classes == 0)
		classes = HFI_LOG_CLASS_ALL;
	for (size_t i = first; i < c->nrules; i++)
		c->rules[i].classes = classes;
	return HF_EOK;
}

int hfi_setup_log(hfi_disp_t *d)
{
	hfi_cfg_log_t *c = hfi_mm_calloc(MM(d), 1, sizeof(*c));
	if (c == NULL)
		return hfi_d_oom(d);
	const hfi_token_t *at = NULL;
	while (hfi_d_next(d)) {
		if (at == NULL)
			at = hfi_d_tok(d);
		int ret = log_occurrence(d, c);
		if (ret != HF_EOK) {
			hfi_free_log(MM(d), c);
			return ret;
		}
	}
	return hfi_block_add_plugin(d, at, c);
}

/* ------------------------------------------------- any, whoami, loop */

static int no_args_plugin(hfi_disp_t *d, bool once)
{
	const hfi_token_t *at = NULL;
	int i = 0;
	while (hfi_d_next(d)) {
		if (once && i++ > 0)
			return hfi_d_plainf(d, ERR_ONCE);
		if (at == NULL)
			at = hfi_d_tok(d);
		if (hfi_d_next_arg(d))
			return hfi_d_argerr(d);
	}
	return hfi_block_add_plugin(d, at, NULL);
}

int hfi_setup_any(hfi_disp_t *d)
{
	return no_args_plugin(d, false);
}

int hfi_setup_whoami(hfi_disp_t *d)
{
	return no_args_plugin(d, false);
}

int hfi_setup_loop(hfi_disp_t *d)
{
	return no_args_plugin(d, true);
}

/* --------------------------------------------------------------- chaos */

void hfi_free_chaos(const hf_mm_t *mm, void *p)
{
	hfi_cfg_chaos_t *c = p;
	hfi_mm_free(mm, c->version);
	hfi_strv_free(mm, &c->authors);
	hfi_mm_free(mm, c);
}

int hfi_setup_chaos(hfi_disp_t *d)
{
	hfi_cfg_chaos_t *c = hfi_mm_calloc(MM(d), 1, sizeof(*c));
	if (c == NULL)
		return hfi_d_oom(d);
	hfi_d_next(d);
	const hfi_token_t *at = hfi_d_tok(d);
	size_t st, n = hfi_d_remaining(d, &st);
	int ret = HF_EOK;
	if (n >= 1 && hfi_str_set(MM(d), &c->version, hfi_d_arg(d, st, 0)) != HF_EOK)
		ret = HF_ENOMEM;
	if (c->version != NULL && strlen(c->version) > 255)
		c->version[255] = '\0';
	for (size_t i = 1; ret == HF_EOK && i < n; i++) {
		const char *a = hfi_d_arg(d, st, i);
		size_t l = strlen(a) > 255 ? 255 : strlen(a);
		if (hfi_strv_pushn(MM(d), &c->authors, a, l) != HF_EOK)
			ret = HF_ENOMEM;
	}
	if (ret == HF_EOK)
		ret = hfi_strv_dedup(MM(d), &c->authors);
	if (ret != HF_EOK) {
		hfi_free_chaos(MM(d), c);
		return hfi_d_oom(d);
	}
	hfi_strv_sort(&c->authors);
	return hfi_block_add_plugin(d, at, c);
}

/* --------------------------------------------------------- loadbalance */

void hfi_free_loadbalance(const hf_mm_t *mm, void *p)
{
	hfi_cfg_loadbalance_t *c = p;
	hfi_mm_free(mm, c->weight_file);
	hfi_strv_free(mm, &c->prefer);
	hfi_mm_free(mm, c);
}

static bool valid_cidr(const char *s)
{
	const char *slash = strchr(s, '/');
	char ip[64];
	if (slash == NULL || slash - s >= (long)sizeof(ip) || slash[1] == '\0')
		return false;
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = '\0';
	uint8_t b[16];
	bool v4;
	if (!hfi_cf_ip_parse(ip, b, &v4))
		return false;
	long bits = 0;
	for (const char *p = slash + 1; *p; p++) {
		if (*p < '0' || *p > '9' || bits > 128)
			return false;
		bits = bits * 10 + (*p - '0');
	}
	return bits <= (v4 ? 32 : 128);
}

static int lb_weighted(hfi_disp_t *d, hfi_cfg_loadbalance_t *c, size_t st, size_t n)
{
	if (n < 2)
		return hfi_d_errf(d, "missing weight file argument");
	if (n > 2)
		return hfi_d_errf(d, "unexpected argument(s)");
	c->policy = HFI_LB_WEIGHTED;
	if (hfi_str_set(MM(d), &c->weight_file, hfi_d_arg(d, st, 1)) != HF_EOK)
		return hfi_d_oom(d);
	while (hfi_d_next_block(d)) {
		const char *v = hfi_d_val(d);
		size_t ost, on = hfi_d_remaining(d, &ost);
		if (strcmp(v, "reload") == 0) {
			if (on < 1)
				return hfi_d_errf(d, "reload duration value is missing");
			if (on > 1)
				return hfi_d_errf(d, "unexpected argument");
			int64_t ns;
			if (!hfi_go_duration(hfi_d_arg(d, ost, 0), &ns, NULL, 0))
				return hfi_d_errf(d, "invalid reload duration '%s'",
						  hfi_d_arg(d, ost, 0));
			c->reload_ms = hfi_ns_to_ms(ns);
		} else if (strcmp(v, "prefer") == 0) {
			if (on < 1)
				return hfi_d_argerr(d);
			for (size_t i = 0; i < on; i++) {
				const char *a = hfi_d_arg(d, ost, i);
				if (!valid_cidr(a))
					return hfi_d_errf(d, "invalid CIDR in prefer: '%s'", a);
				if (hfi_strv_push(MM(d), &c->prefer, a) != HF_EOK)
					return hfi_d_oom(d);
			}
		} else {
			return hfi_d_errf(d, "unknown property '%s'", v);
		}
	}
	return HF_EOK;
}

int hfi_setup_loadbalance(hfi_disp_t *d)
{
	hfi_cfg_loadbalance_t *c = hfi_mm_calloc(MM(d), 1, sizeof(*c));
	if (c == NULL)
		return hfi_d_oom(d);
	c->reload_ms = 30000;
	int ret = HF_EOK;
	const hfi_token_t *at = NULL;
	if (hfi_d_next(d)) {
		at = hfi_d_tok(d);
		size_t st, n = hfi_d_remaining(d, &st);
		if (n > 0) {
			const char *p = hfi_d_arg(d, st, 0);
			if (strcmp(p, "round_robin") == 0) {
				if (n > 1)
					ret = hfi_d_errf(d, "unknown property for %s", p);
			} else if (strcmp(p, "weighted") == 0) {
				ret = lb_weighted(d, c, st, n);
			} else {
				ret = hfi_d_plainf(d, "unknown policy: %s", p);
			}
		}
	}
	if (ret != HF_EOK) {
		hfi_free_loadbalance(MM(d), c);
		return ret;
	}
	return hfi_block_add_plugin(d, at, c);
}

/* ------------------------------------------------------------ transfer */

void hfi_free_transfer(const hf_mm_t *mm, void *p)
{
	hfi_cfg_transfer_t *c = p;
	hfi_strv_free(mm, &c->zones);
	hfi_strv_free(mm, &c->to);
	hfi_mm_free(mm, c->source);
	hfi_mm_free(mm, c);
}

/* parse.HostPort(s, "53") */
static int host_port(hfi_disp_t *d, const char *s, hfi_strv_t *out)
{
	size_t hs, hl, ps;
	char host[300], buf[400];
	uint8_t ip[16];
	bool v4;
	if (!hfi_go_split_host_port(s, &hs, &hl, &ps, NULL, 0)) {
		if (!hfi_cf_ip_parse(s, ip, &v4))
			return hfi_d_plainf(d, "must specify an IP address: `%s`", s);
		hfi_cf_fmt(buf, sizeof(buf), strchr(s, ':') ? "[%s]:53" : "%s:53", s);
	} else {
		if (hl >= sizeof(host))
			return hfi_d_plainf(d, "must specify an IP address: `%.*s`", (int)hl, s + hs);
		memcpy(host, s + hs, hl);
		host[hl] = '\0';
		if (!hfi_cf_ip_parse(host, ip, &v4))
			return hfi_d_plainf(d, "must specify an IP address: `%s`", host);
		const char *port = s[ps] ? s + ps : "53";
		hfi_cf_fmt(buf, sizeof(buf), strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
	}
	if (hfi_strv_push(MM(d), out, buf) != HF_EOK)
		return hfi_d_oom(d);
	return HF_EOK;
}

int hfi_setup_transfer(hfi_disp_t *d)
{
	hfi_cfg_transfer_t *c = hfi_mm_calloc(MM(d), 1, sizeof(*c));
	if (c == NULL)
		return hfi_d_oom(d);
	const hfi_token_t *at = NULL;
	int ret = HF_EOK;
	while (ret == HF_EOK && hfi_d_next(d)) {
		if (at == NULL)
			at = hfi_d_tok(d);
		size_t st, n = hfi_d_remaining(d, &st), before = c->to.n;
		ret = hfi_d_origins(d, st, n, &c->zones);
		while (ret == HF_EOK && hfi_d_next_block(d)) {
			const char *v = hfi_d_val(d);
			size_t ost, on = hfi_d_remaining(d, &ost);
			if (strcmp(v, "to") == 0) {
				if (on == 0) {
					ret = hfi_d_argerr(d);
					break;
				}
				for (size_t i = 0; ret == HF_EOK && i < on; i++) {
					const char *h = hfi_d_arg(d, ost, i);
					if (strcmp(h, "*") == 0)
						ret = hfi_strv_push(MM(d), &c->to, "*") == HF_EOK
							      ? HF_EOK : hfi_d_oom(d);
					else
						ret = host_port(d, h, &c->to);
				}
			} else if (strcmp(v, "source") == 0) {
				if (on != 1) {
					ret = hfi_d_argerr(d);
					break;
				}
				uint8_t ip[16];
				bool v4;
				if (!hfi_cf_ip_parse(hfi_d_arg(d, ost, 0), ip, &v4))
					ret = hfi_d_plainf(d, "must specify an IP address: `%s`",
							   hfi_d_arg(d, ost, 0));
				else if (hfi_str_set(MM(d), &c->source, hfi_d_arg(d, ost, 0)) != HF_EOK)
					ret = hfi_d_oom(d);
			} else {
				d->wrap = 2;
				ret = hfi_d_errf(d, "unknown property '%s'", v);
			}
		}
		if (ret == HF_EOK && c->to.n == before) {
			d->wrap = 2;
			ret = hfi_d_errf(d, "'to' is required");
		}
	}
	if (ret != HF_EOK) {
		hfi_free_transfer(MM(d), c);
		return ret;
	}
	return hfi_block_add_plugin(d, at, c);
}

/* --------------------------------------------------------- fallthrough */

/* fall.SetZonesFromArgs: no zones = all (left empty). */
static int fallthrough_zones(hfi_disp_t *d, size_t st, size_t n, hfi_strv_t *out)
{
	hfi_strv_free(MM(d), out);
	for (size_t i = 0; i < n; i++) {
		int r = hfi_normalize_exact(MM(d), hfi_d_arg(d, st, i), out);
		if (r < 0)
			return hfi_d_oom(d);
		if (r == 0)
			return hfi_d_errf(d, "invalid fallthrough zone '%s'", hfi_d_arg(d, st, i));
	}
	return HF_EOK;
}

/* --------------------------------------------------------------- hosts */

void hfi_free_hosts(const hf_mm_t *mm, void *p)
{
	hfi_cfg_hosts_t *c = p;
	hfi_mm_free(mm, c->path);
	hfi_strv_free(mm, &c->zones);
	hfi_strv_free(mm, &c->inline_lines);
	hfi_strv_free(mm, &c->fallthrough_zones);
	hfi_mm_free(mm, c);
}

static int hosts_option(hfi_disp_t *d, hfi_cfg_hosts_t *c)
{
	const char *v = hfi_d_val(d);
	size_t st, n;
	if (strcmp(v, "fallthrough") == 0) {
		n = hfi_d_remaining(d, &st);
		c->fallthrough = true;
		return fallthrough_zones(d, st, n, &c->fallthrough_zones);
	}
	if (strcmp(v, "fallthrough_unsupported") == 0) {
		if (hfi_d_remaining(d, &st) != 0)
			return hfi_d_argerr(d);
		c->fallthrough_unsupported = true;
		return HF_EOK;
	}
	if (strcmp(v, "no_reverse") == 0) {
		if (hfi_d_remaining(d, &st) != 0)
			return hfi_d_argerr(d);
		c->no_reverse = true;
		return HF_EOK;
	}
	if (strcmp(v, "ttl") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n < 1)
			return hfi_d_errf(d, "ttl needs a time in second");
		long long ttl;
		if (!hfi_go_atoi(hfi_d_arg(d, st, 0), &ttl, NULL, 0))
			return hfi_d_errf(d, "ttl needs a number of second");
		if (ttl <= 0 || ttl > 65535)
			return hfi_d_errf(d, "ttl provided is invalid");
		c->ttl = (uint32_t)ttl;
		return HF_EOK;
	}
	if (strcmp(v, "reload") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n != 1)
			return hfi_d_errf(d, "reload needs a duration (zero seconds to disable)");
		int64_t ns;
		const char *a = hfi_d_arg(d, st, 0);
		if (!hfi_go_duration(a, &ns, NULL, 0))
			return hfi_d_errf(d, "invalid duration for reload '%s'", a);
		if (ns < 0)
			return hfi_d_errf(d, "invalid negative duration for reload '%s'", a);
		c->reload_ms = hfi_ns_to_ms(ns);
		return HF_EOK;
	}
	/* an inline "IP NAME..." line */
	const hfi_token_t *t = hfi_d_tok(d);
	n = hfi_d_remaining(d, &st);
	uint8_t ip[16];
	bool v4;
	char addr[128];
	const char *pct = strchr(v, '%');
	size_t al = pct ? (size_t)(pct - v) : strlen(v);
	if (al >= sizeof(addr))
		al = sizeof(addr) - 1;
	memcpy(addr, v, al);
	addr[al] = '\0';
	if (!hfi_cf_ip_parse(addr, ip, &v4) || n == 0) {
		d->cursor = (long)st - 1;
		return hfi_d_errf(d, "unknown property '%s' (not an inline \"IP NAME...\" entry)", v);
	}
	(void)t;
	size_t l = strlen(v) + 1;
	for (size_t i = 0; i < n; i++)
		l += strlen(hfi_d_arg(d, st, i)) + 1;
	char *line = hfi_mm_alloc(MM(d), l);
	if (line == NULL)
		return hfi_d_oom(d);
	size_t w = strlen(v);
	memcpy(line, v, w);
	for (size_t i = 0; i < n; i++) {
		const char *a = hfi_d_arg(d, st, i);
		line[w++] = ' ';
		memcpy(line + w, a, strlen(a));
		w += strlen(a);
	}
	line[w] = '\0';
	int ret = hfi_strv_push(MM(d), &c->inline_lines, line);
	hfi_mm_free(MM(d), line);
	return ret == HF_EOK ? HF_EOK : hfi_d_oom(d);
}

int hfi_setup_hosts(hfi_disp_t *d)
{
	hfi_cfg_hosts_t *c = hfi_mm_calloc(MM(d), 1, sizeof(*c));
	if (c == NULL)
		return hfi_d_oom(d);
	c->ttl = 3600;
	c->reload_ms = 5000;
	int ret = hfi_str_set(MM(d), &c->path, "/etc/hosts") == HF_EOK ? HF_EOK : hfi_d_oom(d);
	const hfi_token_t *at = NULL;
	int i = 0;
	while (ret == HF_EOK && hfi_d_next(d)) {
		if (i++ > 0) {
			ret = hfi_d_plainf(d, ERR_ONCE);
			break;
		}
		at = hfi_d_tok(d);
		size_t st, n = hfi_d_remaining(d, &st);
		if (n >= 1) {
			const char *path = hfi_d_arg(d, st, 0);
			if (hfi_str_set(MM(d), &c->path, path) != HF_EOK) {
				ret = hfi_d_oom(d);
				break;
			}
			struct stat sb;
			if (stat(path, &sb) != 0)
				hfi_log(HFI_LOG_WARNING, "hosts", "File does not exist: %s", path);
			else if (S_ISDIR(sb.st_mode))
				hfi_log(HFI_LOG_WARNING, "hosts", "Hosts file \"%s\" is a directory", path);
			st++;
			n--;
		}
		ret = hfi_d_origins(d, st, n, &c->zones);
		while (ret == HF_EOK && hfi_d_next_block(d))
			ret = hosts_option(d, c);
	}
	if (ret != HF_EOK) {
		hfi_free_hosts(MM(d), c);
		return ret;
	}
	return hfi_block_add_plugin(d, at, c);
}

/* ---------------------------------------------------------------- file */

void hfi_free_file(const hf_mm_t *mm, void *p)
{
	hfi_cfg_file_t *c = p;
	hfi_mm_free(mm, c->path);
	hfi_strv_free(mm, &c->zones);
	hfi_strv_free(mm, &c->fallthrough_zones);
	hfi_mm_free(mm, c);
}

static int file_occurrence(hfi_disp_t *d, hfi_cfg_file_t *c)
{
	if (!hfi_d_next_arg(d))
		return hfi_d_argerr(d);
	if (hfi_str_set(MM(d), &c->path, hfi_d_val(d)) != HF_EOK)
		return hfi_d_oom(d);
	size_t st, n = hfi_d_remaining(d, &st);
	int ret = hfi_d_origins(d, st, n, &c->zones);
	if (ret != HF_EOK)
		return ret;
	while (hfi_d_next_block(d)) {
		const char *v = hfi_d_val(d);
		if (strcmp(v, "fallthrough") == 0) {
			n = hfi_d_remaining(d, &st);
			c->fallthrough = true;
			ret = fallthrough_zones(d, st, n, &c->fallthrough_zones);
			if (ret != HF_EOK)
				return ret;
		} else if (strcmp(v, "reload") == 0) {
			n = hfi_d_remaining(d, &st);
			if (n < 1)
				return hfi_d_plainf(d, "reload duration value is expected");
			int64_t ns;
			char msg[600];
			if (!hfi_go_duration(hfi_d_arg(d, st, 0), &ns, msg, sizeof(msg))) {
				d->wrap = 2;
				return hfi_d_plainf(d, "%s", msg);
			}
			c->reload_ms = hfi_ns_to_ms(ns);
		} else if (strcmp(v, "reload_by_mtime") == 0) {
			if (hfi_d_remaining(d, &st) != 0)
				return hfi_d_argerr(d);
			c->reload_by_mtime = true;
		} else {
			return hfi_d_errf(d, "unknown property '%s'", v);
		}
	}
	if (c->reload_ms == 0) {
		struct stat sb;
		if (stat(c->path, &sb) != 0) {
			d->wrap = 2;
			return hfi_d_plainf(d, "open %s: no such file or directory", c->path);
		}
	}
	return HF_EOK;
}

int hfi_setup_file(hfi_disp_t *d)
{
	while (hfi_d_next(d)) {
		const hfi_token_t *at = hfi_d_tok(d);
		hfi_cfg_file_t *c = hfi_mm_calloc(MM(d), 1, sizeof(*c));
		if (c == NULL)
			return hfi_d_oom(d);
		c->reload_ms = 60000;
		int ret = file_occurrence(d, c);
		if (ret != HF_EOK) {
			hfi_free_file(MM(d), c);
			return ret;
		}
		ret = hfi_block_add_plugin(d, at, c);
		if (ret != HF_EOK)
			return ret;
	}
	return HF_EOK;
}

/* --------------------------------------------- holdfast: memory, breakglass */

/* SIZE: bytes, or a number with K/M/G/T (optionally Ki/Mi/..., KB/MB/...). */
static bool parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	int shift = 0;
	switch (*p) {
	case '\0': break;
	case 'k': case 'K': shift = 10; p++; break;
	case 'm': case 'M': shift = 20; p++; break;
	case 'g': case 'G': shift = 30; p++; break;
	case 't': case 'T': shift = 40; p++; break;
	default: return false;
	}
	if (shift && *p == 'i')
		p++;
	if (*p == 'B' || *p == 'b')
		p++;
	if (*p != '\0')
		return false;
	if (shift && v > (UINT64_MAX >> shift))
		return false;
	*out = v << shift;
	return *out > 0;
}

int hfi_setup_memory(hfi_disp_t *d)
{
	hfi_config_t *cfg = d->ld->cfg;
	int i = 0;
	uint64_t size = 0;
	while (hfi_d_next(d)) {
		if (i++ > 0)
			return hfi_d_plainf(d, ERR_ONCE);
		size_t st, n = hfi_d_remaining(d, &st);
		if (n != 1 || hfi_d_next_block(d))
			return hfi_d_argerr(d);
		if (!parse_size(hfi_d_arg(d, st, 0), &size))
			return hfi_d_errf(d, "invalid memory size '%s' (bytes, or a number with K, M, G or T)",
					  hfi_d_arg(d, st, 0));
	}
	if (cfg->memory_bytes != 0 && cfg->memory_bytes != size)
		return hfi_d_errf(d, "memory is set twice with different sizes");
	cfg->memory_bytes = size;
	return HF_EOK;
}

/* breakglass [ADDR] { token_file FILE; allow CIDR... } (issue 7): the
 * admin port.  ADDR defaults to 127.0.0.1:9154; without `allow` only
 * loopback clients may connect; the shim refuses to start without a
 * token_file.  Process-wide: every block that has it must agree. */
int hfi_setup_breakglass(hfi_disp_t *d)
{
	hfi_config_t *cfg = d->ld->cfg;
	int i = 0;
	const char *addr = "127.0.0.1:9154";
	char token[sizeof(cfg->breakglass_token_file)] = "";
	size_t nallow = 0;
	hfi_cidr_t allow[HFI_BREAKGLASS_ALLOW_MAX];
	memset(allow, 0, sizeof(allow));
	bool seen = false;
	while (hfi_d_next(d)) {
		if (i++ > 0)
			return hfi_d_plainf(d, ERR_ONCE);
		seen = true;
		size_t st, n = hfi_d_remaining(d, &st);
		if (n > 1)
			return hfi_d_argerr(d);
		if (n == 1) {
			addr = hfi_d_arg(d, st, 0);
			int ret = check_addr(d, addr);
			if (ret != HF_EOK)
				return ret;
		}
		while (hfi_d_next_block(d)) {
			const char *opt = hfi_d_val(d);
			if (strcmp(opt, "token_file") == 0) {
				n = hfi_d_remaining(d, &st);
				if (n != 1)
					return hfi_d_argerr(d);
				if (token[0] != '\0')
					return hfi_d_errf(d, "token_file is set twice");
				char *p = hfi_d_path(d, hfi_d_arg(d, st, 0));
				if (p == NULL)
					return hfi_d_oom(d);
				size_t pl = strlen(p);
				if (pl >= sizeof(token)) {
					hfi_mm_free(MM(d), p);
					return hfi_d_errf(d, "token_file path is too long");
				}
				memcpy(token, p, pl + 1);
				hfi_mm_free(MM(d), p);
			} else if (strcmp(opt, "allow") == 0) {
				n = hfi_d_remaining(d, &st);
				if (n == 0)
					return hfi_d_argerr(d);
				for (size_t k = 0; k < n; k++) {
					const char *a = hfi_d_arg(d, st, k);
					if (nallow == HFI_BREAKGLASS_ALLOW_MAX)
						return hfi_d_errf(d, "too many allow entries (at most %d)",
								  HFI_BREAKGLASS_ALLOW_MAX);
					if (!hfi_admin_cidr(a, &allow[nallow].family, &allow[nallow].prefix,
							    allow[nallow].addr))
						return hfi_d_errf(d, "allow: invalid CIDR or address '%s'", a);
					nallow++;
				}
			} else {
				return hfi_d_errf(d, "unknown property '%s'", opt);
			}
		}
	}
	if (!seen)
		return HF_EOK;
	if (cfg->breakglass_addr != NULL &&
	    (strcmp(cfg->breakglass_token_file, token) != 0 || cfg->breakglass_nallow != nallow ||
	     memcmp(cfg->breakglass_allow, allow, nallow * sizeof(allow[0])) != 0))
		return hfi_d_errf(d, "holdfast serves one breakglass port; its token_file and allow "
				  "differ from the ones set earlier");
	int ret = set_global_addr(d, &cfg->breakglass_addr, addr);
	if (ret != HF_EOK)
		return ret;
	memcpy(cfg->breakglass_token_file, token, sizeof(token));
	cfg->breakglass_nallow = nallow;
	memcpy(cfg->breakglass_allow, allow, sizeof(allow));
	return HF_EOK;
}
