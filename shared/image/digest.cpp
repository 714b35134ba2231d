#include "shared/image/digest.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include <fmt/format.h>

#include "shared/core/unique_fd.hpp"

namespace berth::image {

namespace {

bool isLowerHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

}  // namespace

Status validateDigest(std::string_view digest) {
  if (!digest.starts_with(kSha256Prefix)) {
    size_t colon = digest.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return Error(fmt::format("invalid digest `{}`: expected sha256:<64 hex digits>", digest));
    return Error(
        fmt::format("unsupported digest algorithm `{}` (only sha256)", digest.substr(0, colon)));
  }
  std::string_view hex = digest.substr(kSha256Prefix.size());
  if (hex.size() != 64)
    return Error(fmt::format("invalid digest `{}`: expected 64 hex digits after sha256:", digest));
  for (char c : hex) {
    if (!isLowerHex(c))
      return Error(fmt::format("invalid digest `{}`: not lowercase hex", digest));
  }
  return {};
}

std::string_view digestHex(std::string_view digest) {
  size_t colon = digest.find(':');
  return colon == std::string_view::npos ? digest : digest.substr(colon + 1);
}

struct Sha256Hasher::Ctx {
  EVP_MD_CTX* md = nullptr;
  Ctx() : md(EVP_MD_CTX_new()) { EVP_DigestInit_ex(md, EVP_sha256(), nullptr); }
  ~Ctx() { EVP_MD_CTX_free(md); }
  Ctx(const Ctx&) = delete;
  Ctx& operator=(const Ctx&) = delete;
};

Sha256Hasher::Sha256Hasher() : ctx_(std::make_unique<Ctx>()) {}
Sha256Hasher::Sha256Hasher(Sha256Hasher&&) noexcept = default;
Sha256Hasher& Sha256Hasher::operator=(Sha256Hasher&&) noexcept = default;
Sha256Hasher::~Sha256Hasher() = default;

void Sha256Hasher::update(std::string_view data) {
  if (!data.empty())
    EVP_DigestUpdate(ctx_->md, data.data(), data.size());
}

std::string Sha256Hasher::finish() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx_->md, md.data(), &length);
  EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr);
  std::string out(kSha256Prefix);
  for (unsigned int i = 0; i < length; ++i)
    out += fmt::format("{:02x}", md[i]);
  return out;
}

std::string sha256Digest(std::string_view data) {
  Sha256Hasher hasher;
  hasher.update(data);
  return hasher.finish();
}

Result<std::string> sha256File(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd)
    return errnoError(fmt::format("open `{}`", path));
  Sha256Hasher hasher;
  std::array<char, 1 << 16> buffer{};
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errnoError(fmt::format("read `{}`", path));
    }
    if (n == 0)
      break;
    hasher.update(std::string_view(buffer.data(), static_cast<size_t>(n)));
  }
  return hasher.finish();
}

Status checkDigest(std::string_view expected, std::string_view actual) {
  if (expected != actual)
    return Error(fmt::format("digest mismatch: expected {}, got {}", expected, actual));
  return {};
}

}  // namespace berth::image
