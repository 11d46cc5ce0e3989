// Thin RAII wrappers over libfabric objects. Each JS object holds a shared_ptr to its
// resource, and each resource holds shared_ptrs to what it depends on, so fi_close runs in
// a valid order (endpoint -> cq/eq/av/mr -> domain -> fabric) whatever order the JS
// finalizers run in (worker exit included). Data-path calls return libfabric's status
// instead of throwing: -FI_EAGAIN is an expected answer on the hot path.
#include "fabric_info.h"
#include "fabric_objects.h"
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

namespace mxlf {

ssize_t ReadCompletions(fid_cq* cq, uint64_t* out, size_t max, int timeoutMs) {
  size_t got = 0;
  fi_cq_data_entry entries[64];
  while (got < max) {
    size_t want = max - got < 64 ? max - got : 64;
    ssize_t n = got == 0 && timeoutMs > 0 ? fi_cq_sread(cq, entries, want, nullptr, timeoutMs) : fi_cq_read(cq, entries, want);
    if (n == -FI_EAGAIN || n == -FI_ETIMEDOUT) break;
    if (n == -FI_EAVAIL) {
      fi_cq_err_entry err{};
      ssize_t en = fi_cq_readerr(cq, &err, 0);
      // A failed readerr must not look like an empty queue.
      if (en < 0) return got ? (ssize_t)got : en;
      uint64_t* rec = out + got++ * kRecWords;
      rec[0] = (uint64_t)(uintptr_t)err.op_context;
      rec[1] = err.flags | kErrBit;
      rec[2] = (uint64_t)err.err;
      rec[3] = (uint64_t)(uint32_t)err.prov_errno;
      continue;
    }
    if (n < 0) return got ? (ssize_t)got : n;
    for (ssize_t i = 0; i < n; i++) {
      uint64_t* rec = out + got++ * kRecWords;
      rec[0] = (uint64_t)(uintptr_t)entries[i].op_context;
      rec[1] = entries[i].flags;
      rec[2] = entries[i].data;
      rec[3] = entries[i].len;
    }
    if ((size_t)n < want) break;
  }
  return (ssize_t)got;
}

namespace {

// Common base: holds the resource, gives close() and `closed`.
template <class Self, class Res>
class Wrap : public Napi::ObjectWrap<Self> {
 public:
  using Napi::ObjectWrap<Self>::ObjectWrap;
  std::shared_ptr<Res> res;
  bool Check(Napi::Env env) {
    if (res) return true;
    ThrowError(env, "MXL_ERR_INVALID_STATE", std::string(Self::kName) + " is closed");
    return false;
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    res.reset();
    return info.Env().Undefined();
  }
  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !res); }
};

#define UNWRAP(Type, val, ctorField)                                                              \
  ([&]() -> Type* {                                                                               \
    if (!val.IsObject() || !val.As<Napi::Object>().InstanceOf(Data(env)->ctorField.Value())) {    \
      ThrowArg(env, std::string("expected a ") + Type::kName);                                    \
      return nullptr;                                                                             \
    }                                                                                             \
    Type* t = Type::Unwrap(val.As<Napi::Object>());                                               \
    if (!t->Check(env)) return nullptr;                                                           \
    return t;                                                                                     \
  }())

// ---------------------------------------------------------------- Fabric
class Fabric : public Wrap<Fabric, FabricRes> {
 public:
  static constexpr const char* kName = "Fabric";
  Fabric(const Napi::CallbackInfo& info) : Wrap(info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "Fabric", {{"info", Arg::Object}})) return;
    fi_info* fi = InfoFromObject(env, info[0]);
    if (!fi) return;
    auto r = std::make_shared<FabricRes>();
    int ret = fi_fabric(fi->fabric_attr, &r->fab, nullptr);
    if (ret) { r->fab = nullptr; ThrowFi(env, "fi_fabric", ret); return; }
    res = r;
  }
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, kName, {InstanceMethod("close", &Fabric::Close), InstanceAccessor("closed", &Fabric::Closed, nullptr)});
  }
};

// ---------------------------------------------------------------- Domain
class Domain : public Wrap<Domain, DomainRes> {
 public:
  static constexpr const char* kName = "Domain";
  Domain(const Napi::CallbackInfo& info) : Wrap(info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "Domain", {{"fabric", Arg::Object}, {"info", Arg::Object}})) return;
    Fabric* f = UNWRAP(Fabric, info[0], fabricCtor);
    if (!f) return;
    fi_info* fi = InfoFromObject(env, info[1]);
    if (!fi) return;
    auto r = std::make_shared<DomainRes>();
    r->fabric = f->res;
    r->info = fi_dupinfo(fi);
    int ret = fi_domain(f->res->fab, fi, &r->dom, nullptr);
    if (ret) { r->dom = nullptr; ThrowFi(env, "fi_domain", ret); return; }
    res = r;
  }
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, kName, {InstanceMethod("close", &Domain::Close), InstanceAccessor("closed", &Domain::Closed, nullptr)});
  }
};

