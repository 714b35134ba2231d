// The plugin's per-context logic with fake Slurm environments and a fake backend.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "shared/core/temp_dir.hpp"
#include "shared/slurm/slurmd_paths.hpp"
#include "spank_plugin/local_side.hpp"
#include "spank_plugin/option_checks.hpp"
#include "spank_plugin/remote_side.hpp"
#include "spank_plugin/task_side.hpp"

using namespace berth::spank;

namespace {

struct FakeEnvironment {
  std::map<std::string, std::string> vars;
  Environment view() {
    return {
        .get = [this](std::string_view n) -> std::optional<std::string> {
          auto it = vars.find(std::string(n));
          return it == vars.end() ? std::nullopt : std::optional(it->second);
        },
        .set = [this](std::string_view n, std::string_view v) -> berth::Status {
          vars[std::string(n)] = std::string(v);
          return berth::okStatus();
        },
        .unset = [this](std::string_view n) -> berth::Status {
          vars.erase(std::string(n));
          return berth::okStatus();
        },
        .all =
            [this] {
              std::vector<std::string> all;
              for (auto& [n, v] : vars)
                all.push_back(n + "=" + v);
              return all;
            },
    };
  }
};

struct Messages {
  std::vector<std::string> lines;
  berth::Logger logger() {
    return berth::Logger([this](berth::LogLevel, std::string_view m) { lines.emplace_back(m); },
                         berth::LogLevel::kDebug);
  }
  bool has(std::string_view text) const {
    for (const auto& line : lines)
      if (line.find(text) != std::string::npos)
        return true;
    return false;
  }
};

constexpr std::string_view kDigest =
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

}  // namespace

TEST_CASE("srun side: env fallbacks, checks, pinning") {
  FakeEnvironment env;
  Messages messages;
  Backend backend;
  int resolves = 0;
  backend.pinDigest = [&](std::string_view image) -> berth::Result<std::optional<std::string>> {
    ++resolves;
    if (image == "missing:1")
      return berth::Error("manifest unknown");
    return std::optional<std::string>(kDigest);
  };
  backend.isCached = [](std::string_view, const std::optional<std::string>&) { return false; };

  SUBCASE("no image: nothing to do, options reported as ignored") {
    StepState state;
    env.vars["BERTH_CONTAINER_WORKDIR"] = "/w";
    env.vars[std::string(kPinVariable)] = "stale";
    REQUIRE(prepareSubmission(state, env.view(), backend, messages.logger()).ok());
    CHECK(messages.has("--container-workdir ignored: no --container-image given"));
    CHECK(env.vars.count(std::string(kPinVariable)) == 0);
    CHECK(resolves == 0);
  }
  SUBCASE("image from the environment is pinned and announced") {
    StepState state;
    env.vars["BERTH_CONTAINER_IMAGE"] = "127.0.0.1:5000/tiny:latest";
    REQUIRE(prepareSubmission(state, env.view(), backend, messages.logger()).ok());
    CHECK(env.vars[std::string(kPinVariable)] ==
          fmt::format("{} 127.0.0.1:5000/tiny:latest", kDigest));
    CHECK(messages.has("not in the image cache yet: the nodes pull it first"));
    // A step inside the job reuses the pin instead of asking the registry again.
    StepState inner;
    REQUIRE(prepareSubmission(inner, env.view(), backend, messages.logger()).ok());
    CHECK(resolves == 1);
  }
  SUBCASE("registry errors fail srun with the image named") {
    StepState state;
    REQUIRE(state.options.set(OptionId::kImage, "missing:1").ok());
    auto status = prepareSubmission(state, env.view(), backend, messages.logger());
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().message() == "--container-image=missing:1: manifest unknown");
  }
  SUBCASE("bad values are refused before the job starts") {
    StepState state;
    REQUIRE(state.options.set(OptionId::kImage, "tiny").ok());
    REQUIRE(state.options.set(OptionId::kMounts, "relative:/x").ok());
    auto status = prepareSubmission(state, env.view(), backend, messages.logger());
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().message() ==
          "--container-mounts: mount `relative:/x`: the source must be an absolute path");
  }
  SUBCASE("an unreadable squashfs path is refused as the user") {
    StepState state;
    REQUIRE(state.options.set(OptionId::kImage, "/nonexistent/image.sqsh").ok());
    auto status = prepareSubmission(state, env.view(), backend, messages.logger());
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().message() ==
          "--container-image=/nonexistent/image.sqsh: No such file or directory");
  }
}

