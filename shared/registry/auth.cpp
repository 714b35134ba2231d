#include "shared/registry/auth.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shared/image/crypto_library.hpp"
#include "shared/registry/http.hpp"

namespace berth::registry {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// RFC 7230 tchar.
bool isTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}
  bool atEnd() const { return pos_ >= text_.size(); }
  char peek() const { return atEnd() ? '\0' : text_[pos_]; }
  void skipSpace() {
    while (!atEnd() && (peek() == ' ' || peek() == '\t'))
      ++pos_;
  }
  bool consume(char c) {
    if (peek() != c)
      return false;
    ++pos_;
    return true;
  }
  std::string_view token() {
    size_t start = pos_;
    while (!atEnd() && isTokenChar(peek()))
      ++pos_;
    return text_.substr(start, pos_ - start);
  }
  // A quoted-string after the opening quote; handles backslash escapes.
  Result<std::string> quoted() {
    std::string out;
    while (!atEnd()) {
      char c = text_[pos_++];
      if (c == '"')
        return out;
      if (c == '\\') {
        if (atEnd())
          break;
        c = text_[pos_++];
      }
      out += c;
    }
    return Error("unterminated quoted string");
  }
  size_t position() const { return pos_; }
  void rewind(size_t pos) { pos_ = pos; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

std::string AuthChallenge::param(std::string_view name) const {
  auto it = params.find(std::string(name));
  return it == params.end() ? std::string() : it->second;
}

Result<std::vector<AuthChallenge>> parseWwwAuthenticate(std::string_view header) {
  auto bad = [&](std::string_view why) {
    return Error(fmt::format("malformed WWW-Authenticate header: {}", why));
  };
  std::vector<AuthChallenge> out;
  Scanner s(header);
  s.skipSpace();
  while (!s.atEnd()) {
    if (s.consume(',')) {  // empty list elements are allowed
      s.skipSpace();
      continue;
    }
    std::string_view scheme = s.token();
    if (scheme.empty())
      return bad(fmt::format("expected an auth scheme at offset {}", s.position()));
    AuthChallenge challenge{lower(scheme), {}};
    s.skipSpace();
    // auth-params until the next challenge (a token followed by space, not by '=').
    while (!s.atEnd()) {
      size_t mark = s.position();
      std::string_view name = s.token();
      s.skipSpace();
      if (name.empty() || !s.consume('=')) {
        if (name.empty() && !s.atEnd() && s.peek() != ',')
          return bad(fmt::format("unexpected character at offset {}", s.position()));
        s.rewind(mark);
        if (name.empty())
          s.consume(',');
        break;
      }
      s.skipSpace();
      std::string value;
      if (s.consume('"')) {
        BERTH_ASSIGN(value, s.quoted().withContext("malformed WWW-Authenticate header"));
      } else {
        value = std::string(s.token());
      }
      challenge.params[lower(name)] = value;
      s.skipSpace();
      if (!s.consume(','))
        break;
      s.skipSpace();
    }
    out.push_back(std::move(challenge));
    s.skipSpace();
  }
  if (out.empty())
    return bad("no challenge");
  return out;
}

Result<std::string> tokenUrl(const AuthChallenge& challenge, std::string_view repository) {
  return tokenUrl(challenge,
                  std::vector<std::string>{fmt::format("repository:{}:pull", repository)});
}

Result<std::string> tokenUrl(const AuthChallenge& challenge,
                             const std::vector<std::string>& scopes) {
  std::string realm = challenge.param("realm");
  if (realm.empty())
    return Error("Bearer challenge without a realm");
  if (!realm.starts_with("https://") && !realm.starts_with("http://"))
    return Error(fmt::format("Bearer realm `{}` is not an http(s) URL", realm));
  std::string url = realm;
  char sep = realm.find('?') == std::string::npos ? '?' : '&';
  if (std::string service = challenge.param("service"); !service.empty()) {
    url += fmt::format("{}service={}", sep, urlEncode(service));
    sep = '&';
  }
  for (const std::string& scope : scopes) {
    url += fmt::format("{}scope={}", sep, urlEncode(scope));
    sep = '&';
  }
  return url;
}

Result<BearerToken> parseTokenResponse(std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Error("token response is not a JSON object");
  BearerToken out;
  for (const char* key : {"token", "access_token"}) {
    auto it = doc.find(key);
    if (it != doc.end() && it->is_string() && !it->get<std::string>().empty()) {
      out.token = it->get<std::string>();
      break;
    }
  }
  if (out.token.empty())
    return Error("token response holds no `token`");
  if (auto it = doc.find("expires_in"); it != doc.end() && it->is_number_integer())
    out.expiresInSeconds = std::max<int64_t>(it->get<int64_t>(), 1);
  return out;
}

Result<std::string> base64Encode(std::string_view data) {
  BERTH_ASSIGN(const image::CryptoLibrary* crypto, image::cryptoLibrary());
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = crypto->encodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                              reinterpret_cast<const unsigned char*>(data.data()),
                              static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(std::max(n, 0)));
  return out;
}

Result<std::string> base64Decode(std::string_view text) {
  std::string clean;
  for (char c : text) {
    if (c != '\n' && c != '\r' && c != ' ')
      clean += c;
  }
  if (clean.size() % 4 != 0)
    return Error("invalid base64: length is not a multiple of 4");
  size_t padding = 0;
  while (padding < clean.size() && clean[clean.size() - 1 - padding] == '=')
    ++padding;
  if (padding > 2 || clean.find('=') < clean.size() - padding)
    return Error("invalid base64 padding");
  BERTH_ASSIGN(const image::CryptoLibrary* crypto, image::cryptoLibrary());
  std::string out(clean.size() / 4 * 3, '\0');
  int n = crypto->decodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                              reinterpret_cast<const unsigned char*>(clean.data()),
                              static_cast<int>(clean.size()));
  if (n < 0)
    return Error("invalid base64");
  // EVP_DecodeBlock keeps the zero bytes padding stands for: drop one per '='.
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

Result<std::string> basicAuthorization(std::string_view username, std::string_view password) {
  BERTH_ASSIGN(std::string encoded, base64Encode(fmt::format("{}:{}", username, password)));
  return "Basic " + encoded;
}

}  // namespace berth::registry