// ---------------------------------------------------------------- EventQueue
const char* EventName(uint32_t ev) {
  switch (ev) {
    case FI_CONNREQ: return "connreq";
    case FI_CONNECTED: return "connected";
    case FI_SHUTDOWN: return "shutdown";
    case FI_MR_COMPLETE: return "mr_complete";
    case FI_AV_COMPLETE: return "av_complete";
    case FI_JOIN_COMPLETE: return "join_complete";
    default: return "unknown";
  }
}

class EventQueue : public Wrap<EventQueue, EqRes> {
 public:
  static constexpr const char* kName = "EventQueue";
  EventQueue(const Napi::CallbackInfo& info) : Wrap(info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "EventQueue", {{"fabric", Arg::Object}, {"size", Arg::Integer, true}})) return;
    Fabric* f = UNWRAP(Fabric, info[0], fabricCtor);
    if (!f) return;
    uint32_t size = 8;
    if (info.Length() > 1 && !info[1].IsUndefined() && !GetU32(env, info[1], &size, "size")) return;
    fi_eq_attr attr{};
    attr.size = size;
    attr.wait_obj = FI_WAIT_UNSPEC;
    auto r = std::make_shared<EqRes>();
    r->fabric = f->res;
    int ret = fi_eq_open(f->res->fab, &attr, &r->eq, nullptr);
    if (ret) { r->eq = nullptr; ThrowFi(env, "fi_eq_open", ret); return; }
    res = r;
  }
  // read() / sread(timeoutMs): one event object, or null when there is none (or on timeout).
  Napi::Value Read(const Napi::CallbackInfo& info) { return DoRead(info, false); }
  Napi::Value SRead(const Napi::CallbackInfo& info) { return DoRead(info, true); }

  Napi::Value DoRead(const Napi::CallbackInfo& info, bool blocking) {
    Napi::Env env = info.Env();
    if (!Check(env)) return env.Null();
    uint32_t timeout = 0;
    if (blocking && !GetU32(env, info[0], &timeout, "timeoutMs")) return env.Null();
    // Room for a connection-management entry plus private data (connect/accept param).
    alignas(8) uint8_t buf[sizeof(fi_eq_cm_entry) + 256];
    uint32_t event = 0;
    ssize_t n = blocking ? fi_eq_sread(res->eq, &event, buf, sizeof buf, (int)timeout, 0)
                         : fi_eq_read(res->eq, &event, buf, sizeof buf, 0);
    if (n == -FI_EAGAIN || n == -FI_ETIMEDOUT) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    if (n == -FI_EAVAIL) {
      fi_eq_err_entry err{};
      uint8_t errData[256];
      err.err_data = errData;
      err.err_data_size = sizeof errData;
      ssize_t en = fi_eq_readerr(res->eq, &err, 0);
      if (en < 0) { ThrowFi(env, "fi_eq_readerr", (int)en); return env.Null(); }
      o.Set("event", "error");
      o.Set("fidContext", U64(env, err.fid ? (uint64_t)(uintptr_t)err.fid->context : 0));
      o.Set("err", err.err);
      o.Set("provErrno", err.prov_errno);
      o.Set("text", fi_strerror(err.err));
      return o;
    }
    if (n == -FI_EINTR) {
      o.Set("event", "interrupted");
      return o;
    }
    if (n < 0) { ThrowFi(env, blocking ? "fi_eq_sread" : "fi_eq_read", (int)n); return env.Null(); }
    o.Set("event", EventName(event));
    if (event == FI_CONNREQ || event == FI_CONNECTED || event == FI_SHUTDOWN) {
      auto* cm = reinterpret_cast<fi_eq_cm_entry*>(buf);
      o.Set("fidContext", U64(env, cm->fid ? (uint64_t)(uintptr_t)cm->fid->context : 0));
      size_t dataLen = (size_t)n > sizeof(fi_eq_cm_entry) ? (size_t)n - sizeof(fi_eq_cm_entry) : 0;
      o.Set("data", Napi::Buffer<uint8_t>::Copy(env, cm->data, dataLen));
      if (event == FI_CONNREQ && cm->info) o.Set("info", InfoToObject(env, cm->info, cm->info));
    } else {
      auto* e = reinterpret_cast<fi_eq_entry*>(buf);
      o.Set("fidContext", U64(env, e->fid ? (uint64_t)(uintptr_t)e->fid->context : 0));
    }
    return o;
  }
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, kName,
                       {InstanceMethod("read", &EventQueue::Read), InstanceMethod("sread", &EventQueue::SRead),
                        InstanceMethod("close", &EventQueue::Close), InstanceAccessor("closed", &EventQueue::Closed, nullptr)});
  }
};

