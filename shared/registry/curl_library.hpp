// libcurl, loaded the first time berth speaks HTTP.
//
// libcurl drags in some 25 shared libraries (TLS, Kerberos, LDAP, IDN, ...). Linking it would
// make every process that loads berth pay for them at start-up: `berth exec` (measured: 8.7 ms
// of its ~24 ms were the dynamic loader) and, through spank_berth.so, every srun and
// slurmstepd. Only pulls need HTTP, so the library is opened on first use instead.
#pragma once

#include <curl/curl.h>

#include "shared/core/result.hpp"

namespace berth::registry {

// The libcurl entry points berth uses, resolved from libcurl.so.4.
struct CurlLibrary {
  CURL* (*easyInit)();
  void (*easyCleanup)(CURL*);
  void (*easyReset)(CURL*);
  CURLcode (*easySetopt)(CURL*, CURLoption, ...);
  CURLcode (*easyGetinfo)(CURL*, CURLINFO, ...);
  CURLcode (*easyPerform)(CURL*);
  const char* (*easyStrerror)(CURLcode);
  curl_slist* (*slistAppend)(curl_slist*, const char*);
  void (*slistFreeAll)(curl_slist*);
};

// Opens libcurl once per process (and runs curl_global_init); stays loaded until exit.
Result<const CurlLibrary*> curlLibrary();

}  // namespace berth::registry