TEST_CASE("pins are used only for the image they were made for") {
  std::string pin = fmt::format("{} tiny:latest", kDigest);
  CHECK(pinnedDigestFor("tiny:latest", pin) == std::string(kDigest));
  CHECK_FALSE(pinnedDigestFor("other:latest", pin));
  CHECK_FALSE(pinnedDigestFor("tiny:latest", std::string("garbage")));
  CHECK_FALSE(pinnedDigestFor("tiny:latest", std::string("md5:x tiny:latest")));
  CHECK_FALSE(pinnedDigestFor("tiny:latest", std::nullopt));
}

TEST_CASE("option checks") {
  berth::config::SiteConfig site;
  auto check = [&](OptionId id, const char* value) {
    OptionValues values;
    REQUIRE(values.set(OptionId::kImage, "tiny").ok());
    REQUIRE(values.set(id, value).ok());
    auto status = checkOptionValues(values, site);
    return status.ok() ? std::string() : status.error().message();
  };
  CHECK(check(OptionId::kMounts, "/a,/b:/c:ro,/d:/e:rw") == "");
  CHECK(check(OptionId::kMounts, "/a:/b:rx") ==
        "--container-mounts: mount `/a:/b:rx`: unknown flag `rx` (ro or rw)");
  CHECK(check(OptionId::kMounts, "/a:b") ==
        "--container-mounts: mount `/a:b`: the destination must be an absolute path");
  CHECK(check(OptionId::kMounts, "/a:/../etc") ==
        "--container-mounts: mount `/a:/../etc`: `..` is not allowed in mount paths");
  CHECK(check(OptionId::kMounts, "/a:/b:ro:x") ==
        "--container-mounts: mount `/a:/b:ro:x`: too many `:` (expected SRC[:DST[:FLAGS]])");
  CHECK(check(OptionId::kGpu, "0,1") == "");
  CHECK(check(OptionId::kGpu, "0-3") == "");
  CHECK(check(OptionId::kGpu, "1,") != "");
  CHECK(check(OptionId::kGpu, "some") ==
        "--container-gpu: `some` is not auto, all, none or a list of GPU indexes");
  CHECK(check(OptionId::kWorkdir, "rel") == "--container-workdir: `rel` is not an absolute path");
  CHECK(check(OptionId::kName, "my-env.1") == "");
  CHECK(check(OptionId::kName, "../x").rfind("--container-name: `../x` is not a name", 0) == 0);
  CHECK(check(OptionId::kSave, "/out/") ==
        "--container-save: `/out/` names a directory, not a file");

  OptionValues namedReadonly;
  REQUIRE(namedReadonly.set(OptionId::kName, "n").ok());
  REQUIRE(namedReadonly.set(OptionId::kReadonly, nullptr).ok());
  CHECK_FALSE(checkOptionValues(namedReadonly, site).ok());

  site.allowUserImages = false;
  OptionValues path;
  REQUIRE(path.set(OptionId::kImage, "/home/u/x.sqsh").ok());
  CHECK(checkOptionValues(path, site).error().message().find("allow_user_images = false") !=
        std::string::npos);
  CHECK(isImagePath("./x.sqsh"));
  CHECK_FALSE(isImagePath("ubuntu:22.04"));
  CHECK_FALSE(isImagePath("docker://ubuntu"));
}

TEST_CASE("switches: options beat site defaults -- named and saved containers are writable") {
  berth::config::SiteConfig site;
  site.mountHome = false;
  site.entrypoint = true;
  OptionValues values;
  auto s = resolveSwitches(values, site);
  CHECK_FALSE(s.writable);
  CHECK_FALSE(s.mountHome);
  CHECK(s.entrypoint);
  REQUIRE(values.set(OptionId::kMountHome, nullptr).ok());
  REQUIRE(values.set(OptionId::kNoEntrypoint, nullptr).ok());
  REQUIRE(values.set(OptionId::kName, "keep").ok());
  s = resolveSwitches(values, site);
  CHECK(s.writable);
  CHECK(s.mountHome);
  CHECK_FALSE(s.entrypoint);
}