// ---------------------------------------------------------------- CompletionQueue

class CompletionQueue : public Wrap<CompletionQueue, CqRes> {
 public:
  static constexpr const char* kName = "CompletionQueue";
  CompletionQueue(const Napi::CallbackInfo& info) : Wrap(info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "CompletionQueue", {{"domain", Arg::Object}, {"size", Arg::Integer, true}, {"wait", Arg::Any, true}})) return;
    Domain* d = UNWRAP(Domain, info[0], domainCtor);
    if (!d) return;
    uint32_t size = 8;
    if (info.Length() > 1 && !info[1].IsUndefined() && !GetU32(env, info[1], &size, "size")) return;
    bool wait = info.Length() > 2 ? info[2].ToBoolean().Value() : true;
    fi_cq_attr attr{};
    attr.size = size;
    attr.format = FI_CQ_FORMAT_DATA;
    attr.wait_obj = wait ? FI_WAIT_UNSPEC : FI_WAIT_NONE;
    auto r = std::make_shared<CqRes>();
    r->domain = d->res;
    int ret = fi_cq_open(d->res->dom, &attr, &r->cq, nullptr);
    if (ret) { r->cq = nullptr; ThrowFi(env, "fi_cq_open", ret); return; }
    r->waitable = wait;
    if (wait) {
      r->signal = std::make_shared<CqSignal>();
      r->signal->cq = r->cq;
      auto& sig = *d->res->cqSignals;
      std::lock_guard<std::mutex> g(sig.mu);
      // Forget the handles of queues closed since (their cq is null).
      sig.list.erase(std::remove_if(sig.list.begin(), sig.list.end(), [](const std::shared_ptr<CqSignal>& c) {
                       std::lock_guard<std::mutex> cg(c->mu);
                       return c->cq == nullptr;
                     }),
                     sig.list.end());
      sig.list.push_back(r->signal);
    }
    res = r;
  }

  // Writes up to max records into out (BigUint64Array); returns how many, 0 if none,
  // or a negative libfabric status (-FI_EINTR) without throwing.
  Napi::Value Drain(const Napi::CallbackInfo& info) { return DoRead(info, -1); }
  // As drain(), but waits up to timeoutMs for the first completion (needs a wait object).
  Napi::Value SRead(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t timeout = 0;
    if (!GetU32(env, info[2], &timeout, "timeoutMs")) return env.Null();
    return DoRead(info, (int)timeout);
  }

  Napi::Value DoRead(const Napi::CallbackInfo& info, int timeoutMs) {
    Napi::Env env = info.Env();
    if (!Check(env)) return env.Null();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
      ThrowArg(env, "expected a BigUint64Array for completion records");
      return env.Null();
    }
    auto arr = info[0].As<Napi::TypedArray>();
    uint64_t* out = reinterpret_cast<uint64_t*>(static_cast<uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset());
    size_t cap = arr.ElementLength() / kRecWords;
    uint32_t max = (uint32_t)cap;
    if (info.Length() > 1 && !info[1].IsUndefined() && !GetU32(env, info[1], &max, "max")) return env.Null();
    if (max > cap) max = (uint32_t)cap;
    if (timeoutMs >= 0 && !res->waitable) {
      ThrowError(env, "MXL_ERR_INVALID_STATE", "completion queue was opened without a wait object");
      return env.Null();
    }
    ssize_t got = ReadCompletions(res->cq, out, max, timeoutMs);
    return Napi::Number::New(env, (double)got);
  }
  Napi::Value Signal(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Check(env)) return env.Undefined();
    fi_cq_signal(res->cq);
    return env.Undefined();
  }
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, kName,
                       {InstanceMethod("drain", &CompletionQueue::Drain), InstanceMethod("sread", &CompletionQueue::SRead),
                        InstanceMethod("signal", &CompletionQueue::Signal), InstanceMethod("close", &CompletionQueue::Close),
                        InstanceAccessor("closed", &CompletionQueue::Closed, nullptr)});
  }
};

