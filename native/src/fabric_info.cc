#include "fabric_info.h"
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cstring>
#include <string>

namespace mxlf {

// The API this code is written to: asking for it (not fi_version()) keeps 1.17 semantics
// when the same binary runs on libfabric 2.x (docs/install.md, "One binary for 1.17 and 2.x").
constexpr uint32_t kFabricApiVersion = FI_VERSION(1, 17);

namespace {

std::string ToStr(const void* data, enum fi_type t) {
  char buf[256];
  const char* s = fi_tostr_r(buf, sizeof buf, data, t);
  std::string r = s ? s : "";
  while (!r.empty() && (r.back() == '\n' || r.back() == ' ' || r.back() == ',')) r.pop_back();
  return r;
}

Napi::Value BytesOrNull(Napi::Env env, const void* p, size_t n) {
  if (!p || n == 0) return env.Null();
  return Napi::Buffer<uint8_t>::Copy(env, static_cast<const uint8_t*>(p), n);
}

void SetStr(Napi::Object o, const char* k, const char* v) {
  if (v) o.Set(k, v);
}

}  // namespace

Napi::Object InfoToObject(Napi::Env env, const fi_info* info, fi_info* own) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("provider", info->fabric_attr && info->fabric_attr->prov_name ? info->fabric_attr->prov_name : "");
  SetStr(o, "fabricName", info->fabric_attr ? info->fabric_attr->name : nullptr);
  SetStr(o, "domainName", info->domain_attr ? info->domain_attr->name : nullptr);
  o.Set("caps", U64(env, info->caps));
  o.Set("mode", U64(env, info->mode));
  o.Set("addrFormat", (uint32_t)info->addr_format);
  o.Set("addrFormatName", ToStr(&info->addr_format, FI_TYPE_ADDR_FORMAT));
  o.Set("srcAddr", BytesOrNull(env, info->src_addr, info->src_addrlen));
  o.Set("destAddr", BytesOrNull(env, info->dest_addr, info->dest_addrlen));
  if (info->ep_attr) {
    o.Set("epType", (uint32_t)info->ep_attr->type);
    o.Set("epTypeName", ToStr(&info->ep_attr->type, FI_TYPE_EP_TYPE));
    o.Set("protocol", (uint32_t)info->ep_attr->protocol);
    o.Set("protocolName", ToStr(&info->ep_attr->protocol, FI_TYPE_PROTOCOL));
    o.Set("maxMsgSize", U64(env, info->ep_attr->max_msg_size));
  }
  if (info->domain_attr) {
    o.Set("mrMode", (uint32_t)info->domain_attr->mr_mode);
    o.Set("cqDataSize", (double)info->domain_attr->cq_data_size);
    o.Set("mrKeySize", (double)info->domain_attr->mr_key_size);
    o.Set("cqCount", (double)info->domain_attr->cq_cnt);
    o.Set("epCount", (double)info->domain_attr->ep_cnt);
    o.Set("mrCount", (double)info->domain_attr->mr_cnt);
    o.Set("dataProgress", (uint32_t)info->domain_attr->data_progress);
  }
  if (info->tx_attr) {
    o.Set("txIovLimit", (double)info->tx_attr->iov_limit);
    o.Set("txRmaIovLimit", (double)info->tx_attr->rma_iov_limit);
    o.Set("txSize", (double)info->tx_attr->size);
  }
  if (info->rx_attr) {
    o.Set("rxMode", U64(env, info->rx_attr->mode));
    o.Set("rxSize", (double)info->rx_attr->size);
  }
  if (info->nic) {
    Napi::Object nic = Napi::Object::New(env);
    if (auto d = info->nic->device_attr) {
      SetStr(nic, "deviceName", d->name);
      SetStr(nic, "deviceId", d->device_id);
      SetStr(nic, "deviceVersion", d->device_version);
      SetStr(nic, "vendorId", d->vendor_id);
      SetStr(nic, "driver", d->driver);
      SetStr(nic, "firmware", d->firmware);
    }
    if (auto l = info->nic->link_attr) {
      SetStr(nic, "linkAddress", l->address);
      SetStr(nic, "linkType", l->network_type);
      nic.Set("linkSpeed", (double)l->speed);
      nic.Set("linkMtu", (double)l->mtu);
      nic.Set("linkState", l->state == FI_LINK_UP ? "up" : l->state == FI_LINK_DOWN ? "down" : "unknown");
    }
    if (auto b = info->nic->bus_attr) {
      if (b->bus_type == FI_BUS_PCI) {
        nic.Set("pciDomainId", (uint32_t)b->attr.pci.domain_id);
        nic.Set("pciBusId", (uint32_t)b->attr.pci.bus_id);
        nic.Set("pciDeviceId", (uint32_t)b->attr.pci.device_id);
        nic.Set("pciFunctionId", (uint32_t)b->attr.pci.function_id);
      }
    }
    o.Set("nic", nic);
  }
  if (own) {
    auto ext = Napi::External<InfoBox>::New(env, new InfoBox(own), [](Napi::Env, InfoBox* b) { delete b; });
    o.Set("handle", ext);
  }
  return o;
}

