#include "shared/registry/credentials.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shared/core/read_file.hpp"
#include "shared/core/strings.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/image/reference.hpp"
#include "shared/registry/auth.hpp"

namespace berth::registry {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kLoginFileName = "auth.json";
constexpr std::string_view kUserVar = "BERTH_REGISTRY_USER";
constexpr std::string_view kPasswordVar = "BERTH_REGISTRY_PASSWORD";
constexpr std::string_view kAuthHostsVar = "BERTH_REGISTRY_AUTH_HOSTS";

std::optional<Credentials> decodeEntry(const json& entry, std::string_view source) {
  if (!entry.is_object())
    return std::nullopt;
  auto str = [&](const char* key) {
    auto it = entry.find(key);
    return it != entry.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  Credentials c{str("username"), str("password"), std::string(source)};
  if (std::string auth = str("auth"); !auth.empty()) {
    auto decoded = base64Decode(auth);
    if (!decoded.ok())
      return std::nullopt;
    size_t colon = decoded->find(':');
    if (colon == std::string::npos)
      return std::nullopt;
    c.username = decoded->substr(0, colon);
    c.password = decoded->substr(colon + 1);
  }
  // An identity token is sent as the password with Docker's conventional user name.
  if (std::string token = str("identitytoken"); !token.empty() && c.password.empty()) {
    c.username = c.username.empty() ? "<token>" : c.username;
    c.password = token;
  }
  if (c.username.empty() || c.password.empty())
    return std::nullopt;
  return c;
}

// Credential files are small JSON documents; anything larger is not one.
constexpr size_t kMaxCredentialFileBytes = size_t{4} << 20;

Result<std::optional<std::string>> readFileIfExists(const fs::path& path) {
  Result<std::string> text = readRegularFile(path, kMaxCredentialFileBytes);
  if (!text.ok() && text.error().errnum() == ENOENT)
    return std::optional<std::string>();
  if (!text.ok())
    return std::move(text).error();
  return std::optional<std::string>(std::move(*text));
}

bool listedIn(std::string_view list, std::string_view registry) {
  for (const std::string& item : split(list, ',')) {
    auto normalized = image::normalizeRegistryName(item);
    if (normalized.ok() && *normalized == registry)
      return true;
  }
  return false;
}

}  // namespace

EnvLookup processEnvironment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr)
      return std::nullopt;
    return std::string(value);
  };
}

fs::path defaultUserConfigDir(const EnvLookup& env) {
  if (auto xdg = env("XDG_CONFIG_HOME"); xdg && !xdg->empty())
    return fs::path(*xdg) / "berth";
  if (auto home = env("HOME"); home && !home->empty())
    return fs::path(*home) / ".config" / "berth";
  return {};
}

fs::path defaultDockerConfigPath(const EnvLookup& env) {
  if (auto dir = env("DOCKER_CONFIG"); dir && !dir->empty())
    return fs::path(*dir) / "config.json";
  if (auto home = env("HOME"); home && !home->empty())
    return fs::path(*home) / ".docker" / "config.json";
  return {};
}

Result<std::map<std::string, Credentials>> parseDockerConfig(std::string_view text) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Error("not a JSON object");
  std::map<std::string, Credentials> out;
  auto auths = doc.find("auths");
  if (auths == doc.end() || !auths->is_object())
    return out;
  for (const auto& [key, entry] : auths->items()) {
    auto registry = image::normalizeRegistryName(key);
    if (!registry.ok())
      continue;
    if (auto c = decodeEntry(entry, "docker config"))
      out[*registry] = std::move(*c);
  }
  return out;
}

std::string credentialEnvSuffix(std::string_view registry) {
  std::string out;
  for (char c : registry)
    out += std::isalnum(static_cast<unsigned char>(c))
               ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
               : '_';
  return out;
}

CredentialStore::CredentialStore(EnvLookup env, fs::path userConfigDir, fs::path dockerConfigPath)
    : env_(std::move(env)),
      userConfigDir_(std::move(userConfigDir)),
      dockerConfigPath_(std::move(dockerConfigPath)) {}

CredentialStore CredentialStore::fromEnvironment(const fs::path& userConfigDir) {
  EnvLookup env = processEnvironment();
  fs::path dir = userConfigDir.empty() ? defaultUserConfigDir(env) : userConfigDir;
  fs::path docker = defaultDockerConfigPath(env);
  return CredentialStore(std::move(env), std::move(dir), std::move(docker));
}

fs::path CredentialStore::loginFile() const {
  return userConfigDir_.empty() ? fs::path() : userConfigDir_ / kLoginFileName;
}

