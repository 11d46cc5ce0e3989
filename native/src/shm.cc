// Placeholder: mmap/flock/futex/CLOCK_TAI bindings (issue 3) land here.
#include "common.h"
namespace mxlf {
void InitShm(Napi::Env env, Napi::Object exports) {}
}  // namespace mxlf
