// The FFT kernels for the generic code path (compiler flags set in CMakeLists.txt).
#define AUDIOREP_FFT_ISA generic
#define AUDIOREP_FFT_NAME "generic"
#define AUDIOREP_FFT_VEC_BYTES 16
#include "fft_kernels.hpp"
