// The FFT kernels for the avx2 code path (compiler flags set in CMakeLists.txt).
#define AUDIOREP_FFT_ISA avx2
#define AUDIOREP_FFT_NAME "avx2"
#define AUDIOREP_FFT_VEC_BYTES 32
#include "fft_kernels.hpp"
