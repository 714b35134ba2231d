#include "shared/image/auth.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shared/image/http.hpp"

namespace berth::image {

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
  url += fmt::format("{}scope={}", sep, urlEncode(fmt::format("repository:{}:pull", repository)));
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

namespace {

// The standard base64 alphabet (RFC 4648 section 4): index -> character.
constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// A base64 character's 6-bit value, or -1.
int base64Value(char c) {
  size_t at = kBase64Alphabet.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

}  // namespace

std::string base64Encode(std::string_view data) {
  std::string out;
  out.reserve(4 * ((data.size() + 2) / 3));
  for (size_t i = 0; i < data.size(); i += 3) {
    size_t n = std::min<size_t>(3, data.size() - i);
    uint32_t group = 0;
    for (size_t k = 0; k < 3; ++k)
      group = (group << 8) | (k < n ? static_cast<unsigned char>(data[i + k]) : 0u);
    for (size_t k = 0; k < 4; ++k)
      out += k <= n ? kBase64Alphabet[(group >> (18 - 6 * k)) & 0x3f] : '=';
  }
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
  if (padding > 2)
    return Error("invalid base64 padding");
  std::string out;
  out.reserve(clean.size() / 4 * 3);
  for (size_t i = 0; i < clean.size(); i += 4) {
    uint32_t group = 0;
    for (size_t k = 0; k < 4; ++k) {
      bool pad = i + k >= clean.size() - padding;
      int value = pad ? 0 : base64Value(clean[i + k]);
      if (value < 0)
        return Error("invalid base64");
      group = (group << 6) | static_cast<uint32_t>(value);
    }
    out += static_cast<char>(group >> 16);
    out += static_cast<char>((group >> 8) & 0xff);
    out += static_cast<char>(group & 0xff);
  }
  out.resize(out.size() - padding);
  return out;
}

std::string basicAuthorization(std::string_view username, std::string_view password) {
  return "Basic " + base64Encode(fmt::format("{}:{}", username, password));
}

}  // namespace berth::image
