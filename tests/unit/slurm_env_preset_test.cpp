// --container-env-preset: the preset table (shared/slurm/env_preset), its rank among the
// environment rules (shared/container/environment, rule 2b) and the plugin's step and task
// sides (spank_plugin/env_preset, task_side).
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "shared/container/environment.hpp"
#include "shared/slurm/env_preset.hpp"
#include "shared/slurm/slurmd_paths.hpp"
#include "spank_plugin/env_preset.hpp"
#include "spank_plugin/task_side.hpp"

using namespace berth::slurm;

namespace {

using Vars = std::map<std::string, std::string>;

EnvLookup lookup(const Vars& vars) {
  return [&vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    return it == vars.end() ? std::nullopt : std::optional(it->second);
  };
}

std::string valueOf(const EnvAssignments& env, std::string_view name) {
  for (const auto& [n, v] : env)
    if (n == name)
      return v;
  return "<unset>";
}

std::string valueOf(const berth::container::EnvList& env, std::string_view name) {
  const std::string* entry = berth::container::findEnv(env, name);
  return entry == nullptr ? "<unset>" : entry->substr(name.size() + 1);
}

// Task 3 of `srun -N2 -n5`: node 1 holds tasks 3 and 4 (Slurm's block distribution 3,2).
const Vars kTask3 = {{"SLURM_PROCID", "3"},
                     {"SLURM_LOCALID", "0"},
                     {"SLURM_NODEID", "1"},
                     {"SLURM_STEP_NUM_TASKS", "5"},
                     {"SLURM_NTASKS", "8"},  // the job's: the step's count wins
                     {"SLURM_STEP_TASKS_PER_NODE", "3,2"},
                     {"SLURM_STEP_NODELIST", "node[1-2]"}};

}  // namespace

TEST_CASE("env preset names") {
  CHECK(*parseEnvPreset("pytorch") == EnvPreset::kPyTorch);
  CHECK(*parseEnvPreset("none") == EnvPreset::kNone);
  auto bad = parseEnvPreset("PyTorch");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message() == "`PyTorch` is not a preset (pytorch or none)");
  CHECK_FALSE(parseEnvPreset("").ok());
}

TEST_CASE("MASTER_PORT: per job, in 20000..29999") {
  CHECK(masterPort(0) == 20000);
  CHECK(masterPort(1234) == 21234);
  CHECK(masterPort(9999) == 29999);
  CHECK(masterPort(10000) == 20000);
  CHECK(masterPort(4294967295u) == 20000 + 4294967295u % 10000);
  for (uint32_t job : {1u, 77u, 123456u, 4000000000u}) {
    CHECK(masterPort(job) >= 20000);
    CHECK(masterPort(job) < 30000);
  }
}

TEST_CASE("tasks per node: Slurm's N(xR) notation") {
  CHECK(*tasksOnNode("4", 0) == 4);
  CHECK(*tasksOnNode("2(x2)", 0) == 2);
  CHECK(*tasksOnNode("2(x2)", 1) == 2);
  CHECK(*tasksOnNode("3,2", 1) == 2);
  CHECK(*tasksOnNode("2(x3),1", 2) == 2);
  CHECK(*tasksOnNode("2(x3),1", 3) == 1);
  CHECK(*tasksOnNode("1,4(x2),3", 2) == 4);
  CHECK(*tasksOnNode("1,4(x2),3", 3) == 3);
  auto outside = tasksOnNode("2(x2)", 2);
  REQUIRE_FALSE(outside.ok());
  CHECK(outside.error().message() == "node 2 is not in the tasks-per-node list `2(x2)`");
  for (std::string_view bad : {"", "x", "2(x)", "2(x0)", "2(3)", "2(x2", "2,,1", "-1", "2(x2)a"}) {
    INFO(bad);
    auto result = tasksOnNode(bad, 0);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message() == fmt::format("`{}` is not a tasks-per-node list", bad));
  }
}

