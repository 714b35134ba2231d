#include "spank_plugin/options.hpp"

#include <algorithm>
#include <functional>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace berth::spank {

const std::array<OptionSpec, 19>& optionTable() {
  using enum OptionId;
  static const std::array<OptionSpec, 19> kTable{{
      {kImage, "container-image", "REF|PATH",
       "[berth] run the tasks in this image: a registry reference, a cached image or a squashfs",
       ArgumentKind::kRequired, "BERTH_CONTAINER_IMAGE"},
      {kMounts, "container-mounts", "SRC[:DST[:FLAGS]][,...]",
       "[berth] bind host paths into the container (FLAGS: ro, rw)", ArgumentKind::kRequired,
       "BERTH_CONTAINER_MOUNTS"},
      {kGpu, "container-gpu", "auto|all|none|LIST",
       "[berth] NVIDIA GPUs in the container (default auto: the GPUs Slurm allocated)",
       ArgumentKind::kOptional, "BERTH_CONTAINER_GPU"},
      {kWorkdir, "container-workdir", "PATH", "[berth] working directory inside the container",
       ArgumentKind::kRequired, "BERTH_CONTAINER_WORKDIR"},
      {kEnv, "container-env", "NAME[,NAME...]",
       "[berth] for these variables the host value wins over the image's", ArgumentKind::kRequired,
       "BERTH_CONTAINER_ENV"},
      {kCleanEnv, "container-cleanenv", "",
       "[berth] pass only Slurm's per-task variables, HOME, USER, LOGNAME, TERM and TMPDIR "
       "of the host environment",
       ArgumentKind::kNone, "BERTH_CONTAINER_CLEANENV"},
      {kEnvPreset, "container-env-preset", "pytorch|none",
       "[berth] set MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK, ... from the "
       "step's layout for distributed training (none: not even the site's default)",
       ArgumentKind::kRequired, "BERTH_CONTAINER_ENV_PRESET"},
      {kInject, "container-inject", "NAME[,NAME...]|none",
       "[berth] add the site's inject sets (host libraries, files, devices; none: not even the "
       "site's defaults)",
       ArgumentKind::kRequired, "BERTH_CONTAINER_INJECT"},
      {kMpi, "container-mpi", "host|image",
       "[berth] host: the site's MPICH-ABI MPI replaces the image's (default image)",
       ArgumentKind::kRequired, "BERTH_CONTAINER_MPI"},
      {kMpiCheck, "container-mpi-check", "on|off",
       "[berth] check the image's MPI against --mpi before the ranks start (default on)",
       ArgumentKind::kRequired, "BERTH_CONTAINER_MPI_CHECK"},
      {kWritable, "container-writable", "",
       "[berth] writable root filesystem (changes discarded at the end of the step)",
       ArgumentKind::kNone, "BERTH_CONTAINER_WRITABLE"},
      {kReadonly, "container-readonly", "", "[berth] read-only root filesystem",
       ArgumentKind::kNone, "BERTH_CONTAINER_READONLY"},
      {kMountHome, "container-mount-home", "", "[berth] bind the user's home directory",
       ArgumentKind::kNone, "BERTH_CONTAINER_MOUNT_HOME"},
      {kNoMountHome, "no-container-mount-home", "", "[berth] do not bind the home directory",
       ArgumentKind::kNone, "BERTH_CONTAINER_NO_MOUNT_HOME"},
      {kEntrypoint, "container-entrypoint", "", "[berth] run the image's entrypoint",
       ArgumentKind::kNone, "BERTH_CONTAINER_ENTRYPOINT"},
      {kNoEntrypoint, "no-container-entrypoint", "", "[berth] ignore the image's entrypoint",
       ArgumentKind::kNone, "BERTH_CONTAINER_NO_ENTRYPOINT"},
      {kName, "container-name", "NAME",
       "[berth] keep a writable container under this name across the job's steps",
       ArgumentKind::kRequired, "BERTH_CONTAINER_NAME"},
      {kSave, "container-save", "PATH",
       "[berth] save the container's final state as a squashfs image", ArgumentKind::kRequired,
       "BERTH_CONTAINER_SAVE"},
      {kGpuCaps, "container-gpu-caps", "CAP[,CAP...]|all",
       "[berth] NVIDIA driver capabilities: compute, utility, video, graphics, display "
       "(default: NVIDIA_DRIVER_CAPABILITIES, else compute,utility)",
       ArgumentKind::kRequired, "BERTH_CONTAINER_GPU_CAPS"},
  }};
  return kTable;
}

const OptionSpec* findOption(OptionId id) {
  const auto& table = optionTable();
  auto it = std::find_if(table.begin(), table.end(), [id](const auto& s) { return s.id == id; });
  return it == table.end() ? nullptr : &*it;
}

Status OptionValues::set(OptionId id, const char* argument) {
  const OptionSpec* spec = findOption(id);
  if (spec == nullptr)
    return Error(fmt::format("unknown option id {}", static_cast<int>(id)));
  std::string_view value = argument == nullptr ? std::string_view() : std::string_view(argument);
  if (spec->argument == ArgumentKind::kRequired && value.empty()) {
    return Error(fmt::format("--{} needs a value ({})", spec->name, spec->argInfo));
  }
  if (spec->argument == ArgumentKind::kNone && !value.empty()) {
    return Error(fmt::format("--{} takes no value", spec->name));
  }
  values_[id] = std::string(value);
  return okStatus();
}

void OptionValues::applyEnvironment(
    const std::function<std::optional<std::string>(std::string_view)>& getenv) {
  for (const OptionSpec& spec : optionTable()) {
    if (has(spec.id))
      continue;
    std::optional<std::string> value = getenv(spec.environment);
    if (!value)
      continue;
    if (spec.argument == ArgumentKind::kNone) {
      // A flag is on when its variable is set to anything but "0" or "".
      if (value->empty() || *value == "0")
        continue;
      values_[spec.id] = "";
    } else if (!value->empty() || spec.argument == ArgumentKind::kOptional) {
      values_[spec.id] = std::move(*value);
    }
  }
}

std::optional<std::string> OptionValues::get(OptionId id) const {
  auto it = values_.find(id);
  if (it == values_.end())
    return std::nullopt;
  return it->second;
}

Status OptionValues::checkConflicts() const {
  static constexpr std::pair<OptionId, OptionId> kConflicts[] = {
      {OptionId::kWritable, OptionId::kReadonly},
      {OptionId::kMountHome, OptionId::kNoMountHome},
      {OptionId::kEntrypoint, OptionId::kNoEntrypoint},
  };
  for (auto [a, b] : kConflicts) {
    if (has(a) && has(b)) {
      return Error(fmt::format("--{} and --{} contradict each other", findOption(a)->name,
                               findOption(b)->name));
    }
  }
  return okStatus();
}

std::vector<std::string_view> OptionValues::givenWithoutImage() const {
  std::vector<std::string_view> ignored;
  if (has(OptionId::kImage))
    return ignored;
  for (const auto& [id, value] : values_)
    ignored.push_back(findOption(id)->name);
  return ignored;
}

}  // namespace berth::spank
