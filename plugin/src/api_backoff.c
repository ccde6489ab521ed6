/*
 * api_backoff.c: the API source's pacing: exponential backoff with jitter
 * (client-go reflector: 800 ms initial, x2, 30 s cap, reset after 2 min
 * without failure), a token bucket for apiserver_qps/apiserver_burst
 * (client-go defaults 5/10), and a small xorshift RNG.  Pure functions of
 * the time passed in, so tests drive a fake clock.
 */
#include "api_int.h"

#include <time.h>

#define BACKOFF_INITIAL_MS 800
#define BACKOFF_CAP_MS 30000
#define BACKOFF_RESET_MS 120000

uint64_t hfi_rng_next(uint64_t *state)
{
	uint64_t x = *state;
	if (x == 0)
		x = 0x9e3779b97f4a7c15ULL;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

double hfi_rng_unit(uint64_t *state)
{
	return (double)(hfi_rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

void hfi_backoff_init(hfi_backoff_t *b, uint64_t seed)
{
	if (seed == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
		       (uint64_t)(uintptr_t)b;
	}
	*b = (hfi_backoff_t){
		.initial_ms = BACKOFF_INITIAL_MS, .cap_ms = BACKOFF_CAP_MS,
		.reset_ms = BACKOFF_RESET_MS, .cur_ms = 0, .last_fail_ms = -1, .rng = seed,
	};
}

void hfi_backoff_reset(hfi_backoff_t *b)
{
	b->cur_ms = 0;
}

int64_t hfi_backoff_next(hfi_backoff_t *b, int64_t now_ms)
{
	if (b->last_fail_ms >= 0 && now_ms - b->last_fail_ms > b->reset_ms)
		b->cur_ms = 0;
	if (b->cur_ms <= 0)
		b->cur_ms = b->initial_ms;
	else
		b->cur_ms = b->cur_ms > b->cap_ms / 2 ? b->cap_ms : b->cur_ms * 2;
	b->last_fail_ms = now_ms;
	/* the first step is jittered too ([initial, 2 x initial]), or every
	 * replica would retry at the same instant after a drop */
	int64_t top = b->cur_ms > 2 * b->initial_ms ? b->cur_ms : 2 * b->initial_ms;
	int64_t span = top - b->initial_ms;
	return b->initial_ms + (int64_t)(hfi_rng_unit(&b->rng) * (double)(span + 1));
}

void hfi_tbucket_init(hfi_tbucket_t *t, double qps, int burst, int64_t now_ms)
{
	if (!(qps > 0))
		qps = 5.0;
	if (burst <= 0)
		burst = 10;
	t->rate_per_ms = qps / 1000.0;
	t->burst = burst;
	t->tokens = burst;
	t->last_ms = now_ms;
}

int64_t hfi_tbucket_take(hfi_tbucket_t *t, int64_t now_ms)
{
	if (now_ms > t->last_ms) {
		t->tokens += (double)(now_ms - t->last_ms) * t->rate_per_ms;
		if (t->tokens > t->burst)
			t->tokens = t->burst;
		t->last_ms = now_ms;
	}
	t->tokens -= 1.0;
	if (t->tokens >= 0)
		return 0;
	double wait = -t->tokens / t->rate_per_ms;
	return (int64_t)wait + 1;
}