TEST_CASE("the pytorch preset from a task's Slurm variables") {
  PresetStep step{.preset = EnvPreset::kPyTorch, .jobId = 4242, .masterAddr = "10.0.0.1"};
  auto env = presetEnvironment(step, lookup(kTask3));
  REQUIRE(env.ok());
  CHECK(*env == EnvAssignments{{"MASTER_ADDR", "10.0.0.1"},
                               {"MASTER_PORT", "24242"},
                               {"WORLD_SIZE", "5"},
                               {"RANK", "3"},
                               {"LOCAL_RANK", "0"},
                               {"LOCAL_WORLD_SIZE", "2"},
                               {"NODE_RANK", "1"}});
  // A step without its own count: the job's.
  Vars noStepCount = kTask3;
  noStepCount.erase("SLURM_STEP_NUM_TASKS");
  CHECK(valueOf(*presetEnvironment(step, lookup(noStepCount)), "WORLD_SIZE") == "8");

  // What Slurm did not set is named.
  Vars missing = kTask3;
  missing.erase("SLURM_STEP_TASKS_PER_NODE");
  auto error = presetEnvironment(step, lookup(missing));
  REQUIRE_FALSE(error.ok());
  CHECK(error.error().message() == "SLURM_STEP_TASKS_PER_NODE is not set");
  Vars garbled = kTask3;
  garbled["SLURM_PROCID"] = "three";
  error = presetEnvironment(step, lookup(garbled));
  REQUIRE_FALSE(error.ok());
  CHECK(error.error().message() == "SLURM_PROCID: `three` is not a number");

  // No preset: nothing, and nothing is read.
  auto none = presetEnvironment({}, lookup({}));
  REQUIRE(none.ok());
  CHECK(none->empty());
}

