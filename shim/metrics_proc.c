/*
 * metrics_proc.c: the process collector of Prometheus's Go client
 * (process_cpu_seconds_total, process_open_fds, process_max_fds,
 * process_virtual_memory_bytes, process_virtual_memory_max_bytes,
 * process_resident_memory_bytes, process_start_time_seconds), read from
 * /proc/self at scrape time, with the Go client's names and help texts.
 */
#include "shim.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* /proc/self/stat fields 14 (utime), 15 (stime), 22 (starttime), 23
 * (vsize), 24 (rss, pages); the command name may hold spaces. */
static int read_stat(double *cpu, double *start, double *vsize, double *rss)
{
	FILE *fp = fopen("/proc/self/stat", "r");
	if (fp == NULL)
		return -1;
	char line[2048];
	size_t n = fread(line, 1, sizeof(line) - 1, fp);
	fclose(fp);
	line[n] = '\0';
	char *p = strrchr(line, ')');
	if (p == NULL)
		return -1;
	unsigned long long ut = 0, st = 0, startt = 0, vs = 0;
	long long rs = 0;
	/* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime(14) stime cutime cstime priority nice threads
	 * itrealvalue starttime(22) vsize rss */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
		   &ut, &st, &startt, &vs, &rs) != 5)
		return -1;
	double tck = (double)sysconf(_SC_CLK_TCK);
	*cpu = (double)(ut + st) / tck;
	*vsize = (double)vs;
	*rss = (double)rs * (double)sysconf(_SC_PAGESIZE);
	double btime = 0;
	fp = fopen("/proc/stat", "r");
	if (fp != NULL) {
		while (fgets(line, sizeof(line), fp) != NULL)
			if (sscanf(line, "btime %lf", &btime) == 1)
				break;
		fclose(fp);
	}
	*start = btime + (double)startt / tck;
	return 0;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* minus the directory stream's own fd */
}

int hfs_proc_metrics(char *buf, size_t len)
{
	double cpu = 0, start = 0, vsize = 0, rss = 0;
	if (read_stat(&cpu, &start, &vsize, &rss) != 0)
		return 0;
	struct rlimit nofile, as;
	double max_fds = getrlimit(RLIMIT_NOFILE, &nofile) == 0 ? (double)nofile.rlim_cur : -1;
	double max_vm = getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY
			? (double)as.rlim_cur : 1.8446744073709552e+19;
	int n = snprintf(buf, len,
		"# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
		"# TYPE process_cpu_seconds_total counter\n"
		"process_cpu_seconds_total %.2f\n"
		"# HELP process_max_fds Maximum number of open file descriptors.\n"
		"# TYPE process_max_fds gauge\n"
		"process_max_fds %.0f\n"
		"# HELP process_open_fds Number of open file descriptors.\n"
		"# TYPE process_open_fds gauge\n"
		"process_open_fds %d\n"
		"# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
		"# TYPE process_resident_memory_bytes gauge\n"
		"process_resident_memory_bytes %.0f\n"
		"# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
		"# TYPE process_start_time_seconds gauge\n"
		"process_start_time_seconds %.2f\n"
		"# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
		"# TYPE process_virtual_memory_bytes gauge\n"
		"process_virtual_memory_bytes %.0f\n"
		"# HELP process_virtual_memory_max_bytes Maximum amount of virtual memory available in bytes.\n"
		"# TYPE process_virtual_memory_max_bytes gauge\n"
		"process_virtual_memory_max_bytes %.17g\n",
		cpu, max_fds, open_fds(), rss, start, vsize, max_vm);
	return n < 0 || (size_t)n >= len ? -1 : n;
}