// ---------------------------------------------------------------- AddressVector
class AddressVector : public Wrap<AddressVector, AvRes> {
 public:
  static constexpr const char* kName = "AddressVector";
  AddressVector(const Napi::CallbackInfo& info) : Wrap(info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "AddressVector", {{"domain", Arg::Object}, {"count", Arg::Integer, true}})) return;
    Domain* d = UNWRAP(Domain, info[0], domainCtor);
    if (!d) return;
    uint32_t count = 4;
    if (info.Length() > 1 && !info[1].IsUndefined() && !GetU32(env, info[1], &count, "count")) return;
    fi_av_attr attr{};
    attr.type = FI_AV_TABLE;
    attr.count = count;
    auto r = std::make_shared<AvRes>();
    r->domain = d->res;
    int ret = fi_av_open(d->res->dom, &attr, &r->av, nullptr);
    if (ret) { r->av = nullptr; ThrowFi(env, "fi_av_open", ret); return; }
    res = r;
  }
  Napi::Value Insert(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "insert", {{"address", Arg::Bytes}})) return env.Null();
    if (!Check(env)) return env.Null();
    uint8_t* p; size_t n;
    if (!GetBytes(env, info[0], &p, &n, "address")) return env.Null();
    fi_addr_t addr = FI_ADDR_NOTAVAIL;
    int ret = fi_av_insert(res->av, p, 1, &addr, 0, nullptr);
    if (ret != 1) { ThrowFi(env, "fi_av_insert", ret < 0 ? ret : -FI_EINVAL, "the peer address was not accepted"); return env.Null(); }
    return U64(env, addr);
  }
  Napi::Value Remove(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "remove", {{"fiAddr", Arg::Integer}})) return env.Null();
    if (!Check(env)) return env.Null();
    uint64_t a;
    if (!GetU64(env, info[0], &a, "fiAddr")) return env.Null();
    fi_addr_t addr = a;
    int ret = fi_av_remove(res->av, &addr, 1, 0);
    return Napi::Number::New(env, ret);
  }
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, kName,
                       {InstanceMethod("insert", &AddressVector::Insert), InstanceMethod("remove", &AddressVector::Remove),
                        InstanceMethod("close", &AddressVector::Close), InstanceAccessor("closed", &AddressVector::Closed, nullptr)});
  }
};

// ---------------------------------------------------------------- MemoryRegion
class MemoryRegion : public Wrap<MemoryRegion, MrRes> {
 public:
  static constexpr const char* kName = "MemoryRegion";
  Napi::Reference<Napi::Value> keepAlive;  // the JS buffer whose memory is registered
  // new MemoryRegion(domain, buffer, offset, length, access, requestedKey)
  MemoryRegion(const Napi::CallbackInfo& info) : Wrap(info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "MemoryRegion", {{"domain", Arg::Object}, {"buffer", Arg::Bytes}, {"offset", Arg::Integer, true},
                                             {"length", Arg::Integer, true}, {"access", Arg::Integer}, {"requestedKey", Arg::Integer, true}}))
      return;
    Domain* d = UNWRAP(Domain, info[0], domainCtor);
    if (!d) return;
    uint8_t* p; size_t n;
    if (!GetBytes(env, info[1], &p, &n, "buffer")) return;
    uint64_t off = 0, len = n, access = 0, key = 0;
    if (!info[2].IsUndefined() && !GetU64(env, info[2], &off, "offset")) return;
    if (!info[3].IsUndefined() && !GetU64(env, info[3], &len, "length")) return;
    if (!GetU64(env, info[4], &access, "access")) return;
    if (!info[5].IsUndefined() && !GetU64(env, info[5], &key, "requestedKey")) return;
    if (off > n || len > n - off) { ThrowArg(env, "memory region exceeds the buffer"); return; }
    auto r = std::make_shared<MrRes>();
    r->domain = d->res;
    r->base = p + off;
    r->len = len;
    int ret = fi_mr_reg(d->res->dom, r->base, len, access, 0, key, 0, &r->mr, nullptr);
    if (ret) { r->mr = nullptr; ThrowFi(env, "fi_mr_reg", ret, std::to_string(len) + " bytes"); return; }
    r->desc = fi_mr_desc(r->mr);
    r->pin = PinMapping(r->base, len);  // null for memory that is not an mmap'ed file
    keepAlive = Napi::Persistent(info[1]);
    res = r;
  }
  Napi::Value Key(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Check(env)) return env.Null();
    return U64(env, fi_mr_key(res->mr));
  }
  Napi::Value Address(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Check(env)) return env.Null();
    return U64(env, (uint64_t)(uintptr_t)res->base);
  }
  Napi::Value Length(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Check(env)) return env.Null();
    return Napi::Number::New(env, (double)res->len);
  }
  Napi::Value CloseMr(const Napi::CallbackInfo& info) {
    res.reset();
    keepAlive.Reset();
    return info.Env().Undefined();
  }
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, kName,
                       {InstanceAccessor("key", &MemoryRegion::Key, nullptr), InstanceAccessor("address", &MemoryRegion::Address, nullptr),
                        InstanceAccessor("length", &MemoryRegion::Length, nullptr), InstanceMethod("close", &MemoryRegion::CloseMr),
                        InstanceAccessor("closed", &MemoryRegion::Closed, nullptr)});
  }
};

