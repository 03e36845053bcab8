// The FFT kernels for the avx512 code path (compiler flags set in CMakeLists.txt).
#define AUDIOREP_FFT_ISA avx512
#define AUDIOREP_FFT_NAME "avx512"
#define AUDIOREP_FFT_VEC_BYTES 64
#include "fft_kernels.hpp"
