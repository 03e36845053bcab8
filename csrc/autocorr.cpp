#include "audiorep/autocorr.hpp"
