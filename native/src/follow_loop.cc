// FollowLoop: an initiator's follow mode, in the addon (docs/native.md "The native follow
// loop"). It watches the source flow's head (futex), posts each committed grain or slice
// range to every lane (a connected target), does the torn check and the commit write when
// a payload write completes, and appends one small record per outcome
// to a caller-owned Float64Array. Completions that are not its own (liveness probes and
// any write JavaScript posted) are handed back, so JavaScript keeps owning sessions,
// connection events and liveness. The wire and the flow format are the JavaScript
// engine's (docs/protocol.md §4.3-4.6): same writes, same immediates, same headers.
// Audio (continuous flows, docs/protocol.md §4.7) runs the same loop with windows instead of grains: each
// new run of committed samples is copied once into a registered staging buffer and sent to
// every lane as one write of two segments (the lane's entry header, the staged payload)
// into its next bounce entry, immediate = the entry index, as SampleSender does.
#include "fabric_objects.h"
#include <linux/futex.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <algorithm>
#include <cstring>
#include <deque>
#include <random>
#include <unordered_map>

namespace mxlf {
namespace {

// Flow `data` file and grain header layout (docs/domain-format.md).
constexpr size_t kFlowDataSize = 2064;
constexpr size_t kHeadIndexOff = 200;
constexpr size_t kSyncCounterOff = 2056;
constexpr size_t kGrainHeaderSize = 8192;
constexpr size_t kOffVersion = 0, kOffInfoSize = 4, kOffIndex = 8, kOffFlags = 16, kOffGrainSize = 20, kOffTotal = 24,
                 kOffValid = 26;
constexpr size_t kCommitBytes = kOffValid + 2;  // a commit writes the header up to validSlices
constexpr uint32_t kGrainVersion = 1, kGrainInfoSize = 4096, kFlagInvalid = 1;
constexpr size_t kScratchStride = 64, kScratchPerChunk = 256;
constexpr uint32_t kEntryHeader = 16;  // audio bounce entry: u64 head index, u64 sample count
// Control block words (src/ipc/control-block.ts): stop, doorbell sequence, poll mode.
constexpr size_t kCtlStop = 16, kCtlDoorbell = 17, kCtlMode = 18, kCtlWords = 19;
constexpr int kModeBusy = 0, kModeHybrid = 1;
// Native writes have bit 31 of the context's low word set; JavaScript's never do.
constexpr uint32_t kNativeSeq = 0x80000000u;
constexpr uint64_t kCheckEveryNs = 5'000'000;  // stall checks and sread slices while writes are in flight

// Event records: 8 doubles each, after a header of kHeaderWords (word 0 = record count).
constexpr size_t kEvWords = 8, kHeaderWords = 8;
enum EvKind : int {
  kEvPosted = 1,      // index, start, end, [4] lanes posted, [6] lanes skipped
  kEvCompleted = 2,   // index, start, end, [4] bytes, [5] done ns, [6] latency ns, [7] lane
  kEvOverrun = 3,     // as completed; the local slot was reopened meanwhile (protection off)
  kEvTorn = 4,        // index, start, end, [4] bytes, [5] ns, [7] lane: committed as INVALID
  kEvFellBehind = 5,  // [4] grains skipped
  kEvRefused = 6,     // index, [4] 1 = overwritten (TOO_LATE), 2 = not written yet (TOO_EARLY)
  kEvLaneFailed = 7,  // [4] why (1 error completion, 2 stall, 3 post failed), [6] errno/status, [7] lane
  kEvDeferred = 8,    // [7] lane: the provider said EAGAIN; the write stays queued
  kEvSkipped = 9,     // index, [7] lane: too many writes in flight, or its slot still busy
};
// Audio records use the same kinds: index = the window's end (head index), [2] = sample
// count, [3] = 0; fell behind: [4] = 1 per skip (as the JavaScript loop counts them).
// Header words: [0] records, [1] passes, [2] passes with work.

uint64_t NowNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);  // what process.hrtime.bigint() reads
  return (uint64_t)t.tv_sec * 1'000'000'000ull + (uint64_t)t.tv_nsec;
}

template <class T>
T LoadAt(const uint8_t* base, size_t off) {
  return __atomic_load_n(reinterpret_cast<const T*>(base + off), __ATOMIC_SEQ_CST);
}

struct Group {  // one transfer (slice range of a grain, or audio window) to one lane
  uint64_t index, postNs, bytes = 0;
  uint32_t remaining, remoteSlot;
  uint16_t start, end, validAtPost;
  uint32_t count = 0;  // audio: samples per channel
};

struct Op {
  enum Kind : uint8_t { kPayload, kCommit, kWindow } kind;
  bool last;  // protection off: the transfer's last write
  int scratch = -1;
  int staging = -1;  // audio: the staging buffer the second segment reads
  uint32_t gid;
  uint8_t* src;
  size_t len;
  void* desc;
  uint8_t* src2 = nullptr;  // a second segment (audio: the staged payload after the entry header)
  size_t len2 = 0;
  void* desc2 = nullptr;
  uint64_t raddr, rkey;
  int64_t imm;  // -1: none
  uint64_t postNs = 0;
};

// Registered memory the loop sends from: commit headers, audio entry headers and staging.
struct Registered {
  std::unique_ptr<uint8_t[]> buf;
  size_t bytes = 0;
  std::shared_ptr<MrRes> mr;
  ~Registered() { mr.reset(); }  // deregister before the memory goes
};

struct Lane {
  uint32_t id;
  std::shared_ptr<EpRes> ep;
  uint64_t dest;
  std::vector<std::pair<uint64_t, uint64_t>> regions;  // remote addr, rkey per slot
  std::unordered_map<uint32_t, Op> inflight;
  std::deque<Op> queued;
  std::unordered_map<uint32_t, Group> groups;
  std::unordered_map<uint32_t, std::pair<uint64_t, uint32_t>> busy;  // remote slot -> grain, transfers
  uint64_t bytes = 0;  // completed since the last record for this lane
  // Audio: the target's bounce buffer, our copy of its entry headers, the next entry.
  uint32_t entryCount = 0, entrySize = 0, k = 0;
  std::shared_ptr<Registered> headers;
  // Audio: one past the newest sample sent to this lane (-1: not attached yet), and whether
  // the window being posted goes to it (src/workers/sample-cursors.ts).
  int64_t sent = -1;
  bool takes = false;
  size_t size() const { return inflight.size() + queued.size(); }
};

struct Source {  // the flow it follows and the slots it sends from
  uint8_t* data = nullptr;
  void* dataPin = nullptr;
  std::vector<std::shared_ptr<MrRes>> slots;
  int accessFd = -1;
  ~Source() { UnpinMapping(dataPin); }
};

