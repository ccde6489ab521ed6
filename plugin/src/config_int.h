/*
 * config_int.h: private interface of the config loader (config_*.c): the
 * load context, a port of Caddy's Dispenser used by every plugin setup
 * (so arguments, blocks and error texts behave exactly as in CoreDNS), Go
 * value parsers (strconv, time.ParseDuration, net.SplitHostPort) with Go's
 * error texts, and string-vector helpers.
 */
#ifndef HF_CONFIG_INT_H
#define HF_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "corefile.h"
#include "corefile_lex.h"

typedef struct hfi_load {
	hfi_config_t *cfg;
	const hf_mm_t *mm;         /* &cfg->mm */
	char *err;
	size_t errlen;
	int default_port;
	const char *main_file;     /* name as given */
	const char *base_dir;      /* absolute directory of the main Corefile */
} hfi_load_t;

/* Caddy's Dispenser over the tokens of one directive in one block. */
typedef struct hfi_disp {
	hfi_token_t **tok;
	size_t n;
	long cursor;               /* -1 before the first Next() */
	int nesting;
	const char *plugin;        /* "plugin/NAME: " prefix */
	int wrap;                  /* times CoreDNS wraps with plugin.Error (0..2) */
	hfi_load_t *ld;
	hfi_block_t *blk;
} hfi_disp_t;

bool hfi_d_next(hfi_disp_t *d);
bool hfi_d_next_arg(hfi_disp_t *d);
bool hfi_d_next_block(hfi_disp_t *d);
const char *hfi_d_val(const hfi_disp_t *d);
const hfi_token_t *hfi_d_tok(const hfi_disp_t *d);
/* RemainingArgs(): count; the args are hfi_d_arg(d, start, i). */
size_t hfi_d_remaining(hfi_disp_t *d, size_t *start);
const char *hfi_d_arg(const hfi_disp_t *d, size_t start, size_t i);
/* Join args[start..start+n) with sep into a new string (NULL on OOM). */
char *hfi_d_join(const hfi_disp_t *d, size_t start, size_t n, const char *sep);