TEST_CASE("rule 2b: preset values beat the image's, a value the user set beats them") {
  using namespace berth::container;
  EnvironmentOptions options;
  options.preset = {{"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "24242"}, {"RANK", "3"}};
  EnvList image{"MASTER_PORT=29500", "MASTER_ADDR=localhost", "PATH=/bin"};
  EnvList host{"SLURM_PROCID=3", "MASTER_PORT=12345", "HOME=/home/u"};
  auto env = containerEnvironment(image, host, options);
  CHECK(valueOf(env, "MASTER_ADDR") == "10.0.0.1");  // over the image's
  CHECK(valueOf(env, "MASTER_PORT") == "12345");     // the user's, over the preset and image
  CHECK(valueOf(env, "RANK") == "3");
  // --cleanenv drops ordinary host variables, but a preset name the user set keeps its value.
  options.host = HostEnvironment::kClean;
  env = containerEnvironment(image, host, options);
  CHECK(valueOf(env, "MASTER_PORT") == "12345");
  CHECK(valueOf(env, "MASTER_ADDR") == "10.0.0.1");
  // Explicit assignments (berth exec --env) still have the last word.
  options.set = {{"RANK", "0"}};
  env = containerEnvironment(image, host, options);
  CHECK(valueOf(env, "RANK") == "0");
}

namespace {

struct StepFixture {
  berth::spank::StepState state;
  Vars jobVars = kTask3;
  std::vector<std::string> asked;
  berth::spank::StepInfo step{.jobId = 4242,
                              .stepId = 0,
                              .uid = 1001,
                              .gid = 1001,
                              .nodeId = 1,
                              .nodeCount = 2,
                              .nodeName = "node2",
                              .hostName = "node2"};

  StepFixture() { state.container.emplace(); }

  void prepare() {
    berth::spank::Environment jobEnv{.get = lookup(jobVars), .set = {}, .unset = {}, .all = {}};
    berth::spank::prepareEnvPreset(
        state, step, jobEnv,
        [this](std::string_view nodes) -> berth::Result<std::string> {
          asked.emplace_back(nodes);
          if (nodes == "bad[")
            return berth::Error("`bad[` is not a node list");
          return std::string("127.0.0.1");
        },
        berth::Logger([](berth::LogLevel, std::string_view) {}, berth::LogLevel::kDebug));
  }
};

}  // namespace

TEST_CASE("slurmstepd: the preset chosen by option, environment or site, once per node") {
  using berth::spank::OptionId;
  StepFixture f;
  SUBCASE("none asked, no site default: nothing, no lookup") {
    f.prepare();
    CHECK(f.state.envPreset.preset == EnvPreset::kNone);
    CHECK(f.asked.empty());
  }
  SUBCASE("the option: the first node's address, looked up once") {
    REQUIRE(f.state.options.set(OptionId::kEnvPreset, "pytorch").ok());
    f.prepare();
    CHECK(f.state.envPreset.preset == EnvPreset::kPyTorch);
    CHECK(f.state.envPreset.masterAddr == "127.0.0.1");
    CHECK(f.state.envPreset.jobId == 4242);
    CHECK(f.asked == std::vector<std::string>{"node[1-2]"});
    CHECK_FALSE(f.state.deferredError);
  }
  SUBCASE("the site's default, and the user's none over it") {
    f.state.site.envPreset = EnvPreset::kPyTorch;
    f.prepare();
    CHECK(f.state.envPreset.preset == EnvPreset::kPyTorch);
    REQUIRE(f.state.options.set(OptionId::kEnvPreset, "none").ok());
    f.prepare();
    CHECK(f.state.envPreset.preset == EnvPreset::kNone);
  }
  SUBCASE("a MASTER_ADDR the user set: no lookup") {
    f.jobVars["MASTER_ADDR"] = "head.example";
    REQUIRE(f.state.options.set(OptionId::kEnvPreset, "pytorch").ok());
    f.prepare();
    CHECK(f.state.envPreset.masterAddr == "head.example");
    CHECK(f.asked.empty());
  }
  SUBCASE("batch and interactive steps get none") {
    f.state.site.envPreset = EnvPreset::kPyTorch;
    for (uint32_t id : {kBatchStep, kInteractiveStep}) {
      f.step.stepId = id;
      f.prepare();
      CHECK(f.state.envPreset.preset == EnvPreset::kNone);
    }
    CHECK(f.asked.empty());
  }
  SUBCASE("no container: nothing") {
    f.state.container.reset();
    f.state.site.envPreset = EnvPreset::kPyTorch;
    f.prepare();
    CHECK(f.state.envPreset.preset == EnvPreset::kNone);
  }
  SUBCASE("errors wait for the tasks") {
    REQUIRE(f.state.options.set(OptionId::kEnvPreset, "pytorch").ok());
    f.jobVars["SLURM_STEP_NODELIST"] = "bad[";
    f.prepare();
    CHECK_FALSE(f.state.container);
    REQUIRE(f.state.deferredError);
    CHECK(f.state.deferredError->message() ==
          "--container-env-preset: MASTER_ADDR: `bad[` is not a node list");
    auto entered = berth::spank::enterContainer(f.state);
    REQUIRE_FALSE(entered.ok());
  }
}

TEST_CASE("task side: each task gets its own values -- a variable the task has wins") {
  using berth::spank::OptionId;
  StepFixture f;
  REQUIRE(f.state.options.set(OptionId::kEnvPreset, "pytorch").ok());
  f.prepare();
  REQUIRE(f.state.container);
  // The working directory the task changes to: where the test runs already.
  f.state.workdir = std::filesystem::current_path().string();
  Vars task = kTask3;
  task["MASTER_PORT"] = "12345";
  berth::spank::Environment taskEnv{
      .get = lookup(task),
      .set = [&](std::string_view n, std::string_view v) -> berth::Status {
        task[std::string(n)] = std::string(v);
        return berth::okStatus();
      },
      .unset = [&](std::string_view n) -> berth::Status {
        task.erase(std::string(n));
        return berth::okStatus();
      },
      .all =
          [&] {
            std::vector<std::string> all;
            for (const auto& [n, v] : task)
              all.push_back(n + "=" + v);
            return all;
          },
  };
  REQUIRE(berth::spank::prepareTaskEnvironment(f.state, taskEnv, {}).ok());
  CHECK(task["MASTER_ADDR"] == "127.0.0.1");
  CHECK(task["MASTER_PORT"] == "12345");
  CHECK(task["WORLD_SIZE"] == "5");
  CHECK(task["RANK"] == "3");
  CHECK(task["LOCAL_RANK"] == "0");
  CHECK(task["LOCAL_WORLD_SIZE"] == "2");
  CHECK(task["NODE_RANK"] == "1");

  task = kTask3;
  task.erase("SLURM_LOCALID");
  auto error = berth::spank::prepareTaskEnvironment(f.state, taskEnv, {});
  REQUIRE_FALSE(error.ok());
  CHECK(error.error().message() == "--container-env-preset: SLURM_LOCALID is not set");
}
