// Image metadata kept inside every berth image under /.berth/ (ARCHITECTURE.md, "The image"):
//
//   /.berth/config.json   the OCI image config as the registry served it (Env, Entrypoint, ...)
//   /.berth/source.json   where the image came from: reference, digest, platform, date, tool,
//                         and for registry images the manifest as served (`berth push` sends
//                         it again byte for byte)
//   /.berth/runscript, /.berth/help, /.berth/definition, /.berth/test   built images only
//   /.berth/environment   built images only: the %environment text, sourced by /bin/sh in the
//                         container before the command (after the image's Env)
//
// `berth inspect` and the runtime read only these files.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::image {

inline constexpr std::string_view kMetadataDir = ".berth";
inline constexpr std::string_view kConfigFile = ".berth/config.json";
inline constexpr std::string_view kSourceFile = ".berth/source.json";
inline constexpr std::string_view kRunscriptFile = ".berth/runscript";
inline constexpr std::string_view kHelpFile = ".berth/help";
inline constexpr std::string_view kDefinitionFile = ".berth/definition";
inline constexpr std::string_view kTestFile = ".berth/test";
inline constexpr std::string_view kEnvironmentFile = ".berth/environment";

// The parts of an OCI image config (image-spec config.md) that berth acts on.
struct ImageConfig {
  std::string architecture;             // GOARCH names: amd64, arm64, ...
  std::string os;                       // linux
  std::string variant;                  // v8, ... (may be empty)
  std::vector<std::string> env;         // "KEY=VALUE", in image order
  std::vector<std::string> entrypoint;  // empty: none
  std::vector<std::string> cmd;         // empty: none
  std::string workingDir;               // empty: "/"
  std::string user;                     // empty: the invoking user
  std::map<std::string, std::string> labels;
  std::vector<std::string> diffIds;  // rootfs.diff_ids: uncompressed layer digests, bottom-up
};

// Where an image came from.
struct ImageSource {
  std::string reference;  // as the user gave it, normalised ("docker.io/library/ubuntu:22.04")
  std::string digest;     // manifest digest ("sha256:..."), or digest of the build inputs
  std::string platform;   // "linux/amd64"
  std::string created;    // when berth made this image, RFC 3339 UTC
  std::string tool;       // "berth 0.1.0"
  // Registry images: the platform manifest exactly as served (its sha256 is `digest`) and its
  // media type. It lists the config and layer blobs the image was made of, so the image can be
  // pushed again unchanged. Empty for everything else, and for trees converted from a
  // directory (a sandbox, a saved container): they are no longer those layers.
  std::string manifest;
  std::string manifestMediaType;
};

// Parses an OCI image config document; unknown fields are ignored, wrong types are errors.
Result<ImageConfig> parseImageConfig(std::string_view json);
// The OCI config JSON for `config` (used for images berth builds itself).
std::string serializeImageConfig(const ImageConfig& config);

Result<ImageSource> parseImageSource(std::string_view json);
std::string serializeImageSource(const ImageSource& source);

// "linux/amd64" or "linux/arm64/v8".
std::string platformString(const ImageConfig& config);

// The platform of this machine in OCI terms ("linux/amd64" on x86_64).
std::string hostPlatform();

}  // namespace berth::image
