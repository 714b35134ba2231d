#include "shared/slurm/env_preset.hpp"

#include <charconv>

#include <fmt/format.h>

#include "shared/core/strings.hpp"

namespace berth::slurm {
namespace {

// Where a preset variable's value comes from.
enum class Source {
  kMasterAddr,   // the step's first node (PresetStep::masterAddr)
  kMasterPort,   // masterPort(job id)
  kStepTasks,    // the step's task count
  kTaskRank,     // the task's rank in the step
  kLocalRank,    // the task's rank on its node
  kTasksOnNode,  // the step's task count on this node
  kNodeRank,     // the node's rank in the step
};

struct PresetRow {
  std::string_view name;
  Source source;
};

// PyTorch's env:// rendezvous (torch.distributed.init_process_group) and what torchrun gives
// its workers. Keep in sync with docs/slurm.md ("Distributed training").
constexpr PresetRow kPyTorch[] = {
    {"MASTER_ADDR", Source::kMasterAddr},        // rank 0's host: the TCP store listens there
    {"MASTER_PORT", Source::kMasterPort},        // and on this port
    {"WORLD_SIZE", Source::kStepTasks},          // one process per Slurm task
    {"RANK", Source::kTaskRank},                 // SLURM_PROCID
    {"LOCAL_RANK", Source::kLocalRank},          // SLURM_LOCALID: which GPU of the node
    {"LOCAL_WORLD_SIZE", Source::kTasksOnNode},  // tasks of this node
    {"NODE_RANK", Source::kNodeRank},            // SLURM_NODEID (torchrun's GROUP_RANK)
};

// The Slurm task variable behind each per-task source (srun sets them in every task).
constexpr std::string_view kProcId = "SLURM_PROCID";
constexpr std::string_view kLocalId = "SLURM_LOCALID";
constexpr std::string_view kNodeId = "SLURM_NODEID";
constexpr std::string_view kStepNumTasks = "SLURM_STEP_NUM_TASKS";
constexpr std::string_view kStepTasksPerNode = "SLURM_STEP_TASKS_PER_NODE";

Result<uint32_t> parseCount(std::string_view text) {
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return Error(fmt::format("`{}` is not a number", text));
  return value;
}

// A Slurm variable of the task holding a number.
Result<uint32_t> taskNumber(const EnvLookup& task, std::string_view name) {
  std::optional<std::string> value = task(name);
  if (!value)
    return Error(fmt::format("{} is not set", name));
  return parseCount(*value).withContext(std::string(name));
}

Result<std::string> presetValue(Source source, const PresetStep& step, const EnvLookup& task) {
  auto number = [&](std::string_view name) -> Result<std::string> {
    BERTH_ASSIGN(uint32_t value, taskNumber(task, name));
    return std::to_string(value);
  };
  switch (source) {
    case Source::kMasterAddr:
      return step.masterAddr;
    case Source::kMasterPort:
      return std::to_string(masterPort(step.jobId));
    case Source::kStepTasks:
      // SLURM_STEP_NUM_TASKS is the step's own count; SLURM_NTASKS, the job's where a step
      // inherits it, is the fallback.
      return number(task(kStepNumTasks) ? kStepNumTasks : "SLURM_NTASKS");
    case Source::kTaskRank:
      return number(kProcId);
    case Source::kLocalRank:
      return number(kLocalId);
    case Source::kNodeRank:
      return number(kNodeId);
    case Source::kTasksOnNode: {
      BERTH_ASSIGN(uint32_t node, taskNumber(task, kNodeId));
      std::optional<std::string> layout = task(kStepTasksPerNode);
      if (!layout)
        return Error(fmt::format("{} is not set", kStepTasksPerNode));
      BERTH_ASSIGN(uint32_t tasks,
                   tasksOnNode(*layout, node).withContext(std::string(kStepTasksPerNode)));
      return std::to_string(tasks);
    }
  }
  return Error("unknown preset source");
}

}  // namespace

Result<EnvPreset> parseEnvPreset(std::string_view name) {
  if (name == "pytorch")
    return EnvPreset::kPyTorch;
  if (name == "none")
    return EnvPreset::kNone;
  return Error(fmt::format("`{}` is not a preset (pytorch or none)", name));
}

uint32_t masterPort(uint32_t jobId) {
  return kMasterPortBase + jobId % kMasterPortCount;
}

Result<uint32_t> tasksOnNode(std::string_view tasksPerNode, uint32_t nodeId) {
  auto bad = [&] { return Error(fmt::format("`{}` is not a tasks-per-node list", tasksPerNode)); };
  std::optional<uint32_t> found;
  uint64_t first = 0;  // the first node index the current item covers
  for (const std::string& rawItem : split(tasksPerNode, ',')) {
    std::string_view item = rawItem;
    uint32_t repeat = 1;
    if (size_t paren = item.find('('); paren != std::string_view::npos) {
      // "N(xR)": R nodes with N tasks each.
      std::string_view times = item.substr(paren);
      if (times.size() < 4 || !times.starts_with("(x") || !times.ends_with(")"))
        return bad();
      auto count = parseCount(times.substr(2, times.size() - 3));
      if (!count.ok() || *count == 0)
        return bad();
      repeat = *count;
      item = item.substr(0, paren);
    }
    auto tasks = parseCount(item);
    if (!tasks.ok())
      return bad();
    if (!found && nodeId < first + repeat)
      found = *tasks;
    first += repeat;
  }
  if (!found)
    return Error(
        fmt::format("node {} is not in the tasks-per-node list `{}`", nodeId, tasksPerNode));
  return *found;
}

Result<EnvAssignments> presetEnvironment(const PresetStep& step, const EnvLookup& task) {
  EnvAssignments assignments;
  if (step.preset == EnvPreset::kNone)
    return assignments;
  for (const PresetRow& row : kPyTorch) {
    BERTH_ASSIGN(std::string value, presetValue(row.source, step, task));
    assignments.emplace_back(row.name, std::move(value));
  }
  return assignments;
}

}  // namespace berth::slurm
