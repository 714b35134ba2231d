// Registry authentication: `WWW-Authenticate` challenges (RFC 7235), the Docker token flow
// (distribution's token spec: GET realm?service=S&scope=repository:NAME:pull), and Basic.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::registry {

struct AuthChallenge {
  std::string scheme;                         // lowercased: "bearer", "basic"
  std::map<std::string, std::string> params;  // names lowercased: realm, service, scope, error

  std::string param(std::string_view name) const;
};

// Parses a WWW-Authenticate value: one or more challenges, `Scheme k=v, k="quoted", ...`.
Result<std::vector<AuthChallenge>> parseWwwAuthenticate(std::string_view header);

// The token endpoint URL for a Bearer challenge and a repository (pull scope).
Result<std::string> tokenUrl(const AuthChallenge& challenge, std::string_view repository);
// The same for explicit scopes, one `scope=` parameter each ("repository:NAME:pull,push",
// "repository:SOURCE:pull"): a push that mounts blobs from another repository needs both in
// one token.
Result<std::string> tokenUrl(const AuthChallenge& challenge,
                             const std::vector<std::string>& scopes);

struct BearerToken {
  std::string token;
  int64_t expiresInSeconds = 60;  // the token spec's default when absent
};

// Parses the token endpoint's JSON answer (`token` or `access_token`).
Result<BearerToken> parseTokenResponse(std::string_view body);

// "Basic base64(user:password)" (the value of an Authorization header).
[[nodiscard]] Result<std::string> basicAuthorization(std::string_view username,
                                                     std::string_view password);

// Base64 encode/decode (standard alphabet, with padding; OpenSSL's, fallible as libcrypto is
// opened on first use).
[[nodiscard]] Result<std::string> base64Encode(std::string_view data);
[[nodiscard]] Result<std::string> base64Decode(std::string_view text);

}  // namespace berth::registry
