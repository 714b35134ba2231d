// The plugin's command-line options: one table (name, argument, help, environment fallback)
// and the values the user gave. Pure data and parsing: no Slurm headers here.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::spank {

enum class OptionId : int {
  kImage = 1,
  kMounts,
  kGpu,
  kWorkdir,
  kEnv,
  kWritable,
  kReadonly,
  kMountHome,
  kNoMountHome,
  kEntrypoint,
  kNoEntrypoint,
  kName,
  kSave,
  kGpuCaps,
  kCleanEnv,
  kEnvPreset,
  kInject,
  kMpi,
  kMpiCheck,
};

enum class ArgumentKind { kNone = 0, kRequired = 1, kOptional = 2 };  // spank_option.has_arg

struct OptionSpec {
  OptionId id;
  std::string_view name;     // without the leading "--"
  std::string_view argInfo;  // shown in --help, empty for flags
  std::string_view usage;    // one line of --help
  ArgumentKind argument;
  std::string_view environment;  // BERTH_CONTAINER_* fallback read when the flag is absent
};

// Every option berth adds to srun, sbatch and salloc.
const std::array<OptionSpec, 19>& optionTable();

const OptionSpec* findOption(OptionId id);

// The values given on the command line. Slurm calls option callbacks twice in slurmstepd:
// setting a value again simply replaces it.
class OptionValues {
 public:
  // Records `--NAME[=arg]`; rejects an argument where the option takes none and vice versa.
  Status set(OptionId id, const char* argument);

  // Fills options the user did not give from BERTH_CONTAINER_* variables of `getenv`.
  void applyEnvironment(const std::function<std::optional<std::string>(std::string_view)>& getenv);

  bool has(OptionId id) const { return values_.count(id) != 0; }
  std::optional<std::string> get(OptionId id) const;
  bool empty() const { return values_.empty(); }

  // Conflicting pairs (--container-writable with --container-readonly, ...) are errors.
  Status checkConflicts() const;

  // Options that only mean something with an image, given without one.
  std::vector<std::string_view> givenWithoutImage() const;

 private:
  std::map<OptionId, std::string> values_;  // flags map to ""
};

}  // namespace berth::spank