TEST_CASE("slurmstepd side: errors are deferred, never returned") {
  auto dir = berth::TempDir::create(std::filesystem::temp_directory_path(), "berth-remote");
  REQUIRE(dir.ok());
  std::ofstream(dir->path() / "slurm.conf")
      << "SlurmdSpoolDir=" << (dir->path() / "spool/%n").string()
      << "\nTmpFS=" << (dir->path() / "tmp/%n").string() << "\n";
  std::filesystem::create_directories(dir->path() / "spool/n2/pmix.12.0");
  std::filesystem::create_directories(dir->path() / "tmp/n2/spmix_appdir_1001_12.0");
  NodeFacts node{.step = {.jobId = 12,
                          .stepId = 0,
                          .uid = 1001,
                          .gid = 1001,
                          .nodeId = 1,
                          .nodeCount = 2,
                          .nodeName = "n2",
                          .hostName = "n2"},
                 .slurmConf = dir->path() / "slurm.conf",
                 .stepEnded = {}};
  FakeEnvironment jobEnv;
  Messages messages;
  std::optional<ContainerRequest> built;
  std::optional<ImageRequest> asked;
  Backend backend;
  backend.ensureImage = [&](const ImageRequest& r) -> berth::Result<std::filesystem::path> {
    asked = r;
    if (r.image == "unknown:1")
      return berth::Error("manifest unknown");
    return std::filesystem::path("/cache/x.sqsh");
  };
  backend.buildContainer = [&](const ContainerRequest& r) -> berth::Result<Container> {
    built = r;
    Container c;
    c.imageFile = r.imageFile;
    c.config.env = {"PATH=/usr/bin"};
    return c;
  };

  SUBCASE("no image: untouched") {
    StepState state;
    prepareStep(state, node, jobEnv.view(), backend, messages.logger());
    CHECK_FALSE(state.container);
    CHECK_FALSE(state.deferredError);
    CHECK_FALSE(asked);
  }
  SUBCASE("a container with the PMIx dirs and user mounts, pinned digest") {
    StepState state;
    state.site.stateDir = dir->path() / "state";
    REQUIRE(state.options.set(OptionId::kImage, "tiny:latest").ok());
    REQUIRE(state.options.set(OptionId::kMounts, "/data:/data:ro").ok());
    jobEnv.vars[std::string(kPinVariable)] = fmt::format("{} tiny:latest", kDigest);
    prepareStep(state, node, jobEnv.view(), backend, messages.logger());
    REQUIRE_FALSE(state.deferredError);
    REQUIRE(state.container);
    REQUIRE(asked);
    CHECK(asked->pinnedDigest == std::string(kDigest));
    CHECK(asked->user.uid == 1001);
    REQUIRE(built);
    CHECK(built->mounts == std::vector<std::string>{"/data:/data:ro"});
    CHECK(built->hostPaths ==
          std::vector<std::filesystem::path>{dir->path() / "spool/n2/pmix.12.0",
                                             dir->path() / "tmp/n2/spmix_appdir_1001_12.0"});
    CHECK_FALSE(built->writable);
    CHECK_FALSE(built->persistentUpper);
    CHECK(messages.has("berth: container ready in "));
  }
  SUBCASE("the batch step binds its script") {
    StepState state;
    NodeFacts batch = node;
    batch.step.stepId = berth::slurm::kBatchStep;
    std::filesystem::create_directories(dir->path() / "spool/n2/job00012");
    std::ofstream(dir->path() / "spool/n2/job00012/slurm_script") << "#!/bin/sh\n";
    jobEnv.vars["BERTH_CONTAINER_IMAGE"] = "tiny:latest";  // as #SBATCH or the environment
    prepareStep(state, batch, jobEnv.view(), backend, messages.logger());
    REQUIRE(built);
    CHECK(built->hostPaths ==
          std::vector<std::filesystem::path>{dir->path() / "spool/n2/job00012/slurm_script"});
  }
  SUBCASE("a user error is kept for the tasks, with the node named") {
    StepState state;
    REQUIRE(state.options.set(OptionId::kImage, "unknown:1").ok());
    prepareStep(state, node, jobEnv.view(), backend, messages.logger());
    CHECK_FALSE(state.container);
    REQUIRE(state.deferredError);
    CHECK(state.deferredError->message() == "--container-image=unknown:1 on n2: manifest unknown");
    auto entered = enterContainer(state);
    REQUIRE_FALSE(entered.ok());
    CHECK(entered.error().message() == "--container-image=unknown:1 on n2: manifest unknown");
  }
  SUBCASE("a named container keeps its layer in the node's job directory until job end") {
    StepState state;
    state.site.stateDir = dir->path() / "state";
    REQUIRE(state.options.set(OptionId::kImage, "tiny").ok());
    REQUIRE(state.options.set(OptionId::kName, "keep").ok());
    prepareStep(state, node, jobEnv.view(), backend, messages.logger());
    REQUIRE(built);
    CHECK(built->writable);
    auto upper = dir->path() / "state/n2/job12/name.keep";
    CHECK(built->persistentUpper == upper);
    struct stat st {};
    REQUIRE(::stat(upper.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    REQUIRE(taskExited(state, node.step, 1, backend).ok());
    REQUIRE(finishStep(state).ok());
    CHECK(std::filesystem::exists(upper));  // kept for the job's next step
    REQUIRE(cleanJob(state.site, "n2", 12).ok());
    CHECK_FALSE(std::filesystem::exists(dir->path() / "state/n2/job12"));
  }
  SUBCASE("--container-save writes from the first node only, relative to the launch dir") {
    StepState state;
    state.site.stateDir = dir->path() / "state";
    jobEnv.vars["PWD"] = "/home/u";
    REQUIRE(state.options.set(OptionId::kImage, "tiny").ok());
    REQUIRE(state.options.set(OptionId::kSave, "out.sqsh").ok());
    std::vector<std::string> saves;
    backend.saveContainer = [&](const std::filesystem::path& image, const std::filesystem::path&,
                                const std::filesystem::path& out, const UserIdentity&) {
      saves.push_back(image.string() + " -> " + out.string());
      return berth::okStatus();
    };
    prepareStep(state, node, jobEnv.view(), backend, messages.logger());
    REQUIRE(state.container);
    auto upper = *state.upperDir;
    REQUIRE(taskExited(state, node.step, 1, backend).ok());  // node 1: nothing saved
    REQUIRE(finishStep(state).ok());
    CHECK(saves.empty());
    CHECK_FALSE(std::filesystem::exists(upper));

    StepState first;
    first.site.stateDir = dir->path() / "state";
    REQUIRE(first.options.set(OptionId::kImage, "tiny").ok());
    REQUIRE(first.options.set(OptionId::kSave, "out.sqsh").ok());
    NodeFacts node0 = node;
    node0.step.nodeId = 0;
    prepareStep(first, node0, jobEnv.view(), backend, messages.logger());
    REQUIRE(taskExited(first, node0.step, 2, backend).ok());  // one of two tasks: not yet
    CHECK(saves.empty());
    REQUIRE(taskExited(first, node0.step, 2, backend).ok());
    CHECK(saves == std::vector<std::string>{"/cache/x.sqsh -> /home/u/out.sqsh"});
    CHECK_FALSE(first.container);  // the namespace is dropped before its layer is read
    REQUIRE(finishStep(first).ok());
  }
  SUBCASE("--container-save to a path the user cannot write fails the step at its start") {
    std::vector<std::string> checked;
    backend.checkSaveTarget = [&](const std::filesystem::path& out, const UserIdentity& user) {
      checked.push_back(fmt::format("{} as {}", out.string(), user.uid));
      return berth::Status(berth::Error("cannot create files in /root: Permission denied"));
    };
    NodeFacts node0 = node;
    node0.step.nodeId = 0;
    StepState first;
    first.site.stateDir = dir->path() / "state";
    REQUIRE(first.options.set(OptionId::kImage, "tiny").ok());
    REQUIRE(first.options.set(OptionId::kSave, "/root/out.sqsh").ok());
    prepareStep(first, node0, jobEnv.view(), backend, messages.logger());
    CHECK(checked == std::vector<std::string>{"/root/out.sqsh as 1001"});
    CHECK_FALSE(first.container);
    REQUIRE(first.deferredError);
    CHECK(first.deferredError->message() ==
          "--container-image=tiny on n2: --container-save=/root/out.sqsh: cannot create files in "
          "/root: Permission denied");
    REQUIRE(finishStep(first).ok());

    StepState other;  // the other nodes save nothing: they do not check
    other.site.stateDir = dir->path() / "state";
    REQUIRE(other.options.set(OptionId::kImage, "tiny").ok());
    REQUIRE(other.options.set(OptionId::kSave, "/root/out.sqsh").ok());
    prepareStep(other, node, jobEnv.view(), backend, messages.logger());
    CHECK(checked.size() == 1);
    CHECK_FALSE(other.deferredError);
    REQUIRE(finishStep(other).ok());
  }
  SUBCASE("the image request carries the step's question to Slurm: has it ended?") {
    int asks = 0;
    NodeFacts watched = node;
    watched.stepEnded = [&] { return ++asks > 0; };
    StepState state;
    REQUIRE(state.options.set(OptionId::kImage, "tiny").ok());
    prepareStep(state, watched, jobEnv.view(), backend, messages.logger());
    REQUIRE(asked);
    REQUIRE(asked->stepEnded);
    CHECK(asked->stepEnded());
    CHECK(asks == 1);
  }
  SUBCASE("the extern step never gets a container") {
    StepState state;
    NodeFacts externStep = node;
    externStep.step.stepId = berth::slurm::kExternStep;
    REQUIRE(state.options.set(OptionId::kImage, "tiny").ok());
    prepareStep(state, externStep, jobEnv.view(), backend, messages.logger());
    CHECK_FALSE(asked);
  }
}
