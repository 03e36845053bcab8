#include "audiorep/obj.hpp"
