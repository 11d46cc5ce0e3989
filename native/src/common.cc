#include "common.h"
#include <rdma/fi_errno.h>
#include <cerrno>
#include <cstring>

namespace mxlf {

const char* StatusForFiErrno(int e) {
  switch (e) {
    case FI_EINTR: return "MXL_ERR_INTERRUPTED";
    case FI_EAGAIN: return "MXL_ERR_NOT_READY";
    case FI_ENOSYS: case FI_EOPNOTSUPP: return "MXL_ERR_UNSUPPORTED_OPERATION";
    case FI_ENODATA: case FI_EADDRNOTAVAIL: return "MXL_ERR_NO_FABRIC";
    case FI_EINVAL: return "MXL_ERR_INVALID_ARG";
    case FI_ETIMEDOUT: return "MXL_ERR_TIMEOUT";
    case FI_EADDRINUSE: return "MXL_ERR_EXISTS";
    case FI_EPERM: case FI_EACCES: return "MXL_ERR_PERMISSION_DENIED";
    case FI_ENOENT: return "MXL_ERR_NOT_FOUND";
    case FI_ECONNREFUSED: case FI_ECONNRESET: case FI_ENOTCONN: case FI_ESHUTDOWN: case FI_ECONNABORTED:
      return "MXL_ERR_INVALID_STATE";
    default: return "MXL_ERR_UNKNOWN";
  }
}

const char* StatusForErrno(int e) {
  switch (e) {
    case EINTR: return "MXL_ERR_INTERRUPTED";
    case EAGAIN: return "MXL_ERR_NOT_READY";
    case EINVAL: return "MXL_ERR_INVALID_ARG";
    case ETIMEDOUT: return "MXL_ERR_TIMEOUT";
    case EEXIST: case ENOTEMPTY: case EADDRINUSE: return "MXL_ERR_EXISTS";
    case EPERM: case EACCES: case EROFS: return "MXL_ERR_PERMISSION_DENIED";
    case ENOENT: case ESRCH: return "MXL_ERR_NOT_FOUND";
    case ENOSYS: case EOPNOTSUPP: return "MXL_ERR_UNSUPPORTED_OPERATION";
    default: return "MXL_ERR_UNKNOWN";
  }
}

void ThrowError(Napi::Env env, const char* code, const std::string& message, const char* op, int fiErrno,
                int sysErrno, const std::string& detail) {
  if (env.IsExceptionPending()) return;
  Napi::HandleScope scope(env);
  AddonData* d = Data(env);
  Napi::Object details = Napi::Object::New(env);
  if (op) details.Set("op", op);
  if (fiErrno) details.Set("fiErrno", fiErrno);
  if (sysErrno) details.Set("errno", sysErrno);
  if (!detail.empty()) details.Set("detail", detail);
  Napi::Value err;
  if (d && !d->errorCtor.IsEmpty()) {
    err = d->errorCtor.New({Napi::String::New(env, code), Napi::String::New(env, message), details});
  }
  if (err.IsEmpty() || !err.IsObject()) {
    Napi::Error e = Napi::Error::New(env, message);
    e.Set("code", code);
    err = e.Value();
  }
  if (env.IsExceptionPending()) return;
  Napi::Error(env, err).ThrowAsJavaScriptException();
}

void ThrowFi(Napi::Env env, const char* op, int ret, const std::string& context) {
  int e = ret < 0 ? -ret : ret;
  std::string text = fi_strerror(e);
  std::string msg = std::string(op) + " failed: " + text + " (" + std::to_string(-e) + ")";
  if (!context.empty()) msg += ": " + context;
  ThrowError(env, StatusForFiErrno(e), msg, op, e, 0, text);
}

void ThrowSys(Napi::Env env, const char* op, int err, const std::string& context) {
  std::string text = std::strerror(err);
  std::string msg = std::string(op) + " failed: " + text;
  if (!context.empty()) msg += ": " + context;
  ThrowError(env, StatusForErrno(err), msg, op, 0, err, text);
}

bool GetU64(Napi::Env env, const Napi::Value& v, uint64_t* out, const char* what) {
  if (v.IsBigInt()) {
    bool lossless = true;
    *out = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) { ThrowArg(env, std::string(what) + " does not fit in 64 bits"); return false; }
    return true;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d < 0 || d > 9007199254740991.0 || d != (double)(uint64_t)d) {
      ThrowArg(env, std::string(what) + " must be a non-negative integer");
      return false;
    }
    *out = (uint64_t)d;
    return true;
  }
  ThrowArg(env, std::string(what) + " must be a number or bigint");
  return false;
}

