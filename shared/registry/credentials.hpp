// Registry credentials: where they come from, in this order (the first that has an entry wins):
//   1. environment, per registry: BERTH_REGISTRY_USER_<HOST> / BERTH_REGISTRY_PASSWORD_<HOST>
//      (<HOST> is the registry name upper-cased, every other character than A-Z 0-9 as '_':
//      ghcr.io -> GHCR_IO, 127.0.0.1:5000 -> 127_0_0_1_5000)
//   2. environment, any registry: BERTH_REGISTRY_USER / BERTH_REGISTRY_PASSWORD, limited to
//      the registries named in BERTH_REGISTRY_AUTH_HOSTS (comma-separated) when that is set
//   3. `berth login`: USERCONFIGDIR/auth.json (mode 0600 in a 0700 directory)
//   4. Docker: $DOCKER_CONFIG/config.json or ~/.docker/config.json, `auths` entries
// Credentials are never printed or logged; Credentials has no formatting on purpose.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "shared/core/result.hpp"

namespace berth::registry {

struct Credentials {
  std::string username;
  std::string password;  // or an identity token
  std::string source;    // where they came from, for messages: "environment", "berth login", ...
};

// Reads environment variables; injectable so tests (and slurmstepd, with the job's
// environment) do not depend on the process environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup processEnvironment();

// $XDG_CONFIG_HOME/berth, else $HOME/.config/berth (empty when neither is set).
std::filesystem::path defaultUserConfigDir(const EnvLookup& env);
// $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json.
std::filesystem::path defaultDockerConfigPath(const EnvLookup& env);

// Parses a Docker-style config.json and returns its `auths`, keyed by normalised registry name.
// Entries have `auth` (base64 "user:password") or `username`+`password`, or `identitytoken`.
// Entries that cannot be decoded are skipped; a file that is not JSON is an error.
Result<std::map<std::string, Credentials>> parseDockerConfig(std::string_view json);

// The environment variable suffix for a registry ("127.0.0.1:5000" -> "127_0_0_1_5000").
std::string credentialEnvSuffix(std::string_view registry);

class CredentialStore {
 public:
  CredentialStore(EnvLookup env, std::filesystem::path userConfigDir,
                  std::filesystem::path dockerConfigPath);
  // From the process environment and the default paths (userConfigDir "" = default).
  static CredentialStore fromEnvironment(const std::filesystem::path& userConfigDir);

  // Credentials for `registry` (normalised name), or nullopt for anonymous access. With a
  // `user` (a reference's enroot-style USER@), the first entry of that user: the sources keep
  // one entry per registry, so a source holding another user's is passed over; none is an
  // error, never anonymous access.
  Result<std::optional<Credentials>> lookup(std::string_view registry,
                                            std::string_view user = {}) const;

  // `berth login`: stores (replacing) credentials for `registry` in USERCONFIGDIR/auth.json.
  Status store(std::string_view registry, std::string_view username,
               std::string_view password) const;
  // `berth logout`: removes them; returns false when there were none.
  Result<bool> remove(std::string_view registry) const;

  std::filesystem::path loginFile() const;

 private:
  Result<std::map<std::string, Credentials>> readLoginFile() const;
  Status writeLoginFile(const std::map<std::string, Credentials>& entries) const;

  EnvLookup env_;
  std::filesystem::path userConfigDir_;
  std::filesystem::path dockerConfigPath_;
};

}  // namespace berth::registry
