// Shared-memory primitives for MXL domains (docs/domain.md, docs/domain-format.md §3.7): mmap as external
// ArrayBuffers, flock, posix_fallocate, shared futex wait/wake, CLOCK_TAI, renameat2.
// Everything here is stateless per environment, so it works unchanged in worker threads.
#include "common.h"

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/magic.h>
#include <mutex>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <unordered_map>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef CLOCK_TAI
#define CLOCK_TAI 11
#endif

namespace mxlf {
namespace {

// One live mapping. Owned by the registry until both the ArrayBuffer is finalized (or
// explicitly unmapped) and no async futex wait still points into it.
struct Mapping {
  void* addr;
  size_t len;
  bool detached = false;  // explicit unmap requested: JS can no longer reach the memory
  int waiters = 0;        // pins: async futex waits in flight, memory registrations open
  bool finalized = false; // the ArrayBuffer's finalizer ran (always last for this struct's owner)
  bool unmapped = false;
};

// Process-wide, keyed by address: a live mapping's address is unique in the process, and
// the registry holds no JS values, so it is safe across worker threads.
std::mutex gMu;
std::unordered_map<uintptr_t, Mapping*> gMaps;

Mapping* FindContaining(uintptr_t p, size_t n) {
  // Mappings are few (one per flow file); a linear scan is fine and avoids an ordered map.
  for (auto& kv : gMaps) {
    Mapping* m = kv.second;
    uintptr_t a = reinterpret_cast<uintptr_t>(m->addr);
    if (p >= a && p + n <= a + m->len) return m;
  }
  return nullptr;
}

// Called with gMu held. Unmaps once nothing can touch the range any more; frees the struct
// only after the finalizer ran too, because detaching schedules the finalizer for later.
void MaybeRelease(Mapping* m) {
  if ((m->finalized || m->detached) && m->waiters == 0 && !m->unmapped) {
    gMaps.erase(reinterpret_cast<uintptr_t>(m->addr));
    munmap(m->addr, m->len);
    m->unmapped = true;
  }
  if (m->finalized && m->unmapped) delete m;
}

void FinalizeMapping(napi_env, void*, void* hint) {
  std::lock_guard<std::mutex> lock(gMu);
  Mapping* m = static_cast<Mapping*>(hint);
  m->finalized = true;
  MaybeRelease(m);
}

}  // namespace

void* PinMapping(const void* p, size_t n) {
  std::lock_guard<std::mutex> lock(gMu);
  Mapping* m = FindContaining(reinterpret_cast<uintptr_t>(p), n);
  if (!m || m->detached) return nullptr;
  m->waiters++;
  return m;
}

void UnpinMapping(void* pin) {
  if (!pin) return;
  std::lock_guard<std::mutex> lock(gMu);
  Mapping* m = static_cast<Mapping*>(pin);
  m->waiters--;
  MaybeRelease(m);
}

namespace {

bool GetInt(Napi::Env env, const Napi::Value& v, int* out, const char* what) {
  if (!v.IsNumber()) { ThrowArg(env, std::string(what) + " must be a number"); return false; }
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != std::floor(d) || d < INT_MIN || d > INT_MAX) { ThrowArg(env, std::string(what) + " must be an int32"); return false; }
  *out = static_cast<int>(d);
  return true;
}

// mmap(fd, length, writable, populate) -> ArrayBuffer (external, zero-copy, MAP_SHARED from
// offset 0). populate = MAP_POPULATE: the page tables are filled now, so the first write or
// RDMA landing in each page does not take a fault (docs/domain.md, "Prefaulted payloads").
Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ValidateArgs(info, "mmap", {{"fd", Arg::Number}, {"length", Arg::Integer}, {"writable", Arg::Any, true}, {"populate", Arg::Any, true}})) return env.Undefined();
  int fd;
  uint64_t len;
  if (!GetInt(env, info[0], &fd, "fd") || !GetU64(env, info[1], &len, "length")) return env.Undefined();
  bool writable = info[2].ToBoolean().Value();
  bool populate = info.Length() > 3 && info[3].ToBoolean().Value();
  if (len == 0) { ThrowArg(env, "mmap length must be > 0"); return env.Undefined(); }
  void* p = mmap(nullptr, len, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
  if (p == MAP_FAILED) { ThrowSys(env, "mmap", errno, "fd " + std::to_string(fd)); return env.Undefined(); }
  Mapping* m = new Mapping{p, static_cast<size_t>(len)};
  {
    std::lock_guard<std::mutex> lock(gMu);
    gMaps[reinterpret_cast<uintptr_t>(p)] = m;
  }
  napi_value ab;
  napi_status st = napi_create_external_arraybuffer(env, p, len, FinalizeMapping, m, &ab);
  if (st != napi_ok) {
    std::lock_guard<std::mutex> lock(gMu);
    gMaps.erase(reinterpret_cast<uintptr_t>(p));
    munmap(p, len);
    delete m;
    ThrowError(env, "MXL_ERR_INTERNAL", "napi_create_external_arraybuffer failed", "mmap");
    return env.Undefined();
  }
  return Napi::Value(env, ab);
}