// ---------------------------------------------------------------- PassiveEndpoint
class PassiveEndpoint : public Wrap<PassiveEndpoint, PepRes> {
 public:
  static constexpr const char* kName = "PassiveEndpoint";
  // new PassiveEndpoint(fabric, info, context)
  PassiveEndpoint(const Napi::CallbackInfo& info) : Wrap(info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "PassiveEndpoint", {{"fabric", Arg::Object}, {"info", Arg::Object}})) return;
    Fabric* f = UNWRAP(Fabric, info[0], fabricCtor);
    if (!f) return;
    fi_info* fi = InfoFromObject(env, info[1]);
    if (!fi) return;
    uint64_t ctx = 0;
    if (info.Length() > 2 && !info[2].IsUndefined() && !GetU64(env, info[2], &ctx, "context")) return;
    auto r = std::make_shared<PepRes>();
    r->fabric = f->res;
    int ret = fi_passive_ep(f->res->fab, fi, &r->pep, (void*)(uintptr_t)ctx);
    if (ret) { r->pep = nullptr; ThrowFi(env, "fi_passive_ep", ret); return; }
    res = r;
  }
  Napi::Value Bind(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Check(env)) return env.Undefined();
    EventQueue* eq = UNWRAP(EventQueue, info[0], eqCtor);
    if (!eq) return env.Undefined();
    int ret = fi_pep_bind(res->pep, &eq->res->eq->fid, 0);
    if (ret) { ThrowFi(env, "fi_pep_bind", ret); return env.Undefined(); }
    res->eq = eq->res;
    return env.Undefined();
  }
  Napi::Value Listen(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Check(env)) return env.Undefined();
    int ret = fi_listen(res->pep);
    if (ret) ThrowFi(env, "fi_listen", ret, "cannot listen (is the port already in use?)");
    return env.Undefined();
  }
  Napi::Value GetName(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Check(env)) return env.Null();
    uint8_t buf[256];
    size_t len = sizeof buf;
    int ret = fi_getname(&res->pep->fid, buf, &len);
    if (ret) { ThrowFi(env, "fi_getname", ret); return env.Null(); }
    return Napi::Buffer<uint8_t>::Copy(env, buf, len);
  }
  Napi::Value Reject(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Check(env)) return env.Undefined();
    fi_info* fi = InfoFromObject(env, info[0]);
    if (!fi) return env.Undefined();
    int ret = fi_reject(res->pep, fi->handle, nullptr, 0);
    return Napi::Number::New(env, ret);
  }
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, kName,
                       {InstanceMethod("bind", &PassiveEndpoint::Bind), InstanceMethod("listen", &PassiveEndpoint::Listen),
                        InstanceMethod("getName", &PassiveEndpoint::GetName), InstanceMethod("reject", &PassiveEndpoint::Reject),
                        InstanceMethod("close", &PassiveEndpoint::Close), InstanceAccessor("closed", &PassiveEndpoint::Closed, nullptr)});
  }
};

