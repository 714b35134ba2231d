// Local image sources for `berth pull` (issue 3): what skopeo calls transports.
//
//   oci:DIR[:TAG]              an OCI image layout directory
//   oci-archive:FILE[:TAG]     a tar of an OCI image layout (extracted to a scratch directory)
//   docker-archive:FILE        a `docker save` tarball (manifest.json + layer tars)
//   DIR                        a directory tree (a sandbox), taken as one layer
//   FILE.sqsh                  an existing squashfs image (checked, then copied)
//   docker://REF or REF        a registry (RegistryClient; not handled here)
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/convert/converter.hpp"
#include "shared/core/result.hpp"
#include "shared/core/temp_dir.hpp"

namespace berth::convert {

enum class SourceKind { kRegistry, kOciLayout, kOciArchive, kDockerArchive, kDirectory, kSquashfs };

struct SourceSpec {
  SourceKind kind = SourceKind::kRegistry;
  std::filesystem::path location;  // local kinds
  std::string tag;                 // oci / oci-archive: the ref.name to pick; may be empty
  std::string text;                // as given (for a registry: the reference text)
};

// Decides the kind of `text`: a transport prefix, or an existing directory or squashfs file;
// anything else is a registry reference.
Result<SourceSpec> parseSource(std::string_view text);

// A layered image found locally: everything convertLayers needs.
struct LocalImage {
  std::string digest;     // the manifest digest (oci), or the config digest (docker-archive)
  std::string reference;  // "oci:/abs/dir:tag", ...
  std::string platform;   // from the config, "linux/amd64"
  std::string configJson;
  std::vector<LayerBlob> layers;   // bottom-up
  std::optional<TempDir> scratch;  // extracted archive, removed with this object
};

Result<LocalImage> loadOciLayout(const std::filesystem::path& dir, std::string_view tag);
// Archives are extracted (blobs only, never a root filesystem) under `scratchParent`.
Result<LocalImage> loadOciArchive(const std::filesystem::path& file, std::string_view tag,
                                  const std::filesystem::path& scratchParent);
Result<LocalImage> loadDockerArchive(const std::filesystem::path& file,
                                     const std::filesystem::path& scratchParent);

// Checks the superblock of a squashfs file: magic, version 4.0, a compressor the kernel knows.
Status checkSquashfs(const std::filesystem::path& file);

}  // namespace berth::convert
