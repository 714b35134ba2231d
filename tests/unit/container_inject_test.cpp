// Inject sets: berth.conf's inject.NAME.FIELD keys, choosing sets, and what they add to a
// container (mounts and variables).
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "shared/config/site_config.hpp"
#include "shared/container/inject.hpp"
#include "shared/core/temp_dir.hpp"

using namespace berth;
using namespace berth::config;

namespace {

std::string errorOf(const Result<SiteConfig>& result) {
  REQUIRE_FALSE(result.ok());
  return result.error().message();
}

const container::MountOp* findTarget(const std::vector<container::MountOp>& ops,
                                     const std::string& target) {
  auto it = std::ranges::find(ops, target, &container::MountOp::target);
  return it == ops.end() ? nullptr : &*it;
}

container::InjectWanted wanting(std::vector<std::string> sets, bool hostMpi = false) {
  container::InjectWanted wanted;
  wanted.sets = std::move(sets);
  wanted.hostMpi = hostMpi;
  return wanted;
}

}  // namespace

TEST_CASE("inject sets: parsed from berth.conf") {
  auto config = parseSiteConfig(
      "inject.mpich.libraries = /usr/lib/libmpich.so.12, /usr/lib/libucp.so.*\n"
      "inject.mpich.files = /etc/ucx, /opt/site/etc:/etc/site\n"
      "inject.mpich.devices = /dev/infiniband/*\n"
      "inject.mpich.env = UCX_TLS=rc,sm\n"
      "inject.mpich.env = FI_PROVIDER=cxi\n"
      "inject.mpich.host_mpi = true\n"
      "inject.fabric.default = yes\n"
      "inject.fabric.devices = /dev/cxi*\n",
      "berth.conf");
  REQUIRE(config.ok());
  REQUIRE(config->injectSets.size() == 2);
  const InjectSet& mpich = config->injectSets[0];
  CHECK(mpich.name == "mpich");
  CHECK(mpich.libraries ==
        std::vector<std::string>{"/usr/lib/libmpich.so.12", "/usr/lib/libucp.so.*"});
  CHECK(mpich.files ==
        std::vector<InjectFile>{{"/etc/ucx", "/etc/ucx"}, {"/opt/site/etc", "/etc/site"}});
  CHECK(mpich.devices == std::vector<std::string>{"/dev/infiniband/*"});
  CHECK(mpich.env == std::vector<std::pair<std::string, std::string>>{{"UCX_TLS", "rc,sm"},
                                                                      {"FI_PROVIDER", "cxi"}});
  CHECK(mpich.hostMpi);
  CHECK_FALSE(mpich.byDefault);
  CHECK(config->injectSets[1].byDefault);
}

TEST_CASE("inject sets: strict keys and values, errors name FILE:LINE") {
  CHECK(errorOf(parseSiteConfig("inject.a.library = /x\n", "b.conf")) ==
        "b.conf:1: unknown key `inject.a.library` (an inject set has files, libraries, devices, "
        "env, host_mpi, default)");
  CHECK(errorOf(parseSiteConfig("inject.a.files = relative\n", "b.conf")) ==
        "b.conf:1: inject.a.files: `relative` is not an absolute path");
  CHECK(errorOf(parseSiteConfig("inject.A!.files = /x\n", "b.conf")).find("inject set name `A!`") !=
        std::string::npos);
  CHECK(errorOf(parseSiteConfig("inject.none.files = /x\n", "b.conf"))
            .find("inject set name `none`") != std::string::npos);
  CHECK(errorOf(parseSiteConfig("inject.a.env = 1X=2\n", "b.conf")).find("is not NAME=VALUE") !=
        std::string::npos);
  CHECK(errorOf(parseSiteConfig("inject.a.default = maybe\n", "b.conf")).find("is not a boolean") !=
        std::string::npos);
  CHECK(errorOf(parseSiteConfig("inject.a.host_mpi = true\ninject.a.host_mpi = true\n",
                                "b.conf")) == "b.conf:2: inject.a.host_mpi: set twice");
  CHECK(errorOf(parseSiteConfig("inject.files = /x\n", "b.conf")) ==
        "b.conf:1: `inject.files` is not inject.NAME.FIELD");
  SiteConfig site;
  CHECK(applySetting(site, "inject.x.env", "A=1").ok());
  CHECK(site.injectSets.size() == 1);
}

TEST_CASE("inject sets: names users give, defaults, none, host MPI") {
  auto config = parseSiteConfig(
      "inject.fabric.default = true\ninject.fabric.env = A=1\n"
      "inject.mpi.host_mpi = true\ninject.mpi.env = B=1\n"
      "inject.debug.env = C=1\n",
      "berth.conf");
  REQUIRE(config.ok());
  const auto& sets = config->injectSets;
  auto names = parseInjectNames("debug, debug", sets);
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"debug"});
  auto unknown = parseInjectNames("debgu", sets);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message() ==
        "unknown inject set `debgu` (this site has: fabric, mpi, debug)");
  CHECK(*parseInjectNames("none", sets) == std::vector<std::string>{"none"});
  CHECK_FALSE(parseInjectNames("none,debug", sets).ok());

  auto namesOf = [](const std::vector<const InjectSet*>& chosen) {
    std::vector<std::string> names;
    for (const InjectSet* set : chosen)
      names.push_back(set->name);
    return names;
  };
  CHECK(namesOf(*selectInjectSets(sets, {}, false)) == std::vector<std::string>{"fabric"});
  CHECK(namesOf(*selectInjectSets(sets, {"debug"}, true)) ==
        std::vector<std::string>{"fabric", "debug", "mpi"});
  CHECK(namesOf(*selectInjectSets(sets, {"none"}, false)).empty());
  auto noHostMpi = selectInjectSets({}, {}, true);
  REQUIRE_FALSE(noHostMpi.ok());
  CHECK(noHostMpi.error().message().find("no inject set with host_mpi = true") !=
        std::string::npos);
}