// ---------------------------------------------------------------- Endpoint
class Endpoint : public Wrap<Endpoint, EpRes> {
 public:
  static constexpr const char* kName = "Endpoint";
  // new Endpoint(domain, info, context)
  Endpoint(const Napi::CallbackInfo& info) : Wrap(info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "Endpoint", {{"domain", Arg::Object}, {"info", Arg::Object}, {"context", Arg::Integer, true}})) return;
    Domain* d = UNWRAP(Domain, info[0], domainCtor);
    if (!d) return;
    fi_info* fi = InfoFromObject(env, info[1]);
    if (!fi) return;
    uint64_t ctx = 0;
    if (info.Length() > 2 && !info[2].IsUndefined() && !GetU64(env, info[2], &ctx, "context")) return;
    auto r = std::make_shared<EpRes>();
    r->domain = d->res;
    int ret = fi_endpoint(d->res->dom, fi, &r->ep, (void*)(uintptr_t)ctx);
    if (ret) { r->ep = nullptr; ThrowFi(env, "fi_endpoint", ret); return; }
    res = r;
  }
  // bind(cqOrEqOrAv, flags)
  Napi::Value Bind(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Check(env)) return env.Undefined();
    uint64_t flags = 0;
    if (info.Length() > 1 && !info[1].IsUndefined() && !GetU64(env, info[1], &flags, "flags")) return env.Undefined();
    if (!info[0].IsObject()) { ThrowArg(env, "bind() expects a CompletionQueue, EventQueue or AddressVector"); return env.Undefined(); }
    Napi::Object o = info[0].As<Napi::Object>();
    AddonData* ad = Data(env);
    fid* target = nullptr;
    std::shared_ptr<void> keep;
    if (o.InstanceOf(ad->cqCtor.Value())) {
      auto* q = CompletionQueue::Unwrap(o);
      if (!q->Check(env)) return env.Undefined();
      target = &q->res->cq->fid; keep = q->res;
    } else if (o.InstanceOf(ad->eqCtor.Value())) {
      auto* q = EventQueue::Unwrap(o);
      if (!q->Check(env)) return env.Undefined();
      target = &q->res->eq->fid; keep = q->res;
    } else if (o.InstanceOf(ad->avCtor.Value())) {
      auto* q = AddressVector::Unwrap(o);
      if (!q->Check(env)) return env.Undefined();
      target = &q->res->av->fid; keep = q->res;
    } else {
      ThrowArg(env, "bind() expects a CompletionQueue, EventQueue or AddressVector");
      return env.Undefined();
    }
    int ret = fi_ep_bind(res->ep, target, flags);
    if (ret) { ThrowFi(env, "fi_ep_bind", ret); return env.Undefined(); }
    res->bound.push_back(keep);
    return env.Undefined();
  }
  Napi::Value Enable(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Check(env)) return env.Undefined();
    int ret = fi_enable(res->ep);
    if (ret) ThrowFi(env, "fi_enable", ret);
    return env.Undefined();
  }
  // connect(address, param?) -> 0 or negative status (no throw: the caller retries).
  Napi::Value Connect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "connect", {{"address", Arg::Bytes}, {"param", Arg::Bytes, true}})) return env.Null();
    if (!Check(env)) return env.Null();
    uint8_t* p; size_t n;
    if (!GetBytes(env, info[0], &p, &n, "address")) return env.Null();
    uint8_t* param = nullptr; size_t plen = 0;
    if (info.Length() > 1 && !info[1].IsUndefined() && !GetBytes(env, info[1], &param, &plen, "param")) return env.Null();
    return Napi::Number::New(env, fi_connect(res->ep, p, param, plen));
  }
  Napi::Value Accept(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "accept", {{"param", Arg::Bytes, true}})) return env.Null();
    if (!Check(env)) return env.Null();
    uint8_t* param = nullptr; size_t plen = 0;
    if (info.Length() > 0 && !info[0].IsUndefined() && !GetBytes(env, info[0], &param, &plen, "param")) return env.Null();
    return Napi::Number::New(env, fi_accept(res->ep, param, plen));
  }
  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Check(env)) return env.Null();
    return Napi::Number::New(env, fi_shutdown(res->ep, 0));
  }
  Napi::Value GetName(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Check(env)) return env.Null();
    uint8_t buf[256];
    size_t len = sizeof buf;
    int ret = fi_getname(&res->ep->fid, buf, &len);
    if (ret) { ThrowFi(env, "fi_getname", ret); return env.Null(); }
    return Napi::Buffer<uint8_t>::Copy(env, buf, len);
  }

  // write(segments, destAddr, remoteAddr, rkey, data, flags, context) -> 0 or negative status.
  // segments: Array of [MemoryRegion, offset, length] (gather list, <= iov limit; the caller
  // splits longer lists). data: u32 immediate or -1 for none. One fi_writemsg.
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "write", {{"segments", Arg::Array}, {"destAddr", Arg::Integer}, {"remoteAddr", Arg::Integer},
                                      {"rkey", Arg::Integer}, {"data", Arg::Number}, {"flags", Arg::Integer}, {"context", Arg::Integer}}))
      return env.Null();
    if (!Check(env)) return env.Null();
    Napi::Array segs = info[0].As<Napi::Array>();
    uint32_t count = segs.Length();
    constexpr uint32_t kMaxIov = 16;
    if (count == 0 || count > kMaxIov) { ThrowArg(env, "a write needs 1 to 16 segments"); return env.Null(); }
    iovec iov[kMaxIov];
    void* desc[kMaxIov];
    AddonData* ad = Data(env);
    for (uint32_t i = 0; i < count; i++) {
      Napi::Value sv = segs.Get(i);
      if (!sv.IsArray()) { ThrowArg(env, "each segment must be [MemoryRegion, offset, length]"); return env.Null(); }
      Napi::Array s = sv.As<Napi::Array>();
      Napi::Value mrv = s.Get((uint32_t)0);
      if (!mrv.IsObject() || !mrv.As<Napi::Object>().InstanceOf(ad->mrCtor.Value())) { ThrowArg(env, "segment needs a MemoryRegion"); return env.Null(); }
      MemoryRegion* mr = MemoryRegion::Unwrap(mrv.As<Napi::Object>());
      if (!mr->Check(env)) return env.Null();
      size_t off, len;
      if (!GetSize(env, s.Get(1), &off, "segment offset") || !GetSize(env, s.Get(2), &len, "segment length")) return env.Null();
      if (off > mr->res->len || len > mr->res->len - off) {
        ThrowError(env, "MXL_ERR_INVALID_ARG", "write segment exceeds its memory region");
        return env.Null();
      }
      iov[i].iov_base = mr->res->base + off;
      iov[i].iov_len = len;
      desc[i] = mr->res->desc;
    }
    uint64_t dest, raddr, rkey, ctx;
    if (!GetU64(env, info[1], &dest, "destAddr") || !GetU64(env, info[2], &raddr, "remoteAddr") ||
        !GetU64(env, info[3], &rkey, "rkey"))
      return env.Null();
    double dataD = info[4].As<Napi::Number>().DoubleValue();  // a number: ValidateArgs checked
    if (dataD >= 0 && (dataD > 4294967295.0 || dataD != (double)(uint32_t)dataD)) {
      ThrowArg(env, "write: data must be a u32 immediate or -1");
      return env.Null();
    }
    uint64_t flags = 0;
    if (!GetU64(env, info[5], &flags, "flags") || !GetU64(env, info[6], &ctx, "context")) return env.Null();
    size_t total = 0;
    for (uint32_t i = 0; i < count; i++) total += iov[i].iov_len;
    fi_rma_iov rma{raddr, total, rkey};
    fi_msg_rma msg{};
    msg.msg_iov = iov;
    msg.desc = desc;
    msg.iov_count = count;
    msg.addr = dest;
    msg.rma_iov = &rma;
    msg.rma_iov_count = 1;
    msg.context = (void*)(uintptr_t)ctx;
    if (dataD >= 0) {
      msg.data = (uint64_t)(uint32_t)dataD;
      flags |= FI_REMOTE_CQ_DATA;
    }
    return Napi::Number::New(env, (double)fi_writemsg(res->ep, &msg, flags));
  }

  // recv(mr, offset, length, context) -> 0 or negative status. Posts a receive (verbs needs
  // receives to absorb write-with-immediate when the info has FI_RX_CQ_DATA).
  Napi::Value Recv(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "recv", {{"mr", Arg::Object}, {"offset", Arg::Number}, {"length", Arg::Number}, {"context", Arg::Integer}}))
      return env.Null();
    if (!Check(env)) return env.Null();
    MemoryRegion* mr = UNWRAP(MemoryRegion, info[0], mrCtor);
    if (!mr) return env.Null();
    size_t off, len;
    if (!GetSize(env, info[1], &off, "offset") || !GetSize(env, info[2], &len, "length")) return env.Null();
    uint64_t ctx = 0;
    if (!GetU64(env, info[3], &ctx, "context")) return env.Null();
    if (off > mr->res->len || len > mr->res->len - off) { ThrowArg(env, "receive buffer exceeds its memory region"); return env.Null(); }
    return Napi::Number::New(env, (double)fi_recv(res->ep, mr->res->base + off, len, mr->res->desc, FI_ADDR_UNSPEC,
                                                  (void*)(uintptr_t)ctx));
  }
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, kName,
                       {InstanceMethod("bind", &Endpoint::Bind), InstanceMethod("enable", &Endpoint::Enable),
                        InstanceMethod("connect", &Endpoint::Connect), InstanceMethod("accept", &Endpoint::Accept),
                        InstanceMethod("shutdown", &Endpoint::Shutdown), InstanceMethod("getName", &Endpoint::GetName),
                        InstanceMethod("write", &Endpoint::Write), InstanceMethod("recv", &Endpoint::Recv),
                        InstanceMethod("close", &Endpoint::Close), InstanceAccessor("closed", &Endpoint::Closed, nullptr)});
  }
};

