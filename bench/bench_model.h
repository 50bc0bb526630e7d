/* The tutorial model's end-to-end benchmarks (bench_model.c). */
#ifndef RECUR_BENCH_MODEL_H
#define RECUR_BENCH_MODEL_H

void bench_model_register(void);

#endif