TEST_CASE("inject: a set's libraries, files, devices and variables become mounts") {
  TempDir dir = TempDir::create("/tmp", "berth-inject-test").value();
  std::filesystem::path libs = dir.path() / "lib";
  std::filesystem::create_directories(libs);
  // A real shared library under another file name, and a link to it by a shorter name.
  std::filesystem::copy_file("/usr/lib/x86_64-linux-gnu/libpmix.so.2", libs / "libpmix.so.2.6.2");
  std::filesystem::create_symlink("libpmix.so.2.6.2", libs / "libpmix.so");
  auto config = parseSiteConfig("inject.fab.libraries = " + (libs / "libpmix.so").string() + "\n" +
                                    "inject.fab.files = /etc/hostname:/etc/site-hostname\n"
                                    "inject.fab.devices = /dev/nul*\n"
                                    "inject.fab.env = FI_PROVIDER=tcp\n",
                                "berth.conf");
  REQUIRE(config.ok());
  auto planned = container::planInjection(*config, wanting({"fab"}));
  REQUIRE(planned.ok());
  const auto& ops = planned->ops;
  REQUIRE_FALSE(ops.empty());
  CHECK(ops[0].kind == container::MountOpKind::kTmpfs);
  CHECK(ops[0].target == "/usr/local/berth-inject");
  const container::MountOp* file = findTarget(ops, "/usr/local/berth-inject/lib/libpmix.so.2.6.2");
  REQUIRE(file);
  CHECK(file->source == (libs / "libpmix.so.2.6.2").string());
  CHECK(file->readOnly);
  CHECK(file->checkAsUser);
  const container::MountOp* soname = findTarget(ops, "/usr/local/berth-inject/lib/libpmix.so.2");
  REQUIRE(soname);
  CHECK(soname->kind == container::MountOpKind::kSymlink);
  CHECK(soname->source == "libpmix.so.2.6.2");
  CHECK(findTarget(ops, "/usr/local/berth-inject/lib/libpmix.so"));
  const container::MountOp* site = findTarget(ops, "/etc/site-hostname");
  REQUIRE(site);
  CHECK(site->source == "/etc/hostname");
  CHECK(site->readOnly);
  const container::MountOp* null = findTarget(ops, "/dev/null");
  REQUIRE(null);
  CHECK(null->allowDevices);
  CHECK(null->device == std::make_pair(1u, 3u));
  REQUIRE(planned->env.size() == 2);
  CHECK(planned->env[0].name == "LD_LIBRARY_PATH");
  CHECK(planned->env[0].value == "/usr/local/berth-inject/lib");
  CHECK(planned->env[0].mode == gpu::EnvEdit::Mode::kPrepend);
  CHECK(planned->env[1].name == "FI_PROVIDER");
  CHECK(planned->hostMpiSet.empty());

  // Not asked for: nothing.
  auto none = container::planInjection(*config, {});
  REQUIRE(none.ok());
  CHECK(none->ops.empty());
  CHECK(none->env.empty());
}

TEST_CASE("inject: host MPI links the other MPICH-ABI name -- missing files are one line") {
  if (!std::filesystem::exists("/usr/lib/x86_64-linux-gnu/libmpich.so.12"))
    return;  // scripts/install-deps installs it
  auto config = parseSiteConfig(
      "inject.mpich.libraries = /usr/lib/x86_64-linux-gnu/libmpich.so.12\n"
      "inject.mpich.host_mpi = true\n"
      "inject.gone.libraries = /nonexistent/libx.so.*\n"
      "inject.nodev.devices = /etc/hostname\n",
      "berth.conf");
  REQUIRE(config.ok());
  auto planned = container::planInjection(*config, wanting({}, true));
  REQUIRE(planned.ok());
  CHECK(planned->hostMpiSet == "mpich");
  REQUIRE(planned->hostMpiLibraries.size() == 1);
  CHECK(planned->hostMpiLibraries[0].elf.soname == "libmpich.so.12");
  CHECK(findTarget(planned->ops, "/usr/local/berth-inject/lib/libmpi.so.12"));
  CHECK(findTarget(planned->ops, "/usr/local/berth-inject/lib/libmpich.so.12"));
  auto gone = container::planInjection(*config, wanting({"gone"}));
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().message() ==
        "inject set `gone`: nothing on this node matches `/nonexistent/libx.so.*`");
  auto nodev = container::planInjection(*config, wanting({"nodev"}));
  REQUIRE_FALSE(nodev.ok());
  CHECK(nodev.error().message() == "inject set `nodev`: `/etc/hostname` is not a character device");
}