// munmap(arrayBuffer): detaches the buffer (length becomes 0) and unmaps now, or as soon as
// the last async futex wait on it returns. Unmapping twice is a no-op.
Napi::Value Munmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ValidateArgs(info, "munmap", {{"buffer", Arg::Bytes}})) return env.Undefined();
  if (!info[0].IsArrayBuffer()) { ThrowArg(env, "munmap expects the ArrayBuffer returned by mmap"); return env.Undefined(); }
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  if (ab.IsDetached()) return Napi::Boolean::New(env, false);
  uintptr_t p = reinterpret_cast<uintptr_t>(ab.Data());
  std::lock_guard<std::mutex> lock(gMu);
  auto it = gMaps.find(p);
  if (it == gMaps.end() || it->second->len != ab.ByteLength() || it->second->detached) {
    ThrowArg(env, "munmap: this ArrayBuffer is not a live mapping from mmap");
    return env.Undefined();
  }
  // Detach first so no JS view can reach the pages once they are gone.
  ab.Detach();
  if (env.IsExceptionPending()) return env.Undefined();
  it->second->detached = true;
  MaybeRelease(it->second);
  return Napi::Boolean::New(env, true);
}

// flock(fd, op) -> 0 or -errno. Never throws for a lock conflict (EWOULDBLOCK).
Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ValidateArgs(info, "flock", {{"fd", Arg::Number}, {"op", Arg::Number}})) return env.Undefined();
  int fd, op;
  if (!GetInt(env, info[0], &fd, "fd") || !GetInt(env, info[1], &op, "op")) return env.Undefined();
  int r;
  do { r = flock(fd, op); } while (r != 0 && errno == EINTR);
  return Napi::Number::New(env, r == 0 ? 0 : -errno);
}

Napi::Value Fallocate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ValidateArgs(info, "fallocate", {{"fd", Arg::Number}, {"offset", Arg::Integer}, {"length", Arg::Integer}})) return env.Undefined();
  int fd;
  uint64_t off, len;
  if (!GetInt(env, info[0], &fd, "fd") || !GetU64(env, info[1], &off, "offset") || !GetU64(env, info[2], &len, "length"))
    return env.Undefined();
  int r;
  do { r = posix_fallocate(fd, static_cast<off_t>(off), static_cast<off_t>(len)); } while (r == EINTR);
  if (r != 0) ThrowSys(env, "posix_fallocate", r, std::to_string(len) + " bytes");
  return env.Undefined();
}

}  // namespace

// Resolves (view, index) to the address of a naturally aligned u32 inside a live mapping
// or any other ArrayBuffer-backed Uint32Array.
bool GetFutexWord(Napi::Env env, const Napi::CallbackInfo& info, uint32_t** word) {
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    ThrowArg(env, "futex: expected a Uint32Array");
    return false;
  }
  Napi::Uint32Array view = info[0].As<Napi::Uint32Array>();
  uint32_t index;
  if (!GetU32(env, info[1], &index, "index")) return false;
  if (index >= view.ElementLength()) { ThrowError(env, "MXL_ERR_OUT_OF_RANGE_TOO_LATE", "futex: index outside the view", "futex"); return false; }
  *word = view.Data() + index;
  return true;
}

namespace {

// Milliseconds (number; negative or Infinity = forever) -> relative timespec.
bool GetTimeout(Napi::Env env, const Napi::Value& v, bool* forever, timespec* ts) {
  *forever = true;
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsNumber()) { ThrowArg(env, "timeoutMs must be a number"); return false; }
  double ms = v.As<Napi::Number>().DoubleValue();
  if (std::isnan(ms)) { ThrowArg(env, "timeoutMs is NaN"); return false; }
  if (ms < 0 || std::isinf(ms)) return true;
  *forever = false;
  double s = std::floor(ms / 1000.0);
  ts->tv_sec = static_cast<time_t>(s);
  ts->tv_nsec = static_cast<long>((ms - s * 1000.0) * 1e6);
  if (ts->tv_nsec >= 1000000000L) { ts->tv_sec++; ts->tv_nsec -= 1000000000L; }
  return true;
}

// Shared (not FUTEX_PRIVATE) wait: the kernel keys it on the file page, so writers in other
// processes, upstream C++ included, wake us. Returns 0 or an errno.
int DoFutexWait(uint32_t* word, uint32_t expected, bool forever, const timespec& ts) {
  long r = syscall(SYS_futex, word, FUTEX_WAIT, expected, forever ? nullptr : &ts, nullptr, 0);
  return r == 0 ? 0 : errno;
}