/* Errors; all write ld->err and return HF_ECONFIG (or HF_ENOMEM). */
int hfi_d_argerr(hfi_disp_t *d);
int hfi_d_errf(hfi_disp_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hfi_d_plainf(hfi_disp_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hfi_d_syntax(hfi_disp_t *d, const char *expected);
int hfi_d_oom(hfi_disp_t *d);
/* Holdfast-only error (CoreDNS has no wording): generic located shape. */
#define hfi_d_hferr hfi_d_errf

/* Block-key zones for defaults (OriginsFromArgsOrServerBlock). */
int hfi_d_origins(hfi_disp_t *d, size_t start, size_t n, hfi_strv_t *out);
/* Resolve a path relative to the directory of the current token's file. */
char *hfi_d_path(hfi_disp_t *d, const char *path);

/* Register the plugin instance cfg in block b at token at (ownership of
 * cfg moves, freed on failure). */
int hfi_block_add_plugin(hfi_disp_t *d, const hfi_token_t *at, void *cfg);

/* ---- Go value parsers; false + Go's error text in msg ---- */
bool hfi_go_atoi(const char *s, long long *out, char *msg, size_t len);
bool hfi_go_parse_uint(const char *s, int bits, unsigned long long *out, char *msg, size_t len);
bool hfi_go_parse_float(const char *s, double *out, char *msg, size_t len);
bool hfi_go_duration(const char *s, int64_t *ns, char *msg, size_t len);
/* time.Duration.String() */
void hfi_go_duration_str(int64_t ns, char *buf, size_t len);
/* strconv.Quote (ASCII subset, others as \xNN) */
void hfi_go_quote(const char *s, char *buf, size_t len);
/* net.SplitHostPort; offsets into s; false + AddrError text */
bool hfi_go_split_host_port(const char *s, size_t *hs, size_t *hl, size_t *ps,
			    char *msg, size_t len);
/* net.ParseIP (no zone); out 16 bytes, *v4 true for dotted quads */
bool hfi_cf_ip_parse(const char *s, uint8_t out[16], bool *v4);

#define HFI_NS_PER_MS 1000000LL
#define HFI_NS_PER_S 1000000000LL
/* ns -> ms / s, clamped to uint32 (negative -> 0) */
uint32_t hfi_ns_to_ms(int64_t ns);
uint32_t hfi_ns_to_s(int64_t ns);

/* ---- growable arrays and string vectors ----
 * Arrays built here keep a power-of-two capacity implied by their count:
 * call hfi_arr_push(mm, &arr, n, elsz) before storing element n. */
int hfi_arr_push(const hf_mm_t *mm, void **arr, size_t n, size_t elsz);
/* remove later duplicates, keep first occurrences in order (O(n log n)) */
int hfi_strv_dedup(const hf_mm_t *mm, hfi_strv_t *v);
void hfi_strv_sort(hfi_strv_t *v);
bool hfi_strv_sorted_has(const hfi_strv_t *v, const char *s);

int hfi_strv_push(const hf_mm_t *mm, hfi_strv_t *v, const char *s);
int hfi_strv_pushn(const hf_mm_t *mm, hfi_strv_t *v, const char *s, size_t n);
void hfi_strv_free(const hf_mm_t *mm, hfi_strv_t *v);
bool hfi_strv_has(const hfi_strv_t *v, const char *s);
int hfi_strv_copy(const hf_mm_t *mm, hfi_strv_t *dst, const hfi_strv_t *src);
/* replace *dst by a new copy of s (NULL allowed) */
int hfi_str_set(const hf_mm_t *mm, char **dst, const char *s);

/* ---- plugin setups (config_*.c) ---- */
typedef int (*hfi_setup_fn)(hfi_disp_t *d);
typedef void (*hfi_free_fn)(const hf_mm_t *mm, void *cfg);

int hfi_setup_kubernetes(hfi_disp_t *d);
void hfi_free_kubernetes(const hf_mm_t *mm, void *cfg);
int hfi_setup_forward(hfi_disp_t *d);
void hfi_free_forward(const hf_mm_t *mm, void *cfg);
int hfi_setup_cache(hfi_disp_t *d);
void hfi_free_cache(const hf_mm_t *mm, void *cfg);

int hfi_setup_timeouts(hfi_disp_t *d);
int hfi_setup_reload(hfi_disp_t *d);
int hfi_setup_bind(hfi_disp_t *d);
int hfi_setup_debug(hfi_disp_t *d);
int hfi_setup_ready(hfi_disp_t *d);
int hfi_setup_health(hfi_disp_t *d);
int hfi_setup_prometheus(hfi_disp_t *d);
int hfi_setup_errors(hfi_disp_t *d);
void hfi_free_errors(const hf_mm_t *mm, void *cfg);
int hfi_setup_log(hfi_disp_t *d);
void hfi_free_log(const hf_mm_t *mm, void *cfg);
int hfi_setup_any(hfi_disp_t *d);
int hfi_setup_chaos(hfi_disp_t *d);
void hfi_free_chaos(const hf_mm_t *mm, void *cfg);
int hfi_setup_loadbalance(hfi_disp_t *d);
void hfi_free_loadbalance(const hf_mm_t *mm, void *cfg);
int hfi_setup_transfer(hfi_disp_t *d);
void hfi_free_transfer(const hf_mm_t *mm, void *cfg);
int hfi_setup_hosts(hfi_disp_t *d);
void hfi_free_hosts(const hf_mm_t *mm, void *cfg);
int hfi_setup_file(hfi_disp_t *d);
void hfi_free_file(const hf_mm_t *mm, void *cfg);
int hfi_setup_loop(hfi_disp_t *d);
int hfi_setup_whoami(hfi_disp_t *d);
int hfi_setup_memory(hfi_disp_t *d);
int hfi_setup_breakglass(hfi_disp_t *d);

#endif
