// The only file of berth with `extern "C"`: the symbols Slurm looks up in spank_berth.so.
//
// Every callback runs its body through runGuarded(), which turns an Error or an exception into
// one logged line and -1; nothing thrown ever crosses into Slurm (STYLE.md rule 1).
extern "C" {
#include <slurm/spank.h>
}

#include <cstdlib>
#include <exception>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "spank_plugin/options.hpp"

// The plugin builds with hidden visibility; these are the symbols Slurm looks up.
#define BERTH_EXPORT __attribute__((visibility("default")))

extern "C" {
BERTH_EXPORT extern const char plugin_name[];
BERTH_EXPORT extern const char plugin_type[];
BERTH_EXPORT extern const unsigned int plugin_version;
const char plugin_name[] = "berth";
const char plugin_type[] = "spank";
const unsigned int plugin_version = SLURM_VERSION_NUMBER;
}

namespace {

using berth::Status;
using berth::spank::OptionId;

// One plugin instance per process (srun, sbatch, slurmstepd): Slurm gives no other place to
// keep state between callbacks.
berth::spank::OptionValues& optionValues() {
  static berth::spank::OptionValues values;
  return values;
}

const char* contextName(spank_context_t context) {
  switch (context) {
    case S_CTX_LOCAL:
      return "srun";
    case S_CTX_REMOTE:
      return "slurmstepd";
    case S_CTX_ALLOCATOR:
      return "allocator";
    case S_CTX_SLURMD:
      return "slurmd";
    case S_CTX_JOB_SCRIPT:
      return "prolog/epilog";
    default:
      return "unknown";
  }
}

template <typename Body>
int runGuarded(const char* callback, Body&& body) noexcept {
  try {
    Status status = body();
    if (status.ok())
      return ESPANK_SUCCESS;
    slurm_error("%s", fmt::format("berth: {}", status.error().message()).c_str());
  } catch (const std::exception& e) {
    slurm_error("%s", fmt::format("berth: internal error in {}: {}", callback, e.what()).c_str());
  } catch (...) {
    slurm_error("%s", fmt::format("berth: internal error in {}", callback).c_str());
  }
  return -1;
}

int setOption(int id, const char* argument, int /*remote*/) {
  return runGuarded("option",
                    [&] { return optionValues().set(static_cast<OptionId>(id), argument); });
}

Status registerOptions(spank_t spank) {
  for (const auto& spec : berth::spank::optionTable()) {
    // spank_option holds non-const char*; Slurm copies and never writes through them.
    spank_option option{};
    option.name = const_cast<char*>(spec.name.data());
    option.arginfo = spec.argInfo.empty() ? nullptr : const_cast<char*>(spec.argInfo.data());
    option.usage = const_cast<char*>(spec.usage.data());
    option.has_arg = static_cast<int>(spec.argument);
    option.val = static_cast<int>(spec.id);
    option.cb = setOption;
    if (spank_option_register(spank, &option) != ESPANK_SUCCESS) {
      return berth::Error(fmt::format("cannot register option --{}", spec.name));
    }
  }
  return berth::okStatus();
}

std::optional<std::string> processEnvironment(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr)
    return std::nullopt;
  return std::string(value);
}

// srun, sbatch, salloc: as the user, nothing privileged. Validate and report early.
Status checkOptionsAsUser() {
  auto& values = optionValues();
  values.applyEnvironment(processEnvironment);
  BERTH_TRY(values.checkConflicts());
  for (std::string_view name : values.givenWithoutImage()) {
    slurm_info("%s", fmt::format("berth: --{} ignored: no --container-image given", name).c_str());
  }
  return berth::okStatus();
}

}  // namespace

extern "C" {

BERTH_EXPORT int slurm_spank_init(spank_t spank, int /*argc*/, char** /*argv*/) {
  return runGuarded("init", [&] { return registerOptions(spank); });
}

BERTH_EXPORT int slurm_spank_init_post_opt(spank_t /*spank*/, int /*argc*/, char** /*argv*/) {
  return runGuarded("init_post_opt", [&]() -> Status {
    spank_context_t context = spank_context();
    if (context == S_CTX_LOCAL || context == S_CTX_ALLOCATOR)
      return checkOptionsAsUser();
    // In slurmstepd errors are never returned from here: a failing remote init_post_opt
    // drains the node. The container issue adds the per-node set-up, deferring errors to
    // task start.
    slurm_debug("%s", fmt::format("berth: loaded in {}", contextName(context)).c_str());
    return berth::okStatus();
  });
}

BERTH_EXPORT int slurm_spank_exit(spank_t /*spank*/, int /*argc*/, char** /*argv*/) {
  return runGuarded("exit", [] { return berth::okStatus(); });
}

}  // extern "C"
