// ProcessWatch: whether another local process has exited, through a pidfd (Linux >= 5.3),
// so a reused pid can never look alive. An shm initiator watches each target's process
// (docs/sessions.md, "shm: a killed target's region lock"): libfabric 1.17's shm write spins
// on a process-shared spinlock inside the target's region, and a target killed while it
// held that lock leaves it held for good.
//
// Given the target's region file as well, the watch also releases that lock when the
// process exits holding it: a thread waits on the pidfd and, once the owner is gone, puts a
// held lock back to free, so a write already spinning on it returns (into a region nobody
// reads any more). Only for libfabric 1.17's region layout and only while the header still
// names the dead owner.
#include "common.h"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434  // the same number on every architecture that has it
#endif

namespace mxlf {
namespace {

// libfabric 1.17 smr_region header: u8 version (4), u8, u16 flags, i32 pid, ..., the
// pthread_spinlock_t at byte 24 (glibc x86-64 and aarch64: free > 0, held <= 0 on x86-64;
// aarch64 glibc uses 0 free / non-zero held, so the release is x86-64 only).
constexpr uint8_t kSmrVersion117 = 4;
constexpr size_t kPidOffset = 4;
constexpr size_t kLockOffset = 24;
constexpr size_t kMapBytes = 4096;

class ProcessWatch : public Napi::ObjectWrap<ProcessWatch> {
 public:
  static constexpr const char* kName = "ProcessWatch";
  // new ProcessWatch(pid, regionPath?): throws MXL_ERR_NOT_FOUND (errno 3, ESRCH) when no
  // such process exists.
  ProcessWatch(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessWatch>(info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "ProcessWatch", {{"pid", Arg::Number}, {"regionPath", Arg::String, true}})) return;
    uint32_t pid;
    if (!GetU32(env, info[0], &pid, "pid")) return;
    if (pid == 0 || pid > 0x3fffffff) { ThrowArg(env, "ProcessWatch: pid out of range"); return; }
    long fd = syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (fd < 0) {
      int e = errno;
      if (e != ENOSYS) { ThrowSys(env, "pidfd_open", e, "pid " + std::to_string(pid)); return; }
      // Kernel without pidfd_open: kill(pid, 0), which cannot tell a reused pid; no lock release.
      if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) { ThrowSys(env, "kill", ESRCH, "pid " + std::to_string(pid)); return; }
      pid_ = (pid_t)pid;
      return;
    }
    fd_ = (int)fd;
    pid_ = (pid_t)pid;
    if (info.Length() > 1 && info[1].IsString()) StartRelease(env, info[1].As<Napi::String>());
  }
  ~ProcessWatch() { Release(); }

  // exited() -> true once the process has terminated (a zombie counts as exited).
  Napi::Value Exited(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ >= 0) {
      pollfd p{fd_, POLLIN, 0};
      int r = poll(&p, 1, 0);
      // EINTR or another poll failure: not known to have exited; asked again at the next write.
      return Napi::Boolean::New(env, r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0);
    }
    if (pid_ > 0) return Napi::Boolean::New(env, kill(pid_, 0) != 0 && errno == ESRCH);
    ThrowError(env, "MXL_ERR_INVALID_STATE", "ProcessWatch is closed");
    return env.Undefined();
  }
  // releasedLock: the process exited holding its region's lock, and the watch released it.
  Napi::Value ReleasedLock(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), released_.load()); }
  // releasing: a region is watched for a lock to release (false: no region, or not x86-64).
  Napi::Value Releasing(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), map_ != nullptr); }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }
  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fd_ < 0 && pid_ == 0); }

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, kName,
                       {InstanceMethod("exited", &ProcessWatch::Exited), InstanceMethod("close", &ProcessWatch::Close),
                        InstanceAccessor("releasedLock", &ProcessWatch::ReleasedLock, nullptr),
                        InstanceAccessor("releasing", &ProcessWatch::Releasing, nullptr),
                        InstanceAccessor("closed", &ProcessWatch::Closed, nullptr)});
  }

 private:
  void StartRelease(Napi::Env env, const std::string& path) {
#if defined(__x86_64__)
    int rfd = open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (rfd < 0) return;  // not ours to write: the watch still answers exited()
    void* m = mmap(nullptr, kMapBytes, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);
    close(rfd);
    if (m == MAP_FAILED) return;
    auto* b = static_cast<uint8_t*>(m);
    if (b[0] != kSmrVersion117 || __atomic_load_n(reinterpret_cast<int32_t*>(b + kPidOffset), __ATOMIC_ACQUIRE) != pid_) {
      munmap(m, kMapBytes);
      return;
    }
    stop_ = eventfd(0, EFD_CLOEXEC);
    if (stop_ < 0) {
      munmap(m, kMapBytes);
      return;
    }
    map_ = b;
    thread_ = std::thread([this] { WaitAndRelease(); });
#else
    (void)env;
    (void)path;
#endif
  }

  // The thread: waits for the process to exit (or for Release), then frees a held lock once.
  void WaitAndRelease() {
    pollfd p[2] = {{fd_, POLLIN, 0}, {stop_, POLLIN, 0}};
    for (;;) {
      int r = poll(p, 2, -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 || (p[1].revents & POLLIN)) return;
      if (p[0].revents) break;
    }
    auto* pid = reinterpret_cast<int32_t*>(map_ + kPidOffset);
    auto* lock = reinterpret_cast<int32_t*>(map_ + kLockOffset);
    // The header still names the dead owner (a restarted target reusing the name writes
    // its own pid last, after it initialised the lock), and the lock is held.
    if (map_[0] != kSmrVersion117 || __atomic_load_n(pid, __ATOMIC_ACQUIRE) != pid_) return;
    if (__atomic_load_n(lock, __ATOMIC_ACQUIRE) > 0) return;
    __atomic_store_n(lock, 1, __ATOMIC_RELEASE);
    released_.store(true);
  }

  void Release() {
    if (thread_.joinable()) {
      uint64_t one = 1;
      ssize_t w = write(stop_, &one, sizeof one);
      (void)w;
      thread_.join();
    }
    if (stop_ >= 0) close(stop_);
    stop_ = -1;
    if (map_) munmap(map_, kMapBytes);
    map_ = nullptr;
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    pid_ = 0;
  }

  int fd_ = -1;
  pid_t pid_ = 0;
  int stop_ = -1;
  uint8_t* map_ = nullptr;
  std::thread thread_;
  std::atomic<bool> released_{false};
};

}  // namespace

void InitProcessWatch(Napi::Env env, Napi::Object exports) {
  exports.Set("ProcessWatch", ProcessWatch::Define(env));
}

}  // namespace mxlf
