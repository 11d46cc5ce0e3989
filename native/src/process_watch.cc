// ProcessWatch: whether another local process has exited, through a pidfd (Linux >= 5.3),
// so a reused pid can never look alive. An shm initiator asks it before each write to a
// target: libfabric 1.17's shm write spins on a lock inside the target's shared region,
// and a target killed while holding that lock would hold it forever (docs/sessions.md,
// "shm: a killed target's region lock").
#include "common.h"

#include <cerrno>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434  // the same number on every architecture that has it
#endif

namespace mxlf {
namespace {

class ProcessWatch : public Napi::ObjectWrap<ProcessWatch> {
 public:
  static constexpr const char* kName = "ProcessWatch";
  // new ProcessWatch(pid): throws MXL_ERR_NOT_FOUND (errno 3, ESRCH) when no
  // such process exists.
  ProcessWatch(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessWatch>(info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "ProcessWatch", {{"pid", Arg::Number}})) return;
    uint32_t pid;
    if (!GetU32(env, info[0], &pid, "pid")) return;
    if (pid == 0 || pid > 0x3fffffff) { ThrowArg(env, "ProcessWatch: pid out of range"); return; }
    long fd = syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (fd >= 0) {
      fd_ = (int)fd;
      return;
    }
    int e = errno;
    if (e != ENOSYS) { ThrowSys(env, "pidfd_open", e, "pid " + std::to_string(pid)); return; }
    // Kernel without pidfd_open: kill(pid, 0), which cannot tell a reused pid.
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) { ThrowSys(env, "kill", ESRCH, "pid " + std::to_string(pid)); return; }
    pid_ = (pid_t)pid;
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
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }
  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fd_ < 0 && pid_ == 0); }

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, kName,
                       {InstanceMethod("exited", &ProcessWatch::Exited), InstanceMethod("close", &ProcessWatch::Close),
                        InstanceAccessor("closed", &ProcessWatch::Closed, nullptr)});
  }

 private:
  void Release() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    pid_ = 0;
  }
  int fd_ = -1;
  pid_t pid_ = 0;
};

}  // namespace

void InitProcessWatch(Napi::Env env, Napi::Object exports) {
  exports.Set("ProcessWatch", ProcessWatch::Define(env));
}

}  // namespace mxlf
