// LayerReader's verifying mode: a layer blob read through two libarchive readers, so that every
// byte is hashed on the way without a second pass over the file.
//
//   file --fileRead--> outer reader (raw format: decompression only) --tarRead--> tar reader
//        (blob digest, size)                                     (diff_id)
//
// The tar reader stops at the end-of-archive blocks; whatever follows (padding, trailing data)
// still belongs to the digests, so finishVerification() drains both streams before comparing.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include <fmt/format.h>

#include "shared/core/unique_fd.hpp"
#include "shared/image/archive_library.hpp"
#include "shared/image/digest.hpp"
#include "shared/image/layer_reader.hpp"

namespace berth::image {

namespace {
constexpr size_t kVerifyBuffer = 1 << 20;
}  // namespace

struct LayerReader::Verifier {
  Verifier(const ArchiveLibrary* library, UniqueFd file, LayerDigests digests, Sha256Hasher blob,
           Sha256Hasher tar)
      : lib(library),
        fd(std::move(file)),
        expected(std::move(digests)),
        blobHash(std::move(blob)),
        tarHash(std::move(tar)),
        outer(nullptr, ArchiveDeleter{library}),
        fileBuffer(kVerifyBuffer),
        tarBuffer(kVerifyBuffer) {}

  const ArchiveLibrary* lib;
  UniqueFd fd;
  LayerDigests expected;
  Sha256Hasher blobHash;
  Sha256Hasher tarHash;
  int64_t blobBytes = 0;
  ArchivePtr outer;  // decompression only (raw format)
  bool outerDone = false;
  bool verified = false;
  std::vector<char> fileBuffer;
  std::vector<char> tarBuffer;
  std::optional<Error> failure;  // what a callback could not report through libarchive

  // The next bytes of the file, hashed; 0 at its end.
  la_ssize_t readFile() {
    for (;;) {
      ssize_t n = ::read(fd.get(), fileBuffer.data(), fileBuffer.size());
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        failure = errnoError("read layer blob");
        return -1;
      }
      blobHash.update(std::string_view(fileBuffer.data(), static_cast<size_t>(n)));
      blobBytes += n;
      return n;
    }
  }

  // The next bytes of the decompressed stream, hashed; 0 at its end.
  la_ssize_t readTar() {
    if (outerDone)
      return 0;
    la_ssize_t n = lib->readData(outer.get(), tarBuffer.data(), tarBuffer.size());
    if (n < 0) {
      failure = archiveErrorOf(*lib, outer.get(), "decompress layer");
      return -1;
    }
    outerDone = n == 0;
    tarHash.update(std::string_view(tarBuffer.data(), static_cast<size_t>(n)));
    return n;
  }

  static la_ssize_t fileRead(struct archive*, void* self, const void** buffer) {
    auto* v = static_cast<Verifier*>(self);
    *buffer = v->fileBuffer.data();
    return v->readFile();
  }
  static la_ssize_t tarRead(struct archive*, void* self, const void** buffer) {
    auto* v = static_cast<Verifier*>(self);
    *buffer = v->tarBuffer.data();
    return v->readTar();
  }
};

// Here, where Verifier is complete.
LayerReader::LayerReader(const ArchiveLibrary* library, ArchivePtr archive, std::string name,
                         bool disk)
    : lib_(library), archive_(std::move(archive)), name_(std::move(name)), disk_(disk) {}
LayerReader::LayerReader(LayerReader&&) noexcept = default;
LayerReader& LayerReader::operator=(LayerReader&&) noexcept = default;
LayerReader::~LayerReader() = default;

Result<LayerReader> LayerReader::openVerified(const ArchiveLibrary* lib,
                                              const std::filesystem::path& blob,
                                              const LayerDigests& expected) {
  UniqueFd fd(::open(blob.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd)
    return errnoError(fmt::format("open layer `{}`", blob.string()));
  BERTH_ASSIGN(Sha256Hasher blobHash, Sha256Hasher::create());
  BERTH_ASSIGN(Sha256Hasher tarHash, Sha256Hasher::create());
  auto verifier = std::make_unique<Verifier>(lib, std::move(fd), expected, std::move(blobHash),
                                             std::move(tarHash));
  std::string where = fmt::format("open layer `{}`", blob.string());

  verifier->outer.reset(lib->readNew());
  struct archive* outer = verifier->outer.get();
  if (outer == nullptr)
    return Error("libarchive: out of memory");
  if (lib->supportFormatRaw(outer) != ARCHIVE_OK)
    return archiveErrorOf(*lib, outer, "libarchive");
  BERTH_TRY(supportLayerFilters(*lib, outer));
  if (lib->readOpen(outer, verifier.get(), nullptr, &Verifier::fileRead, nullptr) != ARCHIVE_OK)
    return verifier->failure ? *verifier->failure : archiveErrorOf(*lib, outer, where);
  struct archive_entry* entry = nullptr;
  int rc = lib->readNextHeader(outer, &entry);
  if (rc == ARCHIVE_EOF)
    verifier->outerDone = true;  // an empty blob: the tar reader reports it
  else if (rc < ARCHIVE_WARN)
    return verifier->failure ? *verifier->failure : archiveErrorOf(*lib, outer, where);

  ArchivePtr tar(lib->readNew(), ArchiveDeleter{lib});
  if (!tar)
    return Error("libarchive: out of memory");
  if (lib->supportFormatTar(tar.get()) != ARCHIVE_OK)
    return archiveErrorOf(*lib, tar.get(), "libarchive");
  if (lib->readOpen(tar.get(), verifier.get(), nullptr, &Verifier::tarRead, nullptr) != ARCHIVE_OK)
    return verifier->failure ? *verifier->failure : archiveErrorOf(*lib, tar.get(), where);
  LayerReader reader(lib, std::move(tar), blob.string(), false);
  reader.verifier_ = std::move(verifier);
  return reader;
}

Status LayerReader::finishVerification() {
  Verifier& v = *verifier_;
  if (v.verified)
    return okStatus();
  std::string where = fmt::format("layer `{}`", name_);
  while (!v.outerDone) {
    if (v.readTar() < 0)
      return v.failure->withContext(where);
  }
  for (;;) {
    la_ssize_t n = v.readFile();
    if (n < 0)
      return v.failure->withContext(where);
    if (n == 0)
      break;
  }
  if (v.expected.blobSize >= 0 && v.blobBytes != v.expected.blobSize)
    return Error(fmt::format("{}: blob has {} bytes, its descriptor says {}", where, v.blobBytes,
                             v.expected.blobSize));
  if (!v.expected.blob.empty())
    BERTH_TRY(checkDigest(v.expected.blob, v.blobHash.finish())
                  .withContext(fmt::format("{}: blob", where)));
  if (!v.expected.diffId.empty())
    BERTH_TRY(
        checkDigest(v.expected.diffId, v.tarHash.finish())
            .withContext(fmt::format("{}: uncompressed content (diff_id in the config)", where)));
  v.verified = true;  // a second next() at the end is the plain end
  return okStatus();
}

}  // namespace berth::image
