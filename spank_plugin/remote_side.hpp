// slurmstepd, once per node per step (root): make sure the image is in the cache, build the
// container in a helper child and keep its mount namespace for the tasks. Never fails: a user
// error is remembered in StepState::deferredError and reported when a task starts, because a
// failing remote init_post_opt drains the node and lets srun exit 0.
//
// When the node's last task ends, --container-save writes the container from the step's first
// node; at
// job end (epilog) the job's named containers on this node are removed.
#pragma once

#include <filesystem>
#include <functional>

#include "shared/core/log.hpp"
#include "shared/core/result.hpp"
#include "spank_plugin/container_backend.hpp"
#include "spank_plugin/spank_context.hpp"
#include "spank_plugin/step_state.hpp"

namespace berth::spank {

struct NodeFacts {
  StepInfo step;
  // The slurm.conf the node runs with (slurm::nodeSlurmConfPath; on configless nodes slurmd's
  // conf-cache copy); empty when there is none.
  std::filesystem::path slurmConf;
  // Asks slurmctld whether the job or step ended (cancelled, out of time): an RPC, for a pull
  // to poll now and then.
  std::function<bool()> stepEnded;
};

// `jobEnv` is the job's environment (spank_getenv); `log` goes to the slurmd log.
void prepareStep(StepState& state, const NodeFacts& node, const Environment& jobEnv,
                 const Backend& backend, const Logger& log);

// A task of the step ended (slurmstepd's task_exit, before srun hears of it): when it was the
// node's last, --container-save writes the container from the step's first node, so the file
// is there when srun returns.
Status taskExited(StepState& state, const StepInfo& step, uint32_t localTasks,
                  const Backend& backend);

// Step end in slurmstepd: drops the namespace and a save-only layer.
Status finishStep(StepState& state);

// The node-local directory of one job's named containers: STATE_DIR/NODE/job<ID>.
std::filesystem::path jobStateDir(const config::SiteConfig& site, std::string_view nodeName,
                                  uint32_t jobId);

// Job epilog (root): removes what the job kept on this node (named containers, image pins).
Status cleanJob(const config::SiteConfig& site, std::string_view nodeName, uint32_t jobId);

}  // namespace berth::spank
