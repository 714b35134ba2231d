// Image references, parsed per the distribution reference grammar with Docker Hub's
// normalisation rules (see kDockerHubRules), in two spellings:
//   Docker:          [docker://][REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST]
//   enroot / pyxis:  [docker://][USER@][REGISTRY#]REPOSITORY[:TAG][@sha256:DIGEST]
// (`nvcr.io#nvidia/pytorch:24.05-py3` is nvcr.io/nvidia/pytorch:24.05-py3). Both give the same
// ImageReference; toString() is the canonical Docker form berth prints and caches under.
#pragma once

#include <string>
#include <string_view>

#include "shared/core/result.hpp"

namespace berth::image {

inline constexpr std::string_view kDockerHubRegistry = "docker.io";
// The host that serves Docker Hub's registry API (docker.io itself does not).
inline constexpr std::string_view kDockerHubApiHost = "registry-1.docker.io";
inline constexpr std::string_view kDefaultTag = "latest";

struct ImageReference {
  std::string registry;    // "docker.io", "127.0.0.1:5000", "ghcr.io"
  std::string repository;  // "library/ubuntu"
  std::string tag;         // "latest" when neither tag nor digest given; may be empty with a digest
  std::string digest;      // "sha256:<64 hex>" or empty
  // enroot's USER@: whose stored credentials to use for the registry ("" = the first found).
  // Not part of the image's name: toString() leaves it out.
  std::string user;

  // Normalised: "docker.io/library/ubuntu:latest[@sha256:..]".
  std::string toString() const;
  // The same with enroot's USER@ in front when there is one: for handing the reference on to
  // a pull (which looks up that user's credentials), never for printing or caching.
  std::string toStringWithUser() const;
  // host[:port] to talk to: "registry-1.docker.io" for docker.io.
  std::string apiEndpoint() const;
  // "docker.io/library/ubuntu" (no tag, no digest).
  std::string name() const;
  // The tag, or the digest when there is one: what a manifest request names.
  std::string manifestReference() const;

  bool operator==(const ImageReference&) const = default;
};

// Accepts a "docker://" prefix or none. Docker Hub rules: `ubuntu` is
// docker.io/library/ubuntu:latest, `user/repo` is docker.io/user/repo, index.docker.io is
// docker.io; without `#`, the first component is a registry only if it has '.' or ':' or is
// "localhost"; with `#`, what precedes it is the registry. `@` starts a digest when a digest
// algorithm follows (`@sha256:`), else it ends the user name.
// Errors read: invalid image reference `TEXT`: REASON.
Result<ImageReference> parseImageReference(std::string_view text);

// The registry part alone, normalised the same way ("index.docker.io" -> "docker.io"); used for
// `berth login REGISTRY` and credential lookups. Accepts "https://host/..." forms as Docker's
// config.json stores them.
Result<std::string> normalizeRegistryName(std::string_view text);

}  // namespace berth::image
