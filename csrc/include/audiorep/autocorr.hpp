// Batched windowed autocorrelation, autocorrelograms and spectrograms.
#pragma once

#include <cstddef>

namespace audiorep {
namespace acf {}  // namespace acf
}  // namespace audiorep
