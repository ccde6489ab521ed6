/*
 * reload.c: the `reload [INTERVAL] [JITTER]` plugin's timer (spec section
 * 9), driven from the main loop: every INTERVAL + a random offset in
 * [-JITTER/2, +JITTER/2) (fixed when a config is loaded) the Corefile is
 * re-read and fingerprinted (hf_corefile_hash); a different SHA-512 starts
 * the same reload as SIGUSR1.  Parse failure: warning, retried next tick;
 * restart failure: error, coredns_reload_failed_total++, the running
 * config stays and the new fingerprint is remembered (as CoreDNS does, the
 * same broken file is not retried).  Also owns the two reload metrics:
 * coredns_reload_failed_total always (CoreDNS registers it at init),
 * coredns_reload_version_info while the running config has `reload`.
 */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char cur_hash[129];      /* fingerprint of the running config ("" = unknown) */
static int64_t period_ms;       /* 0 = no reload plugin */
static int64_t next_check;
static int enabled;             /* the running config has `reload` */
static atomic_ullong failed;    /* coredns_reload_failed_total */
static pthread_mutex_t info_lock = PTHREAD_MUTEX_INITIALIZER;
static char info_hash[129];     /* coredns_reload_version_info value */
static int info_enabled;        /* the reload metrics are registered */

static void set_info(const char *hex)
{
	pthread_mutex_lock(&info_lock);
	snprintf(info_hash, sizeof(info_hash), "%s", hex);
	info_enabled = enabled;
	pthread_mutex_unlock(&info_lock);
}

void hfs_reload_configured(hf_engine_t *engine, int64_t now)
{
	uint32_t iv = 0, jit = 0;
	enabled = hf_reload_period(engine, &iv, &jit) == HF_EOK && iv > 0;
	period_ms = 0;
	cur_hash[0] = '\0';
	char err[1024];
	if (hf_corefile_hash(hfs_srv.flags.conf, cur_hash, sizeof(cur_hash), err,
			     sizeof(err)) != HF_EOK)
		cur_hash[0] = '\0';
	set_info(enabled ? cur_hash : "");
	if (!enabled)
		return;
	int64_t offset = 0;
	if (jit > 0)
		offset = (int64_t)(((uint64_t)random() << 16 ^ (uint64_t)random()) % jit) -
			 (int64_t)jit / 2;
	period_ms = (int64_t)iv + offset;
	if (period_ms < 1)
		period_ms = 1;
	next_check = now + period_ms;
	if (cur_hash[0] != '\0')
		hfs_log("INFO", "plugin/reload: Running configuration SHA512 = %s", cur_hash);
}

void hfs_reload_tick(int64_t now)
{
	if (!enabled || period_ms <= 0 || now < next_check)
		return;
	next_check = now + period_ms;
	char hex[129], err[4096];
	if (hf_corefile_hash(hfs_srv.flags.conf, hex, sizeof(hex), err, sizeof(err)) != HF_EOK) {
		hfs_log("WARNING", "plugin/reload: Corefile parse failed: %s", err);
		return;
	}
	if (strcmp(hex, cur_hash) == 0)
		return;
	memcpy(cur_hash, hex, sizeof(cur_hash));
	char why[4096];
	if (hfs_reload_run(why, sizeof(why)) != 0) {
		atomic_fetch_add(&failed, 1);
		hfs_log("ERROR", "Corefile changed but reload failed: %s", why);
	}
}

int hfs_reload_metrics(char *buf, size_t len)
{
	char hex[129];
	pthread_mutex_lock(&info_lock);
	memcpy(hex, info_hash, sizeof(hex));
	int on = info_enabled; /* version info: only while a config with reload runs */
	pthread_mutex_unlock(&info_lock);
	int n = snprintf(buf, len,
		"# HELP coredns_reload_failed_total Counter of the number of failed reload attempts.\n"
		"# TYPE coredns_reload_failed_total counter\n"
		"coredns_reload_failed_total %llu\n",
		(unsigned long long)atomic_load(&failed));
	if (n < 0 || (size_t)n >= len)
		return -1;
	if (on && hex[0] != '\0') {
		int m = snprintf(buf + n, len - (size_t)n,
			"# HELP coredns_reload_version_info A metric with a constant '1' value labeled by hash, and value which type of hash generated.\n"
			"# TYPE coredns_reload_version_info gauge\n"
			"coredns_reload_version_info{hash=\"sha512\",value=\"%s\"} 1\n", hex);
		if (m < 0 || (size_t)m >= len - (size_t)n)
			return -1;
		n += m;
	}
	return n;
}
