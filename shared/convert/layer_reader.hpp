// LayerReader: one image layer (a tar stream, gzip/zstd/plain) read entry by entry with
// libarchive (opened on first use: archive_library.hpp), without unpacking it anywhere. Also reads
// a directory tree (a sandbox) as if it were one layer, so the converter has a single input shape.
//
// Entries come out with their path normalised ("./usr//bin/" -> "usr/bin", "" is the root);
// entries that could escape the root (`..`) or whose names no filesystem takes are reported as
// errors of that entry (LayerEntry::rejected) so the caller can warn and go on.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/convert/inflate_gzip.hpp"
#include "shared/core/result.hpp"

struct archive;

namespace berth::convert {

struct ArchiveLibrary;

enum class EntryType {
  kRegular,
  kDirectory,
  kSymlink,
  kHardlink,
  kCharDevice,
  kBlockDevice,
  kFifo,
  kSocket
};

std::string_view entryTypeName(EntryType type);

struct LayerEntry {
  std::string path;  // normalised, relative, no trailing slash; "" = the root directory
  EntryType type = EntryType::kRegular;
  uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky (no file type bits)
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime = 0;
  int64_t size = 0;        // regular files: data bytes (sparse files expanded)
  std::string linkTarget;  // symlink: as stored; hard link: normalised path of the target
  uint32_t devMajor = 0;
  uint32_t devMinor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;  // name -> raw value
  std::string rejected;  // non-empty: why this entry must not go into an image
};

// Longest path and name berth accepts from a layer (Linux PATH_MAX and squashfs's name limit).
inline constexpr size_t kMaxPathLength = 4095;
inline constexpr size_t kMaxNameLength = 255;

// "./a//b/" -> "a/b"; absolute paths become relative; any `..` component, an over-long path or
// name, or a NUL byte is an error.
Result<std::string> normalizeLayerPath(std::string_view raw);

// What a layer blob must hash to. Checked when the layer has been read to its end: next()
// returns the mismatch instead of the end, so nothing made from a tampered layer is kept.
struct LayerDigests {
  std::string blob;       // "sha256:..." of the file as stored (compressed); empty: not checked
  int64_t blobSize = -1;  // its size in bytes; -1: not checked
  std::string diffId;     // "sha256:..." of the uncompressed tar stream; empty: not checked

  bool empty() const { return blob.empty() && blobSize < 0 && diffId.empty(); }
};

class LayerReader {
 public:
  // Reads the tar stream in `blob`: gzip, zstd (xz, bzip2) or plain, detected by magic (the
  // media type table is manifest.hpp's; detection also copes with mislabelled layers). With
  // `expected` digests, every byte of the blob and of the decompressed stream is hashed. gzip
  // is inflated by GzipInflater (`gzip`: ISA-L when available, else zlib; inflate_gzip.hpp).
  static Result<LayerReader> openFile(const std::filesystem::path& blob,
                                      const LayerDigests& expected = {},
                                      GzipBackend gzip = GzipBackend::kAuto);
  // Reads a tar stream held in memory (tests, fuzzing); the buffer must outlive the reader.
  static Result<LayerReader> openMemory(const void* data, size_t size);
  // Walks the directory tree at `root` (not following symlinks), as one layer.
  static Result<LayerReader> openDirectory(const std::filesystem::path& root);

  LayerReader(LayerReader&&) noexcept;
  LayerReader& operator=(LayerReader&&) noexcept;
  ~LayerReader();

  // The next entry, or nullopt at the end of the layer. Data of the previous entry that was not
  // read is skipped.
  Result<std::optional<LayerEntry>> next();
  // Reads up to `size` bytes of the current entry's data; 0 at its end.
  Result<size_t> read(void* buffer, size_t size);

 private:
  struct ArchiveDeleter {
    const ArchiveLibrary* library = nullptr;
    void operator()(struct archive* a) const;
  };
  using ArchivePtr = std::unique_ptr<struct archive, ArchiveDeleter>;
  struct Verifier;  // layer_verifier.cpp
  LayerReader(const ArchiveLibrary* library, ArchivePtr archive, std::string name, bool disk);
  static Result<LayerReader> openVerified(const ArchiveLibrary* lib,
                                          const std::filesystem::path& blob,
                                          const LayerDigests& expected, GzipBackend gzip);
  Status finishVerification();

  Error archiveError(std::string_view what) const;
  // A failed read: the verifier's own failure when it has one, else libarchive's error.
  Error streamError(std::string_view what) const;

  const ArchiveLibrary* lib_;
  // Declared before archive_: the tar reader pulls its bytes through the verifier, so it must
  // be freed first.
  std::unique_ptr<Verifier> verifier_;
  ArchivePtr archive_;
  std::string name_;   // for messages
  bool disk_ = false;  // archive_read_disk: paths are relative to name_, descend explicitly
  std::filesystem::path diskRoot_;
};

}  // namespace berth::convert
