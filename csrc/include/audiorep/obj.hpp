// Wavefront OBJ height-field writer and reader.
#pragma once

#include <cstddef>

namespace audiorep {
namespace obj {}  // namespace obj
}  // namespace audiorep
