// The resources behind the addon's libfabric objects, shared with the other native modules
// (follow_loop.cc) that post and read on them. Each holds shared_ptrs to what it depends
// on, so fi_close runs in a valid order whatever order the owners release them in.
#pragma once
#include "common.h"
#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <memory>
#include <mutex>
#include <vector>

namespace mxlf {

// Completion records, as CompletionQueue.drain()/sread() hand them to JavaScript and the
// follow loop reads them: 4 x u64 per completion
//   [0] op_context  [1] flags (kErrBit set = error entry)  [2] data (or err)  [3] len (or prov_errno)
constexpr uint64_t kErrBit = 1ull << 63;
constexpr size_t kRecWords = 4;

// Reads at most `max` completions of `cq` into `out` (max * kRecWords words), error entries
// included, waiting up to timeoutMs for the first when timeoutMs > 0 (the queue must have a
// wait object). Returns the records written; a read that fails before any record returns
// its negative libfabric error, one that fails later stops there (the next call reports it:
// an error entry whose readerr failed is still queued). An empty queue or a timeout is 0.
ssize_t ReadCompletions(fid_cq* cq, uint64_t* out, size_t max, int timeoutMs);

struct FabricRes {
  fid_fabric* fab = nullptr;
  ~FabricRes() { if (fab) fi_close(&fab->fid); }
};
// What another thread may do to a completion queue: fi_cq_signal, under `mu`, while `cq`
// is set. The queue's owner clears `cq` under the same lock before it closes the queue, so
// a Waker (waker.cc) never signals a closed queue and never owns (or closes) one.
struct CqSignal {
  std::mutex mu;
  fid_cq* cq = nullptr;
};
// The signal handles of the waitable queues opened in one domain.
struct CqSignals {
  std::mutex mu;
  std::vector<std::shared_ptr<CqSignal>> list;
};
struct DomainRes {
  fid_domain* dom = nullptr;
  fi_info* info = nullptr;
  std::shared_ptr<FabricRes> fabric;
  std::shared_ptr<CqSignals> cqSignals = std::make_shared<CqSignals>();
  ~DomainRes() {
    if (dom) fi_close(&dom->fid);
    if (info) fi_freeinfo(info);
  }
};
struct EqRes {
  fid_eq* eq = nullptr;
  std::shared_ptr<FabricRes> fabric;
  ~EqRes() { if (eq) fi_close(&eq->fid); }
};
struct CqRes {
  fid_cq* cq = nullptr;
  bool waitable = false;  // opened with a wait object: fi_cq_sread works
  std::shared_ptr<DomainRes> domain;
  std::shared_ptr<CqSignal> signal;  // waitable queues: the handle a Waker signals through
  ~CqRes() {
    if (signal) {
      std::lock_guard<std::mutex> g(signal->mu);
      signal->cq = nullptr;
    }
    if (cq) fi_close(&cq->fid);
  }
};
struct AvRes {
  fid_av* av = nullptr;
  std::shared_ptr<DomainRes> domain;
  ~AvRes() { if (av) fi_close(&av->fid); }
};
struct MrRes {
  fid_mr* mr = nullptr;
  uint8_t* base = nullptr;
  size_t len = 0;
  void* desc = nullptr;
  std::shared_ptr<DomainRes> domain;
  void* pin = nullptr;  // keeps an mmap'ed flow file mapped until the registration is closed
  ~MrRes() {
    if (mr) fi_close(&mr->fid);
    UnpinMapping(pin);  // after fi_close: the NIC may touch the pages until then
  }
};
struct PepRes {
  fid_pep* pep = nullptr;
  std::shared_ptr<FabricRes> fabric;
  std::shared_ptr<EqRes> eq;
  ~PepRes() { if (pep) fi_close(&pep->fid); }
};
struct EpRes {
  fid_ep* ep = nullptr;
  std::shared_ptr<DomainRes> domain;
  std::vector<std::shared_ptr<void>> bound;  // cq/eq/av kept open while the endpoint is
  ~EpRes() {
    if (ep) fi_close(&ep->fid);
    bound.clear();
  }
};

// The resource of a JS CompletionQueue / Endpoint / MemoryRegion (open), or null with a
// FabricsError thrown (MXL_ERR_INVALID_ARG: another object; MXL_ERR_INVALID_STATE: closed).
std::shared_ptr<CqRes> CqResOf(Napi::Env env, const Napi::Value& v);
std::shared_ptr<DomainRes> DomainResOf(Napi::Env env, const Napi::Value& v);
std::shared_ptr<EpRes> EpResOf(Napi::Env env, const Napi::Value& v);
std::shared_ptr<MrRes> MrResOf(Napi::Env env, const Napi::Value& v);

}  // namespace mxlf
