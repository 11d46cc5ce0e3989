// Waker: lets the main thread end a worker's native wait at once. A worker blocked in
// fi_cq_sread or on its source flow's futex sees a stop or a control request only when
// that wait returns (up to 50 ms; docs/runtime.md, "Waking a worker in a native wait").
// The worker creates a Waker, tells it what it may block on (the completion queues of a
// domain, a futex word) and publishes its id in its control block; the main thread's
// ring() then calls wake(id), which signals those queues (fi_cq_signal: the sread returns
// -FI_EAGAIN) and wakes the futex.
//
// The registry is process-wide on purpose (an exception to "per environment, no statics"):
// the waker belongs to a worker's environment, the caller is the main thread's.
#include "common.h"
#include "fabric_objects.h"

#include <rdma/fi_eq.h>
#include <climits>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unordered_map>

namespace mxlf {
namespace {

struct WakeEntry {
  std::mutex mu;  // guards the fields below against a wake() from another thread
  // The domains' queue handles, not the domains: a wake() never holds a libfabric object,
  // so it never becomes the last owner and closes one on the caller's thread.
  std::vector<std::shared_ptr<CqSignals>> domains;
  uint32_t* futex = nullptr;
  void* futexPin = nullptr;
};

std::mutex gMu;
std::unordered_map<uint32_t, std::shared_ptr<WakeEntry>> gEntries;
uint32_t gNextId = 1;

void ClearFutex(WakeEntry& e) {
  UnpinMapping(e.futexPin);
  e.futexPin = nullptr;
  e.futex = nullptr;
}

class Waker : public Napi::ObjectWrap<Waker> {
 public:
  static constexpr const char* kName = "Waker";

  Waker(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Waker>(info) {
    entry_ = std::make_shared<WakeEntry>();
    std::lock_guard<std::mutex> g(gMu);
    while (id_ == 0 || gEntries.count(id_)) id_ = gNextId++ & 0x7fffffff;
    gEntries.emplace(id_, entry_);
  }
  ~Waker() { Release(); }

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, kName,
                       {InstanceAccessor<&Waker::Id>("id"), InstanceAccessor<&Waker::Closed>("closed"), InstanceMethod<&Waker::WatchDomain>("watchDomain"),
                        InstanceMethod<&Waker::WatchFutex>("watchFutex"), InstanceMethod<&Waker::Close>("close")});
  }

 private:
  Napi::Value Id(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), id_); }
  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !entry_); }

  // watchDomain(domain): wake() signals every completion queue with a wait object that is
  // open in this domain, now or later.
  Napi::Value WatchDomain(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "watchDomain", {{"domain", Arg::Object}})) return env.Undefined();
    if (!entry_) { ThrowError(env, "MXL_ERR_INVALID_STATE", "watchDomain: the waker is closed", "watchDomain"); return env.Undefined(); }
    auto d = DomainResOf(env, info[0]);
    if (!d) return env.Undefined();
    std::lock_guard<std::mutex> g(entry_->mu);
    entry_->domains.push_back(d->cqSignals);
    return env.Undefined();
  }

  // watchFutex(view: Uint32Array, index): wake() also wakes the waiters of that word (a
  // flow's sync counter; other readers of the flow see one spurious wake-up). The mapping
  // stays mapped until close().
  Napi::Value WatchFutex(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "watchFutex", {{"view", Arg::Object}, {"index", Arg::Integer}})) return env.Undefined();
    if (!entry_) { ThrowError(env, "MXL_ERR_INVALID_STATE", "watchFutex: the waker is closed", "watchFutex"); return env.Undefined(); }
    uint32_t* word = nullptr;
    if (!GetFutexWord(env, info, &word)) return env.Undefined();
    std::lock_guard<std::mutex> g(entry_->mu);
    ClearFutex(*entry_);
    entry_->futex = word;
    entry_->futexPin = PinMapping(word, sizeof(uint32_t));
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  void Release() {
    if (!entry_) return;
    {
      std::lock_guard<std::mutex> g(gMu);
      gEntries.erase(id_);
    }
    {
      std::lock_guard<std::mutex> g(entry_->mu);
      entry_->domains.clear();
      ClearFutex(*entry_);
    }
    entry_.reset();
  }

  uint32_t id_ = 0;
  std::shared_ptr<WakeEntry> entry_;
};

// wake(id) -> number: what it woke (queues signalled + futex waiters); 0 for an unknown id
// (the worker is gone). Never throws on the id.
Napi::Value Wake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id;
  if (!ValidateArgs(info, "wake", {{"id", Arg::Integer}}) || !GetU32(env, info[0], &id, "id")) return env.Null();
  std::shared_ptr<WakeEntry> e;
  {
    std::lock_guard<std::mutex> g(gMu);
    auto it = gEntries.find(id);
    if (it != gEntries.end()) e = it->second;
  }
  if (!e) return Napi::Number::New(env, 0);
  double woke = 0;
  std::lock_guard<std::mutex> g(e->mu);
  for (auto& sig : e->domains) {
    std::lock_guard<std::mutex> dg(sig->mu);
    for (auto& c : sig->list) {
      std::lock_guard<std::mutex> cg(c->mu);  // the owner cannot close it meanwhile
      if (c->cq && fi_cq_signal(c->cq) == 0) woke++;
    }
  }
  if (e->futex) {
    long r = syscall(SYS_futex, e->futex, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
    if (r > 0) woke += (double)r;
  }
  return Napi::Number::New(env, woke);
}

}  // namespace

void InitWaker(Napi::Env env, Napi::Object exports) {
  exports.Set(Waker::kName, Waker::Define(env));
  exports.Set("wake", Napi::Function::New(env, Wake, "wake"));
}

}  // namespace mxlf