Napi::Object FabricConstants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* k, uint64_t v) { c.Set(k, U64(env, v)); };
  set("FI_MSG", FI_MSG); set("FI_RMA", FI_RMA); set("FI_TAGGED", FI_TAGGED); set("FI_HMEM", FI_HMEM);
  set("FI_READ", FI_READ); set("FI_WRITE", FI_WRITE); set("FI_RECV", FI_RECV); set("FI_SEND", FI_SEND);
  set("FI_TRANSMIT", FI_TRANSMIT); set("FI_REMOTE_READ", FI_REMOTE_READ); set("FI_REMOTE_WRITE", FI_REMOTE_WRITE);
  set("FI_REMOTE_CQ_DATA", FI_REMOTE_CQ_DATA); set("FI_DELIVERY_COMPLETE", FI_DELIVERY_COMPLETE);
  set("FI_COMPLETION", FI_COMPLETION); set("FI_RX_CQ_DATA", FI_RX_CQ_DATA); set("FI_SOURCE", FI_SOURCE);
  set("FI_MR_LOCAL", FI_MR_LOCAL); set("FI_MR_VIRT_ADDR", FI_MR_VIRT_ADDR); set("FI_MR_ALLOCATED", FI_MR_ALLOCATED);
  set("FI_MR_PROV_KEY", FI_MR_PROV_KEY); set("FI_MR_ENDPOINT", FI_MR_ENDPOINT);
  set("FI_EP_MSG", FI_EP_MSG); set("FI_EP_RDM", FI_EP_RDM);
  set("FI_SOCKADDR", FI_SOCKADDR); set("FI_SOCKADDR_IN", FI_SOCKADDR_IN); set("FI_SOCKADDR_IN6", FI_SOCKADDR_IN6);
  set("FI_SOCKADDR_IB", FI_SOCKADDR_IB); set("FI_ADDR_STR", FI_ADDR_STR); set("FI_ADDR_EFA", FI_ADDR_EFA);
  set("FI_SOCKADDR_IP", 17);  // FI_SOCKADDR_IP is newer than 1.17 headers; value per docs/protocol.md §2.6
  set("FI_PROTO_SOCK_TCP", FI_PROTO_SOCK_TCP); set("FI_PROTO_RDMA_CM_IB_RC", FI_PROTO_RDMA_CM_IB_RC);
  set("FI_PROTO_SHM", FI_PROTO_SHM); set("FI_PROTO_EFA", FI_PROTO_EFA);
  set("FI_ADDR_UNSPEC", FI_ADDR_UNSPEC);
  set("CQ_ERROR_BIT", kErrBit);
  return c;
}

}  // namespace

