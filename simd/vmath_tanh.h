/* The coefficients of the vector sets' tanh (AVX2, AVX-512, NEON):
 *   tanh(x) = x P(s) / Q(s),  s = x^2,  x clamped to [-9, 9]
 * P of degree 6 and Q of degree 3 in s, both with constant term 1, fitted to
 * tanh(x)/x on (0, 9] for the least maximum relative error (an iteratively
 * reweighted linearised least-squares fit; scripts/fit_tanh.py prints
 * these): 7e-9 in double. Past |x| = 9 tanh rounds to +-1 in float. Evaluated in float with
 * FMAs it is within 6 ulp of libm's double tanh (3.4e-7 absolute, worst
 * near |x| = 7.5; simd/README.md), odd to the bit, and NaN stays NaN. It
 * replaced exp-based formulas that cost twice as many instructions (the LSTM's
 * forward at the tutorial's shape with tanh: 1.13 -> 0.99 ms, one thread). */
#ifndef RECUR_VMATH_TANH_H
#define RECUR_VMATH_TANH_H

#define TANH_CLAMP 9.0f
#define TANH_P1 0.13085833429123483f
#define TANH_P2 0.003105955849440701f
#define TANH_P3 1.1174213700342029e-05f
#define TANH_P4 -2.029999886654219e-08f
#define TANH_P5 5.3107969815462302e-11f
#define TANH_P6 -8.5653762840371185e-14f
#define TANH_Q1 0.46419162618849175f
#define TANH_Q2 0.024503242720002639f
#define TANH_Q3 0.00025489974281750184f

#endif /* RECUR_VMATH_TANH_H */