Result<std::optional<Credentials>> CredentialStore::lookup(std::string_view registry,
                                                           std::string_view user) const {
  // The first entry of the sources, in order, that is `user`'s (any user's when "").
  auto pick = [&](std::optional<Credentials> found) {
    return found && (user.empty() || found->username == user);
  };
  std::string suffix = credentialEnvSuffix(registry);
  auto envUser = env_(fmt::format("{}_{}", kUserVar, suffix));
  auto envPassword = env_(fmt::format("{}_{}", kPasswordVar, suffix));
  if (envUser && envPassword) {
    Credentials found{*envUser, *envPassword, "environment"};
    if (pick(found))
      return std::optional<Credentials>(std::move(found));
  }

  envUser = env_(kUserVar);
  envPassword = env_(kPasswordVar);
  if (envUser && envPassword) {
    auto hosts = env_(kAuthHostsVar);
    Credentials found{*envUser, *envPassword, "environment"};
    if ((!hosts || hosts->empty() || listedIn(*hosts, registry)) && pick(found))
      return std::optional<Credentials>(std::move(found));
  }

  BERTH_ASSIGN(auto login, readLoginFile());
  if (auto it = login.find(std::string(registry)); it != login.end() && pick(it->second))
    return std::optional<Credentials>(it->second);

  if (!dockerConfigPath_.empty()) {
    BERTH_ASSIGN(auto text, readFileIfExists(dockerConfigPath_));
    if (text) {
      auto entries = parseDockerConfig(*text);
      if (!entries.ok())
        return entries.error().withContext(
            fmt::format("Docker config `{}`", dockerConfigPath_.string()));
      if (auto it = entries->find(std::string(registry)); it != entries->end() && pick(it->second))
        return std::optional<Credentials>(it->second);
    }
  }
  if (!user.empty())
    return Error(
        fmt::format("no credentials of user `{}` for {} (environment, berth login, Docker config)",
                    user, registry));
  return std::optional<Credentials>();
}

Result<std::map<std::string, Credentials>> CredentialStore::readLoginFile() const {
  if (userConfigDir_.empty())
    return std::map<std::string, Credentials>();
  BERTH_ASSIGN(auto text, readFileIfExists(loginFile()));
  if (!text)
    return std::map<std::string, Credentials>();
  auto entries = parseDockerConfig(*text);
  if (!entries.ok())
    return entries.error().withContext(fmt::format("credentials file `{}`", loginFile().string()));
  for (auto& [registry, c] : *entries)
    c.source = "berth login";
  return entries;
}

Status CredentialStore::writeLoginFile(const std::map<std::string, Credentials>& entries) const {
  if (userConfigDir_.empty())
    return Error("no user config directory (set HOME or XDG_CONFIG_HOME)");
  std::error_code ec;
  fs::create_directories(userConfigDir_, ec);
  if (ec)
    return Error(fmt::format("create `{}`: {}", userConfigDir_.string(), ec.message()));
  if (::chmod(userConfigDir_.c_str(), 0700) != 0)
    return errnoError(fmt::format("chmod `{}`", userConfigDir_.string()));

  json auths = json::object();
  for (const auto& [registry, c] : entries) {
    BERTH_ASSIGN(std::string auth, base64Encode(c.username + ":" + c.password));
    auths[registry] = {{"auth", auth}};
  }
  std::string text = json{{"auths", auths}}.dump(2) + "\n";

  std::string temp = (userConfigDir_ / ".auth.json.XXXXXX").string();
  UniqueFd fd(::mkstemp(temp.data()));  // mode 0600
  if (!fd)
    return errnoError(fmt::format("create a file in `{}`", userConfigDir_.string()));
  bool renamed = false;
  auto cleanup = [&] {
    if (!renamed)
      ::unlink(temp.c_str());
  };
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      Error e = errnoError(fmt::format("write `{}`", temp));
      cleanup();
      return e;
    }
    done += static_cast<size_t>(n);
  }
  if (::fchmod(fd.get(), 0600) != 0 || ::fsync(fd.get()) != 0) {
    Error e = errnoError(fmt::format("sync `{}`", temp));
    cleanup();
    return e;
  }
  if (::rename(temp.c_str(), loginFile().c_str()) != 0) {
    Error e = errnoError(fmt::format("rename to `{}`", loginFile().string()));
    cleanup();
    return e;
  }
  renamed = true;
  return {};
}

Status CredentialStore::store(std::string_view registry, std::string_view username,
                              std::string_view password) const {
  if (username.empty() || password.empty())
    return Error("user name and password must not be empty");
  if (username.find(':') != std::string_view::npos)
    return Error("user name must not contain `:`");
  BERTH_ASSIGN(auto entries, readLoginFile());
  entries[std::string(registry)] =
      Credentials{std::string(username), std::string(password), "berth login"};
  return writeLoginFile(entries);
}

Result<bool> CredentialStore::remove(std::string_view registry) const {
  BERTH_ASSIGN(auto entries, readLoginFile());
  if (entries.erase(std::string(registry)) == 0)
    return false;
  BERTH_TRY(writeLoginFile(entries));
  return true;
}

}  // namespace berth::registry