// The same type and open checks as UNWRAP (the addon's own argument unwrapping).
#define RES_OF(Fn, Type, Res, ctorField)             \
  std::shared_ptr<Res> Fn(Napi::Env env, const Napi::Value& v) { \
    Type* t = UNWRAP(Type, v, ctorField);              \
    return t ? t->res : nullptr;                       \
  }
RES_OF(CqResOf, CompletionQueue, CqRes, cqCtor)
RES_OF(DomainResOf, Domain, DomainRes, domainCtor)
RES_OF(EpResOf, Endpoint, EpRes, epCtor)
RES_OF(MrResOf, MemoryRegion, MrRes, mrCtor)
#undef RES_OF

void InitFabric(Napi::Env env, Napi::Object exports) {
  InitInfo(env, exports);
  AddonData* d = Data(env);
  auto def = [&](const char* name, Napi::Function f, Napi::FunctionReference& ref) {
    ref = Napi::Persistent(f);
    exports.Set(name, f);
  };
  def("Fabric", Fabric::Define(env), d->fabricCtor);
  def("Domain", Domain::Define(env), d->domainCtor);
  def("EventQueue", EventQueue::Define(env), d->eqCtor);
  def("CompletionQueue", CompletionQueue::Define(env), d->cqCtor);
  def("AddressVector", AddressVector::Define(env), d->avCtor);
  def("MemoryRegion", MemoryRegion::Define(env), d->mrCtor);
  def("PassiveEndpoint", PassiveEndpoint::Define(env), d->pepCtor);
  def("Endpoint", Endpoint::Define(env), d->epCtor);
  exports.Set("constants", FabricConstants(env));
}

}  // namespace mxlf
