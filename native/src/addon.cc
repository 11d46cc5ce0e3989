// Module entry: one AddonData per environment (main thread or worker).
#include "common.h"
#include <rdma/fabric.h>
#include <cstdlib>
#include <mutex>

namespace {

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) { mxlf::ThrowArg(env, "expected the FabricsError constructor"); return env.Undefined(); }
  mxlf::Data(env)->errorCtor = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

// The one errno -> status map (common.cc), for TS code that meets an OS errno (Node fs).
Napi::Value StatusForErrno(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) { mxlf::ThrowArg(env, "statusForErrno: errno must be a number"); return env.Undefined(); }
  int e = info[0].As<Napi::Number>().Int32Value();
  return Napi::String::New(env, mxlf::StatusForErrno(e < 0 ? -e : e));
}

Napi::Value FabricVersion(const Napi::CallbackInfo& info) {
  uint32_t v = fi_version();
  return Napi::String::New(info.Env(), std::to_string(FI_MAJOR(v)) + "." + std::to_string(FI_MINOR(v)));
}

// Like upstream's instance set-up: no MR cache monitor (our registrations are long-lived
// file mappings). libfabric reads it at its first fi_getinfo, which comes after this.
void InitLibfabricOnce() {
  static std::once_flag once;
  std::call_once(once, [] { setenv("FI_MR_CACHE_MONITOR", "disabled", 0); });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitLibfabricOnce();
  env.SetInstanceData<mxlf::AddonData>(new mxlf::AddonData());
  exports.Set("_setErrorClass", Napi::Function::New(env, SetErrorClass, "_setErrorClass"));
  exports.Set("statusForErrno", Napi::Function::New(env, StatusForErrno, "statusForErrno"));
  exports.Set("fabricVersion", Napi::Function::New(env, FabricVersion, "fabricVersion"));
  exports.Set("headerVersion", Napi::String::New(env, std::to_string(FI_MAJOR_VERSION) + "." + std::to_string(FI_MINOR_VERSION)));
  mxlf::InitFabric(env, exports);
  mxlf::InitShm(env, exports);
  mxlf::InitProcessWatch(env, exports);
  mxlf::InitFollowLoop(env, exports);
  mxlf::InitWaker(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(mxl_fabrics, Init)
