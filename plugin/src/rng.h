/*
 * rng.h: the engine's one small PRNG (xorshift64*), used for the API
 * client's backoff jitter and the loadbalance plugin's shuffles.
 *
 * Design: the state is a caller-owned uint64_t (per watch, per worker), so
 * there is no shared state and no locking; a zero state is replaced by a
 * fixed non-zero seed.  Not cryptographic.  Defined in api_backoff.c.
 */
#ifndef HF_RNG_H
#define HF_RNG_H

#include <stdint.h>

/* xorshift64*: next value and a uniform double in [0, 1). */
uint64_t hfi_rng_next(uint64_t *state);
double hfi_rng_unit(uint64_t *state);

#endif
