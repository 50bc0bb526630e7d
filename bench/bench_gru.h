/* The GRU and SimpleRNN primitive benchmarks (bench_gru.c). */
#ifndef RECUR_BENCH_GRU_H
#define RECUR_BENCH_GRU_H

void bench_gru_register(void);

#endif
