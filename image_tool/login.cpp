// `berth login [--username U] [--password-stdin] REGISTRY` and `berth logout REGISTRY`: store
// and remove registry credentials in the user's config dir (auth.json, mode 0600, dir 0700).
// The password is read from stdin or a terminal prompt without echo; it is never printed.
#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "image_tool/command.hpp"
#include "shared/core/strings.hpp"
#include "shared/image/reference.hpp"
#include "shared/registry/credentials.hpp"

namespace berth::cli {

namespace {

struct LoginOptions {
  std::string registry;
  std::string username;
  bool passwordStdin = false;
};

// Reads one line from stdin; with echo off when stdin is a terminal.
Result<std::string> readSecretLine(const std::string& prompt) {
  bool terminal = ::isatty(STDIN_FILENO) == 1;
  termios saved{};
  if (terminal) {
    fmt::print(stderr, "{}", prompt);
    std::fflush(stderr);
    if (::tcgetattr(STDIN_FILENO, &saved) == 0) {
      termios quiet = saved;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
  }
  std::string line;
  bool got = static_cast<bool>(std::getline(std::cin, line));
  if (terminal) {
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    fmt::print(stderr, "\n");
  }
  if (!got && line.empty())
    return Error("no password given on stdin");
  if (!line.empty() && line.back() == '\r')
    line.pop_back();
  return line;
}

Result<std::string> readLine(const std::string& prompt) {
  if (::isatty(STDIN_FILENO) != 1)
    return Error("no user name given (use --username)");
  fmt::print(stderr, "{}", prompt);
  std::string line;
  if (!std::getline(std::cin, line))
    return Error("no user name given");
  return std::string(trim(line));
}

Result<int> login(const LoginOptions& options, const Logger& log) {
  BERTH_ASSIGN(std::string registry, image::normalizeRegistryName(options.registry));
  std::string username = options.username;
  if (username.empty()) {
    if (options.passwordStdin)
      return Error("--password-stdin needs --username");
    BERTH_ASSIGN(username, readLine("Username: "));
  }
  if (!options.passwordStdin && ::isatty(STDIN_FILENO) != 1)
    return Error("stdin is not a terminal: use --password-stdin to read the password from it");
  BERTH_ASSIGN(std::string password, readSecretLine("Password: "));
  if (password.empty())
    return Error("empty password");
  auto store = registry::CredentialStore::fromEnvironment({});
  BERTH_TRY(store.store(registry, username, password)
                .withContext(fmt::format("store credentials for {}", registry)));
  log.info("credentials for {} stored in {}", registry, store.loginFile().string());
  fmt::print("Login Succeeded\n");
  return 0;
}

Result<int> logout(const std::string& registryText, const Logger& log) {
  BERTH_ASSIGN(std::string registry, image::normalizeRegistryName(registryText));
  auto store = registry::CredentialStore::fromEnvironment({});
  BERTH_ASSIGN(bool removed, store.remove(registry).withContext(
                                 fmt::format("remove credentials for {}", registry)));
  if (!removed) {
    log.warning("no stored credentials for {}", registry);
    return 0;
  }
  fmt::print("Removed credentials for {}\n", registry);
  return 0;
}

}  // namespace

void addLoginCommand(CLI::App& app, Invocation& invocation) {
  auto options = std::make_shared<LoginOptions>();
  CLI::App* cmd = app.add_subcommand(
      "login", "Store credentials for a registry (in ~/.config/berth/auth.json, mode 0600)");
  cmd->add_option("-u,--username", options->username, "User name (asked for when omitted)");
  cmd->add_flag("--password-stdin", options->passwordStdin,
                "Read the password (or token) from stdin instead of prompting");
  cmd->add_option("registry", options->registry, "Registry host[:port], e.g. ghcr.io")->required();
  cmd->callback([&invocation, options] {
    invocation.action = [&invocation, options] { return login(*options, invocation.log); };
  });

  auto registry = std::make_shared<std::string>();
  CLI::App* out = app.add_subcommand("logout", "Remove stored credentials for a registry");
  out->add_option("registry", *registry, "Registry host[:port]")->required();
  out->callback([&invocation, registry] {
    invocation.action = [&invocation, registry] { return logout(*registry, invocation.log); };
  });
}

}  // namespace berth::cli
