#include "shared/image/digest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include <fmt/format.h>

#include "shared/core/unique_fd.hpp"
#include "shared/image/crypto_library.hpp"

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
  const CryptoLibrary* crypto;
  EVP_MD_CTX* md;
  Ctx(const CryptoLibrary* library, EVP_MD_CTX* context) : crypto(library), md(context) {}
  ~Ctx() { crypto->mdCtxFree(md); }
  Ctx(const Ctx&) = delete;
  Ctx& operator=(const Ctx&) = delete;
};

Result<Sha256Hasher> Sha256Hasher::create() {
  BERTH_ASSIGN(const CryptoLibrary* crypto, cryptoLibrary());
  EVP_MD_CTX* md = crypto->mdCtxNew();
  if (md == nullptr)
    return Error("libcrypto: cannot allocate a digest context");
  auto ctx = std::make_unique<Ctx>(crypto, md);
  if (crypto->digestInit(md, crypto->sha256(), nullptr) != 1)
    return Error("libcrypto: cannot initialise SHA-256");
  return Sha256Hasher(std::move(ctx));
}

Sha256Hasher::Sha256Hasher(std::unique_ptr<Ctx> ctx) : ctx_(std::move(ctx)) {}
Sha256Hasher::Sha256Hasher(Sha256Hasher&&) noexcept = default;
Sha256Hasher& Sha256Hasher::operator=(Sha256Hasher&&) noexcept = default;
Sha256Hasher::~Sha256Hasher() = default;

void Sha256Hasher::update(std::string_view data) {
  if (!data.empty())
    ctx_->crypto->digestUpdate(ctx_->md, data.data(), data.size());
}

std::string Sha256Hasher::finish() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int length = 0;
  ctx_->crypto->digestFinal(ctx_->md, md.data(), &length);
  reset();
  std::string out(kSha256Prefix);
  for (unsigned int i = 0; i < length; ++i)
    out += fmt::format("{:02x}", md[i]);
  return out;
}

void Sha256Hasher::reset() {
  ctx_->crypto->digestInit(ctx_->md, ctx_->crypto->sha256(), nullptr);
}

Result<std::string> sha256Digest(std::string_view data) {
  BERTH_ASSIGN(Sha256Hasher hasher, Sha256Hasher::create());
  hasher.update(data);
  return hasher.finish();
}

Result<std::string> sha256File(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd)
    return errnoError(fmt::format("open `{}`", path));
  BERTH_ASSIGN(Sha256Hasher hasher, Sha256Hasher::create());
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

Status verifyDigest(std::string_view expected, std::string_view data) {
  BERTH_ASSIGN(std::string actual, sha256Digest(data));
  return checkDigest(expected, actual);
}

}  // namespace berth::image