Napi::Value WaitResult(Napi::Env env, int err) {
  switch (err) {
    case 0: return Napi::String::New(env, "ok");
    case ETIMEDOUT: return Napi::String::New(env, "timeout");
    case EAGAIN: return Napi::String::New(env, "again");
    case EINTR: return Napi::String::New(env, "interrupted");
    default: return Napi::Number::New(env, -err);
  }
}

// Arguments shared by both waits: (view, index, expected, timeoutMs). False after throwing.
struct WaitArgs {
  uint32_t* word;
  uint32_t expected;
  bool forever;
  timespec ts{};
};
bool GetWaitArgs(Napi::Env env, const Napi::CallbackInfo& info, WaitArgs* a) {
  return GetFutexWord(env, info, &a->word) && GetU32(env, info[2], &a->expected, "expected") && GetTimeout(env, info[3], &a->forever, &a->ts);
}

Napi::Value FutexWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  WaitArgs a;
  if (!GetWaitArgs(env, info, &a)) return env.Undefined();
  return WaitResult(env, DoFutexWait(a.word, a.expected, a.forever, a.ts));
}

// The async wait runs on the libuv threadpool. It pins the view (a reference) and the
// mapping (waiters count) so neither GC nor an explicit munmap can free the page under it.
class FutexWaitWork : public Napi::AsyncWorker {
 public:
  FutexWaitWork(Napi::Env env, Napi::Object view, uint32_t* word, uint32_t expected, bool forever, timespec ts, Mapping* m)
      : Napi::AsyncWorker(env, "mxlFutexWait"), deferred_(Napi::Promise::Deferred::New(env)), word_(word),
        expected_(expected), forever_(forever), ts_(ts), mapping_(m) {
    view_ = Napi::Persistent(view);
  }
  ~FutexWaitWork() override { Unpin(); }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { err_ = DoFutexWait(word_, expected_, forever_, ts_); }
  void OnOK() override {
    Unpin();
    deferred_.Resolve(WaitResult(Env(), err_));
  }
  void OnError(const Napi::Error& e) override {
    Unpin();
    deferred_.Reject(e.Value());
  }

 private:
  void Unpin() {
    if (mapping_) {
      std::lock_guard<std::mutex> lock(gMu);
      mapping_->waiters--;
      MaybeRelease(mapping_);
      mapping_ = nullptr;
    }
    if (!view_.IsEmpty()) view_.Reset();
  }
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference view_;
  uint32_t* word_;
  uint32_t expected_;
  bool forever_;
  timespec ts_;
  Mapping* mapping_;
  int err_ = 0;
};

Napi::Value FutexWaitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  WaitArgs a;
  if (!GetWaitArgs(env, info, &a)) return env.Undefined();
  uint32_t* word = a.word;
  uint32_t expected = a.expected;
  bool forever = a.forever;
  timespec ts = a.ts;
  Mapping* m;
  {
    std::lock_guard<std::mutex> lock(gMu);
    m = FindContaining(reinterpret_cast<uintptr_t>(word), sizeof(uint32_t));
    if (m) m->waiters++;
  }
  auto* work = new FutexWaitWork(env, info[0].As<Napi::Object>(), word, expected, forever, ts, m);
  Napi::Promise p = work->Promise();
  work->Queue();
  return p;
}

Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ValidateArgs(info, "futexWake", {{"view", Arg::Bytes}, {"index", Arg::Number}, {"count", Arg::Integer, true}})) return env.Undefined();
  uint32_t* word;
  uint32_t count = INT_MAX;
  if (!GetFutexWord(env, info, &word)) return env.Undefined();
  if (info.Length() > 2 && !info[2].IsUndefined() && !GetU32(env, info[2], &count, "count")) return env.Undefined();
  if (count > INT_MAX) count = INT_MAX;
  long r = syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0);
  return Napi::Number::New(env, r < 0 ? -errno : static_cast<double>(r));
}

Napi::Value ClockTai(const Napi::CallbackInfo& info) {
  timespec ts;
  if (clock_gettime(CLOCK_TAI, &ts) != 0) { ThrowSys(info.Env(), "clock_gettime(CLOCK_TAI)", errno); return info.Env().Undefined(); }
  uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  return Napi::BigInt::New(info.Env(), ns);
}

// renameNoReplace(from, to) -> 0, or -EEXIST / -ENOTEMPTY when the target exists; throws otherwise.
Napi::Value RenameNoReplace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ValidateArgs(info, "renameNoReplace", {{"from", Arg::String}, {"to", Arg::String}})) return env.Undefined();
  if (!info[0].IsString() || !info[1].IsString()) { ThrowArg(env, "renameNoReplace(from, to) expects two paths"); return env.Undefined(); }
  std::string from = info[0].As<Napi::String>(), to = info[1].As<Napi::String>();
  long r = syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE);
  if (r == 0) return Napi::Number::New(env, 0);
  int e = errno;
  if (e == EEXIST || e == ENOTEMPTY) return Napi::Number::New(env, -e);
  ThrowSys(env, "renameat2", e, from + " -> " + to);
  return env.Undefined();
}