fi_info* InfoFromObject(Napi::Env env, const Napi::Value& v) {
  if (v.IsObject()) {
    Napi::Value h = v.As<Napi::Object>().Get("handle");
    if (h.IsExternal()) return h.As<Napi::External<InfoBox>>().Data()->info;
  }
  ThrowArg(env, "expected a fabric info object returned by getInfo()");
  return nullptr;
}

namespace {

// getInfo(hints) -> info[]. hints: { provider, epType, caps, mode, mrMode, addrFormat,
// node, service, source, domainName, fabricName, txIovLimit, cqDataSize }. No hints -> all.
Napi::Value GetInfo(const Napi::CallbackInfo& cb) {
  Napi::Env env = cb.Env();
  fi_info* hints = nullptr;
  std::string node, service;
  bool haveNode = false, haveService = false;
  uint64_t flags = 0;
  if (cb.Length() > 0 && cb[0].IsObject()) {
    Napi::Object h = cb[0].As<Napi::Object>();
    hints = fi_allocinfo();
    if (!hints) { ThrowSys(env, "fi_allocinfo", ENOMEM); return env.Null(); }
    struct HintsGuard { fi_info*& h; ~HintsGuard() { if (h) fi_freeinfo(h); } } guard{hints};
    auto str = [&](const char* k, std::string* out) -> bool {
      Napi::Value v = h.Get(k);
      if (v.IsString()) { *out = v.As<Napi::String>().Utf8Value(); return true; }
      return false;
    };
    std::string s;
    if (str("provider", &s)) hints->fabric_attr->prov_name = strdup(s.c_str());
    if (str("fabricName", &s)) hints->fabric_attr->name = strdup(s.c_str());
    if (str("domainName", &s)) hints->domain_attr->name = strdup(s.c_str());
    haveNode = str("node", &node);
    haveService = str("service", &service);
    uint64_t x;
    if (h.Has("epType") && !h.Get("epType").IsUndefined()) {
      if (!GetU64(env, h.Get("epType"), &x, "epType")) return env.Null();
      hints->ep_attr->type = (enum fi_ep_type)x;
    }
    if (h.Has("caps") && !h.Get("caps").IsUndefined()) {
      if (!GetU64(env, h.Get("caps"), &x, "caps")) return env.Null();
      hints->caps = x;
    }
    if (h.Has("mode") && !h.Get("mode").IsUndefined()) {
      if (!GetU64(env, h.Get("mode"), &x, "mode")) return env.Null();
      hints->mode = x;
    }
    if (h.Has("mrMode") && !h.Get("mrMode").IsUndefined()) {
      if (!GetU64(env, h.Get("mrMode"), &x, "mrMode")) return env.Null();
      hints->domain_attr->mr_mode = (int)x;
    }
    if (h.Has("addrFormat") && !h.Get("addrFormat").IsUndefined()) {
      if (!GetU64(env, h.Get("addrFormat"), &x, "addrFormat")) return env.Null();
      hints->addr_format = (uint32_t)x;
    }
    if (h.Get("source").ToBoolean().Value()) flags |= FI_SOURCE;
    fi_info* list = nullptr;
    int ret = fi_getinfo(kFabricApiVersion, haveNode ? node.c_str() : nullptr, haveService ? service.c_str() : nullptr,
                         flags, hints, &list);
    if (ret == -FI_ENODATA) return Napi::Array::New(env, 0);
    if (ret) {
      ThrowFi(env, "fi_getinfo", ret, "provider " + std::string(hints->fabric_attr->prov_name ? hints->fabric_attr->prov_name : "any") +
                                          (haveNode ? " node " + node : "") + (haveService ? " service " + service : ""));
      return env.Null();
    }
    Napi::Array out = Napi::Array::New(env);
    uint32_t i = 0;
    for (fi_info* cur = list; cur; cur = cur->next) out.Set(i++, InfoToObject(env, cur, fi_dupinfo(cur)));
    fi_freeinfo(list);
    return out;
  }
  fi_info* list = nullptr;
  int ret = fi_getinfo(kFabricApiVersion, nullptr, nullptr, 0, nullptr, &list);
  if (ret == -FI_ENODATA) return Napi::Array::New(env, 0);
  if (ret) { ThrowFi(env, "fi_getinfo", ret); return env.Null(); }
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (fi_info* cur = list; cur; cur = cur->next) out.Set(i++, InfoToObject(env, cur, fi_dupinfo(cur)));
  fi_freeinfo(list);
  return out;
}

}  // namespace

void InitInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("getInfo", Napi::Function::New(env, GetInfo, "getInfo"));
}

}  // namespace mxlf
