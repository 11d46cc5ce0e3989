// fi_info handles: a JS object with the fields the TS layer needs plus an owned fi_info copy.
#pragma once
#include "common.h"
#include <rdma/fabric.h>

namespace mxlf {

// Owns one fi_info (a fi_dupinfo copy, or a connreq info handed over by an event queue).
struct InfoBox {
  fi_info* info;
  explicit InfoBox(fi_info* i) : info(i) {}
  ~InfoBox() { if (info) fi_freeinfo(info); }
  InfoBox(const InfoBox&) = delete;
  InfoBox& operator=(const InfoBox&) = delete;
};

// Converts an fi_info into a JS description; when own != nullptr the object also carries a
// `handle` external that owns it (consumed by Fabric/Domain/Endpoint constructors).
Napi::Object InfoToObject(Napi::Env env, const fi_info* info, fi_info* own);
// Reads the fi_info owned by a description object's `handle`; throws and returns null if absent.
fi_info* InfoFromObject(Napi::Env env, const Napi::Value& v);

void InitInfo(Napi::Env env, Napi::Object exports);

}  // namespace mxlf