class FollowLoop : public Napi::ObjectWrap<FollowLoop> {
 public:
  static constexpr const char* kName = "FollowLoop";

  // new FollowLoop(cq, flowData, slotMrs, control, opts)
  //   opts: { maxInFlight, cqDepth, stallTimeoutMs, sread, and either
  //           grainSize, totalSlices, sliceSizes: number[4], protectTorn, accessFd (grains)
  //           or samples: { channels, channelCount, bufferLength, wordSize, syncBatch } (audio;
  //           slotMrs is then empty) }
  FollowLoop(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FollowLoop>(info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "FollowLoop", {{"cq", Arg::Object}, {"flowData", Arg::Bytes}, {"slotMrs", Arg::Array},
                                           {"control", Arg::Object}, {"opts", Arg::Object}}))
      return;
    cq_ = CqResOf(env, info[0]);
    if (!cq_) return;
    waitable_ = cq_->waitable && info[4].As<Napi::Object>().Get("sread").ToBoolean().Value();
    auto src = std::make_shared<Source>();
    size_t n;
    if (!GetBytes(env, info[1], &src->data, &n, "flowData")) return;
    if (n < kFlowDataSize) { ThrowArg(env, "FollowLoop: flowData is smaller than a flow's data file"); return; }
    src->dataPin = PinMapping(src->data, kFlowDataSize);
    Napi::Array mrs = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < mrs.Length(); i++) {
      auto mr = MrResOf(env, mrs.Get(i));
      if (!mr) return;
      src->slots.push_back(mr);
    }
    // A SharedArrayBuffer: its data pointer comes from the typed array (napi has no
    // ArrayBuffer view of a SharedArrayBuffer).
    if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      ThrowArg(env, "FollowLoop: control must be an Int32Array");
      return;
    }
    auto words = info[3].As<Napi::Int32Array>();
    if (words.ElementLength() < kCtlWords) { ThrowArg(env, "FollowLoop: control is smaller than a control block"); return; }
    ctl_ = words.Data();
    ctlRef_ = Napi::Persistent(info[3]);
    Napi::Object o = info[4].As<Napi::Object>();
    uint32_t v;
    auto u32 = [&](const char* k, uint32_t* out) { return GetU32(env, o.Get(k), out, k); };
    if (!u32("maxInFlight", &maxInFlight_) || !u32("cqDepth", &cqDepth_) || !u32("stallTimeoutMs", &v)) return;
    stallNs_ = (uint64_t)v * 1'000'000ull;
    Napi::Value sv = o.Get("samples");
    if (sv.IsObject()) {
      if (!SamplesFrom(env, sv.As<Napi::Object>())) return;
    } else {
      if (src->slots.empty()) { ThrowArg(env, "FollowLoop: slotMrs is empty"); return; }
      if (!u32("grainSize", &grainSize_) || !u32("totalSlices", &v)) return;
      totalSlices_ = (uint16_t)v;
      Napi::Value ss = o.Get("sliceSizes");
      if (!ss.IsArray() || ss.As<Napi::Array>().Length() != 4) { ThrowArg(env, "FollowLoop: sliceSizes must be 4 numbers"); return; }
      for (uint32_t i = 0; i < 4; i++)
        if (!GetU32(env, ss.As<Napi::Array>().Get(i), &sliceSizes_[i], "sliceSizes")) return;
      protectTorn_ = o.Get("protectTorn").ToBoolean().Value();
      int32_t fd = -1;
      Napi::Value fv = o.Get("accessFd");
      if (fv.IsNumber()) fd = fv.As<Napi::Number>().Int32Value();
      src->accessFd = fd;
      size_t need = kGrainHeaderSize + grainSize_;
      for (auto& mr : src->slots)
        if (mr->len < need) { ThrowArg(env, "FollowLoop: a slot region is smaller than a grain"); return; }
    }
    domain_ = cq_->domain;
    if (!samples_) {
      int ret = GrowScratch();
      if (ret) { ThrowFi(env, "fi_mr_reg", ret, "commit scratch headers"); return; }
    }
    dataRef_ = Napi::Persistent(info[1]);
    src_ = src;
    uint64_t head = LoadAt<uint64_t>(src_->data, kHeadIndexOff);
    next_ = head == 0 ? -1 : (int64_t)head + 1;  // headIndex 0: nothing written yet
    lastSync_ = LoadAt<uint32_t>(src_->data, kSyncCounterOff);
  }

  // opts.samples: { channels: ArrayBuffer (the planar channels ring), channelCount,
  // bufferLength, wordSize, syncBatch }.
  bool SamplesFrom(Napi::Env env, Napi::Object so) {
    auto u32 = [&](const char* k, uint32_t* out) { return GetU32(env, so.Get(k), out, k); };
    if (!u32("channelCount", &channelCount_) || !u32("bufferLength", &bufferLength_) || !u32("wordSize", &wordSize_) ||
        !u32("syncBatch", &syncBatch_))
      return false;
    if (channelCount_ == 0 || bufferLength_ < 2 || (wordSize_ != 4 && wordSize_ != 8)) {
      ThrowArg(env, "FollowLoop: samples need channels, a ring of at least 2 samples and 4- or 8-byte words");
      return false;
    }
    if (syncBatch_ == 0) syncBatch_ = 1;
    size_t n;
    if (!GetBytes(env, so.Get("channels"), &chans_, &n, "samples.channels")) return false;
    if (n < (size_t)channelCount_ * bufferLength_ * wordSize_) {
      ThrowArg(env, "FollowLoop: samples.channels is smaller than channelCount x bufferLength x wordSize");
      return false;
    }
    chansPin_ = PinMapping(chans_, n);
    chansRef_ = Napi::Persistent(so.Get("channels"));
    samples_ = true;
    return true;
  }

  // setLane(id, endpoint, destAddr, regions: BigUint64Array [addr, rkey]..., bounce?)
  //   bounce (audio): { entryCount, entrySize } of the target's bounce buffer.
  Napi::Value SetLane(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "setLane", {{"id", Arg::Integer}, {"endpoint", Arg::Object}, {"destAddr", Arg::Integer}, {"regions", Arg::Bytes}, {"bounce", Arg::Any, true}}))
      return env.Undefined();
    if (!Open(env)) return env.Undefined();
    uint32_t id;
    uint64_t dest;
    if (!GetU32(env, info[0], &id, "id") || !GetU64(env, info[2], &dest, "destAddr")) return env.Undefined();
    auto ep = EpResOf(env, info[1]);
    if (!ep) return env.Undefined();
    uint8_t* p;
    size_t n;
    if (!GetBytes(env, info[3], &p, &n, "regions")) return env.Undefined();
    if (n == 0 || n % 16) { ThrowArg(env, "setLane: regions must be [addr, rkey] pairs of u64"); return env.Undefined(); }
    uint32_t entryCount = 0, entrySize = 0;
    if (samples_) {
      if (info.Length() < 5 || !info[4].IsObject()) { ThrowArg(env, "setLane: an audio lane needs bounce { entryCount, entrySize }"); return env.Undefined(); }
      Napi::Object b = info[4].As<Napi::Object>();
      if (!GetU32(env, b.Get("entryCount"), &entryCount, "bounce.entryCount") || !GetU32(env, b.Get("entrySize"), &entrySize, "bounce.entrySize"))
        return env.Undefined();
      if (entryCount == 0 || entryCount > (1u << 20) || entrySize < kEntryHeader + BytesPerSample()) {
        ThrowArg(env, "setLane: the bounce buffer cannot hold one sample per entry");
        return env.Undefined();
      }
    }
    DropLane(id);
    // Memory our writes read must outlive the endpoint, whichever is released first (a
    // provider may still read a queued write until fi_close): the endpoint keeps it.
    for (auto& c : scratch_) ep->bound.push_back(c);
    for (auto& mr : src_->slots) ep->bound.push_back(mr);
    Lane l;
    l.id = id;
    l.ep = ep;
    l.dest = dest;
    const uint64_t* r = reinterpret_cast<const uint64_t*>(p);
    for (size_t i = 0; i < n / 16; i++) l.regions.emplace_back(r[2 * i], r[2 * i + 1]);
    if (samples_) {
      l.entryCount = entryCount;
      l.entrySize = entrySize;
      l.headers = std::make_shared<Registered>();
      int ret = Register(*l.headers, (size_t)kEntryHeader * entryCount);
      if (ret) { ThrowFi(env, "fi_mr_reg", ret, "bounce entry headers"); return env.Undefined(); }
      ep->bound.push_back(l.headers);
      for (auto& st : staging_) ep->bound.push_back(st.reg);
      // A new lane attaches on its own (sent = -1): it is sent the most recent commit, as
      // the JavaScript loop does (docs/protocol.md §4.7, follow mode).
      attachPending_ = true;
    }
    lanes_.push_back(std::move(l));
    return env.Undefined();
  }

  // removeLane(id): forgets the lane and its writes (their completions are ignored).
  Napi::Value RemoveLane(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t id;
    if (!ValidateArgs(info, "removeLane", {{"id", Arg::Integer}}) || !GetU32(env, info[0], &id, "id")) return env.Undefined();
    DropLane(id);
    return env.Undefined();
  }

  // inFlight(id?) -> writes queued or in flight (one lane, or all).
  Napi::Value InFlight(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t n = 0;
    bool one = info.Length() > 0 && !info[0].IsUndefined();
    uint32_t id = 0;
    if (one && !GetU32(env, info[0], &id, "id")) return env.Null();
    for (auto& l : lanes_)
      if (!one || l.id == id) n += l.size();
    return Napi::Number::New(env, (double)n);
  }

  // follow(events: Float64Array, foreign: BigUint64Array, timeoutMs, spinNs, jsInFlight) -> foreign count.
  // Runs until: a completion that is not its own (written to `foreign`), a failed lane, the
  // events buffer is nearly full, records whose writes are all done, the control block's
  // doorbell or stop word changed, or timeoutMs passed. Blocks per the control block's poll mode in between.
  Napi::Value Follow(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ValidateArgs(info, "follow", {{"events", Arg::Object}, {"foreign", Arg::Object}, {"timeoutMs", Arg::Number}, {"spinNs", Arg::Number}, {"jsInFlight", Arg::Any, true}, {"doorbellSeen", Arg::Number, true}}))
      return env.Null();
    if (!Open(env)) return env.Null();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      ThrowArg(env, "follow: events must be a Float64Array");
      return env.Null();
    }
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
      ThrowArg(env, "follow: foreign must be a BigUint64Array");
      return env.Null();
    }
    auto ev = info[0].As<Napi::Float64Array>();
    ev_ = ev.Data();
    evCap_ = ev.ElementLength() < kHeaderWords ? 0 : (ev.ElementLength() - kHeaderWords) / kEvWords;
    if (evCap_ < 16) { ThrowArg(env, "follow: events must hold at least 16 records"); return env.Null(); }
    auto fa = info[1].As<Napi::BigUint64Array>();
    foreign_ = fa.Data();
    foreignCap_ = fa.ElementLength() / kRecWords;
    if (foreignCap_ == 0) { ThrowArg(env, "follow: foreign must hold at least one record"); return env.Null(); }
    double tmo = info[2].As<Napi::Number>().DoubleValue();
    double spin = info[3].As<Napi::Number>().DoubleValue();
    uint64_t spinNs = spin > 0 ? (uint64_t)spin : 0;
    jsInFlight_ = info.Length() > 4 && info[4].ToBoolean().Value();
    // The doorbell value the caller handled last: a ring after it ends the call even if it
    // came before the call began.
    int32_t bell = info.Length() > 5 && info[5].IsNumber() ? info[5].As<Napi::Number>().Int32Value() : __atomic_load_n(ctl_ + kCtlDoorbell, __ATOMIC_SEQ_CST);
    for (size_t i = 0; i < kHeaderWords; i++) ev_[i] = 0;
    evCount_ = 0;
    foreignCount_ = 0;
    failed_ = false;
    Run(tmo > 0 ? (uint64_t)(tmo * 1e6) : 0, spinNs, bell);
    ev_[0] = (double)evCount_;
    ev_ = nullptr;
    foreign_ = nullptr;
    return Napi::Number::New(env, (double)foreignCount_);
  }

  ~FollowLoop() { Release(); }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, kName,
                       {InstanceMethod("setLane", &FollowLoop::SetLane), InstanceMethod("removeLane", &FollowLoop::RemoveLane),
                        InstanceMethod("inFlight", &FollowLoop::InFlight), InstanceMethod("follow", &FollowLoop::Follow),
                        InstanceMethod("close", &FollowLoop::Close)});
  }

 private:
  std::shared_ptr<CqRes> cq_;
  bool waitable_ = false;
  std::shared_ptr<Source> src_;
  std::shared_ptr<DomainRes> domain_;
  // Registered scratch headers that commits send from (the source slot may be reopened at
  // any time), in chunks of kScratchPerChunk; an id indexes chunk and entry.
  using ScratchChunk = Registered;
  std::vector<std::shared_ptr<ScratchChunk>> scratch_;
  std::vector<int> freeScratch_;
  Napi::Reference<Napi::Value> dataRef_;
  int32_t* ctl_ = nullptr;
  Napi::Reference<Napi::Value> ctlRef_;
  uint32_t grainSize_ = 0, sliceSizes_[4] = {0, 0, 0, 0}, maxInFlight_ = 64, cqDepth_ = 256;
  uint16_t totalSlices_ = 1;
  bool protectTorn_ = true;
  uint64_t stallNs_ = 0;
  std::vector<Lane> lanes_;
  // Follow state, as the JavaScript follow loop keeps it.
  int64_t next_ = -1;
  uint32_t sentSlices_ = 0, lastSync_ = 0;
  // Forward() stopped at the record buffer's limit with grains left: the call returns so the
  // caller empties the buffer, and the next pass forwards them even though the sync counter
  // has not moved since (no commit is coming to say so).
  bool forwardMore_ = false;
  uint32_t seq_ = 0, gid_ = 0;
  uint64_t lastActivityNs_ = 0;
  // Per follow() call.
  double* ev_ = nullptr;
  size_t evCap_ = 0, evCount_ = 0;
  uint64_t* foreign_ = nullptr;
  size_t foreignCap_ = 0, foreignCount_ = 0;
  bool failed_ = false;
  bool jsInFlight_ = false;  // JavaScript's own writes are in flight: wait in the CQ, not the futex
  // Audio: the source's channels ring, the follow state of the JavaScript loop's
  // forwardSamples (each lane's cursor is in the lane), and the staging buffers windows go out from.
  bool samples_ = false;
  uint8_t* chans_ = nullptr;
  void* chansPin_ = nullptr;
  Napi::Reference<Napi::Value> chansRef_;
  uint32_t channelCount_ = 0, bufferLength_ = 0, wordSize_ = 0, syncBatch_ = 1;
  bool attachPending_ = false;
  bool backlog_ = false;  // committed samples wait for a full lane to drain
  struct Staging {
    std::shared_ptr<Registered> reg;
    uint32_t refs = 0;
  };
  std::vector<Staging> staging_;

  bool Open(Napi::Env env) {
    if (src_) return true;
    ThrowError(env, "MXL_ERR_INVALID_STATE", "FollowLoop is closed");
    return false;
  }

  void Release() {
    lanes_.clear();
    scratch_.clear();  // after the lanes: no write of ours is posted any more
    freeScratch_.clear();
    staging_.clear();
    UnpinMapping(chansPin_);
    chansPin_ = nullptr;
    chans_ = nullptr;
    chansRef_.Reset();
    src_.reset();
    cq_.reset();
    domain_.reset();
    ctlRef_.Reset();
    dataRef_.Reset();
    ctl_ = nullptr;
  }

  // Registers kScratchPerChunk more scratch headers; 0 or the fi_mr_reg status.
  int GrowScratch() {
    auto c = std::make_shared<ScratchChunk>();
    int ret = Register(*c, kScratchStride * kScratchPerChunk);
    if (ret) return ret;
    int first = (int)(scratch_.size() * kScratchPerChunk);
    for (auto& l : lanes_) l.ep->bound.push_back(c);
    scratch_.push_back(std::move(c));
    for (int i = (int)kScratchPerChunk - 1; i >= 0; i--) freeScratch_.push_back(first + i);
    return 0;
  }
  // Allocates `bytes` of zeroed memory into `r` and registers it for our writes; 0 or the fi_mr_reg status.
  int Register(Registered& r, size_t bytes) {
    r.buf.reset(new (std::nothrow) uint8_t[bytes]());
    if (!r.buf) return -FI_ENOMEM;
    r.bytes = bytes;
    std::random_device rd;
    uint64_t key = ((((uint64_t)rd()) << 32) | rd()) >> 1;
    auto mr = std::make_shared<MrRes>();
    mr->domain = domain_;
    mr->base = r.buf.get();
    mr->len = bytes;
    int ret = fi_mr_reg(domain_->dom, mr->base, mr->len, FI_WRITE, 0, key, 0, &mr->mr, nullptr);
    if (ret) { mr->mr = nullptr; return ret; }
    mr->desc = fi_mr_desc(mr->mr);
    r.mr = mr;
    return 0;
  }
  uint8_t* ScratchBytes(int id) { return scratch_[id / kScratchPerChunk]->buf.get() + (size_t)(id % kScratchPerChunk) * kScratchStride; }
  void* ScratchDesc(int id) { return scratch_[id / kScratchPerChunk]->mr->desc; }

  void DropLane(uint32_t id) {
    for (size_t i = 0; i < lanes_.size(); i++) {
      if (lanes_[i].id != id) continue;
      ForgetWrites(lanes_[i]);
      lanes_.erase(lanes_.begin() + i);
      return;
    }
  }

  void ForgetWrites(Lane& l) {
    for (auto& kv : l.inflight) {
      if (kv.second.scratch >= 0) freeScratch_.push_back(kv.second.scratch);
      ReleaseStaging(kv.second.staging);
    }
    for (auto& op : l.queued) {
      if (op.scratch >= 0) freeScratch_.push_back(op.scratch);
      ReleaseStaging(op.staging);
    }
    l.inflight.clear();
    l.queued.clear();
    l.groups.clear();
    l.busy.clear();
  }

  double* Record(int kind, uint64_t index, const Lane* l) {
    static thread_local double spare[kEvWords];
    // Callers leave room before each step; a record past the end is dropped, never written.
    double* r = evCount_ < evCap_ ? ev_ + kHeaderWords + (evCount_++) * kEvWords : spare;
    for (size_t i = 0; i < kEvWords; i++) r[i] = 0;
    r[0] = kind;
    r[1] = (double)index;
    if (l) r[7] = l->id;
    return r;
  }

  uint8_t* SlotBase(uint64_t index) const { return src_->slots[index % src_->slots.size()]->base; }

  // --------------------------------------------------------------- the loop
  void Run(uint64_t timeoutNs, uint64_t spinNs, int32_t bell) {
    const uint64_t start = NowNs();
    const uint64_t deadline = start + timeoutNs;
    uint64_t lastCheck = start;
    uint64_t passes = 0, busyPasses = 0;
    for (;;) {
      passes++;
      size_t work = Drain(0);
      if (forwardMore_ || attachPending_ || backlog_ || __atomic_load_n(reinterpret_cast<uint32_t*>(src_->data + kSyncCounterOff), __ATOMIC_SEQ_CST) != lastSync_)
        work += samples_ ? ForwardSamples() : Forward();
      for (size_t i = 0; i < lanes_.size(); i++) {
        uint32_t id = lanes_[i].id;
        work += Flush(lanes_[i]);
        if (i < lanes_.size() && lanes_[i].id != id) i--;  // the lane failed and was removed
      }
      uint64_t now = NowNs();
      if (now - lastCheck >= kCheckEveryNs) {
        lastCheck = now;
        CheckStalls(now);
      }
      if (work) {
        busyPasses++;
        lastActivityNs_ = now;
      }
      if (foreignCount_ > 0 || failed_ || forwardMore_ || evCount_ + 16 + 4 * lanes_.size() > evCap_) break;
      // Records go out once the grains they tell of are done everywhere: at a paced rate one
      // return per grain, so completions reach the main thread at once, not a call later.
      // (Holding audio records for 20 ms cut the initiator's CPU by a further ~20 %, but a
      // source that waits for completions, as the bench's unpaced one does, then stalls on
      // the hold: 160 windows/s against 9,180. Not kept; docs/native.md.)
      if (evCount_ > 0 && !AnyInFlight() && AllQueuedEmpty()) break;
      if (__atomic_load_n(ctl_ + kCtlStop, __ATOMIC_SEQ_CST) != 0 || __atomic_load_n(ctl_ + kCtlDoorbell, __ATOMIC_SEQ_CST) != bell) break;
      if (now >= deadline) break;
      if (work) continue;
      int mode = __atomic_load_n(ctl_ + kCtlMode, __ATOMIC_SEQ_CST);
      if (mode == kModeBusy) {
        sched_yield();  // the core's other runnable threads first (addon yieldCpu, docs/runtime.md)
        continue;
      }
      if (mode == kModeHybrid && now - lastActivityNs_ < spinNs) continue;
      Block(deadline - now);
    }
    ev_[1] = (double)passes;
    ev_[2] = (double)busyPasses;
  }

  bool AllQueuedEmpty() const {
    for (auto& l : lanes_)
      if (!l.queued.empty()) return false;
    return true;
  }

  bool AnyInFlight() const {
    for (auto& l : lanes_)
      if (!l.inflight.empty()) return true;
    return false;
  }

  // Sleeps where the next work shows up: the completion queue while writes are in flight
  // (in slices, so a stalled lane is checked and a new head is seen), else the flow's futex.
  void Block(uint64_t leftNs) {
    if (AnyInFlight() || jsInFlight_) {
      uint64_t slice = leftNs < kCheckEveryNs ? leftNs : kCheckEveryNs;
      if (waitable_) {
        int ms = (int)(slice / 1'000'000);
        if (ms < 1) ms = 1;
        Drain(ms);
      } else {
        timespec ts{0, 50'000};  // manual progress: nothing wakes a sleeper, poll again soon
        nanosleep(&ts, nullptr);
      }
      return;
    }
    timespec ts{(time_t)(leftNs / 1'000'000'000ull), (long)(leftNs % 1'000'000'000ull)};
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(src_->data + kSyncCounterOff), FUTEX_WAIT, lastSync_, &ts, nullptr, 0);
  }

  // --------------------------------------------------------------- completions
  size_t Drain(int timeoutMs) {
    uint64_t rec[64 * kRecWords];
    size_t handled = 0;
    for (;;) {
      // Each completion makes at most two records and one foreign entry: read no more than fit.
      size_t want = std::min<size_t>({64, foreignCap_ - foreignCount_, evCap_ > evCount_ + 8 ? (evCap_ - evCount_ - 8) / 2 : 0});
      if (want == 0) return handled;
      ssize_t n = ReadCompletions(cq_->cq, rec, want, timeoutMs);
      timeoutMs = 0;
      if (n <= 0) return handled;
      uint64_t doneNs = NowNs();
      for (ssize_t i = 0; i < n; i++) {
        const uint64_t* r = rec + i * kRecWords;
        uint64_t ctx = r[0];
        if (!((uint32_t)ctx & kNativeSeq)) Foreign(ctx, r[1], r[2], r[3]);
        else if (r[1] & kErrBit) {
          Lane* l = LaneOf(ctx);
          if (l && l->inflight.count((uint32_t)ctx)) FailLane(*l, 1, (int)r[2]);
        } else Completed(ctx, doneNs);
      }
      handled += (size_t)n;
      if ((size_t)n < want || foreignCount_ > 0) return handled;
    }
  }

  void Foreign(uint64_t ctx, uint64_t flags, uint64_t data, uint64_t len) {
    if (foreignCount_ >= foreignCap_) return;  // cannot happen: follow() stops at the first
    uint64_t* r = foreign_ + foreignCount_ * kRecWords;
    r[0] = ctx;
    r[1] = flags;
    r[2] = data;
    r[3] = len;
    foreignCount_++;
  }

  Lane* LaneOf(uint64_t ctx) {
    uint32_t id = (uint32_t)(ctx >> 32);
    for (auto& l : lanes_)
      if (l.id == id) return &l;
    return nullptr;
  }

  void ReleaseSlot(Lane& l, uint32_t remoteSlot) {
    auto b = l.busy.find(remoteSlot);
    if (b != l.busy.end() && --b->second.second == 0) l.busy.erase(b);
  }

  bool Intact(const Group& g) const {
    const uint8_t* h = SlotBase(g.index);
    return LoadAt<uint64_t>(h, kOffIndex) == g.index && LoadAt<uint16_t>(h, kOffValid) >= g.validAtPost;
  }

  void Completed(uint64_t ctx, uint64_t doneNs) {
    Lane* l = LaneOf(ctx);
    if (!l) return;  // a removed lane's late completion
    auto it = l->inflight.find((uint32_t)ctx);
    if (it == l->inflight.end()) return;  // a write of a lane that failed and came back
    Op op = it->second;
    l->inflight.erase(it);
    l->bytes += op.len + op.len2;
    auto gi = l->groups.find(op.gid);
    if (gi == l->groups.end()) return;
    Group& g = gi->second;
    g.bytes += op.len + op.len2;
    if (op.kind == Op::kWindow) {
      ReleaseStaging(op.staging);
      Outcome(*l, kEvCompleted, g, doneNs);
      l->groups.erase(gi);
      return;
    }
    if (op.kind == Op::kCommit) {
      freeScratch_.push_back(op.scratch);
      ReleaseSlot(*l, g.remoteSlot);
      if (op.last) Outcome(*l, kEvCompleted, g, doneNs);
      l->groups.erase(gi);
      return;
    }
    if (--g.remaining > 0) return;
    if (!protectTorn_) {
      ReleaseSlot(*l, g.remoteSlot);
      Outcome(*l, Intact(g) ? kEvCompleted : kEvOverrun, g, doneNs);
      l->groups.erase(gi);
      return;
    }
    // Copy the header first, then check: a reopen after the check cannot reach the copy.
    if (freeScratch_.empty() && GrowScratch() != 0) {
      FailLane(*l, 3, -FI_ENOMEM);  // no memory for a commit header: the lane starts over
      return;
    }
    int s = freeScratch_.back();
    freeScratch_.pop_back();
    uint8_t* hdr = ScratchBytes(s);
    std::memcpy(hdr, SlotBase(g.index), kCommitBytes);
    uint64_t copyIndex;
    std::memcpy(&copyIndex, hdr + kOffIndex, 8);
    bool ok = copyIndex == g.index && Intact(g);
    if (!ok) InvalidHeader(hdr, g.index);
    else std::memcpy(hdr + kOffValid, &g.end, sizeof g.end);  // the range's end: the writer may be further on
    Op c{};
    c.kind = Op::kCommit;
    c.last = ok;
    c.scratch = s;
    c.gid = op.gid;
    c.src = hdr;
    c.len = kCommitBytes;
    c.desc = ScratchDesc(s);
    c.raddr = l->regions[g.remoteSlot].first;
    c.rkey = l->regions[g.remoteSlot].second;
    c.imm = (int64_t)((g.remoteSlot & 0xffff) | ((uint32_t)(ok ? g.end : 0) << 16));
    l->queued.push_back(c);
    if (!ok) Outcome(*l, kEvTorn, g, doneNs);
    Flush(*l);
  }

  void Outcome(Lane& l, int kind, const Group& g, uint64_t doneNs) {
    double* r = Record(kind, g.index, &l);
    r[2] = samples_ ? g.count : g.start;
    r[3] = samples_ ? 0 : g.end;
    r[4] = (double)l.bytes;
    l.bytes = 0;
    r[5] = (double)doneNs;
    r[6] = (double)(doneNs - g.postNs);
  }

  void InvalidHeader(uint8_t* hdr, uint64_t index) const {
    std::memset(hdr, 0, kCommitBytes);
    auto put32 = [&](size_t off, uint32_t v) { std::memcpy(hdr + off, &v, 4); };
    put32(kOffVersion, kGrainVersion);
    put32(kOffInfoSize, kGrainInfoSize);
    std::memcpy(hdr + kOffIndex, &index, 8);
    put32(kOffFlags, kFlagInvalid);
    put32(kOffGrainSize, grainSize_);
    std::memcpy(hdr + kOffTotal, &totalSlices_, 2);
  }

  void FailLane(Lane& l, int why, int64_t code) {
    double* r = Record(kEvLaneFailed, 0, &l);
    r[4] = why;
    r[6] = (double)code;
    uint32_t id = l.id;
    ForgetWrites(l);
    DropLane(id);
    failed_ = true;
  }

  void CheckStalls(uint64_t now) {
    for (size_t i = 0; i < lanes_.size(); i++) {
      Lane& l = lanes_[i];
      for (auto& kv : l.inflight) {
        if (now - kv.second.postNs > stallNs_) {
          FailLane(l, 2, 0);
          return;  // lanes_ changed; the next check looks at the others
        }
      }
    }
  }

  // --------------------------------------------------------------- posting
  size_t TotalInFlight() const {
    size_t n = 0;
    for (auto& l : lanes_) n += l.inflight.size();
    return n;
  }

  // Posts the lane's queued writes in order until EAGAIN or the completion queue's room.
  size_t Flush(Lane& l) {
    size_t posted = 0;
    if (l.queued.empty()) return 0;
    size_t room = cqDepth_ > TotalInFlight() ? cqDepth_ - TotalInFlight() : 0;
    while (!l.queued.empty() && posted < room) {
      Op& op = l.queued.front();
      uint32_t seq = kNativeSeq | (seq_ = (seq_ + 1) & 0x7fffffffu);
      iovec iov[2] = {{op.src, op.len}, {op.src2, op.len2}};
      void* desc[2] = {op.desc, op.desc2};
      fi_rma_iov rma{op.raddr, op.len + op.len2, op.rkey};
      fi_msg_rma msg{};
      msg.msg_iov = iov;
      msg.desc = desc;
      msg.iov_count = op.src2 ? 2 : 1;
      msg.addr = l.dest;
      msg.rma_iov = &rma;
      msg.rma_iov_count = 1;
      msg.context = (void*)(uintptr_t)(((uint64_t)l.id << 32) | seq);
      uint64_t flags = FI_DELIVERY_COMPLETE;
      if (op.imm >= 0) {
        msg.data = (uint64_t)op.imm;
        flags |= FI_REMOTE_CQ_DATA;
      }
      ssize_t rc = fi_writemsg(l.ep->ep, &msg, flags);
      if (rc == -FI_EAGAIN) {
        Record(kEvDeferred, 0, &l);
        break;
      }
      if (rc != 0) {
        FailLane(l, 3, rc);
        return posted;
      }
      op.postNs = NowNs();
      l.inflight.emplace(seq, op);
      l.queued.pop_front();
      posted++;
    }
    return posted;
  }

  // The JavaScript follow loop's forward(), in the same order (src/workers/initiator-worker.ts).
  size_t Forward() {
    forwardMore_ = false;
    lastSync_ = LoadAt<uint32_t>(src_->data, kSyncCounterOff);
    uint64_t head = LoadAt<uint64_t>(src_->data, kHeadIndexOff);
    if (head == 0) return 0;
    const uint64_t gc = src_->slots.size();
    if (next_ < 0) next_ = (int64_t)OldestCommitted(head);
    if (head + 1 - (uint64_t)next_ > gc) {
      double* r = Record(kEvFellBehind, 0, nullptr);
      r[4] = (double)(head - gc + 1 - (uint64_t)next_);
      next_ = (int64_t)(head - gc + 1);
      sentSlices_ = 0;
    }
    size_t n = 0;
    while ((uint64_t)next_ <= head) {
      if (evCount_ + 8 + 6 * lanes_.size() > evCap_) {  // the rest on the next call
        forwardMore_ = true;
        break;
      }
      uint64_t idx = (uint64_t)next_;
      int st;  // 0 OK, 1 TOO_LATE, 2 TOO_EARLY
      uint16_t valid = 0;
      uint32_t flags = 0;
      Evaluate(idx, &st, &valid, &flags);
      if (st == 1 || (st == 2 && idx < head)) {
        next_++;
        sentSlices_ = 0;
        continue;
      }
      if (st != 0) break;
      if (src_->accessFd >= 0) {
        timespec t[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
        futimens(src_->accessFd, t);
      }
      bool invalid = (flags & kFlagInvalid) != 0;
      uint16_t v = invalid ? totalSlices_ : valid;
      if (invalid) Post(idx, 0, 0);
      else if (v > sentSlices_) Post(idx, (uint16_t)sentSlices_, v);
      n++;
      if (v < totalSlices_) {
        sentSlices_ = v;
        break;
      }
      next_++;
      sentSlices_ = 0;
    }
    return n;
  }

  // The flow was empty when the loop started, so every grain its ring holds was committed
  // since: the oldest of them, not the head the first wake-up finds (the JavaScript loop's
  // oldestCommitted()).
  uint64_t OldestCommitted(uint64_t head) const {
    const uint64_t gc = src_->slots.size();
    for (uint64_t i = head >= gc ? head - gc + 1 : 1; i < head; i++) {
      int st;
      uint16_t valid;
      uint32_t flags;
      Evaluate(i, &st, &valid, &flags);
      if (st == 0) return i;
    }
    return head;
  }

  // The domain reader's evaluation of one grain without waiting (src/domain/discrete-reader.ts).
  void Evaluate(uint64_t index, int* st, uint16_t* valid, uint32_t* flags) const {
    const uint64_t gc = src_->slots.size();
    const uint8_t* s = SlotBase(index);
    uint64_t head = LoadAt<uint64_t>(src_->data, kHeadIndexOff);
    *valid = 0;
    *flags = 0;
    if (index > head) { *st = 2; return; }
    uint64_t minIndex = head >= gc ? head - gc + 1 : 0;
    if (index < minIndex) { *st = 1; return; }
    uint64_t si = LoadAt<uint64_t>(s, kOffIndex);
    if (si > index) { *st = 1; return; }
    if (si < index) { *st = 2; return; }
    *valid = LoadAt<uint16_t>(s, kOffValid);
    *flags = LoadAt<uint32_t>(s, kOffFlags);
    if (LoadAt<uint64_t>(s, kOffIndex) != index) { *st = 1; return; }
    *st = 0;  // minValidSlices 0: any state of the grain is readable
  }

  // Queues slices [start, end) of grain `index` on every lane that takes it (the engine's
  // fanOut + GrainSender.queue + planGrainTransfer).
  void Post(uint64_t index, uint16_t start, uint16_t end) {
    const uint8_t* h = SlotBase(index);
    uint64_t held = LoadAt<uint64_t>(h, kOffIndex);
    if (held != index) {
      double* r = Record(kEvRefused, index, nullptr);
      r[4] = held > index ? 1 : 2;
      return;
    }
    uint16_t validAtPost = LoadAt<uint16_t>(h, kOffValid);
    const auto& mr = src_->slots[index % src_->slots.size()];
    uint32_t lanesPosted = 0, lanesSkipped = 0;
    for (size_t li = 0; li < lanes_.size(); li++) {
      Lane& l = lanes_[li];
      if (l.size() >= maxInFlight_) {
        Record(kEvSkipped, index, &l);
        lanesSkipped++;
        continue;
      }
      uint32_t remoteSlot = (uint32_t)(index % l.regions.size());
      auto b = l.busy.find(remoteSlot);
      if (b != l.busy.end() && b->second.first != index) {
        Record(kEvSkipped, index, &l);
        lanesSkipped++;
        continue;
      }
      if (b != l.busy.end()) b->second.second++;
      else l.busy.emplace(remoteSlot, std::make_pair(index, 1u));
      uint32_t gid = ++gid_;
      Group g{};
      g.index = index;
      g.postNs = NowNs();
      g.remoteSlot = remoteSlot;
      g.start = start;
      g.end = end;
      g.validAtPost = validAtPost;
      uint64_t raddr = l.regions[remoteSlot].first;
      uint32_t imm = (remoteSlot & 0xffff) | ((uint32_t)end << 16);
      auto push = [&](size_t off, size_t len, bool last) {
        Op op{};
        op.kind = Op::kPayload;
        op.last = last && !protectTorn_;
        op.gid = gid;
        op.src = mr->base + off;
        op.len = len;
        op.desc = mr->desc;
        op.raddr = raddr + off;
        op.rkey = l.regions[remoteSlot].second;
        op.imm = protectTorn_ || !last ? -1 : (int64_t)imm;  // two-phase: the commit carries it
        l.queued.push_back(op);
        g.remaining++;
      };
      if (start == 0 && end == totalSlices_) {
        push(0, kGrainHeaderSize + grainSize_, true);
      } else {
        int planes = 0;
        while (planes < 4 && sliceSizes_[planes] > 0) planes++;
        if (planes == 0) planes = 1;
        size_t planeBase = kGrainHeaderSize;
        for (int p = 0; p < planes; p++) {
          size_t size = sliceSizes_[p];
          bool last = p == planes - 1;
          if (p == 0 && start == 0) push(0, kGrainHeaderSize + (size_t)end * size, last);
          else push(planeBase + (size_t)start * size, (size_t)(end - start) * size, last);
          planeBase += size * totalSlices_;
        }
      }
      l.groups.emplace(gid, g);
      if (!FlushKeeps(l)) {
        lanesSkipped++;
        li--;
        continue;
      }
      lanesPosted++;
    }
    RecordPosted(index, start, end, lanesPosted, lanesSkipped);
  }

  // Flushes the lane's queue; false when that failed the lane (it is gone from lanes_).
  bool FlushKeeps(Lane& l) {
    uint32_t id = l.id;
    Flush(l);
    return HasLane(id);
  }

  void RecordPosted(uint64_t index, uint32_t start, uint32_t end, uint32_t lanesPosted, uint32_t lanesSkipped) {
    double* r = Record(kEvPosted, index, nullptr);
    r[2] = start;
    r[3] = end;
    r[4] = lanesPosted;
    r[6] = lanesSkipped;
  }

  // --------------------------------------------------------------- audio
  uint32_t BytesPerSample() const { return channelCount_ * wordSize_; }

  // The most samples one window may carry to every lane: half the local ring, and what
  // each target's bounce entry holds (Initiator.maxSamplesPerTransfer).
  uint64_t MaxSamples() const {
    uint64_t n = bufferLength_ / 2;
    for (auto& l : lanes_) n = std::min<uint64_t>(n, (l.entrySize - kEntryHeader) / BytesPerSample());
    return n;
  }

  // The continuous reader's check of window (end, count) against the head: 0 OK, 1 TOO_LATE
  // (older than half the ring), 2 TOO_EARLY (src/domain/continuous-reader.ts).
  int PlaceWindow(uint64_t end, uint64_t count) const {
    uint64_t head = LoadAt<uint64_t>(src_->data, kHeadIndexOff);
    if (end > head) return 2;
    uint64_t half = bufferLength_ / 2;
    uint64_t minIndex = head > half ? head - half : 0;
    return end >= minIndex && end - minIndex >= count ? 0 : 1;
  }

  // The worker's forwardSamples with its cursor per lane (src/workers/sample-cursors.ts), in
  // the same order: every sample committed since the last window each lane was sent, in
  // windows of at most MaxSamples(); lanes whose cursors are equal share a window.
  size_t ForwardSamples() {
    forwardMore_ = false;
    attachPending_ = false;
    backlog_ = false;
    lastSync_ = LoadAt<uint32_t>(src_->data, kSyncCounterOff);
    uint64_t head = LoadAt<uint64_t>(src_->data, kHeadIndexOff);
    if (head == 0 || lanes_.empty()) {
      for (auto& l : lanes_) l.sent = -1;
      return 0;
    }
    uint64_t max = MaxSamples();
    if (max == 0) return 0;
    uint64_t half = bufferLength_ / 2;
    for (auto& l : lanes_) {
      // Attach (a new lane, or a writer restart moved the head back): the most recent commit.
      if (l.sent < 0 || head < (uint64_t)l.sent) l.sent = (int64_t)(head - std::min<uint64_t>({(uint64_t)syncBatch_, max, head}));
      if (head - (uint64_t)l.sent > half) {
        double* r = Record(kEvFellBehind, 0, nullptr);  // those samples are gone from the ring
        r[4] = 1;
        l.sent = (int64_t)(head - half);
      }
    }
    size_t n = 0;
    for (;;) {
      // A lane at its in-flight bound (a catch-up burst after a stall, a slow target) holds
      // back its own windows until it drains, instead of skipping them: a skipped window is
      // a hole of silence that the target would publish as samples. A lane that stops
      // draining fails at stallTimeoutMs; one half a ring behind meanwhile takes the
      // fell-behind skip above, counted. The other lanes go on.
      int64_t low = -1;
      bool behind = false;
      for (auto& l : lanes_) {
        if ((uint64_t)l.sent >= head) continue;
        behind = true;
        if (l.size() < maxInFlight_ && (low < 0 || l.sent < low)) low = l.sent;
      }
      if (low < 0) {
        backlog_ = behind;
        break;
      }
      if (evCount_ + 8 + 6 * lanes_.size() > evCap_) {  // the rest on the next call
        forwardMore_ = true;
        break;
      }
      uint64_t left = head - (uint64_t)low;
      uint64_t count = left < max ? left : max;
      for (auto& l : lanes_) {
        l.takes = l.sent == low && l.size() < maxInFlight_;
        if (l.takes) l.sent = low + (int64_t)count;
      }
      PostWindow((uint64_t)low + count, (uint32_t)count);
      n++;
    }
    return n;
  }

  // A staging buffer of at least `bytes` with no write reading it, or -1 (no memory).
  int TakeStaging(size_t bytes) {
    for (size_t i = 0; i < staging_.size(); i++)
      if (staging_[i].refs == 0 && staging_[i].reg->bytes >= bytes) return (int)i;
    // Never below one sync batch (at most half the ring), so a steady stream reuses a few.
    size_t floor = (size_t)std::min<uint64_t>(std::max<uint32_t>(syncBatch_, 1), bufferLength_ / 2) * BytesPerSample();
    auto reg = std::make_shared<Registered>();
    if (Register(*reg, std::max(bytes, floor)) != 0) return -1;
    for (auto& l : lanes_) l.ep->bound.push_back(reg);
    staging_.push_back({reg, 0});
    return (int)staging_.size() - 1;
  }

  void ReleaseStaging(int id) {
    if (id >= 0 && (size_t)id < staging_.size() && staging_[id].refs > 0) staging_[id].refs--;
  }

  // Copies window (end, count) of the channels ring, channel-major (each channel's run
  // before the wrap, then after it), into `dst`: the payload a bounce entry carries.
  void Gather(uint8_t* dst, uint64_t end, uint32_t count) const {
    const size_t w = wordSize_, L = bufferLength_;
    size_t start = (size_t)((end - count) % L);
    size_t first = std::min<size_t>(count, L - start), rest = count - first;
    for (uint32_t c = 0; c < channelCount_; c++) {
      const uint8_t* ch = chans_ + (size_t)c * L * w;
      std::memcpy(dst, ch + start * w, first * w);
      dst += first * w;
      if (rest) {
        std::memcpy(dst, ch, rest * w);
        dst += rest * w;
      }
    }
  }

  // Sends window (end, count) to the lanes ForwardSamples marked (SampleSender.ranges + queue).
  void PostWindow(uint64_t end, uint32_t count) {
    int st = PlaceWindow(end, count);
    if (st != 0) {
      double* r = Record(kEvRefused, end, nullptr);
      r[4] = st;
      return;
    }
    size_t bytes = (size_t)count * BytesPerSample();
    int s = TakeStaging(bytes);
    if (s < 0) {
      while (!lanes_.empty()) FailLane(lanes_.front(), 3, -FI_ENOMEM);  // no memory to send from: the lanes start over
      return;
    }
    uint8_t* staged = staging_[s].reg->buf.get();
    Gather(staged, end, count);
    // The writer may have lapped the window while it was copied: then it is not sent.
    if (PlaceWindow(end, count) != 0) {
      double* r = Record(kEvRefused, end, nullptr);
      r[4] = 1;
      return;
    }
    uint32_t lanesPosted = 0, lanesSkipped = 0;
    for (size_t li = 0; li < lanes_.size(); li++) {
      Lane& l = lanes_[li];
      if (!l.takes) continue;
      l.takes = false;
      uint32_t k = l.k;
      l.k = k + 1 == l.entryCount ? 0 : k + 1;
      uint8_t* hdr = l.headers->buf.get() + (size_t)k * kEntryHeader;
      uint64_t c64 = count;
      std::memcpy(hdr, &end, 8);
      std::memcpy(hdr + 8, &c64, 8);
      const auto& region = l.regions[k % l.regions.size()];
      uint32_t gid = ++gid_;
      Group g{};
      g.index = end;
      g.count = count;
      g.postNs = NowNs();
      g.remoteSlot = k;
      g.remaining = 1;
      l.groups.emplace(gid, g);
      Op op{};
      op.kind = Op::kWindow;
      op.last = true;
      op.gid = gid;
      op.src = hdr;
      op.len = kEntryHeader;
      op.desc = l.headers->mr->desc;
      op.src2 = staged;
      op.len2 = bytes;
      op.desc2 = staging_[s].reg->mr->desc;
      op.staging = s;
      op.raddr = region.first;
      op.rkey = region.second;
      op.imm = k;
      staging_[s].refs++;
      l.queued.push_back(op);
      if (!FlushKeeps(l)) {
        lanesSkipped++;
        li--;
        continue;
      }
      lanesPosted++;
    }
    RecordPosted(end, 0, count, lanesPosted, lanesSkipped);
  }

  bool HasLane(uint32_t id) const {
    for (auto& l : lanes_)
      if (l.id == id) return true;
    return false;
  }
};

}  // namespace

void InitFollowLoop(Napi::Env env, Napi::Object exports) {
  exports.Set(FollowLoop::kName, FollowLoop::Define(env));
}

}  // namespace mxlf
