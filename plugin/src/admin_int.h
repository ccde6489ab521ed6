/*
 * admin_int.h: private interface of the break-glass command side
 * (admin*.c): the per-engine admin state, the reply writer, the command
 * tokenizer, table slots and the command handlers.
 *
 * Every command runs under the admin lock, one at a time, in the caller's
 * thread (the shim's admin thread).  Memory a command needs is reserved
 * when the state is created: the admin's own hf_worker_t (lookup and dump
 * run the real answer path with it), a message buffer, and a fixed set of
 * table slots for overrides and limits, so no command allocates while the
 * engine's memory is exhausted (saving and loading the overrides file and
 * `snapshot now` do; they report a failure and change nothing else).
 */
#ifndef HF_ADMIN_INT_H
#define HF_ADMIN_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin.h"
#include "engine_int.h"

#define HFI_ADMIN_SLOTS 4        /* published + retired tables of each kind */
#define HFI_ADMIN_MSG 65535      /* a packed reply */
#define HFI_ADMIN_LINE 4096      /* longest command */
#define HFI_ADMIN_ARGS 64        /* most tokens in a command */
#define HFI_ADMIN_TAIL 256       /* bytes kept for the final OK/ERROR line */

/* The reply: lines of text; the last one "OK ..." or "ERROR ...". */
typedef struct hfi_out {
	char *buf;
	size_t len, cap;        /* cap excludes the tail reserve and the NUL */
	bool full;              /* something did not fit */
} hfi_out_t;

void hfi_out_init(hfi_out_t *o, char *buf, size_t cap);
void hfi_out_printf(hfi_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The final line (may use the tail reserve). */
int hfi_out_ok(hfi_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hfi_out_err(hfi_out_t *o, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* One token of a command; quoted tokens keep their quotes' content. */
typedef struct hfi_tok {
	const char *s;
	size_t len;
	bool quoted;
} hfi_tok_t;

typedef struct hfi_cmd {
	char text[HFI_ADMIN_LINE + 1]; /* tokens point in here (NUL-terminated) */
	hfi_tok_t t[HFI_ADMIN_ARGS];
	size_t n;
} hfi_cmd_t;

/* Split line into tokens (whitespace; "..." with \" and \\).  0 or -1
 * (+ message in err). */
int hfi_cmd_split(hfi_cmd_t *c, const char *line, char *err, size_t errlen);

typedef struct hfi_admin {
	pthread_mutex_t lock;
	hf_worker_t *w;                 /* lookup / dump: the real answer path */
	uint8_t *msg;                   /* HFI_ADMIN_MSG bytes: a packed reply */
	uint8_t *msg2;                  /* HFI_ADMIN_MSG bytes: a second one (dump) */
	uint8_t *qbuf;                  /* HFI_ADMIN_MSG bytes: a synthesized query */
	hfi_ovr_table_t *ovr[HFI_ADMIN_SLOTS];
	uint64_t ovr_tag[HFI_ADMIN_SLOTS];   /* epoch it was retired at, 0 = never published */
	hfi_limit_table_t *lim[HFI_ADMIN_SLOTS];
	uint64_t lim_tag[HFI_ADMIN_SLOTS];
	char *ovr_path;                 /* SNAPSHOT_PATH.overrides, NULL = not saved */
	int64_t last_status_ms;         /* for the recent qps in `status` */
	uint64_t last_status_q;
	hfi_cmd_t cmd;                  /* the command being run */
} hfi_admin_t;

/* admin.c */
hfi_admin_t *hfi_admin_get(hf_engine_t *e);
/* A slot not published and not readable by any worker (waits briefly for
 * readers); -1 if none became free. */
int hfi_admin_free_slot(hf_engine_t *e, void *const *slots, uint64_t *tags, const void *cur);
/* Publish slots[idx] (or NULL when idx < 0) through ptr; the table it
 * replaces is retired with the new epoch. */
void hfi_admin_publish_ovr(hf_engine_t *e, hfi_admin_t *a, int idx);
void hfi_admin_publish_lim(hf_engine_t *e, hfi_admin_t *a, int idx);
/* The primary zone of block bi's kubernetes plugin ("cluster.local."). */
const char *hfi_admin_zone(const hf_engine_t *e, size_t bi);
/* Total queries received (every listener, UDP+TCP). */
uint64_t hfi_admin_queries(hf_engine_t *e);

/* admin_override.c */
int hfi_admin_set(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o);
int hfi_admin_unset(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o);
int hfi_admin_overrides(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o);
/* Load the saved overrides (init); logs what it skipped. */
void hfi_admin_overrides_load(hf_engine_t *e, hfi_admin_t *a);
/* Save them now (snapshot now); 0 or -1 with err. */
int hfi_admin_overrides_save(hf_engine_t *e, hfi_admin_t *a, char *err, size_t errlen);
/* One record in presentation format "NAME TTL IN TYPE RDATA" (no newline). */
void hfi_admin_ovr_text(const hfi_ovr_rr_t *rr, char *buf, size_t len);

/* admin_limit.c */
int hfi_admin_limit(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o);
int hfi_admin_unlimit(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o);
int hfi_admin_limits(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o);
/* hfi_admin_cidr() is declared in config.h (the `allow` option uses it). */
void hfi_admin_cidr_text(uint8_t family, uint8_t prefix, const uint8_t *addr, char *buf, size_t len);

/* admin_lookup.c */
int hfi_admin_lookup(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o);
int hfi_admin_dump(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o);
/* RR type by name ("A", "aaaa", "TYPE65") or 0. */
uint16_t hfi_admin_type(const char *s);
const char *hfi_admin_type_name(uint16_t type, char *buf, size_t len);
/* Wire name to presentation text (lower-case unless keep_case, escapes
 * \DDD for anything but letters, digits, '-', '_', '*'). */
void hfi_admin_name_text(const uint8_t *wire, bool keep_case, char *buf, size_t len);
/* TXT RDATA (len bytes at p) as quoted strings with \" \\ \DDD escapes. */
void hfi_admin_txt_text(const uint8_t *p, size_t len, char *buf, size_t cap);

#endif