bool GetU32(Napi::Env env, const Napi::Value& v, uint32_t* out, const char* what) {
  uint64_t x;
  if (!GetU64(env, v, &x, what)) return false;
  if (x > 0xffffffffull) { ThrowArg(env, std::string(what) + " does not fit in 32 bits"); return false; }
  *out = (uint32_t)x;
  return true;
}

bool GetBytes(Napi::Env env, const Napi::Value& v, uint8_t** data, size_t* len, const char* what) {
  if (v.IsArrayBuffer()) {
    auto ab = v.As<Napi::ArrayBuffer>();
    *data = static_cast<uint8_t*>(ab.Data());
    *len = ab.ByteLength();
    return true;
  }
  if (v.IsTypedArray() || v.IsDataView()) {
    napi_value val = v;
    void* p = nullptr;
    size_t n = 0;
    if (v.IsTypedArray()) {
      auto ta = v.As<Napi::TypedArray>();
      p = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
      n = ta.ByteLength();
    } else {
      napi_value ab; size_t off;
      napi_get_dataview_info(env, val, &n, &p, &ab, &off);
    }
    *data = static_cast<uint8_t*>(p);
    *len = n;
    return true;
  }
  ThrowArg(env, std::string(what) + " must be an ArrayBuffer or a typed array");
  return false;
}

Napi::Value U64(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

bool GetSize(Napi::Env env, const Napi::Value& v, size_t* out, const char* what) {
  if (!v.IsNumber()) { ThrowArg(env, std::string(what) + " must be a number"); return false; }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9007199254740991.0 || d != (double)(uint64_t)d) {
    ThrowArg(env, std::string(what) + " must be a non-negative integer");
    return false;
  }
  *out = (size_t)d;
  return true;
}

namespace {
bool Matches(const Napi::Value& v, Arg type) {
  switch (type) {
    case Arg::Number: return v.IsNumber();
    case Arg::Integer: return v.IsNumber() || v.IsBigInt();
    case Arg::Bytes: return v.IsArrayBuffer() || v.IsTypedArray() || v.IsDataView();
    case Arg::Array: return v.IsArray();
    case Arg::Object: return v.IsObject();
    case Arg::Boolean: return v.IsBoolean();
    case Arg::String: return v.IsString();
    case Arg::Any: return true;
  }
  return false;
}
const char* TypeName(Arg type) {
  switch (type) {
    case Arg::Number: return "a number";
    case Arg::Integer: return "a number or bigint";
    case Arg::Bytes: return "an ArrayBuffer or a typed array";
    case Arg::Array: return "an array";
    case Arg::Object: return "an object";
    case Arg::Boolean: return "a boolean";
    case Arg::String: return "a string";
    case Arg::Any: return "a value";
  }
  return "a value";
}
}  // namespace

bool ValidateArgs(const Napi::CallbackInfo& info, const char* method, std::initializer_list<ArgSpec> spec) {
  Napi::Env env = info.Env();
  size_t required = 0, i = 0;
  for (const ArgSpec& a : spec) if (!a.optional) required = ++i; else ++i;
  if (info.Length() < required) {
    ThrowArg(env, std::string(method) + " expects " + std::to_string(required) + " arguments, got " + std::to_string(info.Length()));
    return false;
  }
  i = 0;
  for (const ArgSpec& a : spec) {
    Napi::Value v = info[i++];
    if (a.optional && v.IsUndefined()) continue;
    if (!Matches(v, a.type)) {
      ThrowArg(env, std::string(method) + ": " + a.name + " must be " + TypeName(a.type));
      return false;
    }
  }
  return true;
}

}  // namespace mxlf
