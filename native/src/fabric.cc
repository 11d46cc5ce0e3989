#include "common.h"
namespace mxlf {
void InitFabric(Napi::Env env, Napi::Object exports) {}
}  // namespace mxlf