// touchAtime(fd): atime = now, mtime untouched (what upstream readers do to `access`, docs/domain-format.md §3.6).
Napi::Value TouchAtime(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ValidateArgs(info, "touchAtime", {{"fd", Arg::Number}})) return env.Undefined();
  int fd;
  if (!GetInt(env, info[0], &fd, "fd")) return env.Undefined();
  timespec t[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
  return Napi::Number::New(env, futimens(fd, t) == 0 ? 0 : -errno);
}

// isTmpfs(path) -> true for tmpfs or ramfs (what upstream's mxlIsTmpFs accepts).
Napi::Value IsTmpfs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ValidateArgs(info, "isTmpfs", {{"path", Arg::String}})) return env.Undefined();
  if (!info[0].IsString()) { ThrowArg(env, "isTmpfs(path) expects a path"); return env.Undefined(); }
  std::string p = info[0].As<Napi::String>();
  struct statfs s;
  if (statfs(p.c_str(), &s) != 0) { ThrowSys(env, "statfs", errno, p); return env.Undefined(); }
  return Napi::Boolean::New(env, s.f_type == TMPFS_MAGIC || s.f_type == RAMFS_MAGIC);
}

// setTimerSlack(ns) -> the calling thread's previous timer slack in ns, or -errno.
// Linux lets a sleeping thread wake up to its slack late (50 µs by default); a worker that
// polls a manual-progress provider in 50 µs pauses sleeps ~135 µs each time without this.
Napi::Value SetTimerSlack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ValidateArgs(info, "setTimerSlack", {{"ns", Arg::Number}})) return env.Undefined();
  int ns;
  if (!GetInt(env, info[0], &ns, "ns")) return env.Undefined();
  if (ns < 1) { ThrowArg(env, "setTimerSlack(ns) expects ns >= 1 (0 would restore the default)"); return env.Undefined(); }
  int prev = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
  if (prctl(PR_SET_TIMERSLACK, (unsigned long)ns, 0, 0, 0) != 0) return Napi::Number::New(env, -errno);
  return Napi::Number::New(env, prev);
}

// yieldCpu(): sched_yield(). A busy-polling worker calls it on a pass that found nothing, so
// the threads it shares a core with (source writer, readers, main threads) run first; with
// nobody waiting it returns at once and the worker spins on.
Napi::Value YieldCpu(const Napi::CallbackInfo& info) {
  sched_yield();
  return info.Env().Undefined();
}

// Number of live mappings in this process (leak checks in tests).
Napi::Value MappingCount(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(gMu);
  return Napi::Number::New(info.Env(), static_cast<double>(gMaps.size()));
}

}  // namespace

void InitShm(Napi::Env env, Napi::Object exports) {
  exports.Set("mmap", Napi::Function::New(env, Mmap, "mmap"));
  exports.Set("munmap", Napi::Function::New(env, Munmap, "munmap"));
  exports.Set("flock", Napi::Function::New(env, Flock, "flock"));
  exports.Set("fallocate", Napi::Function::New(env, Fallocate, "fallocate"));
  exports.Set("futexWait", Napi::Function::New(env, FutexWait, "futexWait"));
  exports.Set("futexWaitAsync", Napi::Function::New(env, FutexWaitAsync, "futexWaitAsync"));
  exports.Set("futexWake", Napi::Function::New(env, FutexWake, "futexWake"));
  exports.Set("clockTai", Napi::Function::New(env, ClockTai, "clockTai"));
  exports.Set("renameNoReplace", Napi::Function::New(env, RenameNoReplace, "renameNoReplace"));
  exports.Set("touchAtime", Napi::Function::New(env, TouchAtime, "touchAtime"));
  exports.Set("isTmpfs", Napi::Function::New(env, IsTmpfs, "isTmpfs"));
  exports.Set("setTimerSlack", Napi::Function::New(env, SetTimerSlack, "setTimerSlack"));
  exports.Set("mappingCount", Napi::Function::New(env, MappingCount, "mappingCount"));
  exports.Set("yieldCpu", Napi::Function::New(env, YieldCpu, "yieldCpu"));
  Napi::Object lock = Napi::Object::New(env);
  lock.Set("SH", LOCK_SH);
  lock.Set("EX", LOCK_EX);
  lock.Set("NB", LOCK_NB);
  lock.Set("UN", LOCK_UN);
  exports.Set("LOCK", lock);
}

}  // namespace mxlf
