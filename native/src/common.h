// Shared helpers for every native module: per-environment data, typed error construction,
// argument helpers. Built without C++ exceptions: every failure is reported by throwing a
// JS FabricsError and returning, never by a C++ throw.
#pragma once
#include <napi.h>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace mxlf {

// Per-environment (main thread or worker) state; no static JS references anywhere.
struct AddonData {
  Napi::FunctionReference errorCtor;  // src/errors.ts FabricsError, set by _setErrorClass
  Napi::FunctionReference fabricCtor, domainCtor, eqCtor, cqCtor, pepCtor, epCtor, avCtor, mrCtor;
};

inline AddonData* Data(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

// Status name for a libfabric error (positive FI_E* value). See docs/native.md.
const char* StatusForFiErrno(int fiErrno);
// Status name for an OS errno (positive).
const char* StatusForErrno(int err);

// Builds a FabricsError(code, message, {op, fiErrno, errno, detail}) and throws it into JS.
void ThrowError(Napi::Env env, const char* code, const std::string& message, const char* op = nullptr,
                int fiErrno = 0, int sysErrno = 0, const std::string& detail = std::string());
// A failed libfabric call (ret is the negative return value).
void ThrowFi(Napi::Env env, const char* op, int ret, const std::string& context = std::string());
// A failed system call (err is the positive errno).
void ThrowSys(Napi::Env env, const char* op, int err, const std::string& context = std::string());
inline void ThrowArg(Napi::Env env, const std::string& message) { ThrowError(env, "MXL_ERR_INVALID_ARG", message); }

// Argument helpers: return false after throwing when the argument is not usable.
bool GetU64(Napi::Env env, const Napi::Value& v, uint64_t* out, const char* what);
bool GetU32(Napi::Env env, const Napi::Value& v, uint32_t* out, const char* what);
bool GetBytes(Napi::Env env, const Napi::Value& v, uint8_t** data, size_t* len, const char* what);
Napi::Value U64(Napi::Env env, uint64_t v);
// A non-negative integer Number below 2^53 (byte offsets and lengths).
bool GetSize(Napi::Env env, const Napi::Value& v, size_t* out, const char* what);

// Up-front validation of an exported method's arguments, before any conversion: checks
// the count and the type of each argument and, on the first mismatch, throws
// MXL_ERR_INVALID_ARG naming the method and the argument, and returns false. Callers
// return at once, so no conversion runs with an exception pending.
enum class Arg {
  Number,   // a JS number
  Integer,  // a number or a bigint (GetU64/GetU32 check the range)
  Bytes,    // ArrayBuffer, typed array or DataView
  Array,
  Object,
  Boolean,
  String,
  Any,
};
struct ArgSpec {
  const char* name;
  Arg type;
  bool optional = false;  // may be missing or undefined
};
bool ValidateArgs(const Napi::CallbackInfo& info, const char* method, std::initializer_list<ArgSpec> spec);

// Keeps an mmap'ed range (shm.cc) mapped while something outside JS still uses it (a
// memory registration): munmap then only detaches the ArrayBuffer, and the pages go when
// the last pin is released. Returns nullptr when [p, p+n) is not inside a live mapping.
void* PinMapping(const void* p, size_t n);
void UnpinMapping(void* pin);
// (view: Uint32Array, index) at info[0], info[1] -> the word's address, or false with a
// FabricsError thrown (shm.cc).
bool GetFutexWord(Napi::Env env, const Napi::CallbackInfo& info, uint32_t** word);

void InitFabric(Napi::Env env, Napi::Object exports);
void InitShm(Napi::Env env, Napi::Object exports);
void InitProcessWatch(Napi::Env env, Napi::Object exports);
void InitFollowLoop(Napi::Env env, Napi::Object exports);
void InitWaker(Napi::Env env, Napi::Object exports);

}  // namespace mxlf
